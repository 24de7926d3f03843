//! The struct fields a probe reads through a function's pointer arguments:
//! ktstr's curated list (`STRUCT_FIELDS` in `ktstr:src/probe/btf.rs`), the
//! same keys so the AUTO-PROBE block reads like ktstr's.
//!
//! The guest agent resolves each [`CuratedField::path`] against the running
//! kernel's BTF (offsets differ between kernels and configs) and the probe
//! reads the raw value at every hit; the host decodes it by key
//! ([`super::FieldDecoder`]). A field the kernel does not have is skipped.

/// One field read through a `struct <strukt> *` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CuratedField {
    /// The struct the argument points to.
    pub strukt: &'static str,
    /// Member path: `.` into an embedded struct, `->` through a pointer,
    /// `[i]` into an array (`scx.ddsp_dsq_id`, `cpus_ptr->bits[1]`).
    pub path: &'static str,
    /// ktstr's key, which picks the decoder and the printed name.
    pub key: &'static str,
}

const fn f(strukt: &'static str, path: &'static str, key: &'static str) -> CuratedField {
    CuratedField { strukt, path, key }
}

/// In ktstr's print order.
pub const CURATED: &[CuratedField] = &[
    f("task_struct", "pid", "pid"),
    f("task_struct", "cpus_ptr->bits[0]", "cpumask_0"),
    f("task_struct", "cpus_ptr->bits[1]", "cpumask_1"),
    f("task_struct", "cpus_ptr->bits[2]", "cpumask_2"),
    f("task_struct", "cpus_ptr->bits[3]", "cpumask_3"),
    f("task_struct", "scx.ddsp_dsq_id", "dsq_id"),
    f("task_struct", "scx.ddsp_enq_flags", "enq_flags"),
    f("task_struct", "scx.slice", "slice"),
    f("task_struct", "scx.dsq_vtime", "vtime"),
    f("task_struct", "scx.weight", "weight"),
    f("task_struct", "scx.sticky_cpu", "sticky_cpu"),
    f("task_struct", "scx.flags", "scx_flags"),
    f("rq", "cpu", "cpu"),
    f("scx_dispatch_q", "id", "id"),
    f("scx_init_task_args", "fork", "fork"),
    f("scx_exit_info", "kind", "kind"),
    f("scx_cgroup_init_args", "weight", "weight"),
];

/// Field slots one hit carries at most (ktstr: 16).
pub const MAX_FIELDS: usize = 16;

/// The curated fields of `strukt`, in print order.
pub fn of_struct(strukt: &str) -> impl Iterator<Item = &'static CuratedField> + '_ {
    CURATED.iter().filter(move |c| c.strukt == strukt)
}

/// One step of a [`CuratedField::path`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// A member of the current struct.
    Member(&'a str),
    /// Follow the pointer read so far.
    Deref,
    /// An element of the current array.
    Index(u32),
}

/// Splits a path into steps; `None` for a malformed path.
pub fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    let mut rest = path;
    loop {
        let end = rest.find(['.', '-', '[']).unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        out.push(Step::Member(name));
        rest = &rest[end..];
        if let Some(r) = rest.strip_prefix('[') {
            let (i, r) = r.split_once(']')?;
            out.push(Step::Index(i.parse().ok()?));
            rest = r;
        }
        if rest.is_empty() {
            return Some(out);
        }
        if let Some(r) = rest.strip_prefix("->") {
            out.push(Step::Deref);
            rest = r;
        } else if let Some(r) = rest.strip_prefix('.') {
            rest = r;
        } else {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_parses() {
        for c in CURATED {
            assert!(steps(c.path).is_some(), "{}", c.path);
        }
        assert_eq!(
            steps("cpus_ptr->bits[1]").unwrap(),
            vec![
                Step::Member("cpus_ptr"),
                Step::Deref,
                Step::Member("bits"),
                Step::Index(1)
            ]
        );
        assert_eq!(
            steps("scx.ddsp_dsq_id").unwrap(),
            vec![Step::Member("scx"), Step::Member("ddsp_dsq_id")]
        );
        for bad in ["", ".a", "a.", "a->", "a[x]", "a[1", "a b"] {
            assert_eq!(steps(bad), None, "{bad}");
        }
    }

    #[test]
    fn task_struct_fits_in_one_hit() {
        assert!(of_struct("task_struct").count() + of_struct("rq").count() <= MAX_FIELDS);
    }
}
