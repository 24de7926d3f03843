//! The value decoders of ktstr's AUTO-PROBE block: a raw field value to the
//! text ktstr prints for it.
//!
//! A probe records raw `u64` slots (a `dsq_id`, a cpumask word, `scx.flags`);
//! ktstr (`ktstr:src/probe/decode.rs`, constants in `scx_defs.rs`) turns each
//! into a name chosen by the field's key, and scxray must print the same text
//! so that its auto-repro section reads like ktstr's. Every function here is
//! pure and prints exactly what ktstr prints for the values ktstr can name.
//!
//! Where scxray differs, it is so that nothing is hidden:
//! - bits a flags table has no name for are appended in hex (`WAKEUP|0x400`);
//!   ktstr drops them, so `SCX_ENQ_CPU_SELECTED` alone printed `NONE`;
//! - an `scx.flags` state the table does not know prints `STATE(<n>)` (ktstr:
//!   nothing).
//!
//! Two tables are not constants, because the guest kernel decides them:
//! - **`task_struct.scx.flags`** ([`ScxTaskFlags`]): its task state grew from
//!   2 to 3 bits around v7.1-rc3 (`SCX_TASK_INIT_BEGIN`, `SCX_TASK_DEAD`), so
//!   the `3` in a dump's `scx_state/flags=3/0x5` is ENABLED before 7.1 and
//!   READY after. The table is read from the guest's BTF (`enum scx_ent_flags`)
//!   when there is one, else picked by kernel release; both of ktstr's tables
//!   are provided.
//! - **`task_struct.__state`** ([`TaskStates`]): `TASK_*` are `#define`s,
//!   which BTF never carries (checked on Debian's 7.3 kernel), so the table
//!   comes from an explicit list or the kernel's `include/linux/sched.h`, and
//!   the classic values only as the named fallback [`TaskStates::classic`].

use crate::btf::{Btf, BtfError};

/// Bits `[63:62]` of a DSQ id say what kind it is.
const DSQ_TYPE_SHIFT: u32 = 62;
const DSQ_TYPE_LOCAL_ON: u64 = 3;
const DSQ_TYPE_BUILTIN: u64 = 2;

/// `SCX_ENQ_*` as ktstr names them.
pub const ENQ_FLAGS: &[(u64, &str)] = &[
    (1 << 0, "WAKEUP"),
    (1 << 16, "HEAD"),
    (1 << 32, "PREEMPT"),
    (1 << 40, "REENQ"),
    (1 << 41, "LAST"),
    (1 << 56, "CLEAR_OPSS"),
    (1 << 57, "DSQ_PRIQ"),
    (1 << 58, "NESTED"),
];

/// `SCX_KICK_*`.
pub const KICK_FLAGS: &[(u64, &str)] = &[(1, "IDLE"), (2, "PREEMPT"), (4, "WAIT")];

/// `enum scx_exit_kind` as ktstr names it (no `PARENT` 68: ktstr has none).
pub const EXIT_KINDS: &[(u64, &str)] = &[
    (0, "NONE"),
    (1, "DONE"),
    (64, "UNREG"),
    (65, "UNREG_BPF"),
    (66, "UNREG_KERN"),
    (67, "SYSRQ"),
    (1024, "ERROR"),
    (1025, "ERROR_BPF"),
    (1026, "ERROR_STALL"),
];

/// A table that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("reading the guest's BTF: {0}")]
    Btf(#[from] BtfError),
    #[error("BTF enum {enum_name} has no {name}")]
    MissingEnumerator {
        enum_name: &'static str,
        name: &'static str,
    },
    #[error("BTF enum scx_ent_flags: {name} = {value:#x} is out of range")]
    BadEnumerator { name: String, value: u64 },
    #[error("'{0}' is not a kernel release (expected MAJOR.MINOR..., like 7.0.14 or 7.3.4+deb13-cloud-amd64)")]
    BadKernelRelease(String),
    #[error("task state '{name}' = {value:#x} is neither 0 nor a single bit")]
    NotASingleBit { name: String, value: u64 },
    #[error("task state {value:#x} is named twice: '{first}' and '{second}'")]
    DuplicateTaskState {
        value: u64,
        first: String,
        second: String,
    },
    #[error("no task states given (a header needs `#define TASK_RUNNING 0x00000000`-style lines)")]
    NoTaskStates,
}

/// A `dsq_id`: `SCX_DSQ_LOCAL_ON|<cpu>`, a built-in DSQ, `BUILTIN(<n>)`, or a
/// user DSQ as `DSQ(0x<hex>)`.
pub fn dsq_id(id: u64) -> String {
    match id >> DSQ_TYPE_SHIFT {
        DSQ_TYPE_LOCAL_ON => format!("SCX_DSQ_LOCAL_ON|{}", id & 0xffff_ffff),
        DSQ_TYPE_BUILTIN => match id & 0xffff_ffff {
            0 => "SCX_DSQ_INVALID".to_string(),
            1 => "SCX_DSQ_GLOBAL".to_string(),
            2 => "SCX_DSQ_LOCAL".to_string(),
            3 => "SCX_DSQ_BYPASS".to_string(),
            v => format!("BUILTIN({v})"),
        },
        _ => format!("DSQ(0x{id:x})"),
    }
}

