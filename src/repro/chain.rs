//! The crash chain: which functions of a crash's backtrace a repro run probes.
//!
//! ktstr's auto-repro (`ktstr:src/probe/stack.rs`, `extract_stack_functions_all`)
//! walks the crash backtrace top to bottom, keeps every function once, drops
//! plumbing, and hands the list to a second VM that attaches a kprobe to each
//! kernel function and fentry/fexit to each BPF program, so that when the
//! crash happens again the arguments on the way to it are recorded. This is
//! that first step, on the parsed [`Crash`] instead of raw log lines:
//!
//! - **Order**: backtrace order, **innermost first** (the frame nearest the
//!   error, then its callers), as ktstr lists them. The first occurrence of a
//!   function wins.
//! - **Plumbing**: a frame is kept exactly when the Backtrace pane calls it
//!   worth reading ([`FrameClass::worth_reading`], the rule of
//!   [`Crash::top_frame_index`]): exit helpers, IRQ entry and trampolines are
//!   present in every crash and say nothing about this one.
//! - **Kernel symbols stay exact**: kprobes need the name as
//!   `available_filter_functions` lists it, and `.llvm.N`, `.isra.N`,
//!   `.constprop.N`, `.part.N` clones are symbols of their own there. Only
//!   `.cold` is cut: it is an outlined fragment of the function before it,
//!   with no entry point to probe. [`Target::Kernel`] also carries the name
//!   without any suffix, for display.
//! - **BPF programs** are keyed by their name: the tag is a hash of the
//!   loaded code and the repro VM loads the scheduler afresh.
//! - **A stall has no chain**: its backtrace is the watchdog's, and ktstr's
//!   trigger ignores stall exits, so the repro VM runs without probes (ktstr:
//!   status line and tails only). [`ChainError`] says why a crash has no chain.
//!
//! Deliberate differences from ktstr: only the exit backtrace is read (ktstr
//! also picks up every `func+0x..` line of the scheduler log, the CPU states'
//! task stacks included), and scxray's plumbing list is used, so
//! `scx_bpf_error_bstr` is dropped (its `fmt` argument repeats the message the
//! report already holds).
//!
//! The struct_ops programs of the scheduler running in the repro VM are
//! learned later; [`Chain::merge_struct_ops`] adds them so callbacks that were
//! not on the stack are probed too.

use serde::Serialize;

use crate::report::{Crash, ExitKind, FrameClass};

/// One function to probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A kernel function: attached with a kprobe (or fentry/fexit).
    Kernel {
        /// The symbol as `available_filter_functions` lists it
        /// (`dequeue_task_scx.llvm.1530`, `scx_enable.isra.0`).
        symbol: String,
        /// The symbol without compiler suffixes, for display (`scx_enable`).
        function: String,
    },
    /// A BPF program, `bpf_prog_<tag>_<name>` in kallsyms: attached with
    /// fentry/fexit through the loaded program.
    BpfProg {
        name: String,
        /// From the backtrace; `None` for a program learned from the running
        /// scheduler ([`Chain::merge_struct_ops`]).
        tag: Option<String>,
    },
}

impl Target {
    /// A kernel target for a raw backtrace symbol (`foo.cold` becomes `foo`).
    pub fn kernel(raw: &str) -> Target {
        Target::Kernel {
            symbol: probe_symbol(raw).to_string(),
            function: display_name(raw).to_string(),
        }
    }

    /// The name shown to a person: the kernel function without suffixes, or
    /// the BPF program's name.
    pub fn name(&self) -> &str {
        match self {
            Target::Kernel { function, .. } => function,
            Target::BpfProg { name, .. } => name,
        }
    }

    pub fn is_bpf(&self) -> bool {
        matches!(self, Target::BpfProg { .. })
    }

    /// What identifies the target for de-duplication.
    fn key(&self) -> (bool, &str) {
        match self {
            Target::Kernel { symbol, .. } => (false, symbol),
            Target::BpfProg { name, .. } => (true, name),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Kernel { symbol, .. } => f.write_str(symbol),
            Target::BpfProg {
                name,
                tag: Some(tag),
            } => write!(f, "bpf_prog_{tag}_{name}"),
            Target::BpfProg { name, tag: None } => write!(f, "bpf_prog_{name}"),
        }
    }
}

