//! The kernel symbols the host monitor asked for, looked up once in
//! `/proc/kallsyms`. The host finds them itself in guest memory (kallsyms
//! decoded from RAM with the VMCOREINFO note, KASLR on or off); this list
//! is its cross-check, and its fallback on a kernel without VMCOREINFO.
//! The list is the host's (`scxray_vmm::monitor::wanted_symbols`); a name
//! this kernel lacks is left out, and the host says what it cannot read
//! without it.

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

    /// The symbols of a real 7.3.4 guest under nokaslr (shared fixture
    /// mem-nokaslr; `prog_idr`, a static `b` symbol, is not in its list and
    /// its address here is made up); 6.15's `event_stats_cpu` and
    /// `__pgtable_l5_enabled` are absent on 7.3.
    #[test]
    fn finds_the_monitor_symbols_of_a_7_3_guest() {
        let text = "\
ffffffff829236a8 D page_offset_base
ffffffff829340e0 D __per_cpu_offset
ffffffff8302a000 T init_top_pgt
ffffffff83032010 T phys_base
ffffffff83cf65c0 D runqueues
ffffffff83d5f4e0 B scx_root
ffffffff83d61e40 b prog_idr
";
        let wanted: Vec<String> = [
            "runqueues",
            "__per_cpu_offset",
            "page_offset_base",
            "scx_root",
            "event_stats_cpu",
            "init_top_pgt",
            "phys_base",
            "__pgtable_l5_enabled",
            "prog_idr",
        ]
        .map(String::from)
        .to_vec();
        let got: Vec<(String, u64)> = find(text, &wanted)
            .into_iter()
            .map(|s| (s.name, s.addr))
            .collect();
        assert_eq!(got.len(), 7);
        assert!(got.contains(&("scx_root".into(), 0xffffffff83d5f4e0)));
        assert!(got.contains(&("prog_idr".into(), 0xffffffff83d61e40)));
        assert!(!got.iter().any(|(n, _)| n == "event_stats_cpu"));
    }

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