/// The CPUs of cpumask words (word `i` holds CPUs `64*i..64*i+63`) as ranges,
/// `0-3,6`, or `none`. With `nr_cpus`, bits at or past it are ignored: a mask
/// read by a probe may hold garbage there.
pub fn cpu_list(words: &[u64], nr_cpus: Option<u32>) -> String {
    let max_cpu = nr_cpus.map_or(words.len() as u64 * 64, u64::from);
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for (i, &word) in words.iter().enumerate() {
        let base = i as u64 * 64;
        if base >= max_cpu {
            break;
        }
        for bit in 0..(max_cpu - base).min(64) {
            if word & (1 << bit) == 0 {
                continue;
            }
            let cpu = base + bit;
            match ranges.last_mut() {
                Some((_, end)) if *end + 1 == cpu => *end = cpu,
                _ => ranges.push((cpu, cpu)),
            }
        }
    }
    if ranges.is_empty() {
        return "none".to_string();
    }
    ranges
        .iter()
        .map(|&(s, e)| {
            if s == e {
                s.to_string()
            } else {
                format!("{s}-{e}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A cpumask as ktstr's merged `cpus_ptr` line prints it: `0xf(0-3)`, or with
/// CPUs past 63 every word from the highest non-zero one down, 16 digits each:
/// `0x0000000000000001_00000000000000ff(0-7,64)`. Words are masked to
/// `nr_cpus` first.
pub fn cpumask(words: &[u64], nr_cpus: Option<u32>) -> String {
    let list = cpu_list(words, nr_cpus);
    let shown: Vec<u64> = words
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let base = i as u64 * 64;
            match nr_cpus.map(u64::from) {
                Some(nr) if base >= nr => 0,
                Some(nr) if nr - base < 64 => w & ((1 << (nr - base)) - 1),
                _ => w,
            }
        })
        .collect();
    if shown.iter().skip(1).any(|&w| w != 0) {
        let hex: Vec<String> = shown
            .iter()
            .rev()
            .skip_while(|&&w| w == 0)
            .map(|w| format!("{w:016x}"))
            .collect();
        format!("0x{}({list})", hex.join("_"))
    } else {
        format!("0x{:x}({list})", shown.first().copied().unwrap_or(0))
    }
}

/// Names of the set bits joined with `|`, unnamed bits last in hex, `NONE`
/// for zero.
fn bit_names(value: u64, table: &[(u64, &str)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut left = value;
    for &(bit, name) in table {
        if value & bit != 0 {
            parts.push(name.to_string());
            left &= !bit;
        }
    }
    finish_flags(parts, left)
}

fn finish_flags(mut parts: Vec<String>, unnamed: u64) -> String {
    if unnamed != 0 {
        parts.push(format!("0x{unnamed:x}"));
    }
    if parts.is_empty() {
        "NONE".to_string()
    } else {
        parts.join("|")
    }
}

/// `enq_flags`: `WAKEUP|HEAD`, ..., `NONE` for zero.
pub fn enq_flags(flags: u64) -> String {
    bit_names(flags, ENQ_FLAGS)
}

/// `kick_flags`: `IDLE|PREEMPT|WAIT`.
pub fn kick_flags(flags: u64) -> String {
    bit_names(flags, KICK_FLAGS)
}

/// `exit_kind`: `ERROR_BPF`, ..., `UNKNOWN(<n>)`.
pub fn exit_kind(kind: u64) -> String {
    EXIT_KINDS
        .iter()
        .find(|&&(v, _)| v == kind)
        .map_or_else(|| format!("UNKNOWN({kind})"), |&(_, name)| name.to_string())
}

/// `ops_state`: the low 8 bits (the rest is the queue sequence number).
pub fn ops_state(state: u64) -> String {
    match state & 0xff {
        0 => "NONE".to_string(),
        1 => "QUEUEING".to_string(),
        2 => "QUEUED".to_string(),
        3 => "DISPATCHING".to_string(),
        v => format!("OPSS({v})"),
    }
}

/// `sticky_cpu`: `-1` for the 32- and 64-bit all-ones, else decimal.
pub fn sticky_cpu(value: u64) -> String {
    if value == 0xffff_ffff || value == u64::MAX {
        "-1".to_string()
    } else {
        value.to_string()
    }
}

/// `enforce`: `true` only for 1, as ktstr reads it.
pub fn enforce(value: u64) -> String {
    (value == 1).to_string()
}

/// An argument with no name or type, guessed from its value:
/// `int:0`, `int:-1`, `bool:true`, `int:<n>`, `ptr:<low 16 bits hex>`,
/// `mask:0x..(<cpus>)`, `dsq:<dsq>`, `hex:0x..`.
pub fn raw_arg(value: u64) -> String {
    let ones = value.count_ones();
    if value == 0 {
        "int:0".to_string()
    } else if value == u64::MAX || value == 0xffff_ffff {
        "int:-1".to_string()
    } else if value == 1 {
        "bool:true".to_string()
    } else if value <= 0xff {
        format!("int:{value}")
    } else if value > 0xff00_0000_0000_0000 {
        format!("ptr:{:04x}", value & 0xffff)
    } else if value <= 0xffff && (2..=16).contains(&ones) {
        format!("mask:0x{value:x}({})", cpu_list(&[value], None))
    } else if value <= 0xffff {
        format!("int:{value}")
    } else if value >> DSQ_TYPE_SHIFT >= DSQ_TYPE_BUILTIN {
        format!("dsq:{}", dsq_id(value))
    } else {
        format!("hex:0x{value:x}")
    }
}

/// How BTF says to show a field no decoder claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderHint {
    Decimal,
    Signed,
    Bool,
    /// ktstr's default.
    Hex,
}

/// A value by its render hint (`None` is hex, as in ktstr).
pub fn hinted(value: u64, hint: Option<RenderHint>) -> String {
    match hint {
        Some(RenderHint::Decimal) => value.to_string(),
        Some(RenderHint::Signed) => (value as i64).to_string(),
        Some(RenderHint::Bool) => (value != 0).to_string(),
        Some(RenderHint::Hex) | None => format!("0x{value:x}"),
    }
}

/// A bit field inside `scx.flags` (the task state, the reenqueue reason).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    /// Shown as `<label>(<n>)` for a value with no name.
    label: &'static str,
    shift: u32,
    /// Unshifted.
    mask: u64,
    /// Unshifted value, name. Zero prints nothing.
    names: Vec<(u64, String)>,
}

/// The meaning of `task_struct.scx.flags` (`enum scx_ent_flags`) on one
/// kernel: single-bit flags, then the task state field, then (7.1+) the
/// reenqueue reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScxTaskFlags {
    flags: Vec<(u64, String)>,
    state: Field,
    reenq: Option<Field>,
}

fn owned(table: &[(u64, &str)]) -> Vec<(u64, String)> {
    table.iter().map(|&(v, n)| (v, n.to_string())).collect()
}

const KTSTR_TASK_FLAGS: &[(u64, &str)] = &[
    (1 << 0, "QUEUED"),
    (1 << 2, "RESET_RUNNABLE_AT"),
    (1 << 3, "DEQD_FOR_SLEEP"),
];

impl ScxTaskFlags {
    /// Kernels before v7.1 (and ktstr up to `77af34a`): a 2-bit state at bit
    /// 8, INIT=1, READY=2, ENABLED=3.
    pub fn before_7_1() -> ScxTaskFlags {
        ScxTaskFlags {
            flags: owned(KTSTR_TASK_FLAGS),
            state: Field {
                label: "STATE",
                shift: 8,
                mask: 3,
                names: owned(&[(1, "INIT"), (2, "READY"), (3, "ENABLED")]),
            },
            reenq: None,
        }
    }

    /// v7.1 and later, as ktstr `fb47418` decodes them: a 3-bit state,
    /// INIT_BEGIN=1, INIT=2, READY=3, ENABLED=4, DEAD=5. (The newer flags,
    /// `IN_CUSTODY`, `IMMED`, ..., are named only by [`ScxTaskFlags::from_btf`].)
    pub fn since_7_1() -> ScxTaskFlags {
        ScxTaskFlags {
            flags: owned(KTSTR_TASK_FLAGS),
            state: Field {
                label: "STATE",
                shift: 8,
                mask: 7,
                names: owned(&[
                    (1, "INIT_BEGIN"),
                    (2, "INIT"),
                    (3, "READY"),
                    (4, "ENABLED"),
                    (5, "DEAD"),
                ]),
            },
            reenq: None,
        }
    }

    /// The table for a kernel release (`uname -r`): 7.1 and later get
    /// [`ScxTaskFlags::since_7_1`]. The change landed in 7.1-rc3, so 7.1-rc1
    /// and -rc2 are misjudged; prefer [`ScxTaskFlags::from_btf`].
    pub fn for_kernel_release(release: &str) -> Result<ScxTaskFlags, DecodeError> {
        let bad = || DecodeError::BadKernelRelease(release.to_string());
        let mut parts = release.trim().split(['.', '-', '+']);
        let major: u32 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let minor: u32 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        Ok(if (major, minor) >= (7, 1) {
            ScxTaskFlags::since_7_1()
        } else {
            ScxTaskFlags::before_7_1()
        })
    }

    /// The guest kernel's own table, from `enum scx_ent_flags` (and, before
    /// 7.1, `enum scx_task_state`) in its BTF: every single-bit flag it
    /// declares, in bit order, with `SCX_TASK_` cut off.
    pub fn from_btf(btf: &Btf) -> Result<ScxTaskFlags, DecodeError> {
        const ENUM: &str = "scx_ent_flags";
        let ent = btf.enum_values(ENUM)?;
        let get = |name: &str| ent.iter().find(|(n, _)| n == name).map(|&(_, v)| v);
        let is_meta = |name: &str| {
            name.ends_with("_SHIFT") || name.ends_with("_BITS") || name.ends_with("_MASK")
        };
        let field_of = |shift_name: &'static str,
                        mask_name: &str,
                        bits_name: &str|
         -> Result<Option<(u32, u64)>, DecodeError> {
            let Some(shift) = get(shift_name) else {
                return Ok(None);
            };
            let out_of_range = |name: &str, value: u64| DecodeError::BadEnumerator {
                name: name.to_string(),
                value,
            };
            if shift >= 64 {
                return Err(out_of_range(shift_name, shift));
            }
            let mask = match (get(mask_name), get(bits_name)) {
                (Some(mask), _) => mask >> shift,
                (None, Some(bits)) if bits < 64 => (1u64 << bits) - 1,
                (None, Some(bits)) => return Err(out_of_range(bits_name, bits)),
                (None, None) => 0,
            };
            if mask == 0 {
                return Err(out_of_range(mask_name, 0));
            }
            Ok(Some((shift as u32, mask)))
        };
        let (state_shift, state_mask) = field_of(
            "SCX_TASK_STATE_SHIFT",
            "SCX_TASK_STATE_MASK",
            "SCX_TASK_STATE_BITS",
        )?
        .ok_or(DecodeError::MissingEnumerator {
            enum_name: ENUM,
            name: "SCX_TASK_STATE_SHIFT",
        })?;
        let reenq = field_of(
            "SCX_TASK_REENQ_REASON_SHIFT",
            "SCX_TASK_REENQ_REASON_MASK",
            "SCX_TASK_REENQ_REASON_BITS",
        )?;
        let short = |name: &str| name.strip_prefix("SCX_TASK_").unwrap_or(name).to_string();
        let within = |v: u64, shift: u32, mask: u64| v & !(mask << shift) == 0;

        // Before 7.1 the states are an enum of their own, unshifted.
        let state_names: Vec<(u64, String)> = match btf.enum_values("scx_task_state") {
            Ok(states) => states
                .iter()
                .filter(|(n, v)| !n.ends_with("NR_STATES") && *v <= state_mask)
                .map(|(n, v)| (*v, short(n)))
                .collect(),
            Err(BtfError::EnumNotFound(_)) => ent
                .iter()
                .filter(|(n, v)| {
                    !is_meta(n)
                        && !n.starts_with("SCX_TASK_REENQ_")
                        && within(*v, state_shift, state_mask)
                })
                .map(|(n, v)| (v >> state_shift, short(n)))
                .collect(),
            Err(e) => return Err(e.into()),
        };
        let reenq = reenq.map(|(shift, mask)| Field {
            label: "REENQ",
            shift,
            mask,
            names: ent
                .iter()
                .filter(|(n, v)| {
                    n.starts_with("SCX_TASK_REENQ_") && !is_meta(n) && within(*v, shift, mask)
                })
                .map(|(n, v)| (v >> shift, short(n)))
                .collect(),
        });
        let in_field = |v: u64| {
            v & (state_mask << state_shift) != 0
                || reenq.as_ref().is_some_and(|f| v & (f.mask << f.shift) != 0)
        };
        let mut flags: Vec<(u64, String)> = ent
            .iter()
            .filter(|(n, v)| v.is_power_of_two() && !is_meta(n) && !in_field(*v))
            .map(|(n, v)| (*v, short(n)))
            .collect();
        flags.sort_by_key(|&(v, _)| v);
        flags.dedup_by_key(|f| f.0);
        Ok(ScxTaskFlags {
            flags,
            state: Field {
                label: "STATE",
                shift: state_shift,
                mask: state_mask,
                names: state_names,
            },
            reenq,
        })
    }

    /// The name of a task state number, as a dump's `scx_state/flags=<state>/..`
    /// prints it (`NONE` for 0 when the kernel names it).
    pub fn state_name(&self, state: u64) -> Option<&str> {
        self.state
            .names
            .iter()
            .find(|(v, _)| *v == state)
            .map(|(_, n)| n.as_str())
    }

    /// The task state held in `scx.flags` (`ENABLED`, `NONE` for 0, or
    /// `STATE(<n>)` when the kernel does not name it).
    pub fn state_of(&self, value: u64) -> String {
        let v = (value >> self.state.shift) & self.state.mask;
        match self.state_name(v) {
            Some(name) => name.to_string(),
            None if v == 0 => "NONE".to_string(),
            None => format!("STATE({v})"),
        }
    }

    /// The single-bit flags set in `scx.flags`, in bit order.
    pub fn flag_names(&self, value: u64) -> Vec<String> {
        self.flags
            .iter()
            .filter(|(bit, _)| value & bit != 0)
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// The number of a task state by its name (`ENABLED` → 4 on 7.1+).
    pub fn state_value(&self, name: &str) -> Option<u64> {
        self.state
            .names
            .iter()
            .find(|(_, n)| n == name)
            .map(|&(v, _)| v)
    }

    /// The bit of a single-bit flag by its short name (`CURSOR`).
    pub fn flag_bit(&self, name: &str) -> Option<u64> {
        self.flags.iter().find(|(_, n)| n == name).map(|&(b, _)| b)
    }

    /// `scx.flags`: the flags in bit order, then the state, then the
    /// reenqueue reason (zero fields print nothing), `NONE` if nothing is set.
    pub fn decode(&self, value: u64) -> String {
        let mut parts = Vec::new();
        let mut left = value;
        for (bit, name) in &self.flags {
            if value & bit != 0 {
                parts.push(name.clone());
                left &= !bit;
            }
        }
        for field in std::iter::once(&self.state).chain(&self.reenq) {
            let v = (value >> field.shift) & field.mask;
            left &= !(field.mask << field.shift);
            if v == 0 {
                continue;
            }
            match field.names.iter().find(|(n, _)| *n == v) {
                Some((_, name)) => parts.push(name.clone()),
                None => parts.push(format!("{}({v})", field.label)),
            }
        }
        finish_flags(parts, left)
    }
}

/// The meaning of `task_struct.__state` on one kernel: `TASK_*` bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStates {
    /// Single bits, ascending.
    bits: Vec<(u64, String)>,
    /// The name of 0 (`TASK_RUNNING`).
    zero: Option<String>,
}

/// `include/linux/sched.h` (6.x and 7.x): the `__state` bits.
const CLASSIC_TASK_STATES: &[(u64, &str)] = &[
    (0x0000, "TASK_RUNNING"),
    (0x0001, "TASK_INTERRUPTIBLE"),
    (0x0002, "TASK_UNINTERRUPTIBLE"),
    (0x0004, "__TASK_STOPPED"),
    (0x0008, "__TASK_TRACED"),
    (0x0040, "TASK_PARKED"),
    (0x0080, "TASK_DEAD"),
    (0x0100, "TASK_WAKEKILL"),
    (0x0200, "TASK_WAKING"),
    (0x0400, "TASK_NOLOAD"),
    (0x0800, "TASK_NEW"),
    (0x1000, "TASK_RTLOCK_WAIT"),
    (0x2000, "TASK_FREEZABLE"),
    (0x4000, "__TASK_FREEZABLE_UNSAFE"),
    (0x8000, "TASK_FROZEN"),
];

impl TaskStates {
    /// A table from `(value, name)` pairs: 0 names the running state, every
    /// other value must be one bit, each named once.
    pub fn from_list<S: Into<String>>(
        entries: impl IntoIterator<Item = (u64, S)>,
    ) -> Result<TaskStates, DecodeError> {
        let mut table = TaskStates {
            bits: Vec::new(),
            zero: None,
        };
        for (value, name) in entries {
            let name = name.into();
            let slot = if value == 0 {
                table.zero.as_ref()
            } else if value.is_power_of_two() {
                table.bits.iter().find(|(v, _)| *v == value).map(|(_, n)| n)
            } else {
                return Err(DecodeError::NotASingleBit { name, value });
            };
            if let Some(first) = slot {
                return Err(DecodeError::DuplicateTaskState {
                    value,
                    first: first.clone(),
                    second: name,
                });
            }
            if value == 0 {
                table.zero = Some(name);
            } else {
                table.bits.push((value, name));
            }
        }
        if table.bits.is_empty() && table.zero.is_none() {
            return Err(DecodeError::NoTaskStates);
        }
        table.bits.sort_by_key(|&(v, _)| v);
        Ok(table)
    }

    /// The table of the guest kernel's `include/linux/sched.h`: its
    /// `#define TASK_<X> 0x...` and `#define __TASK_<X> 0x...` lines whose
    /// value is 0 or one bit (`TASK_STATE_MAX` and combinations such as
    /// `TASK_IDLE` are skipped; `(0x00004000 * IS_ENABLED(..))` counts as
    /// its hex number).
    pub fn from_sched_h(text: &str) -> Result<TaskStates, DecodeError> {
        let entries = text.lines().filter_map(|line| {
            let rest = line.trim_start().strip_prefix('#')?.trim_start();
            let mut words = rest.strip_prefix("define")?.split_whitespace();
            let name = words.next()?;
            let is_state = (name.starts_with("TASK_") || name.starts_with("__TASK_"))
                && name != "TASK_STATE_MAX";
            let hex = words
                .next()?
                .trim_start_matches('(')
                .strip_prefix("0x")?
                .trim_end_matches(')');
            let value = u64::from_str_radix(hex, 16).ok()?;
            (is_state && (value == 0 || value.is_power_of_two())).then(|| (value, name.to_string()))
        });
        TaskStates::from_list(entries)
    }

    /// The fallback when the guest kernel's own table is not at hand: the
    /// values of `include/linux/sched.h` in 6.x and 7.x.
    pub fn classic() -> TaskStates {
        TaskStates {
            bits: owned(&CLASSIC_TASK_STATES[1..]),
            zero: Some(CLASSIC_TASK_STATES[0].1.to_string()),
        }
    }

    /// `__state`: `TASK_RUNNING` for 0, else the set bits' names joined with
    /// `|` (`TASK_UNINTERRUPTIBLE|TASK_NOLOAD`), unnamed bits in hex.
    pub fn decode(&self, state: u64) -> String {
        if state == 0 {
            return self.zero.clone().unwrap_or_else(|| "0x0".to_string());
        }
        let mut parts = Vec::new();
        let mut left = state;
        for (bit, name) in &self.bits {
            if state & bit != 0 {
                parts.push(name.clone());
                left &= !bit;
            }
        }
        finish_flags(parts, left)
    }
}

/// Chooses the decoder by field key, as ktstr's `decode_named_value_hinted`
/// does, with the guest kernel's tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDecoder {
    pub scx_flags: ScxTaskFlags,
    /// For `__state` (a key ktstr does not decode).
    pub task_states: TaskStates,
}

