//! Watching a running guest, whatever runs it: [`Watch`] takes in what
//! the guest says (console lines, agent records, the VM process's stderr)
//! and the time, and decides when the host must stop it (deadline, Ctrl-C,
//! a collected boot oops, a panic that did not end the VM, `Done` without a
//! power-off) and how it ended. No clock, QEMU or KVM inside, so each
//! ending is unit-tested with synthetic items (the tests below), the way
//! firecracker tests its exit handler without KVM. Both backends' run loops
//! ([`crate::qemu`], [`crate::kvm::backend`]) feed it.

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use scxray::run::record::{DecodeStats, Record};

use crate::backend::GuestEvent;
use crate::cancel::Cancel;
use crate::qemu::process::describe;
use crate::stream::console::{trouble, OopsText, Tail, Trouble};
use crate::stream::queue::Incoming;

/// After a boot oops, how long to keep reading the oops text before
/// killing the guest (a panic usually ends QEMU well before).
pub(crate) const OOPS_GRACE: Duration = Duration::from_secs(3);
/// After a panic line, how long QEMU gets to exit by itself (`panic=-1`).
pub(crate) const PANIC_GRACE: Duration = Duration::from_secs(5);
/// After the VM has gone, how long the readers get to deliver the rest.
pub(crate) const DRAIN: Duration = Duration::from_secs(2);
pub(crate) const TICK: Duration = Duration::from_millis(20);
/// How often a quiet guest still gives the sink a [`GuestEvent::Tick`].
pub(crate) const QUIET_TICK: Duration = Duration::from_millis(50);
pub(crate) const STDERR_LINES: usize = 20;

/// The stage before the agent says anything.
pub const BOOTING: &str = "booting";

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    PoweredOff,
    Watchdog {
        stage: String,
    },
    Panicked {
        stage: String,
        message: String,
    },
    /// Oops or panic before the agent's hello: the oops text, and whether
    /// a kernel fault (`Oops:`, `BUG:`) was among it. TCG's boot race shows
    /// as such a fault; a bare panic (`No working init found`) is
    /// deterministic and not worth a retry.
    BootOops {
        text: String,
        fault: bool,
    },
    Cancelled {
        stage: String,
    },
    /// The VM process or the VMM ended it (crash, KVM error).
    Died {
        stage: String,
        status: String,
    },
}

/// Why the host stopped the guest (rather than the guest ending itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    Cancel,
    Deadline,
    OopsCollected,
    PanicNoExit,
    DoneNoPowerOff,
    KvmError(String),
}

/// QEMU exited before the guest printed or sent anything: nothing ran,
/// so the caller reports QEMU's failure rather than a guest ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NothingRan {
    pub status: String,
}

/// The bounds a [`Watch`] enforces.
pub(crate) struct Limits {
    pub deadline: Duration,
    pub poweroff_grace: Duration,
    pub tail_lines: usize,
}

/// What has been seen so far.
pub(crate) struct Watch {
    pub(crate) started: Instant,
    pub(crate) deadline: Duration,
    pub(crate) poweroff_grace: Duration,
    pub(crate) stage: String,
    pub(crate) hello: Option<Duration>,
    pub(crate) first_record: Option<Duration>,
    pub(crate) done: Option<Instant>,
    pub(crate) oops: OopsText,
    pub(crate) oops_at: Option<Instant>,
    /// An `Oops:`/`BUG:` line came before the agent's hello.
    pub(crate) early_fault: bool,
    pub(crate) panic: Option<(String, Instant)>,
    pub(crate) tail: Tail,
    pub(crate) stderr: Tail,
    pub(crate) kvm_error: Option<String>,
    pub(crate) console_seen: bool,
    pub(crate) decode: DecodeStats,
    pub(crate) console_open: bool,
    pub(crate) stderr_open: bool,
    pub(crate) records_open: bool,
    pub(crate) connected: bool,
}

impl Watch {
    /// Watching a guest started at `started`; `console_open`/`stderr_open`:
    /// whether QEMU's stdout/stderr are being read.
    pub(crate) fn new(
        started: Instant,
        limits: &Limits,
        console_open: bool,
        stderr_open: bool,
    ) -> Self {
        Watch {
            started,
            deadline: limits.deadline,
            poweroff_grace: limits.poweroff_grace,
            stage: BOOTING.to_owned(),
            hello: None,
            first_record: None,
            done: None,
            oops: OopsText::default(),
            oops_at: None,
            early_fault: false,
            panic: None,
            tail: Tail::new(limits.tail_lines),
            stderr: Tail::new(STDERR_LINES),
            kvm_error: None,
            console_seen: false,
            decode: DecodeStats::default(),
            console_open,
            stderr_open,
            records_open: false,
            connected: false,
        }
    }

