//! Where the failure-dump walker finds what it reads: every offset and
//! enum value comes from the guest kernel's BTF, none is hard-coded, so the
//! walk follows the kernel's layout of the day (7.x moved most of
//! sched_ext's state into `struct scx_sched`).

use scxray::btf::Btf;
use scxray::repro::ScxTaskFlags;

/// Offsets of the fields read, in bytes from the start of their struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkLayout {
    pub rq: RqFields,
    pub dsq: DsqFields,
    pub task: TaskFields,
    /// `scx_sched.exit_kind` (an `atomic_t`).
    pub exit_kind: u64,
    /// `enum scx_exit_kind`, value → name.
    pub exit_kinds: Vec<(u64, String)>,
    /// `task_struct.scx.flags` decoded by the kernel's own enum.
    pub task_flags: ScxTaskFlags,
    /// The maps' fields, or what BTF lacks for them.
    pub maps: Result<MapFields, String>,
}

/// `struct rq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RqFields {
    pub curr: u64,
    pub nr_running: u64,
    pub scx_nr_running: u64,
    pub scx_flags: u64,
    /// `rq.scx.local_dsq`, a `struct scx_dispatch_q`.
    pub local_dsq: u64,
}

/// `struct scx_dispatch_q`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DsqFields {
    /// The FIFO's `list_head`.
    pub list: u64,
    pub nr: u64,
    pub id: u64,
}

/// `struct task_struct` and its `scx` (`struct sched_ext_entity`): offsets
/// from the start of the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskFields {
    pub pid: u64,
    pub comm: u64,
    /// `thread_info.cpu` (or `cpu` on kernels without thread_info in task).
    pub cpu: u64,
    pub dsq: u64,
    /// `scx.dsq_list.node`: the task's link on its DSQ's list.
    pub dsq_node: u64,
    pub flags: u64,
    pub weight: u64,
    pub slice: u64,
    pub dsq_vtime: u64,
    pub sticky_cpu: u64,
    pub holding_cpu: u64,
    pub runnable_at: u64,
    /// `scx.tasks_node`: the task's link on `scx_tasks`.
    pub tasks_node: u64,
    /// `task_struct.scx` itself, and its size: the whole entity is shown
    /// for the tasks the scheduler was handling.
    pub scx: u64,
    pub scx_size: u64,
}

/// The BPF map fields: `bpf_prog_aux.used_maps`, `struct bpf_map`, and the
/// array map's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapFields {
    pub aux_used_maps: u64,
    pub aux_used_map_cnt: u64,
    pub map_type: u64,
    pub key_size: u64,
    pub value_size: u64,
    pub max_entries: u64,
    pub id: u64,
    pub name: u64,
    /// `bpf_map.btf`, `.btf_key_type_id`, `.btf_value_type_id`.
    pub btf: u64,
    pub btf_key_type_id: u64,
    pub btf_value_type_id: u64,
    /// `struct bpf_array`: `elem_size`, and `value`/`pptrs` (one union).
    pub array_elem_size: u64,
    pub array_value: u64,
    /// `struct btf`: `data` (the raw BTF) and `data_size`.
    pub btf_data: u64,
    pub btf_data_size: u64,
    /// `enum bpf_map_type`, value → name without `BPF_MAP_TYPE_`.
    pub types: Vec<(u64, String)>,
    /// Hash maps' layout, or `None` when BTF lacks it (arrays still read).
    pub htab: Option<HtabFields>,
}

/// `struct bpf_htab` and its buckets and elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtabFields {
    /// `bpf_htab.buckets` and `.n_buckets`.
    pub buckets: u64,
    pub n_buckets: u64,
    /// `sizeof(struct bucket)`.
    pub bucket_size: u64,
    /// `htab_elem.key`: where the key starts in an element.
    pub elem_key: u64,
}

fn offset(btf: &Btf, s: &str, path: &[&str]) -> Result<u64, String> {
    btf.member_offset(s, path)
        .map_err(|e| format!("{s}.{}: {e}", path.join(".")))
}

/// An enum's values and names, `prefix` cut off the names.
fn enum_names(btf: &Btf, name: &str, prefix: &str) -> Result<Vec<(u64, String)>, String> {
    Ok(btf
        .enum_values(name)
        .map_err(|e| format!("enum {name}: {e}"))?
        .into_iter()
        .map(|(n, v)| (v, n.strip_prefix(prefix).unwrap_or(&n).to_string()))
        .collect())
}