impl FieldDecoder {
    /// `struct_name` is the struct the field was read from (`task_struct`,
    /// `rq`), empty for a scalar parameter: `enq_flags`, `flags` and
    /// `exit_kind` are decoded only for their own struct, so that a
    /// same-named field of another struct stays a number. A one-word cpumask
    /// is not masked to the CPU count here (ktstr does not either); the merged
    /// `cpus_ptr` line is [`cpumask`].
    pub fn decode(
        &self,
        struct_name: &str,
        key: &str,
        value: u64,
        hint: Option<RenderHint>,
    ) -> String {
        let scalar_or = |owner: &str| struct_name.is_empty() || struct_name == owner;
        match key {
            "dsq_id" | "dsq" => dsq_id(value),
            "cpus_ptr" | "cpus" | "cpumask" | "cpumask_0" | "cpumask_1" | "cpumask_2"
            | "cpumask_3" => cpumask(&[value], None),
            "enforce" => enforce(value),
            "enq_flags" | "enq" | "enqflags" if scalar_or("task_struct") => enq_flags(value),
            "exit_kind" if scalar_or("scx_exit_info") => exit_kind(value),
            "sticky_cpu" | "sticky" => sticky_cpu(value),
            "cpu" | "rq_cpu" | "dst_cpu" | "dest_cpu" | "pid" | "task" | "slice" | "vtime"
            | "weight" => value.to_string(),
            "kick_flags" | "kick" => kick_flags(value),
            "ops_state" | "opss" => ops_state(value),
            "flags" | "scx_flags" if scalar_or("task_struct") => self.scx_flags.decode(value),
            "__state" if scalar_or("task_struct") => self.task_states.decode(value),
            _ if key.contains("cpumask") || key.contains("cpus") => cpumask(&[value], None),
            _ => hinted(value, hint),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::tests::{cached_kernel_btfs, Builder};

    const BUILTIN: u64 = 1 << 63;
    const LOCAL_ON: u64 = 3 << 62;

    #[test]
    fn dsq_ids() {
        assert_eq!(dsq_id(LOCAL_ON | 7), "SCX_DSQ_LOCAL_ON|7");
        assert_eq!(dsq_id(BUILTIN), "SCX_DSQ_INVALID");
        assert_eq!(dsq_id(BUILTIN | 1), "SCX_DSQ_GLOBAL");
        assert_eq!(dsq_id(BUILTIN | 2), "SCX_DSQ_LOCAL");
        assert_eq!(dsq_id(BUILTIN | 3), "SCX_DSQ_BYPASS");
        assert_eq!(dsq_id(BUILTIN | 99), "BUILTIN(99)");
        assert_eq!(dsq_id(42), "DSQ(0x2a)");
        assert_eq!(dsq_id(0), "DSQ(0x0)");
        // Bit 62 alone is not a type ktstr knows: a user DSQ number.
        assert_eq!(dsq_id(1 << 62), "DSQ(0x4000000000000000)");
    }

    #[test]
    fn cpumasks() {
        assert_eq!(cpu_list(&[0xf], None), "0-3");
        assert_eq!(cpu_list(&[0x33], None), "0-1,4-5");
        assert_eq!(cpu_list(&[0x15], None), "0,2,4");
        assert_eq!(cpu_list(&[0x4f], None), "0-3,6");
        assert_eq!(cpu_list(&[0], None), "none");
        assert_eq!(cpu_list(&[], None), "none");
        assert_eq!(cpu_list(&[1], None), "0");
        assert_eq!(cpu_list(&[1 << 63], None), "63");
        assert_eq!(cpu_list(&[u64::MAX], None), "0-63");
        assert_eq!(cpu_list(&[1 << 63, 1], None), "63-64");
        assert_eq!(cpu_list(&[1, 1, 1, 1], None), "0,64,128,192");
        assert_eq!(cpu_list(&[0, 0, 0, 1 << 63], None), "255");
        assert_eq!(cpu_list(&[0xff, u64::MAX], Some(8)), "0-7");
        assert_eq!(cpu_list(&[u64::MAX], Some(10)), "0-9");
        assert_eq!(cpu_list(&[0xff, 0xdead_beef], Some(64)), "0-7");
        assert_eq!(cpu_list(&[0xff], Some(0)), "none");

        assert_eq!(cpumask(&[0xf], None), "0xf(0-3)");
        assert_eq!(cpumask(&[0xf, 0, 0, 0], Some(4)), "0xf(0-3)");
        assert_eq!(cpumask(&[0], None), "0x0(none)");
        assert_eq!(
            cpumask(&[0xff, 1, 0, 0], None),
            "0x0000000000000001_00000000000000ff(0-7,64)"
        );
        // Garbage past nr_cpus is masked in the hex too.
        assert_eq!(cpumask(&[0xff, 0xffff], Some(8)), "0xff(0-7)");
        assert_eq!(
            cpumask(&[0xff, 0xffff], Some(66)),
            "0x0000000000000003_00000000000000ff(0-7,64-65)"
        );
    }

    #[test]
    fn enqueue_kick_exit_ops() {
        assert_eq!(enq_flags(0), "NONE");
        assert_eq!(enq_flags(1), "WAKEUP");
        assert_eq!(enq_flags(1 | (1 << 16)), "WAKEUP|HEAD");
        assert_eq!(enq_flags(1 << 32), "PREEMPT");
        assert_eq!(enq_flags(1 << 40), "REENQ");
        let all = ENQ_FLAGS.iter().fold(0, |a, &(b, _)| a | b);
        assert_eq!(
            enq_flags(all),
            "WAKEUP|HEAD|PREEMPT|REENQ|LAST|CLEAR_OPSS|DSQ_PRIQ|NESTED"
        );
        // ktstr would print NONE and WAKEUP here.
        assert_eq!(enq_flags(1 << 10), "0x400");
        assert_eq!(enq_flags(1 | (1 << 10)), "WAKEUP|0x400");

        assert_eq!(kick_flags(1), "IDLE");
        assert_eq!(kick_flags(2), "PREEMPT");
        assert_eq!(kick_flags(4), "WAIT");
        assert_eq!(kick_flags(3), "IDLE|PREEMPT");
        assert_eq!(kick_flags(7), "IDLE|PREEMPT|WAIT");
        assert_eq!(kick_flags(0), "NONE");

        for (kind, name) in [
            (0, "NONE"),
            (1, "DONE"),
            (64, "UNREG"),
            (65, "UNREG_BPF"),
            (66, "UNREG_KERN"),
            (67, "SYSRQ"),
            (1024, "ERROR"),
            (1025, "ERROR_BPF"),
            (1026, "ERROR_STALL"),
            (9999, "UNKNOWN(9999)"),
            (2, "UNKNOWN(2)"),
            (100, "UNKNOWN(100)"),
        ] {
            assert_eq!(exit_kind(kind), name);
        }

        assert_eq!(ops_state(0), "NONE");
        assert_eq!(ops_state(1), "QUEUEING");
        assert_eq!(ops_state(2), "QUEUED");
        assert_eq!(ops_state(3), "DISPATCHING");
        assert_eq!(ops_state(99), "OPSS(99)");
        // The queue sequence number above the low 8 bits is ignored.
        assert_eq!(ops_state(0x1234_0002), "QUEUED");
    }

    #[test]
    fn sticky_enforce_hints() {
        assert_eq!(sticky_cpu(0xffff_ffff), "-1");
        assert_eq!(sticky_cpu(u64::MAX), "-1");
        assert_eq!(sticky_cpu(7), "7");
        assert_eq!(enforce(1), "true");
        assert_eq!(enforce(0), "false");
        assert_eq!(enforce(2), "false");
        assert_eq!(hinted(42, None), "0x2a");
        assert_eq!(hinted(42, Some(RenderHint::Hex)), "0x2a");
        assert_eq!(hinted(42, Some(RenderHint::Decimal)), "42");
        assert_eq!(hinted(u64::MAX, Some(RenderHint::Signed)), "-1");
        assert_eq!(hinted(3, Some(RenderHint::Bool)), "true");
        assert_eq!(hinted(0, Some(RenderHint::Bool)), "false");
    }

    #[test]
    fn raw_args() {
        assert_eq!(raw_arg(0), "int:0");
        assert_eq!(raw_arg(u64::MAX), "int:-1");
        assert_eq!(raw_arg(0xffff_ffff), "int:-1");
        assert_eq!(raw_arg(1), "bool:true");
        assert_eq!(raw_arg(2), "int:2");
        assert_eq!(raw_arg(42), "int:42");
        assert_eq!(raw_arg(0xff), "int:255");
        assert_eq!(raw_arg(0xffff_8881_0012_3456), "ptr:3456");
        assert_eq!(raw_arg(0x303), "mask:0x303(0-1,8-9)");
        assert_eq!(raw_arg(0x100), "int:256");
        assert_eq!(raw_arg(0x10000), "hex:0x10000");
        assert_eq!(raw_arg(BUILTIN | 1), "dsq:SCX_DSQ_GLOBAL");
        assert_eq!(raw_arg(LOCAL_ON | 3), "dsq:SCX_DSQ_LOCAL_ON|3");
    }

    #[test]
    fn scx_flags_ktstr_tables() {
        let old = ScxTaskFlags::before_7_1();
        let new = ScxTaskFlags::since_7_1();
        // Test vector A (0.4.9 era kernel): QUEUED | ENABLED(3).
        assert_eq!(old.decode(0x301), "QUEUED|ENABLED");
        assert_eq!(old.decode(0x9), "QUEUED|DEQD_FOR_SLEEP");
        assert_eq!(old.decode(0x1), "QUEUED");
        assert_eq!(old.decode(0x100), "INIT");
        assert_eq!(old.decode(0x200), "READY");
        assert_eq!(old.decode(0), "NONE");
        // Test vector B (v7.1): ENABLED is 4.
        assert_eq!(
            new.decode(0x40c),
            "RESET_RUNNABLE_AT|DEQD_FOR_SLEEP|ENABLED"
        );
        assert_eq!(new.decode(0x401), "QUEUED|ENABLED");
        assert_eq!(new.decode(0x100), "INIT_BEGIN");
        assert_eq!(new.decode(0x500), "DEAD");
        assert_eq!(new.decode(0x600), "STATE(6)");
        // Bits the ktstr table has no name for (IN_CUSTODY) are kept.
        assert_eq!(new.decode(0x403), "QUEUED|ENABLED|0x2");
        // `scx_state/flags=3/0x5`: ENABLED before 7.1, READY after.
        assert_eq!(old.state_name(3), Some("ENABLED"));
        assert_eq!(new.state_name(3), Some("READY"));
        assert_eq!(new.state_name(9), None);

        for (release, table) in [
            ("7.0.14", &old),
            ("6.12.0-rc1", &old),
            ("7.1", &new),
            ("7.3.4+deb13-cloud-amd64", &new),
            ("8.0.0", &new),
        ] {
            assert_eq!(&ScxTaskFlags::for_kernel_release(release).unwrap(), table);
        }
        for bad in ["", "7", "seven.1", "7.x"] {
            assert_eq!(
                ScxTaskFlags::for_kernel_release(bad),
                Err(DecodeError::BadKernelRelease(bad.to_string()))
            );
        }
    }

    /// The 7.3 layout, as Debian's kernel BTF declares it.
    fn btf_7_3() -> Btf {
        let mut b = Builder::new();
        b.enumeration(
            "scx_ent_flags",
            true,
            &[
                ("SCX_TASK_QUEUED", 1),
                ("SCX_TASK_IN_CUSTODY", 2),
                ("SCX_TASK_RESET_RUNNABLE_AT", 4),
                ("SCX_TASK_DEQD_FOR_SLEEP", 8),
                ("SCX_TASK_SUB_INIT", 16),
                ("SCX_TASK_IMMED", 32),
                ("SCX_TASK_PROTECTED", 64),
                ("SCX_TASK_STATE_SHIFT", 8),
                ("SCX_TASK_STATE_BITS", 3),
                ("SCX_TASK_STATE_MASK", 1792),
                ("SCX_TASK_NONE", 0),
                ("SCX_TASK_INIT_BEGIN", 256),
                ("SCX_TASK_INIT", 512),
                ("SCX_TASK_READY", 768),
                ("SCX_TASK_ENABLED", 1024),
                ("SCX_TASK_DEAD", 1280),
                ("SCX_TASK_REENQ_REASON_SHIFT", 12),
                ("SCX_TASK_REENQ_REASON_BITS", 3),
                ("SCX_TASK_REENQ_REASON_MASK", 28672),
                ("SCX_TASK_REENQ_NONE", 0),
                ("SCX_TASK_REENQ_KFUNC", 4096),
                ("SCX_TASK_REENQ_IMMED", 8192),
                ("SCX_TASK_REENQ_PREEMPTED", 12288),
                ("SCX_TASK_REENQ_CAP", 16384),
                ("SCX_TASK_CURSOR", i32::MIN),
            ],
        );
        Btf::parse(&b.build()).unwrap()
    }

    fn check_7_3_table(table: &ScxTaskFlags) {
        // Everything ktstr's 7.1 table names reads the same.
        for v in [0x40c, 0x401, 0x9, 0x1, 0x100, 0x500, 0] {
            assert_eq!(
                table.decode(v),
                ScxTaskFlags::since_7_1().decode(v),
                "{v:#x}"
            );
        }
        assert_eq!(
            table.decode(0x403),
            "QUEUED|IN_CUSTODY|ENABLED",
            "the flag ktstr does not know"
        );
        assert_eq!(
            table.decode(0x1000 | 0x420),
            "IMMED|ENABLED|REENQ_KFUNC",
            "reenqueue reason"
        );
        assert_eq!(table.decode(0x7000), "REENQ(7)");
        assert_eq!(table.decode(0x8000_0000), "CURSOR");
        // The real example's dump: `scx_state/flags=4/0x5`.
        assert_eq!(table.state_name(4), Some("ENABLED"));
        assert_eq!(table.state_name(0), Some("NONE"));
        assert_eq!(table.decode(0x5), "QUEUED|RESET_RUNNABLE_AT");
    }

    #[test]
    fn scx_flags_from_btf_7_3() {
        check_7_3_table(&ScxTaskFlags::from_btf(&btf_7_3()).unwrap());
    }

    #[test]
    fn scx_flags_from_btf_before_7_1() {
        let mut b = Builder::new();
        b.enumeration(
            "scx_ent_flags",
            true,
            &[
                ("SCX_TASK_QUEUED", 1),
                ("SCX_TASK_RESET_RUNNABLE_AT", 4),
                ("SCX_TASK_DEQD_FOR_SLEEP", 8),
                ("SCX_TASK_STATE_SHIFT", 8),
                ("SCX_TASK_STATE_BITS", 2),
                ("SCX_TASK_STATE_MASK", 0x300),
                ("SCX_TASK_CURSOR", i32::MIN),
            ],
        );
        b.enumeration(
            "scx_task_state",
            false,
            &[
                ("SCX_TASK_NONE", 0),
                ("SCX_TASK_INIT", 1),
                ("SCX_TASK_READY", 2),
                ("SCX_TASK_ENABLED", 3),
                ("SCX_TASK_NR_STATES", 4),
            ],
        );
        let table = ScxTaskFlags::from_btf(&Btf::parse(&b.build()).unwrap()).unwrap();
        let ktstr = ScxTaskFlags::before_7_1();
        for v in [0x301, 0x9, 0x1, 0x100, 0x200, 0] {
            assert_eq!(table.decode(v), ktstr.decode(v), "{v:#x}");
        }
        assert_eq!(table.state_name(3), Some("ENABLED"));
    }

    #[test]
    fn scx_flags_from_btf_errors() {
        let mut b = Builder::new();
        b.enumeration("other", false, &[("X", 1)]);
        let btf = Btf::parse(&b.build()).unwrap();
        assert_eq!(
            ScxTaskFlags::from_btf(&btf),
            Err(DecodeError::Btf(BtfError::EnumNotFound(
                "scx_ent_flags".into()
            )))
        );
        let mut b = Builder::new();
        b.enumeration("scx_ent_flags", false, &[("SCX_TASK_QUEUED", 1)]);
        let btf = Btf::parse(&b.build()).unwrap();
        assert_eq!(
            ScxTaskFlags::from_btf(&btf),
            Err(DecodeError::MissingEnumerator {
                enum_name: "scx_ent_flags",
                name: "SCX_TASK_STATE_SHIFT"
            })
        );
        let mut b = Builder::new();
        b.enumeration("scx_ent_flags", false, &[("SCX_TASK_STATE_SHIFT", 70)]);
        let btf = Btf::parse(&b.build()).unwrap();
        assert_eq!(
            ScxTaskFlags::from_btf(&btf),
            Err(DecodeError::BadEnumerator {
                name: "SCX_TASK_STATE_SHIFT".into(),
                value: 70
            })
        );
    }

    /// The cached Debian kernel's real BTF, when there is one.
    #[test]
    fn scx_flags_from_real_btf() {
        let files = cached_kernel_btfs();
        if files.is_empty() {
            println!("skipped: no kernels/*/btf under $SCXRAY_CACHE_DIR or ~/.cache/scxray");
            return;
        }
        for file in files {
            let btf = Btf::parse(&std::fs::read(&file).unwrap()).unwrap();
            let table = ScxTaskFlags::from_btf(&btf).unwrap();
            println!("{}: {table:?}", file.display());
            if btf.enum_values("scx_task_state").is_err() {
                // A 7.1+ kernel: the new state layout.
                assert_eq!(table.state_name(3), Some("READY"));
                assert_eq!(
                    table.decode(0x40c),
                    "RESET_RUNNABLE_AT|DEQD_FOR_SLEEP|ENABLED"
                );
            } else {
                assert_eq!(table.state_name(3), Some("ENABLED"));
            }
        }
    }

    #[test]
    fn task_states() {
        let classic = TaskStates::classic();
        assert_eq!(classic.decode(0), "TASK_RUNNING");
        assert_eq!(classic.decode(1), "TASK_INTERRUPTIBLE");
        assert_eq!(classic.decode(0x402), "TASK_UNINTERRUPTIBLE|TASK_NOLOAD");
        assert_eq!(classic.decode(0x80), "TASK_DEAD");
        assert_eq!(classic.decode(0x10_0001), "TASK_INTERRUPTIBLE|0x100000");

        let header = "\
/* Used in tsk->__state: */
#define TASK_RUNNING\t\t\t0x00000000
#define TASK_INTERRUPTIBLE\t\t0x00000001
#define TASK_UNINTERRUPTIBLE\t\t0x00000002
#define __TASK_STOPPED\t\t\t0x00000004
/* Used in tsk->exit_state: */
#define EXIT_DEAD\t\t\t0x00000010
#define EXIT_TRACE\t\t\t(EXIT_ZOMBIE | EXIT_DEAD)
#define TASK_NOLOAD\t\t\t0x00000400
#define __TASK_FREEZABLE_UNSAFE\t       (0x00004000 * IS_ENABLED(CONFIG_LOCKDEP))
#define TASK_STATE_MAX\t\t\t0x00010000
#define TASK_IDLE\t\t\t(TASK_UNINTERRUPTIBLE | TASK_NOLOAD)
#define TASK_REPORT_IDLE\t(TASK_REPORT + 1)
";
        let t = TaskStates::from_sched_h(header).unwrap();
        assert_eq!(t.decode(0), "TASK_RUNNING");
        assert_eq!(t.decode(0x402), "TASK_UNINTERRUPTIBLE|TASK_NOLOAD");
        assert_eq!(t.decode(0x4000), "__TASK_FREEZABLE_UNSAFE");
        assert_eq!(t.decode(0x10), "0x10", "EXIT_* is not __state");
        assert_eq!(
            TaskStates::from_sched_h("no defines"),
            Err(DecodeError::NoTaskStates)
        );

        let t = TaskStates::from_list([(0x1, "S"), (0x2, "D")]).unwrap();
        assert_eq!(t.decode(0), "0x0");
        assert_eq!(t.decode(3), "S|D");
        assert_eq!(
            TaskStates::from_list([(0x3, "TASK_IDLE")]),
            Err(DecodeError::NotASingleBit {
                name: "TASK_IDLE".into(),
                value: 3
            })
        );
        assert_eq!(
            TaskStates::from_list([(0x1, "A"), (0x1, "B")]),
            Err(DecodeError::DuplicateTaskState {
                value: 1,
                first: "A".into(),
                second: "B".into()
            })
        );
        assert_eq!(
            TaskStates::from_list(Vec::<(u64, String)>::new()),
            Err(DecodeError::NoTaskStates)
        );
    }

    fn ktstr_0_4_9() -> FieldDecoder {
        FieldDecoder {
            scx_flags: ScxTaskFlags::before_7_1(),
            task_states: TaskStates::classic(),
        }
    }

    /// Test vector A, field by field (`ktstr_enqueue`, `do_enqueue_task`).
    #[test]
    fn vector_a_fields() {
        let d = ktstr_0_4_9();
        let ts = "task_struct";
        assert_eq!(d.decode(ts, "pid", 97, None), "97");
        assert_eq!(cpumask(&[0xf, 0, 0, 0], Some(4)), "0xf(0-3)");
        assert_eq!(d.decode(ts, "dsq_id", BUILTIN, None), "SCX_DSQ_INVALID");
        assert_eq!(d.decode(ts, "enq_flags", 0, None), "NONE");
        assert_eq!(d.decode(ts, "slice", 0, None), "0");
        assert_eq!(d.decode(ts, "sticky_cpu", 0xffff_ffff, None), "-1");
        assert_eq!(d.decode(ts, "scx_flags", 0x301, None), "QUEUED|ENABLED");
        assert_eq!(d.decode("rq", "cpu", 1, None), "1");
        // The fexit side: entry → exit.
        assert_eq!(d.decode(ts, "dsq_id", BUILTIN | 2, None), "SCX_DSQ_LOCAL");
        assert_eq!(
            d.decode(ts, "scx_flags", 0x9, None),
            "QUEUED|DEQD_FOR_SLEEP"
        );
        assert_eq!(d.decode(ts, "scx_flags", 0x1, None), "QUEUED");
    }

    /// Test vector B, on a v7.1 kernel.
    #[test]
    fn vector_b_fields() {
        let d = FieldDecoder {
            scx_flags: ScxTaskFlags::from_btf(&btf_7_3()).unwrap(),
            task_states: TaskStates::classic(),
        };
        let ts = "task_struct";
        assert_eq!(d.decode(ts, "pid", 40, None), "40");
        assert_eq!(d.decode(ts, "dsq_id", BUILTIN, None), "SCX_DSQ_INVALID");
        assert_eq!(d.decode(ts, "dsq_id", BUILTIN | 2, None), "SCX_DSQ_LOCAL");
        assert_eq!(d.decode(ts, "slice", 19_982_063, None), "19982063");
        assert_eq!(d.decode(ts, "slice", 20_000_000, None), "20000000");
        assert_eq!(
            d.decode(ts, "scx_flags", 0x40c, None),
            "RESET_RUNNABLE_AT|DEQD_FOR_SLEEP|ENABLED"
        );
        check_7_3_table(&d.scx_flags);
    }

    #[test]
    fn field_dispatch() {
        let d = ktstr_0_4_9();
        assert_eq!(d.decode("", "dsq_id", BUILTIN | 2, None), "SCX_DSQ_LOCAL");
        assert_eq!(d.decode("scx_dispatch_q", "dsq", 42, None), "DSQ(0x2a)");
        assert_eq!(d.decode("", "cpus_ptr", 15, None), "0xf(0-3)");
        assert_eq!(d.decode("", "cpumask_0", 15, None), "0xf(0-3)");
        assert_eq!(d.decode("", "cpumask_1", 1, None), "0x1(0)");
        assert_eq!(d.decode("", "cpumask_3", 0, None), "0x0(none)");
        assert_eq!(d.decode("", "my_cpumask_field", 255, None), "0xff(0-7)");
        assert_eq!(d.decode("", "enq_flags", 1, None), "WAKEUP");
        assert_eq!(d.decode("task_struct", "enq_flags", 1, None), "WAKEUP");
        assert_eq!(d.decode("some_other", "enq_flags", 1, None), "0x1");
        assert_eq!(d.decode("", "exit_kind", 1024, None), "ERROR");
        assert_eq!(d.decode("scx_exit_info", "exit_kind", 1024, None), "ERROR");
        assert_eq!(d.decode("other_struct", "exit_kind", 1024, None), "0x400");
        assert_eq!(d.decode("task_struct", "flags", 1, None), "QUEUED");
        assert_eq!(d.decode("rq_flags", "flags", 42, None), "0x2a");
        assert_eq!(d.decode("", "sticky", u64::MAX, None), "-1");
        assert_eq!(d.decode("", "kick_flags", 5, None), "IDLE|WAIT");
        assert_eq!(d.decode("", "opss", 3, None), "DISPATCHING");
        assert_eq!(d.decode("", "enforce", 1, None), "true");
        assert_eq!(d.decode("", "vtime", 123_456_789, None), "123456789");
        assert_eq!(d.decode("", "weight", 100, None), "100");
        assert_eq!(
            d.decode("task_struct", "__state", 0x402, None),
            "TASK_UNINTERRUPTIBLE|TASK_NOLOAD"
        );
        assert_eq!(
            d.decode("", "nr_queued", 12, Some(RenderHint::Decimal)),
            "12"
        );
        assert_eq!(d.decode("", "nr_queued", 12, None), "0xc");
    }
}