    /// Takes in one item that arrived at `now`, passing it on to `sink`.
    pub(crate) fn handle(
        &mut self,
        now: Instant,
        item: Incoming,
        sink: &mut dyn FnMut(GuestEvent),
    ) {
        match item {
            Incoming::Console(line) => {
                self.console_seen = true;
                self.tail.push(&line);
                if let Some(kind) = trouble(&line) {
                    self.oops_at.get_or_insert(now);
                    // `Fatal exception` is the panic an oops ends in: a
                    // fault even when its `Oops:` line was lost (two CPUs
                    // oopsing at once interleave their lines).
                    let fault = kind == Trouble::Oops
                        || crate::stream::console::panics_after_a_fault(&line);
                    if fault && self.hello.is_none() {
                        self.early_fault = true;
                    }
                    if kind == Trouble::Panic && self.panic.is_none() {
                        self.panic = Some((
                            crate::stream::console::strip_timestamp(&line).to_owned(),
                            now,
                        ));
                    }
                }
                if self.oops_at.is_some() {
                    self.oops.push(&line);
                }
                sink(GuestEvent::Console(line));
            }
            Incoming::Record(r) => {
                let at = now.saturating_duration_since(self.started);
                self.first_record.get_or_insert(at);
                let stage = match &r {
                    Record::Hello { .. } => {
                        self.hello.get_or_insert(at);
                        Some("agent started".to_owned())
                    }
                    Record::Stage { name, .. } => Some(name.clone()),
                    Record::Phase {
                        index, total, name, ..
                    } => Some(format!("phase {index}/{total} ({name})")),
                    Record::Done { .. } => {
                        self.done.get_or_insert(now);
                        Some("powering off".to_owned())
                    }
                    _ => None,
                };
                sink(GuestEvent::Record(r));
                if let Some(s) = stage.filter(|s| *s != self.stage) {
                    self.stage = s.clone();
                    sink(GuestEvent::Stage(s));
                }
            }
            Incoming::Stderr(line) => {
                // QEMU pauses a KVM guest on an internal error instead of
                // exiting: it would sit there until the deadline.
                if line.contains("KVM internal error") && self.kvm_error.is_none() {
                    self.kvm_error = Some(line.trim().to_owned());
                }
                self.stderr.push(&line);
            }
            Incoming::ConsoleEnd => self.console_open = false,
            Incoming::StderrEnd => self.stderr_open = false,
            Incoming::RecordEnd(stats) => {
                self.decode = stats;
                self.records_open = false;
            }
        }
    }

    pub(crate) fn open_streams(&self) -> bool {
        self.console_open || self.stderr_open || self.records_open
    }

    /// Whether the host must stop the guest at `now`, and why.
    pub(crate) fn stop_reason(&self, now: Instant, cancel: &Cancel) -> Option<Stop> {
        let since = |at: Instant| now.saturating_duration_since(at);
        if cancel.is_cancelled() {
            return Some(Stop::Cancel);
        }
        if let Some(e) = &self.kvm_error {
            return Some(Stop::KvmError(e.clone()));
        }
        if since(self.started) >= self.deadline {
            return Some(Stop::Deadline);
        }
        if let Some((_, at)) = &self.panic {
            if since(*at) >= PANIC_GRACE {
                return Some(Stop::PanicNoExit);
            }
        }
        if let Some(at) = self.oops_at {
            if self.hello.is_none() && since(at) >= OOPS_GRACE {
                return Some(Stop::OopsCollected);
            }
        }
        if self.done.is_some_and(|at| since(at) >= self.poweroff_grace) {
            return Some(Stop::DoneNoPowerOff);
        }
        None
    }

    /// An oops or panic before hello is a boot failure, after it a result.
    pub(crate) fn trouble_end(&self) -> Option<End> {
        if self.hello.is_none() && self.oops_at.is_some() {
            return Some(End::BootOops {
                text: self.oops.text(),
                fault: self.early_fault,
            });
        }
        self.panic.as_ref().map(|(message, _)| End::Panicked {
            stage: self.stage.clone(),
            message: message.clone(),
        })
    }