impl WalkLayout {
    /// The layout out of the kernel's BTF, or the first thing it lacks.
    pub fn from_btf(btf: &Btf) -> Result<WalkLayout, String> {
        let rq = |p: &[&str]| offset(btf, "rq", p);
        let scx = |p: &[&str]| -> Result<u64, String> {
            let mut path = vec!["scx"];
            path.extend_from_slice(p);
            offset(btf, "task_struct", &path)
        };
        let task = TaskFields {
            pid: offset(btf, "task_struct", &["pid"])?,
            comm: offset(btf, "task_struct", &["comm"])?,
            cpu: offset(btf, "task_struct", &["thread_info", "cpu"])
                .or_else(|_| offset(btf, "task_struct", &["cpu"]))?,
            dsq: scx(&["dsq"])?,
            dsq_node: scx(&["dsq_list", "node"])?,
            flags: scx(&["flags"])?,
            weight: scx(&["weight"])?,
            slice: scx(&["slice"])?,
            dsq_vtime: scx(&["dsq_vtime"])?,
            sticky_cpu: scx(&["sticky_cpu"])?,
            holding_cpu: scx(&["holding_cpu"])?,
            runnable_at: scx(&["runnable_at"])?,
            tasks_node: scx(&["tasks_node"])?,
            scx: offset(btf, "task_struct", &["scx"])?,
            scx_size: btf
                .member_size("task_struct", &["scx"])
                .map_err(|e| format!("task_struct.scx: {e}"))?,
        };
        let exit_kinds = enum_names(btf, "scx_exit_kind", "")?;
        Ok(WalkLayout {
            rq: RqFields {
                curr: rq(&["curr"])?,
                nr_running: rq(&["nr_running"])?,
                scx_nr_running: rq(&["scx", "nr_running"])?,
                scx_flags: rq(&["scx", "flags"])?,
                local_dsq: rq(&["scx", "local_dsq"])?,
            },
            dsq: DsqFields {
                list: offset(btf, "scx_dispatch_q", &["list"])?,
                nr: offset(btf, "scx_dispatch_q", &["nr"])?,
                id: offset(btf, "scx_dispatch_q", &["id"])?,
            },
            task,
            exit_kind: offset(btf, "scx_sched", &["exit_kind"])?,
            exit_kinds,
            task_flags: ScxTaskFlags::from_btf(btf).map_err(|e| e.to_string())?,
            maps: MapFields::from_btf(btf),
        })
    }

    /// The kernel's name of an exit kind (`SCX_EXIT_ERROR`).
    pub fn exit_kind_name(&self, kind: u32) -> Option<String> {
        self.exit_kinds
            .iter()
            .find(|(v, _)| *v == u64::from(kind))
            .map(|(_, n)| n.clone())
    }
}

impl MapFields {
    fn from_btf(btf: &Btf) -> Result<MapFields, String> {
        let m = |p: &str| offset(btf, "bpf_map", &[p]);
        Ok(MapFields {
            aux_used_maps: offset(btf, "bpf_prog_aux", &["used_maps"])?,
            aux_used_map_cnt: offset(btf, "bpf_prog_aux", &["used_map_cnt"])?,
            map_type: m("map_type")?,
            key_size: m("key_size")?,
            value_size: m("value_size")?,
            max_entries: m("max_entries")?,
            id: m("id")?,
            name: m("name")?,
            btf: m("btf")?,
            btf_key_type_id: m("btf_key_type_id")?,
            btf_value_type_id: m("btf_value_type_id")?,
            array_elem_size: offset(btf, "bpf_array", &["elem_size"])?,
            array_value: offset(btf, "bpf_array", &["value"])?,
            btf_data: offset(btf, "btf", &["data"])?,
            btf_data_size: offset(btf, "btf", &["data_size"])?,
            types: enum_names(btf, "bpf_map_type", "BPF_MAP_TYPE_")?
                .into_iter()
                .map(|(v, n)| (v, n.to_lowercase()))
                .collect(),
            htab: (|| {
                Some(HtabFields {
                    buckets: offset(btf, "bpf_htab", &["buckets"]).ok()?,
                    n_buckets: offset(btf, "bpf_htab", &["n_buckets"]).ok()?,
                    bucket_size: btf.struct_size("bucket").ok()?,
                    elem_key: offset(btf, "htab_elem", &["key"]).ok()?,
                })
            })(),
        })
    }

    /// `array`, `percpu_array`, … or `type <n>`.
    pub fn type_name(&self, t: u32) -> String {
        self.types
            .iter()
            .find(|(v, _)| *v == u64::from(t))
            .map_or_else(|| format!("type {t}"), |(_, n)| n.clone())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Made-up map offsets for walks over fake or garbage memory.
    pub(crate) fn map_fields() -> MapFields {
        MapFields {
            aux_used_maps: 0x10,
            aux_used_map_cnt: 0x18,
            map_type: 0x18,
            key_size: 0x1c,
            value_size: 0x20,
            max_entries: 0x24,
            id: 0x30,
            name: 0x40,
            btf: 0x50,
            btf_key_type_id: 0x58,
            btf_value_type_id: 0x5c,
            array_elem_size: 0x100,
            array_value: 0x140,
            btf_data: 0x8,
            btf_data_size: 0x10,
            types: vec![
                (1, "hash".into()),
                (2, "array".into()),
                (6, "percpu_array".into()),
            ],
            htab: Some(HtabFields {
                buckets: 0x200,
                n_buckets: 0x208,
                bucket_size: 16,
                elem_key: 0x28,
            }),
        }
    }

    /// The real kernel's layout, when one is cached: every field found.
    #[test]
    fn the_cached_kernels_btf_has_every_field() {
        let Some(path) = crate::kernel::KernelCache::from_env()
            .ok()
            .and_then(|c| c.newest_sched_ext().ok().flatten())
            .and_then(|k| k.btf)
        else {
            eprintln!("skipped: no cached sched_ext kernel with BTF");
            return;
        };
        let btf = Btf::parse(&std::fs::read(&path).unwrap()).unwrap();
        let l = WalkLayout::from_btf(&btf).unwrap();
        assert!(
            l.maps.as_ref().is_ok_and(|m| m.htab.is_some()),
            "{:?}",
            l.maps
        );
        assert_eq!(
            l.exit_kind_name(1025).as_deref(),
            Some("SCX_EXIT_ERROR_BPF")
        );
        assert_eq!(l.task_flags.flag_bit("QUEUED"), Some(1));
    }
}