/// The symbol to attach to: the raw one, less a trailing `.cold` fragment.
fn probe_symbol(raw: &str) -> &str {
    match raw.find(".cold") {
        // `.cold` and gcc's older `.cold.N` end the name.
        Some(i)
            if raw[i + 5..]
                .bytes()
                .all(|b| b == b'.' || b.is_ascii_digit()) =>
        {
            &raw[..i]
        }
        _ => raw,
    }
}

/// The function name without `.llvm.N`, `.isra.N`, `.cold`, ... suffixes.
fn display_name(raw: &str) -> &str {
    match raw.split_once('.') {
        Some((base, _)) if !base.is_empty() => base,
        _ => raw,
    }
}

/// Why a crash yields no probe targets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A watchdog stall (exit kind 1026): ktstr reruns it without probes.
    #[error("a stall ({reason}) has no crash chain: the backtrace is the watchdog's, and ktstr's trigger ignores stall exits, so the repro run shows its status line and tails only")]
    Stall { reason: String },
    #[error("the crash ({kind}) has no backtrace to take probe targets from")]
    NoBacktrace { kind: String },
    /// Every frame is plumbing (named here) or a trampoline.
    #[error("the backtrace holds only generic plumbing ({})", .frames.join(", "))]
    OnlyPlumbing { frames: Vec<String> },
}

/// A program name from the running scheduler that cannot be a BPF program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{name}' is not a BPF program name (non-empty, letters, digits, '_' and '.' only)")]
pub struct BadProgramName {
    pub name: String,
}

/// The probe targets of one crash, innermost first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Chain {
    pub targets: Vec<Target>,
    /// Backtrace frames read (ktstr's `extracted:` counts what survived, this
    /// is what was there).
    pub frames_read: usize,
}

/// `kallsyms` BPF program names are cut to `BPF_OBJ_NAME_LEN - 1` bytes when
/// the program carries no BTF; `bpf_prog_info.name` always is.
const BPF_NAME_MAX: usize = 15;

impl Chain {
    /// The crash chain of `crash`; see the module doc for the rules.
    pub fn from_crash(crash: &Crash) -> Result<Chain, ChainError> {
        if crash.kind == ExitKind::Stall {
            return Err(ChainError::Stall {
                reason: crash
                    .reason
                    .clone()
                    .unwrap_or_else(|| "runnable task stall".to_string()),
            });
        }
        if crash.backtrace.is_empty() {
            return Err(ChainError::NoBacktrace {
                kind: crash.kind.label(),
            });
        }
        let mut chain = Chain {
            targets: Vec::new(),
            frames_read: crash.backtrace.len(),
        };
        for frame in crash.backtrace.iter().filter(|f| f.class.worth_reading()) {
            let target = match &frame.class {
                FrameClass::BpfProg { tag, name } => Target::BpfProg {
                    name: name.clone(),
                    tag: Some(tag.clone()),
                },
                _ => Target::kernel(&frame.function),
            };
            chain.push(target);
        }
        if chain.targets.is_empty() {
            return Err(ChainError::OnlyPlumbing {
                frames: crash.backtrace.iter().map(|f| f.function.clone()).collect(),
            });
        }
        Ok(chain)
    }

    /// Adds `target` unless an equal one is there; says whether it was added.
    pub fn push(&mut self, target: Target) -> bool {
        if self.contains(&target) {
            return false;
        }
        self.targets.push(target);
        true
    }

    fn contains(&self, target: &Target) -> bool {
        self.targets.iter().any(|t| t.key() == target.key())
    }