    /// How the attempt ended, once QEMU is gone: `stop` is why the host
    /// stopped it (`None`: it ended by itself), `status` QEMU's exit status.
    /// Notes for the user go to `warnings`.
    pub(crate) fn end(
        &self,
        stop: Option<Stop>,
        status: Option<ExitStatus>,
        warnings: &mut Vec<String>,
    ) -> Result<End, NothingRan> {
        let stage = self.stage.clone();
        let end = match stop {
            Some(Stop::Cancel) => End::Cancelled { stage },
            Some(Stop::Deadline) => End::Watchdog { stage },
            Some(Stop::KvmError(e)) => End::Died { stage, status: e },
            Some(Stop::OopsCollected | Stop::PanicNoExit) => {
                self.trouble_end().unwrap_or(End::Died {
                    stage,
                    status: "killed after a kernel oops".into(),
                })
            }
            Some(Stop::DoneNoPowerOff) => {
                warnings.push(format!(
                    "the guest sent Done but did not power off within {} s; killed",
                    self.poweroff_grace.as_secs()
                ));
                End::PoweredOff
            }
            None => match (self.trouble_end(), status) {
                (Some(end), _) => end,
                (None, Some(s)) if s.success() => End::PoweredOff,
                (None, status) => {
                    let status = status.map_or_else(|| "unknown exit status".to_owned(), describe);
                    if !self.console_seen && self.first_record.is_none() {
                        return Err(NothingRan { status });
                    }
                    End::Died { stage, status }
                }
            },
        };
        if self.early_fault && self.hello.is_some() {
            let text = self.oops.text();
            let first = text.lines().next().unwrap_or_default();
            warnings.push(format!(
                "the kernel oopsed before the agent started, and went on: {first}"
            ));
        }
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    //! Each ending driven by synthetic items and a synthetic clock: no VM.

    use std::os::unix::process::ExitStatusExt;

    use super::*;

    const DEADLINE: Duration = Duration::from_secs(60);
    const POWEROFF_GRACE: Duration = Duration::from_secs(10);
    const MS: Duration = Duration::from_millis(1);

    /// A watch over a guest started at `t0`, with the events it passed on.
    struct Guest {
        t0: Instant,
        watch: Watch,
        events: Vec<GuestEvent>,
        cancel: Cancel,
    }

    impl Guest {
        fn new() -> Self {
            let t0 = Instant::now();
            let limits = Limits {
                deadline: DEADLINE,
                poweroff_grace: POWEROFF_GRACE,
                tail_lines: 50,
            };
            Guest {
                t0,
                watch: Watch::new(t0, &limits, true, true),
                events: Vec::new(),
                cancel: Cancel::new(),
            }
        }

        fn at(&self, after: Duration) -> Instant {
            self.t0 + after
        }

        fn feed(&mut self, after: Duration, item: Incoming) {
            let now = self.at(after);
            let events = &mut self.events;
            self.watch.handle(now, item, &mut |e| events.push(e));
        }

        fn console(&mut self, after: Duration, line: &str) {
            self.feed(after, Incoming::Console(line.to_owned()));
        }

        fn hello(&mut self, after: Duration) {
            let hello = Record::Hello {
                agent: "test".into(),
                uptime_ms: 0,
            };
            self.feed(after, Incoming::Record(hello));
        }

        fn stage(&mut self, after: Duration, name: &str) {
            let stage = Record::Stage {
                name: name.into(),
                uptime_ms: 0,
            };
            self.feed(after, Incoming::Record(stage));
        }

        fn done(&mut self, after: Duration) {
            let done = Record::Done {
                passed: true,
                uptime_ms: 0,
            };
            self.feed(after, Incoming::Record(done));
        }

        fn stop_at(&self, after: Duration) -> Option<Stop> {
            self.watch.stop_reason(self.at(after), &self.cancel)
        }

        fn end(&self, stop: Option<Stop>, status: Option<ExitStatus>) -> (End, Vec<String>) {
            let mut warnings = Vec::new();
            let end = self
                .watch
                .end(stop, status, &mut warnings)
                .expect("something ran");
            (end, warnings)
        }

        fn stages(&self) -> Vec<&str> {
            self.events
                .iter()
                .filter_map(|e| match e {
                    GuestEvent::Stage(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect()
        }
    }

    fn exited(code: i32) -> Option<ExitStatus> {
        Some(ExitStatus::from_raw(code << 8))
    }

    const OOPS: &str = "[    1.957034] Oops: int3: 0000 [#1] SMP NOPTI";
    const PANIC: &str = "[    2.1] Kernel panic - not syncing: Fatal exception in interrupt";

    #[test]
    fn a_guest_that_says_done_and_powers_off_ends_powered_off() {
        let mut g = Guest::new();
        g.console(MS, "[    0.5] Run /init as init process");
        g.hello(2 * MS);
        g.stage(3 * MS, "collecting");
        g.done(4 * MS);
        assert_eq!(g.stop_at(5 * MS), None);
        let (end, warnings) = g.end(None, exited(0));
        assert_eq!(end, End::PoweredOff);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            g.stages(),
            vec!["agent started", "collecting", "powering off"]
        );
        assert_eq!(g.watch.hello, Some(2 * MS));
        assert_eq!(g.watch.first_record, Some(2 * MS));
    }

    #[test]
    fn an_oops_before_hello_is_a_boot_oops_collected_for_the_oops_grace() {
        let mut g = Guest::new();
        g.console(MS, OOPS);
        g.console(2 * MS, "[    1.957100] RIP: 0010:foo+0x1/0x2");
        assert_eq!(g.stop_at(MS + OOPS_GRACE - MS), None);
        let stop = g.stop_at(MS + OOPS_GRACE);
        assert_eq!(stop, Some(Stop::OopsCollected));
        let (end, _) = g.end(stop, None);
        assert_eq!(
            end,
            End::BootOops {
                text: format!("{OOPS}\n[    1.957100] RIP: 0010:foo+0x1/0x2"),
                fault: true,
            }
        );
    }

    #[test]
    fn a_bare_panic_before_hello_is_a_boot_oops_that_is_no_fault() {
        let mut g = Guest::new();
        let line = "Kernel panic - not syncing: No working init found.";
        g.console(MS, line);
        // QEMU exits by itself (`panic=-1`, `-no-reboot`).
        let (end, _) = g.end(None, exited(0));
        assert_eq!(
            end,
            End::BootOops {
                text: line.to_owned(),
                fault: false,
            }
        );
    }

    #[test]
    fn a_fatal_exception_panic_is_a_fault_even_without_its_oops_line() {
        let mut g = Guest::new();
        // Two CPUs oopsing at once: the `Oops:` line came out garbled.
        g.console(MS, "[    1.52] O[    1.52] ops: int3: 0000 [#1] SMP NOPTI");
        let line = "[    1.528647] Kernel panic - not syncing: Fatal exception in interrupt";
        g.console(2 * MS, line);
        let (end, _) = g.end(None, exited(0));
        assert_eq!(
            end,
            End::BootOops {
                text: line.to_owned(),
                fault: true,
            }
        );
    }

    #[test]
    fn a_panic_after_hello_is_panicked_only_after_the_panic_grace() {
        let mut g = Guest::new();
        g.hello(MS);
        g.stage(2 * MS, "running");
        let at = Duration::from_secs(1);
        g.console(at, PANIC);
        // Not an oops collection: the agent had started.
        assert_eq!(g.stop_at(at + OOPS_GRACE), None);
        assert_eq!(g.stop_at(at + PANIC_GRACE - MS), None);
        let stop = g.stop_at(at + PANIC_GRACE);
        assert_eq!(stop, Some(Stop::PanicNoExit));
        let (end, _) = g.end(stop, None);
        assert_eq!(
            end,
            End::Panicked {
                stage: "running".into(),
                message: "Kernel panic - not syncing: Fatal exception in interrupt".into(),
            }
        );
    }

    #[test]
    fn a_panic_after_hello_that_ends_qemu_is_panicked() {
        let mut g = Guest::new();
        g.hello(MS);
        g.console(2 * MS, PANIC);
        let (end, _) = g.end(None, exited(0));
        assert!(matches!(end, End::Panicked { .. }), "{end:?}");
    }

    #[test]
    fn a_kvm_internal_error_on_stderr_stops_the_guest_at_once() {
        let mut g = Guest::new();
        g.console(MS, "[    0.1] Linux version 7.3");
        let line = "KVM internal error. Suberror: 1";
        g.feed(2 * MS, Incoming::Stderr(line.to_owned()));
        let stop = g.stop_at(2 * MS);
        assert_eq!(
            stop,
            Some(Stop::KvmError("KVM internal error. Suberror: 1".into()))
        );
        let (end, _) = g.end(stop, None);
        assert_eq!(
            end,
            End::Died {
                stage: BOOTING.into(),
                status: "KVM internal error. Suberror: 1".into(),
            }
        );
    }

    #[test]
    fn done_without_power_off_is_killed_after_the_grace_and_counts_as_powered_off_with_a_warning() {
        let mut g = Guest::new();
        g.hello(MS);
        let at = Duration::from_secs(2);
        g.done(at);
        assert_eq!(g.stop_at(at + POWEROFF_GRACE - MS), None);
        let stop = g.stop_at(at + POWEROFF_GRACE);
        assert_eq!(stop, Some(Stop::DoneNoPowerOff));
        let (end, warnings) = g.end(stop, None);
        assert_eq!(end, End::PoweredOff);
        assert_eq!(
            warnings,
            vec!["the guest sent Done but did not power off within 10 s; killed"]
        );
    }

    #[test]
    fn a_guest_past_its_deadline_is_a_watchdog_at_its_last_stage() {
        let mut g = Guest::new();
        g.hello(MS);
        g.stage(2 * MS, "loading scheduler");
        assert_eq!(g.stop_at(DEADLINE - MS), None);
        let stop = g.stop_at(DEADLINE);
        assert_eq!(stop, Some(Stop::Deadline));
        let (end, _) = g.end(stop, None);
        assert_eq!(
            end,
            End::Watchdog {
                stage: "loading scheduler".into()
            }
        );
    }

    #[test]
    fn a_guest_that_never_speaks_is_a_watchdog_while_booting() {
        let g = Guest::new();
        let stop = g.stop_at(DEADLINE);
        let (end, _) = g.end(stop, None);
        assert_eq!(
            end,
            End::Watchdog {
                stage: BOOTING.into()
            }
        );
    }

    #[test]
    fn cancel_stops_the_guest_before_anything_else_and_names_its_stage() {
        let mut g = Guest::new();
        g.hello(MS);
        g.feed(2 * MS, Incoming::Stderr("KVM internal error".into()));
        g.cancel.cancel();
        let stop = g.stop_at(DEADLINE);
        assert_eq!(stop, Some(Stop::Cancel));
        let (end, _) = g.end(stop, None);
        assert_eq!(
            end,
            End::Cancelled {
                stage: "agent started".into()
            }
        );
    }

    #[test]
    fn qemu_dying_after_the_guest_spoke_is_qemu_died_with_its_status() {
        let mut g = Guest::new();
        g.console(MS, "[    0.1] Linux version 7.3");
        let (end, _) = g.end(None, exited(1));
        assert_eq!(
            end,
            End::Died {
                stage: BOOTING.into(),
                status: "exit status 1".into(),
            }
        );
        let (end, _) = g.end(None, Some(ExitStatus::from_raw(libc::SIGKILL)));
        assert_eq!(
            end,
            End::Died {
                stage: BOOTING.into(),
                status: "killed by signal 9 (SIGKILL)".into(),
            }
        );
    }

    #[test]
    fn qemu_failing_before_the_guest_spoke_means_nothing_ran() {
        let mut g = Guest::new();
        // QEMU's own complaint is not the guest speaking.
        g.feed(MS, Incoming::Stderr("qemu: could not load kernel".into()));
        let mut warnings = Vec::new();
        let end = g.watch.end(None, exited(1), &mut warnings);
        assert_eq!(
            end,
            Err(NothingRan {
                status: "exit status 1".into()
            })
        );
        assert_eq!(g.watch.stderr.to_vec(), vec!["qemu: could not load kernel"]);
    }

    #[test]
    fn an_oops_the_guest_survives_past_hello_is_a_warning_not_an_ending() {
        let mut g = Guest::new();
        g.console(MS, OOPS);
        g.hello(Duration::from_secs(1));
        assert_eq!(g.stop_at(Duration::from_secs(1) + OOPS_GRACE), None);
        g.done(Duration::from_secs(2));
        let (end, warnings) = g.end(None, exited(0));
        assert_eq!(end, End::PoweredOff);
        assert_eq!(
            warnings,
            vec![format!(
                "the kernel oopsed before the agent started, and went on: {OOPS}"
            )]
        );
    }

    #[test]
    fn streams_stay_open_until_each_port_says_it_ended() {
        let mut g = Guest::new();
        g.watch.records_open = true;
        assert!(g.watch.open_streams());
        g.feed(MS, Incoming::ConsoleEnd);
        g.feed(MS, Incoming::StderrEnd);
        assert!(g.watch.open_streams());
        g.feed(MS, Incoming::RecordEnd(DecodeStats::default()));
        assert!(!g.watch.open_streams());
    }
}
