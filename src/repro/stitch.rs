//! Stitching: which probe hits belong to the call chain that crashed.
//!
//! A repro run's probes fire for every task on every CPU; the AUTO-PROBE
//! block shows only the calls that led to the exit. Those ran on the CPU and
//! in the task (`current`) that fired the `sched_ext_exit` trigger, right
//! before it, and had not returned when it fired: the functions on the stack
//! at the moment of the exit. Of each target, the newest such call is kept;
//! calls are listed outermost first (entry time order), each with its return
//! hit when the return probe saw one, so fields that changed show as
//! entry → exit.
//!
//! Without return probes a call cannot be proven to be on the stack; then the
//! hits before the trigger are walked back until a target repeats (the
//! previous round of the same path).
//!
//! A trigger that never fired, or fired for a stall (which has no causal
//! task), leaves nothing stitched; [`Stitched::cause`] says why, in ktstr's
//! words (`stitch_drop_cause`).

use std::collections::HashSet;

use crate::run::record::{ProbeHit, ProbeKind};

/// `SCX_EXIT_ERROR`: kinds below it are not failures and the trigger ignores
/// them (as ktstr's does).
const EXIT_ERROR: u32 = 1024;
const EXIT_ERROR_BPF: u32 = 1025;
const EXIT_ERROR_STALL: u32 = 1026;

/// One call of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call<'a> {
    pub entry: &'a ProbeHit,
    /// Its return (kretprobe, fexit), when seen.
    pub ret: Option<&'a ProbeHit>,
}

/// What stitching kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stitched<'a> {
    /// The first error-class exit trigger hit.
    pub trigger: Option<&'a ProbeHit>,
    /// Outermost first.
    pub calls: Vec<Call<'a>>,
    /// Why nothing was kept although hits were captured.
    pub cause: Option<String>,
}

