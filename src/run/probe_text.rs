//! `--- probe events ---`: scxray's own section with what the guest's probes
//! reported (experimental `--probe`), raw, so a saved report keeps them for
//! decoding and the auto-repro layout later.
//!
//! ```text
//! # t=<guest boot ms> cpu=<c> pid=<p> fn=<target> kind=<probe> [exit_kind=<k>] ip= task= args=0x..,0x.. comm=<comm>
//! attach fn=scx_bpf_error_bstr probe=kprobe.multi ok
//! attach fn=no_such_fn probe=none error=not a kernel function ...
//! t=5123.456789 cpu=0 pid=132 fn=scx_bpf_error_bstr kind=kprobe ip=0xffffffff81234560 task=0xffff888003124000 args=0x1,0x2 comm=sh
//! hits fn=scx_bpf_error_bstr hits=1 kept=1
//! lost=0 dropped=0
//! ```
//!
//! `comm` is last because it may hold spaces; control characters in it are
//! written as `?`. Times are the guest's CLOCK_BOOTTIME, the clock of the
//! console's timestamps, in ms with ns precision.

use std::fmt::Write as _;

use super::record::{ProbeAttach, ProbeCount, ProbeHit, ProbeKind};

const LEGEND: &str = "# t=<guest boot ms> cpu=<c> pid=<p> fn=<target> kind=<probe> [exit_kind=<k>] ip=<addr> task=<task_struct *> args=<raw,...> comm=<comm>";

/// Everything the section holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeLog {
    pub attaches: Vec<ProbeAttach>,
    /// In the order the guest sent them (its time order).
    pub events: Vec<ProbeHit>,
    pub counts: Vec<ProbeCount>,
    /// Hits the guest's ring buffer had no room for.
    pub lost: u64,
    /// Events the host dropped (oldest first) to bound its memory.
    pub dropped: u64,
}

impl ProbeLog {
    pub fn is_empty(&self) -> bool {
        self.attaches.is_empty() && self.events.is_empty() && self.counts.is_empty()
    }
}

/// The section body; no trailing newline.
pub fn write_probe_log(log: &ProbeLog) -> String {
    let mut out = String::from(LEGEND);
    for a in &log.attaches {
        let _ = write!(out, "\nattach fn={} probe={}", a.target, a.probe);
        match &a.error {
            None => out.push_str(" ok"),
            Some(e) => {
                let _ = write!(out, " error={}", one_line(e));
            }
        }
    }
    for e in &log.events {
        out.push('\n');
        write_event(&mut out, e);
    }
    for c in &log.counts {
        let _ = write!(
            out,
            "\nhits fn={} hits={} kept={}",
            c.target, c.hits, c.kept
        );
    }
    let _ = write!(out, "\nlost={} dropped={}", log.lost, log.dropped);
    out
}

fn write_event(out: &mut String, e: &ProbeHit) {
    let _ = write!(
        out,
        "t={}.{:06} cpu={} pid={} fn={} kind={}",
        e.t_ns / 1_000_000,
        e.t_ns % 1_000_000,
        e.cpu,
        e.pid,
        e.target,
        e.kind.name()
    );
    if let Some(k) = e.exit_kind {
        let _ = write!(out, " exit_kind={k}");
    }
    let args: Vec<String> = e.args.iter().map(|a| format!("{a:#x}")).collect();
    let _ = write!(
        out,
        " ip={:#x} task={:#x} args={} comm={}",
        e.ip,
        e.task,
        args.join(","),
        one_line(&e.comm)
    );
}

