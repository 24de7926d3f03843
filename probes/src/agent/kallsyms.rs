//! The kernel symbols the host monitor asked for, looked up once in
//! `/proc/kallsyms`. The host reads guest memory itself; it only needs to
//! know where the per-CPU runqueues are, and Debian ships no System.map.

use std::collections::HashSet;

use scxray::run::record::KernelSymbol;

/// The addresses of `wanted` in `kallsyms` text (`addr type name [module]`
/// per line). Names not found, and zero addresses (what a non-root reader or
/// `kptr_restrict` shows), are left out; the first address of a name wins.
pub fn find(kallsyms: &str, wanted: &[String]) -> Vec<KernelSymbol> {
    let wanted: HashSet<&str> = wanted.iter().map(String::as_str).collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in kallsyms.lines() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(addr), Some(_kind), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if !wanted.contains(name) || seen.contains(name) {
            continue;
        }
        match u64::from_str_radix(addr, 16) {
            Ok(addr) if addr != 0 => {
                seen.insert(name.to_string());
                out.push(KernelSymbol {
                    name: name.to_string(),
                    addr,
                });
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_wanted_names_once_and_skips_hidden_addresses() {
        let text = "\
ffffffff83cf65c0 D runqueues
ffffffff829340e0 D __per_cpu_offset
0000000000000000 D page_offset_base
garbage
ffffffff83cf65c8 D runqueues
ffffffffc0001000 t helper\t[mod]
";
        let wanted: Vec<String> = ["runqueues", "__per_cpu_offset", "page_offset_base", "nope"]
            .map(String::from)
            .to_vec();
        let got = find(text, &wanted);
        assert_eq!(
            got,
            [
                KernelSymbol {
                    name: "runqueues".into(),
                    addr: 0xffffffff83cf65c0
                },
                KernelSymbol {
                    name: "__per_cpu_offset".into(),
                    addr: 0xffffffff829340e0
                },
            ]
        );
    }
}
