//! Finding source code in the directories the user names (`--source DIR`):
//! a backtrace frame's function by name, or a `file:line` location that
//! auto-repro's probes printed.
//!
//! By name it is the definition line of `name(` in C and BPF C files,
//! including BPF_STRUCT_OPS(name, ...) callbacks; the hit says it was found
//! by name, so nobody mistakes it for a line-exact location. A location is
//! exact: the file whose path ends with the printed one, at that line.

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
    roots.iter().find_map(|root| {
        walk(root, &mut budget, 0, &mut |path, text| {
            let lines: Vec<&str> = text.lines().collect();
            let at = lines.iter().position(|l| is_definition(l, name))?;
            Some(hit(path, &lines, at))
        })
    })
}

/// The source at a location a probe or debug info gave (`main.bpf.c:21`,
/// `kernel/sched/ext.c:1344`): the first file under `roots` whose path ends
/// with `file` (whole components), around 1-based `line`, through the
/// function's closing brace. `None` when no such file has that line.
pub fn find_location(roots: &[PathBuf], file: &str, line: usize) -> Option<SourceHit> {
    let want: Vec<&str> = file
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if want.is_empty() || line == 0 {
        return None;
    }
    let mut budget = MAX_FILES;
    roots.iter().find_map(|root| {
        walk(root, &mut budget, 0, &mut |path, text| {
            let ends = path
                .components()
                .rev()
                .map(|c| c.as_os_str().to_string_lossy())
                .zip(want.iter().rev())
                .filter(|(have, want)| have == *want)
                .count()
                == want.len();
            if !ends {
                return None;
            }
            let lines: Vec<&str> = text.lines().collect();
            (line <= lines.len()).then(|| hit(path, &lines, line - 1))
        })
    })
}

/// The hit for 0-based line `at` of `path`: a few lines before it, then
/// through the function's closing brace (kernel style: `}` in column 0).
fn hit(path: &Path, lines: &[&str], at: usize) -> SourceHit {
    let from = at.saturating_sub(BEFORE);
    let end = lines[at..]
        .iter()
        .take(MAX_AFTER + 1)
        .position(|l| l.starts_with('}'))
        .map_or(at + MAX_AFTER, |k| at + k);
    let to = (end + 1).min(lines.len());
    SourceHit {
        path: path.to_path_buf(),
        line: at + 1,
        context: (from..to).map(|i| (i + 1, lines[i].to_string())).collect(),
    }
}

/// Calls `visit` on each C or header file under `path` (sorted, at most
/// [`MAX_FILES`] files of at most [`MAX_FILE_BYTES`]) until it returns a hit.
fn walk(
    path: &Path,
    budget: &mut usize,
    depth: usize,
    visit: &mut dyn FnMut(&Path, &str) -> Option<SourceHit>,
) -> Option<SourceHit> {
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
            .find_map(|p| walk(p, budget, depth + 1, visit));
    }
    let is_source = path.extension().is_some_and(|e| e == "c" || e == "h");
    if !meta.is_file() || !is_source || meta.len() > MAX_FILE_BYTES {
        return None;
    }
    *budget -= 1;
    let text = std::fs::read_to_string(path).ok()?;
    visit(path, &text)
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
    fn finds_a_printed_location_by_path_suffix_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/bpf")).unwrap();
        let file = dir.path().join("src/bpf/demo.bpf.c");
        std::fs::write(&file, SRC).unwrap();
        let roots = vec![dir.path().to_path_buf()];
        let hit = find_location(&roots, "demo.bpf.c", 8).unwrap();
        assert_eq!((hit.path.as_path(), hit.line), (file.as_path(), 8));
        // Four lines before, then through the closing brace.
        assert_eq!(hit.context.first().map(|c| c.0), Some(4));
        assert_eq!(hit.context.last().map(|c| c.1.as_str()), Some("}"));
        assert!(find_location(&roots, "bpf/demo.bpf.c", 8).is_some());
        assert!(find_location(&roots, "other/demo.bpf.c", 8).is_none());
        assert!(
            find_location(&roots, "emo.bpf.c", 8).is_none(),
            "whole components"
        );
        assert!(
            find_location(&roots, "demo.bpf.c", 99).is_none(),
            "past the end"
        );
        assert!(find_location(&roots, "demo.bpf.c", 0).is_none());
    }

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