/// Control characters (a newline would end the record) become `?`.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Reads a body written by [`write_probe_log`]. Lenient: `#` lines, blank
/// lines and lines that do not parse whole are skipped.
pub fn parse_probe_log(text: &str) -> ProbeLog {
    let mut log = ProbeLog::default();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("attach ") {
            if let Some(a) = parse_attach(rest) {
                log.attaches.push(a);
            }
        } else if let Some(rest) = line.strip_prefix("hits ") {
            if let Some(c) = parse_count(rest) {
                log.counts.push(c);
            }
        } else if line.starts_with("t=") {
            if let Some(e) = parse_event(line) {
                log.events.push(e);
            }
        } else if line.starts_with("lost=") {
            let mut t = line.split(' ');
            if let (Some(lost), Some(dropped)) = (
                t.next().and_then(|v| v.strip_prefix("lost=")?.parse().ok()),
                t.next()
                    .and_then(|v| v.strip_prefix("dropped=")?.parse().ok()),
            ) {
                log.lost = lost;
                log.dropped = dropped;
            }
        }
    }
    log
}

fn parse_attach(rest: &str) -> Option<ProbeAttach> {
    let rest = rest.strip_prefix("fn=")?;
    let (target, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("probe=")?;
    let (probe, rest) = rest.split_once(' ')?;
    let error = match rest {
        "ok" => None,
        r => Some(r.strip_prefix("error=")?.to_string()),
    };
    Some(ProbeAttach {
        target: target.to_string(),
        probe: probe.to_string(),
        error,
    })
}

fn parse_count(rest: &str) -> Option<ProbeCount> {
    let mut t = rest.split(' ');
    let c = ProbeCount {
        target: t.next()?.strip_prefix("fn=")?.to_string(),
        hits: t.next()?.strip_prefix("hits=")?.parse().ok()?,
        kept: t.next()?.strip_prefix("kept=")?.parse().ok()?,
    };
    t.next().is_none().then_some(c)
}

fn hex(v: &str) -> Option<u64> {
    u64::from_str_radix(v.strip_prefix("0x")?, 16).ok()
}

fn parse_event(line: &str) -> Option<ProbeHit> {
    // comm is the rest of the line after the last fixed field.
    let (fields, comm) = line.split_once(" comm=")?;
    let mut t = fields.split(' ');
    let mut field = |name: &str| -> Option<&str> { t.next()?.strip_prefix(name) };
    let (ms, frac) = field("t=")?.split_once('.')?;
    if frac.len() != 6 {
        return None;
    }
    let t_ns = ms
        .parse::<u64>()
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(frac.parse::<u64>().ok()?)?;
    let cpu = field("cpu=")?.parse().ok()?;
    let pid = field("pid=")?.parse().ok()?;
    let target = field("fn=")?.to_string();
    let kind = ProbeKind::from_name(field("kind=")?)?;
    let mut next = t.next()?;
    let mut exit_kind = None;
    if let Some(k) = next.strip_prefix("exit_kind=") {
        exit_kind = Some(k.parse().ok()?);
        next = t.next()?;
    }
    let ip = hex(next.strip_prefix("ip=")?)?;
    let task = hex(t.next()?.strip_prefix("task=")?)?;
    let args = t.next()?.strip_prefix("args=")?;
    let args = if args.is_empty() {
        Vec::new()
    } else {
        args.split(',').map(hex).collect::<Option<Vec<_>>>()?
    };
    if t.next().is_some() {
        return None;
    }
    Some(ProbeHit {
        target,
        kind,
        t_ns,
        cpu,
        pid,
        comm: comm.to_string(),
        task,
        ip,
        args,
        exit_kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hit(target: &str, kind: ProbeKind, t_ns: u64) -> ProbeHit {
        ProbeHit {
            target: target.into(),
            kind,
            t_ns,
            cpu: 1,
            pid: 132,
            comm: "sh".into(),
            task: 0xffff_8880_0312_4000,
            ip: 0xffff_ffff_8123_4560,
            args: vec![0x1, 0xffff_8880_0312_4000, u64::MAX, 0, 5, 6],
            exit_kind: None,
        }
    }

    fn sample() -> ProbeLog {
        let mut exit = hit("sched_ext_exit", ProbeKind::Exit, 5_123_500_000);
        exit.exit_kind = Some(1025);
        exit.args.clear();
        exit.ip = 0;
        exit.comm = "kworker/u8:1 x".into();
        ProbeLog {
            attaches: vec![
                ProbeAttach {
                    target: "scx_bpf_error_bstr".into(),
                    probe: "kprobe.multi".into(),
                    error: None,
                },
                ProbeAttach {
                    target: "no_such_fn".into(),
                    probe: "none".into(),
                    error: Some("not a kernel function: no such symbol".into()),
                },
            ],
            events: vec![
                hit("scx_bpf_error_bstr", ProbeKind::Kprobe, 5_123_456_789),
                hit("validate_cell", ProbeKind::Fentry, 7),
                exit,
            ],
            counts: vec![ProbeCount {
                target: "scx_bpf_error_bstr".into(),
                hits: 3,
                kept: 1,
            }],
            lost: 2,
            dropped: 9,
        }
    }

    #[test]
    fn format_and_back() {
        let log = sample();
        let text = write_probe_log(&log);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], LEGEND);
        assert_eq!(
            lines[1],
            "attach fn=scx_bpf_error_bstr probe=kprobe.multi ok"
        );
        assert_eq!(
            lines[2],
            "attach fn=no_such_fn probe=none error=not a kernel function: no such symbol"
        );
        assert_eq!(
            lines[3],
            "t=5123.456789 cpu=1 pid=132 fn=scx_bpf_error_bstr kind=kprobe ip=0xffffffff81234560 task=0xffff888003124000 args=0x1,0xffff888003124000,0xffffffffffffffff,0x0,0x5,0x6 comm=sh"
        );
        assert!(lines[4].starts_with("t=0.000007 "), "{}", lines[4]);
        assert_eq!(
            lines[5],
            "t=5123.500000 cpu=1 pid=132 fn=sched_ext_exit kind=exit exit_kind=1025 ip=0x0 task=0xffff888003124000 args= comm=kworker/u8:1 x"
        );
        assert_eq!(lines[6], "hits fn=scx_bpf_error_bstr hits=3 kept=1");
        assert_eq!(lines[7], "lost=2 dropped=9");
        assert_eq!(parse_probe_log(&text), log);
    }

    #[test]
    fn lenient_and_control_characters() {
        let mut log = ProbeLog::default();
        let mut e = hit("f", ProbeKind::FentryCtx, 1);
        e.comm = "a\nb".into();
        log.events.push(e);
        log.attaches.push(ProbeAttach {
            target: "g".into(),
            probe: "none".into(),
            error: Some("two\nlines".into()),
        });
        let back = parse_probe_log(&write_probe_log(&log));
        assert_eq!(back.events[0].comm, "a?b");
        assert_eq!(back.attaches[0].error.as_deref(), Some("two?lines"));
        let junk = "t=1.5 cpu=0\nattach fn=x\nhits fn=x hits=1\nt=1.000001 cpu=0 pid=1 fn=f kind=bogus ip=0x0 task=0x0 args= comm=c\nlost=1\n";
        assert_eq!(parse_probe_log(junk), ProbeLog::default());
    }

    fn arb_hit() -> impl Strategy<Value = ProbeHit> {
        (
            "[a-z_][a-z0-9_.]{0,20}",
            0usize..5,
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            "[ -~]{0,15}",
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec(any::<u64>(), 0..7),
            proptest::option::of(any::<u32>()),
        )
            .prop_map(
                |(target, k, t_ns, cpu, pid, comm, task, ip, args, exit_kind)| ProbeHit {
                    target,
                    kind: [
                        ProbeKind::Kprobe,
                        ProbeKind::Fentry,
                        ProbeKind::FentryCtx,
                        ProbeKind::Exit,
                        ProbeKind::ExitKprobe,
                    ][k],
                    t_ns,
                    cpu,
                    pid,
                    comm,
                    task,
                    ip,
                    args,
                    exit_kind,
                },
            )
    }

    proptest! {
        #[test]
        fn events_round_trip(events in proptest::collection::vec(arb_hit(), 0..8)) {
            let log = ProbeLog { events, ..ProbeLog::default() };
            prop_assert_eq!(parse_probe_log(&write_probe_log(&log)), log);
        }
    }
}