/// Stitches `events` (any order) to the task that triggered the exit.
pub fn stitch(events: &[ProbeHit]) -> Stitched<'_> {
    let mut sorted: Vec<&ProbeHit> = events.iter().collect();
    sorted.sort_by_key(|e| e.t_ns);
    let trigger = sorted.iter().copied().find(|e| match e.kind {
        ProbeKind::Exit => e.exit_kind.is_some_and(|k| k >= EXIT_ERROR),
        ProbeKind::ExitKprobe => true,
        _ => false,
    });
    let captured = sorted.iter().any(|e| !e.kind.is_exit());
    let Some(trig) = trigger else {
        let cause = captured.then(|| {
            "trigger never fired (timing race or scheduler clean-exited; no error-class sched_ext_exit observed)".to_string()
        });
        return Stitched {
            cause,
            ..Stitched::default()
        };
    };
    if trig.exit_kind == Some(EXIT_ERROR_STALL) {
        return Stitched {
            trigger: Some(trig),
            calls: Vec::new(),
            cause: captured.then(|| {
                "trigger fired with kind=STALL (no causal task; the watchdog ran the exit)"
                    .to_string()
            }),
        };
    }
    let same_task = |e: &&ProbeHit| e.cpu == trig.cpu && e.pid == trig.pid;
    let before: Vec<&ProbeHit> = sorted
        .iter()
        .copied()
        .filter(|e| e.t_ns <= trig.t_ns && same_task(e))
        .collect();
    let has_returns = sorted.iter().any(|e| e.kind.is_return());

    // Newest first: the innermost call is the last entry before the trigger.
    let mut seen = HashSet::new();
    let mut calls: Vec<Call<'_>> = Vec::new();
    for (i, e) in before.iter().enumerate().rev() {
        if e.kind.is_exit() || e.kind.is_return() {
            continue;
        }
        if has_returns {
            // Returned before the trigger: not on the stack then.
            let returned = before[i + 1..]
                .iter()
                .any(|r| r.kind.is_return() && r.target == e.target);
            if returned || !seen.insert(e.target.as_str()) {
                continue;
            }
        } else if !seen.insert(e.target.as_str()) {
            break;
        }
        let ret = sorted.iter().copied().find(|r| {
            r.kind.is_return() && r.target == e.target && r.t_ns > trig.t_ns && same_task(r)
        });
        calls.push(Call { entry: e, ret });
    }
    calls.reverse();
    let cause = (calls.is_empty() && captured).then(|| match trig.exit_kind {
        Some(EXIT_ERROR) => "trigger fired with kind=ERROR (no current task at exit time; the kernel raised it from a kworker context)".to_string(),
        Some(EXIT_ERROR_BPF) | None => "trigger fired with kind=BPF_ERROR but stitch found no probed call on the exiting task's stack".to_string(),
        Some(k) => format!("trigger fired but exit kind {k} is unrecognized"),
    });
    Stitched {
        trigger: Some(trig),
        calls,
        cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(target: &str, kind: ProbeKind, t_ns: u64, cpu: u32, pid: u32) -> ProbeHit {
        ProbeHit {
            target: target.into(),
            kind,
            t_ns,
            cpu,
            pid,
            comm: "w".into(),
            task: 0x1000 + u64::from(pid),
            ip: 0,
            args: vec![1, 2],
            exit_kind: None,
            fields: Vec::new(),
            ret: None,
        }
    }

    fn exit(t_ns: u64, cpu: u32, pid: u32, kind: u32) -> ProbeHit {
        let mut e = hit("sched_ext_exit", ProbeKind::Exit, t_ns, cpu, pid);
        e.exit_kind = Some(kind);
        e
    }

    fn names(s: &Stitched<'_>) -> Vec<String> {
        s.calls
            .iter()
            .map(|c| format!("{}@{}", c.entry.target, c.entry.t_ns))
            .collect()
    }

    #[test]
    fn keeps_the_calls_on_the_exiting_stack() {
        use ProbeKind::*;
        let events = vec![
            // An earlier round of the same path that returned.
            hit("enqueue", FentryCtx, 10, 0, 7),
            hit("policy", Fentry, 11, 0, 7),
            hit("policy", Fexit, 12, 0, 7),
            hit("enqueue", FexitCtx, 13, 0, 7),
            // Another CPU and another task at the same time.
            hit("enqueue", FentryCtx, 20, 1, 8),
            hit("policy", Fentry, 21, 0, 9),
            // The crashing round.
            hit("do_enqueue", Kprobe, 30, 0, 7),
            hit("enqueue", FentryCtx, 31, 0, 7),
            hit("policy", Fentry, 32, 0, 7),
            exit(40, 0, 7, 1025),
            hit("policy", Fexit, 41, 0, 7),
            hit("enqueue", FexitCtx, 42, 0, 7),
            hit("do_enqueue", Kretprobe, 43, 0, 7),
        ];
        let s = stitch(&events);
        assert_eq!(s.trigger.unwrap().t_ns, 40);
        assert_eq!(names(&s), ["do_enqueue@30", "enqueue@31", "policy@32"]);
        assert_eq!(s.calls[1].ret.unwrap().t_ns, 42);
        assert_eq!(s.cause, None);
    }

    #[test]
    fn without_returns_walks_back_to_a_repeat() {
        use ProbeKind::*;
        let events = vec![
            hit("enqueue", FentryCtx, 10, 0, 7),
            hit("policy", Fentry, 11, 0, 7),
            hit("enqueue", FentryCtx, 31, 0, 7),
            hit("policy", Fentry, 32, 0, 7),
            exit(40, 0, 7, 1025),
        ];
        let s = stitch(&events);
        assert_eq!(names(&s), ["enqueue@31", "policy@32"]);
        assert!(s.calls.iter().all(|c| c.ret.is_none()));
    }

    #[test]
    fn says_why_nothing_was_kept() {
        use ProbeKind::*;
        let probes = vec![hit("enqueue", FentryCtx, 10, 0, 7)];
        let s = stitch(&probes);
        assert!(s.cause.unwrap().starts_with("trigger never fired"));

        let mut stall = probes.clone();
        stall.push(exit(20, 0, 7, 1026));
        assert!(stitch(&stall).cause.unwrap().contains("kind=STALL"));

        let mut kworker = probes.clone();
        kworker.push(exit(20, 1, 99, 1024));
        let s = stitch(&kworker);
        assert!(s.calls.is_empty());
        assert!(s.cause.unwrap().contains("kind=ERROR"));

        // A clean unregister is not a trigger.
        let mut clean = probes.clone();
        clean.push(exit(20, 0, 7, 64));
        assert!(stitch(&clean).trigger.is_none());

        assert_eq!(stitch(&[]), Stitched::default());
    }
}