    /// Appends the struct_ops programs of the scheduler running in the repro
    /// VM (names as `bpf_prog_info` or its BTF gives them), so callbacks that
    /// were not on the crash stack are probed too. Programs already in the
    /// chain are skipped, also when the name given is the 15-byte cut of a
    /// longer name (`bpf_prog_info.name` without BTF). Returns how many were
    /// added; a name that cannot be a program's rejects the whole list and
    /// changes nothing.
    pub fn merge_struct_ops<S: AsRef<str>>(
        &mut self,
        programs: &[S],
    ) -> Result<usize, BadProgramName> {
        if let Some(bad) = programs.iter().map(AsRef::as_ref).find(|n| {
            n.is_empty()
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        }) {
            return Err(BadProgramName {
                name: bad.to_string(),
            });
        }
        let mut added = 0;
        for name in programs.iter().map(AsRef::as_ref) {
            let truncated_of_known = name.len() == BPF_NAME_MAX
                && self
                    .targets
                    .iter()
                    .any(|t| matches!(t, Target::BpfProg { name: n, .. } if n.starts_with(name)));
            if truncated_of_known {
                continue;
            }
            if self.push(Target::BpfProg {
                name: name.to_string(),
                tag: None,
            }) {
                added += 1;
            }
        }
        Ok(added)
    }

    /// The targets as the guest agent takes them (`kernel:NAME`,
    /// `bpf:NAME`), at most [`MAX_PROBE_TARGETS`] (the innermost first).
    ///
    /// [`MAX_PROBE_TARGETS`]: crate::run::scenario::MAX_PROBE_TARGETS
    pub fn probe_targets(&self) -> Vec<String> {
        self.targets
            .iter()
            .take(crate::run::scenario::MAX_PROBE_TARGETS)
            .map(|t| match t {
                Target::Kernel { symbol, .. } => format!("kernel:{symbol}"),
                Target::BpfProg { name, .. } => format!("bpf:{name}"),
            })
            .collect()
    }

    /// The kernel functions, in chain order.
    pub fn kernel_symbols(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().filter_map(|t| match t {
            Target::Kernel { symbol, .. } => Some(symbol.as_str()),
            Target::BpfProg { .. } => None,
        })
    }

