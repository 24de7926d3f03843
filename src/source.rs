//! Finding a function's source by name, for a backtrace frame.
//!
//! Until symbolization with debug info arrives (auto-repro), a frame's
//! function is looked up by name in source directories the user names
//! (`--source DIR`): the definition line of `name(` in C and BPF C files,
//! including BPF_STRUCT_OPS(name, ...) callbacks. The hit says it was found
//! by name, so nobody mistakes it for a line-exact location.

use std::path::{Path, PathBuf};

/// Where a function is defined, with the lines around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceHit {
    pub path: PathBuf,
    /// 1-based line of the definition.
    pub line: usize,
    /// (1-based line number, text): a few lines before the definition, then
    /// the function through its closing brace (at most 80 lines).
    pub context: Vec<(usize, String)>,
}

/// Files and bytes a lookup reads at most: a kernel tree is large.
const MAX_FILES: usize = 50_000;
const MAX_FILE_BYTES: u64 = 4 << 20;
/// Lines shown before the definition line.
const BEFORE: usize = 4;
/// Lines shown after it when the function's end is not found; a longer
/// function is cut here.
const MAX_AFTER: usize = 80;

/// Looks `function` up in `roots` (files or directories, searched in order).
pub fn find_definition(roots: &[PathBuf], function: &str) -> Option<SourceHit> {
    // `dequeue_task_scx.llvm.123` and `foo.cold` are `dequeue_task_scx` and `foo` in the source.
    let name = function.split('.').next().unwrap_or(function);
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let mut budget = MAX_FILES;
    roots
        .iter()
        .find_map(|root| search(root, name, &mut budget, 0))
}

fn search(path: &Path, name: &str, budget: &mut usize, depth: usize) -> Option<SourceHit> {
    if *budget == 0 || depth > 12 {
        return None;
    }
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        return entries
            .iter()
            .find_map(|p| search(p, name, budget, depth + 1));
    }
    let is_source = path.extension().is_some_and(|e| e == "c" || e == "h");
    if !meta.is_file() || !is_source || meta.len() > MAX_FILE_BYTES {
        return None;
    }
    *budget -= 1;
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| is_definition(l, name))?;
    let from = at.saturating_sub(BEFORE);
    // Through the function's closing brace (kernel style: `}` in column 0).
    let end = lines[at..]
        .iter()
        .take(MAX_AFTER + 1)
        .position(|l| l.starts_with('}'))
        .map_or(at + MAX_AFTER, |k| at + k);
    let to = (end + 1).min(lines.len());
    Some(SourceHit {
        path: path.to_path_buf(),
        line: at + 1,
        context: (from..to).map(|i| (i + 1, lines[i].to_string())).collect(),
    })
}

/// `static s32 name(...)` at the start of a line, or a struct_ops macro
/// `BPF_STRUCT_OPS(name, ...)`; not a call (indented), a prototype (`;`) nor
/// a comment that names it (`/* name() does ... */`).
fn is_definition(line: &str, name: &str) -> bool {
    if line.starts_with(char::is_whitespace)
        || line.trim_end().ends_with(';')
        || line.starts_with('#')
        || line.starts_with("//")
        || line.starts_with("/*")
        || line.starts_with('*')
    {
        return false;
    }
    let bytes = line.as_bytes();
    line.match_indices(name).any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = line[i + name.len()..].trim_start();
        let word_start = before.is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_'));
        // `name(` for a function, `name,` inside BPF_STRUCT_OPS(name, ...).
        word_start
            && (after.starts_with('(')
                || (after.starts_with(',')
                    && line[..i].trim_end().ends_with('(')
                    && line.contains("BPF_")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "#include \"vmlinux.h\"\nstatic s32 validate_cell(u32 cell);\n\n/* validate_cell() checks */\nstatic __noinline s32 validate_cell(u32 cell)\n{\n\tif (cell)\n\t\tscx_bpf_error(\"bad\");\n\treturn validate_cell_inner(cell);\n}\n\nvoid BPF_STRUCT_OPS(demo_enqueue, struct task_struct *p, u64 enq_flags)\n{\n\tvalidate_cell(0);\n}\n";

    #[test]
    fn finds_definitions_not_calls_or_prototypes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bpf")).unwrap();
        let file = dir.path().join("bpf/demo.bpf.c");
        std::fs::write(&file, SRC).unwrap();
        let roots = vec![dir.path().to_path_buf()];
        let hit = find_definition(&roots, "validate_cell").unwrap();
        assert_eq!((hit.path.as_path(), hit.line), (file.as_path(), 5));
        assert!(hit
            .context
            .iter()
            .any(|(n, l)| *n == 5 && l.contains("__noinline")));
        assert_eq!(find_definition(&roots, "demo_enqueue").unwrap().line, 12);
        assert_eq!(
            find_definition(&roots, "validate_cell.cold").unwrap().line,
            5
        );
        assert!(find_definition(&roots, "scx_bpf_error").is_none());
        assert!(find_definition(&roots, "validate").is_none());
        assert!(find_definition(&roots, "a/../b").is_none());
        assert!(find_definition(&[dir.path().join("missing")], "validate_cell").is_none());
    }

    #[test]
    fn context_runs_through_the_closing_brace() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.c"), SRC).unwrap();
        let roots = vec![dir.path().to_path_buf()];
        let hit = find_definition(&roots, "validate_cell").unwrap();
        let numbers: Vec<usize> = hit.context.iter().map(|(n, _)| *n).collect();
        // Four lines before the definition (line 5), through `}` on line 10.
        assert_eq!(numbers, (1..=10).collect::<Vec<_>>());

        // A function with no closing brace in column 0 is cut at 80 lines.
        let long = format!("int f(void)\n{{\n{}", "\tx();\n".repeat(200));
        std::fs::write(dir.path().join("a.c"), long).unwrap();
        let hit = find_definition(&roots, "f").unwrap();
        assert_eq!(hit.context.len(), 81);
    }
}