    /// The BPF programs' names, in chain order.
    pub fn bpf_programs(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().filter_map(|t| match t {
            Target::BpfProg { name, .. } => Some(name.as_str()),
            Target::Kernel { .. } => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::frame::parse_frame;
    use crate::parse::parse_str;

    fn crash_of(text: &str) -> Crash {
        parse_str(text).crash().expect("a crash").clone()
    }

    fn names(chain: &Chain) -> Vec<String> {
        chain.targets.iter().map(|t| t.to_string()).collect()
    }

    fn crash_with(frames: &[&str]) -> Crash {
        Crash {
            kind: ExitKind::ScxBpfError,
            backtrace: frames.iter().map(|f| parse_frame(f).unwrap()).collect(),
            ..Crash::default()
        }
    }

    /// The crashfifo crash on Debian's 7.3 kernel: BPF subprogram, the
    /// enqueue callback, then the kernel's enqueue path up to the hrtimer
    /// wakeup; exit helpers, the trampoline and the IRQ entry dropped.
    #[test]
    fn crashfifo_example_chain() {
        let crash = crash_of(include_str!(
            "../../examples/reports/crashfifo-7.3-ktstr.txt"
        ));
        let chain = Chain::from_crash(&crash).unwrap();
        assert_eq!(
            names(&chain),
            [
                "bpf_prog_3a0600fe7b4b0a35_apply_cell_config",
                "bpf_prog_7cfaabcc36116ccf_fifo_enqueue",
                "scx_do_enqueue_task",
                "enqueue_task_scx",
                "enqueue_task",
                "ttwu_do_activate",
                "try_to_wake_up",
                "hrtimer_wakeup",
                "__hrtimer_run_queues",
                "hrtimer_interrupt",
            ]
        );
        assert_eq!(chain.frames_read, 16);
        assert_eq!(
            chain.bpf_programs().collect::<Vec<_>>(),
            ["apply_cell_config", "fifo_enqueue"]
        );
        assert_eq!(
            chain.targets[0],
            Target::BpfProg {
                name: "apply_cell_config".into(),
                tag: Some("3a0600fe7b4b0a35".into())
            }
        );
    }

    /// scxray's own demo scheduler: `validate_cell` and `apply_policy` are
    /// noinline subprograms of `demo_enqueue` (probes/src/bpf/demo.bpf.c),
    /// each a frame of its own, as the 7.3 kernel prints them.
    #[test]
    fn demo_scheduler_chain() {
        let crash = crash_with(&[
            "scx_exit_bstr+0xdd/0x110",
            "scx_bpf_error_bstr+0x60/0xa0",
            "bpf_prog_0c3d8e2f4a5b6c7d_validate_cell+0x8e/0x96",
            "bpf_prog_1a2b3c4d5e6f7081_apply_policy+0x1c/0x7e",
            "bpf_prog_9f8e7d6c5b4a3921_demo_enqueue+0x44/0x5c",
            "bpf__sched_ext_ops_enqueue+0x50/0xad",
            "scx_do_enqueue_task+0x310/0x7d0",
            "enqueue_task_scx+0x188/0x340",
            "asm_sysvec_apic_timer_interrupt+0x1a/0x20",
        ]);
        let chain = Chain::from_crash(&crash).unwrap();
        assert_eq!(
            chain.bpf_programs().collect::<Vec<_>>(),
            ["validate_cell", "apply_policy", "demo_enqueue"]
        );
        assert_eq!(
            chain.kernel_symbols().collect::<Vec<_>>(),
            ["scx_do_enqueue_task", "enqueue_task_scx"]
        );
        // Innermost first: the error's caller leads.
        assert_eq!(chain.targets[0].name(), "validate_cell");
    }

    #[test]
    fn fixtures_chains() {
        let cases: &[(&str, &[&str])] = &[
            (
                include_str!("../../tests/fixtures/variants/trace-pipe-layered-7x-opsdump.txt"),
                &[
                    "bpf_prog_f06c2e18b93d4a75_lookup_llc_ctx",
                    "bpf_prog_2d9a4e7c0b15f386_layered_enqueue",
                    "scx_do_enqueue_task",
                    "enqueue_task_scx",
                    "enqueue_task",
                    "ttwu_do_activate",
                    "try_to_wake_up",
                    "wake_up_q",
                    "futex_wake",
                    "do_futex",
                    "__x64_sys_futex",
                ],
            ),
            (
                include_str!("../../tests/fixtures/variants/ktstr-rusty-nextest-autorepro.txt"),
                &[
                    "bpf_prog_5d1b0a7e3c9f2846_rusty_enqueue",
                    "do_enqueue_task",
                    "enqueue_task_scx",
                    "enqueue_task",
                    "ttwu_do_activate",
                    "try_to_wake_up",
                    "complete",
                ],
            ),
            (
                // A runtime error with no BPF frame at all.
                include_str!("../../tests/fixtures/variants/dump-central-runqueue-states-tabs.txt"),
                &[
                    "find_dsq_for_dispatch",
                    "finish_dispatch",
                    "flush_dispatch_buf",
                    "balance_scx",
                    "kswapd",
                ],
            ),
            (
                // An oops: the faulting function (the `RIP:` line) leads; the
                // unreliable `? ` guesses are not frames.
                include_str!(
                    "../../tests/fixtures/variants/oops-null-deref-lavd-sched_ext-line.txt"
                ),
                &[
                    "scx_select_cpu_dfl",
                    "bpf_prog_6b0c2a1e8d94f357_lavd_select_cpu",
                    "select_task_rq_scx",
                    "try_to_wake_up",
                    "wake_up_q",
                    "futex_wake",
                    "do_futex",
                    "__x64_sys_futex",
                ],
            ),
        ];
        for (text, want) in cases {
            let chain = Chain::from_crash(&crash_of(text)).unwrap();
            assert_eq!(names(&chain), *want);
        }
    }

    #[test]
    fn stalls_have_no_chain() {
        for text in [
            include_str!("../../tests/fixtures/variants/dump-cosmos-7x-stall-no-blank-lines.txt"),
            include_str!("../../tests/fixtures/variants/ktstr-cosmos-timed-out-stall.txt"),
            include_str!("../../tests/fixtures/variants/trace-exit-only-bpfland-stall.txt"),
        ] {
            let crash = crash_of(text);
            assert!(
                matches!(Chain::from_crash(&crash), Err(ChainError::Stall { .. })),
                "{:?}",
                crash.reason
            );
        }
        let mut stall = crash_with(&["bpf_prog_ab_x+0x1/0x2"]);
        stall.kind = ExitKind::Stall;
        stall.reason = Some("runnable task stall".into());
        let err = Chain::from_crash(&stall).unwrap_err();
        assert!(err.to_string().starts_with("a stall (runnable task stall)"));
    }

    #[test]
    fn no_backtrace_and_only_plumbing() {
        let crash = crash_of(include_str!(
            "../../tests/fixtures/variants/uei-rusty-exit-line-only.txt"
        ));
        assert_eq!(
            Chain::from_crash(&crash),
            Err(ChainError::NoBacktrace {
                kind: "runtime error (1024)".into()
            })
        );
        let crash = crash_with(&[
            "scx_exit_bstr+0xdd/0x110",
            "scx_bpf_error_bstr+0x60/0xa0",
            "bpf__sched_ext_ops_enqueue+0x50/0xad",
            "asm_sysvec_apic_timer_interrupt+0x1a/0x20",
        ]);
        let err = Chain::from_crash(&crash).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the backtrace holds only generic plumbing (scx_exit_bstr, scx_bpf_error_bstr, \
             bpf__sched_ext_ops_enqueue, asm_sysvec_apic_timer_interrupt)"
        );
    }

    #[test]
    fn suffixes_and_duplicates() {
        let crash = crash_with(&[
            "dequeue_task_scx.llvm.15304548555706679011+0x10/0x200",
            "scx_enable.isra.0+0x3c1/0xe10",
            "balance_one.cold+0x5/0x20",
            "balance_one+0x1b5/0x2e0",
            "old_gcc.cold.12+0x1/0x2",
            "bpf_prog_aa_lavd_enqueue+0x1/0x2",
            "bpf_prog_bb_lavd_enqueue+0x3/0x4",
            "scx_enable.isra.0+0x71/0xe10",
        ]);
        let chain = Chain::from_crash(&crash).unwrap();
        assert_eq!(
            chain.targets,
            [
                Target::Kernel {
                    symbol: "dequeue_task_scx.llvm.15304548555706679011".into(),
                    function: "dequeue_task_scx".into()
                },
                Target::Kernel {
                    symbol: "scx_enable.isra.0".into(),
                    function: "scx_enable".into()
                },
                Target::Kernel {
                    symbol: "balance_one".into(),
                    function: "balance_one".into()
                },
                Target::Kernel {
                    symbol: "old_gcc".into(),
                    function: "old_gcc".into()
                },
                Target::BpfProg {
                    name: "lavd_enqueue".into(),
                    tag: Some("aa".into())
                },
            ]
        );
        assert_eq!(chain.targets[1].name(), "scx_enable");
        assert_eq!(chain.targets[1].to_string(), "scx_enable.isra.0");
    }

    #[test]
    fn merge_struct_ops_dedupes() {
        let crash = crash_with(&[
            "bpf_prog_aa_very_long_enqueue_callback+0x1/0x2",
            "bpf_prog_bb_apply_policy+0x1/0x2",
            "enqueue_task_scx+0x188/0x340",
        ]);
        let mut chain = Chain::from_crash(&crash).unwrap();
        let added = chain
            .merge_struct_ops(&[
                "very_long_enque", // the 15-byte cut of a program on the stack
                "apply_policy",
                "demo_select_cpu",
                "demo_dispatch",
                "demo_select_cpu",
            ])
            .unwrap();
        assert_eq!(added, 2);
        assert_eq!(
            chain.bpf_programs().collect::<Vec<_>>(),
            [
                "very_long_enqueue_callback",
                "apply_policy",
                "demo_select_cpu",
                "demo_dispatch"
            ]
        );
        assert_eq!(
            chain.targets[3],
            Target::BpfProg {
                name: "demo_select_cpu".into(),
                tag: None
            }
        );
        assert_eq!(chain.targets[3].to_string(), "bpf_prog_demo_select_cpu");

        let before = chain.clone();
        assert_eq!(
            chain.merge_struct_ops(&["ok_name", "bad name"]),
            Err(BadProgramName {
                name: "bad name".into()
            })
        );
        assert_eq!(chain.merge_struct_ops(&[""]).unwrap_err().name, "");
        assert_eq!(chain, before);
        // A merge into an empty chain (a stall's repro run probes only callbacks).
        let mut empty = Chain::default();
        assert_eq!(empty.merge_struct_ops(&["a", "b", "a"]), Ok(2));
    }
}
