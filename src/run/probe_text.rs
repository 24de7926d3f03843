//! `--- probe events ---`: scxray's own section with what the guest's probes
//! reported (experimental `--probe`), raw, so a saved report keeps them for
//! decoding and the auto-repro layout later.
//!
//! ```text
//! # t=<guest boot ms> cpu=<c> pid=<p> fn=<target> kind=<probe> [exit_kind=<k>] ip= task= args=0x..,0x.. [fields=0x..,0x..] [ret=0x..] comm=<comm>
//! attach fn=validate_cell probe=fentry ok
//! attach fn=no_such_fn probe=none error=not a kernel function ...
//! layout fn=validate_cell tag=0123456789abcdef
//! param fn=validate_cell name=p pointee=task_struct type=struct task_struct *
//! param fn=validate_cell name=seq type=u64
//! field fn=validate_cell param=0 struct=task_struct name=pid size=4 signed=true
//! line fn=validate_cell off=0x8 line=82 col=6 file=/src/demo.bpf.c
//! t=5123.456789 cpu=0 pid=132 fn=validate_cell kind=fexit ip=0xffffffffc0001234 task=0xffff888003124000 args=0x1,0x2 fields=0x84 ret=0xffffffea comm=sh
//! hits fn=validate_cell hits=1 kept=1
//! lost=0 dropped=0 missed=0
//! ```
//!
//! A target's `layout` line comes first, then its `param`, `field` and
//! `line` lines, in order ([`ProbeLayout`]: an event's `fields` are its
//! layout's `field`s, in order). `tag=` and `pointee=` are there when known,
//! `fields=` when the hit carries fields and `ret=` for a return kind.
//! `comm`, `type` and `file` are last because they may hold spaces; control
//! characters in them are written as `?`. Times are the guest's
//! CLOCK_BOOTTIME, the clock of the console's timestamps, in ms with ns
//! precision.

use std::fmt::Write as _;

use super::record::{
    JitLine, ProbeAttach, ProbeCount, ProbeField, ProbeHit, ProbeKind, ProbeLayout, ProbeParam,
};

const LEGEND: &str = "# t=<guest boot ms> cpu=<c> pid=<p> fn=<target> kind=<probe> [exit_kind=<k>] ip=<addr> task=<task_struct *> args=<raw,...> [fields=<raw,...>] [ret=<raw>] comm=<comm>";

/// Everything the section holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeLog {
    pub attaches: Vec<ProbeAttach>,
    /// Each target's signature, fields and BPF source lines.
    pub layouts: Vec<ProbeLayout>,
    /// In the order the guest sent them (its time order).
    pub events: Vec<ProbeHit>,
    pub counts: Vec<ProbeCount>,
    /// Hits the guest's ring buffer had no room for.
    pub lost: u64,
    /// Events the host dropped (oldest first) to bound its memory.
    pub dropped: u64,
    /// Hits the guest's kernel skipped, a probe nested in another
    /// ([`super::record::ProbeStats::missed`]).
    pub missed: u64,
}

impl ProbeLog {
    pub fn is_empty(&self) -> bool {
        self.attaches.is_empty()
            && self.layouts.is_empty()
            && self.events.is_empty()
            && self.counts.is_empty()
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
    for l in &log.layouts {
        write_layout(&mut out, l);
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
    let _ = write!(
        out,
        "\nlost={} dropped={} missed={}",
        log.lost, log.dropped, log.missed
    );
    out
}

fn write_layout(out: &mut String, l: &ProbeLayout) {
    let t = &l.target;
    let _ = write!(out, "\nlayout fn={t}");
    if let Some(tag) = &l.tag {
        let _ = write!(out, " tag={tag}");
    }
    if let Some(len) = l.jit_len {
        let _ = write!(out, " len={len:#x}");
    }
    for p in &l.params {
        let _ = write!(out, "\nparam fn={t} name={}", p.name);
        if let Some(s) = &p.pointee {
            let _ = write!(out, " pointee={s}");
        }
        let _ = write!(out, " type={}", one_line(&p.type_name));
    }
    for f in &l.fields {
        let _ = write!(
            out,
            "\nfield fn={t} param={} struct={} name={} size={} signed={}",
            f.param, f.struct_name, f.name, f.size, f.signed
        );
    }
    for j in &l.lines {
        let _ = write!(
            out,
            "\nline fn={t} off={:#x} line={} col={} file={}",
            j.offset,
            j.line,
            j.col,
            one_line(&j.file)
        );
    }
}

fn hex_list(v: &[u64]) -> String {
    v.iter()
        .map(|a| format!("{a:#x}"))
        .collect::<Vec<_>>()
        .join(",")
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
    let _ = write!(
        out,
        " ip={:#x} task={:#x} args={}",
        e.ip,
        e.task,
        hex_list(&e.args)
    );
    if !e.fields.is_empty() {
        let _ = write!(out, " fields={}", hex_list(&e.fields));
    }
    if let Some(r) = e.ret {
        let _ = write!(out, " ret={r:#x}");
    }
    let _ = write!(out, " comm={}", one_line(&e.comm));
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
        } else if let Some(rest) = line.strip_prefix("layout ") {
            if let Some(l) = parse_layout(rest) {
                log.layouts.push(l);
            }
        } else if let Some(rest) = line.strip_prefix("param ") {
            if let Some((t, p)) = parse_param(rest) {
                if let Some(l) = layout_of(&mut log.layouts, t) {
                    l.params.push(p);
                }
            }
        } else if let Some(rest) = line.strip_prefix("field ") {
            if let Some((t, f)) = parse_field(rest) {
                if let Some(l) = layout_of(&mut log.layouts, t) {
                    l.fields.push(f);
                }
            }
        } else if let Some(rest) = line.strip_prefix("line ") {
            if let Some((t, j)) = parse_line(rest) {
                if let Some(l) = layout_of(&mut log.layouts, t) {
                    l.lines.push(j);
                }
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
                // Reports written before it was counted have no `missed=`.
                log.missed = t
                    .next()
                    .and_then(|v| v.strip_prefix("missed=")?.parse().ok())
                    .unwrap_or(0);
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

/// The last layout of `target`: its `param`/`field`/`line` lines follow it.
fn layout_of<'a>(layouts: &'a mut [ProbeLayout], target: &str) -> Option<&'a mut ProbeLayout> {
    layouts.iter_mut().rev().find(|l| l.target == target)
}

fn parse_layout(rest: &str) -> Option<ProbeLayout> {
    let mut t = rest.split(' ');
    let target = t.next()?.strip_prefix("fn=")?;
    let mut next = t.next();
    let mut tag = None;
    if let Some(v) = next.and_then(|v| v.strip_prefix("tag=")) {
        tag = Some(v.to_string());
        next = t.next();
    }
    let mut jit_len = None;
    if let Some(v) = next {
        jit_len = Some(u32::from_str_radix(v.strip_prefix("len=0x")?, 16).ok()?);
    }
    (t.next().is_none() && !target.is_empty()).then(|| ProbeLayout {
        target: target.to_string(),
        tag,
        jit_len,
        ..ProbeLayout::default()
    })
}

fn parse_param(rest: &str) -> Option<(&str, ProbeParam)> {
    let (head, type_name) = rest.split_once(" type=")?;
    let mut t = head.split(' ');
    let target = t.next()?.strip_prefix("fn=")?;
    let name = t.next()?.strip_prefix("name=")?.to_string();
    let pointee = match t.next() {
        None => None,
        Some(v) => Some(v.strip_prefix("pointee=")?.to_string()),
    };
    t.next().is_none().then(|| {
        let p = ProbeParam {
            name,
            type_name: type_name.to_string(),
            pointee,
        };
        (target, p)
    })
}

fn parse_field(rest: &str) -> Option<(&str, ProbeField)> {
    let mut t = rest.split(' ');
    let mut field = |name: &str| -> Option<&str> { t.next()?.strip_prefix(name) };
    let target = field("fn=")?;
    let f = ProbeField {
        param: field("param=")?.parse().ok()?,
        struct_name: field("struct=")?.to_string(),
        name: field("name=")?.to_string(),
        size: field("size=")?.parse().ok()?,
        signed: field("signed=")?.parse().ok()?,
    };
    t.next().is_none().then_some((target, f))
}

fn parse_line(rest: &str) -> Option<(&str, JitLine)> {
    let (head, file) = rest.split_once(" file=")?;
    let mut t = head.split(' ');
    let mut field = |name: &str| -> Option<&str> { t.next()?.strip_prefix(name) };
    let target = field("fn=")?;
    let offset = u32::try_from(hex(field("off=")?)?).ok()?;
    let line = field("line=")?.parse().ok()?;
    let col = field("col=")?.parse().ok()?;
    t.next().is_none().then(|| {
        let j = JitLine {
            offset,
            file: file.to_string(),
            line,
            col,
        };
        (target, j)
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
    let args = hex_values(t.next()?.strip_prefix("args=")?)?;
    let mut next = t.next();
    let mut fields = Vec::new();
    if let Some(v) = next.and_then(|v| v.strip_prefix("fields=")) {
        fields = hex_values(v)?;
        // An empty list is never written: it is no list.
        if fields.is_empty() {
            return None;
        }
        next = t.next();
    }
    let mut ret = None;
    if let Some(v) = next.and_then(|v| v.strip_prefix("ret=")) {
        ret = Some(hex(v)?);
        next = t.next();
    }
    if next.is_some() {
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
        fields,
        ret,
    })
}

/// `0x1,0x2`; empty for an empty list.
fn hex_values(v: &str) -> Option<Vec<u64>> {
    if v.is_empty() {
        Some(Vec::new())
    } else {
        v.split(',').map(hex).collect()
    }
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
            fields: Vec::new(),
            ret: None,
        }
    }

    fn validate_cell() -> ProbeLayout {
        ProbeLayout {
            target: "validate_cell".into(),
            params: vec![
                ProbeParam {
                    name: "p".into(),
                    type_name: "struct task_struct *".into(),
                    pointee: Some("task_struct".into()),
                },
                ProbeParam {
                    name: "seq".into(),
                    type_name: "u64".into(),
                    pointee: None,
                },
            ],
            fields: vec![
                ProbeField {
                    param: 0,
                    struct_name: "task_struct".into(),
                    name: "pid".into(),
                    size: 4,
                    signed: true,
                },
                ProbeField {
                    param: 0,
                    struct_name: "task_struct".into(),
                    name: "cpumask_0".into(),
                    size: 8,
                    signed: false,
                },
            ],
            tag: Some("0123456789abcdef".into()),
            jit_len: Some(0x94),
            lines: vec![
                JitLine {
                    offset: 0,
                    file: "/src/demo bpf.c".into(),
                    line: 78,
                    col: 0,
                },
                JitLine {
                    offset: 0x84,
                    file: "/src/demo bpf.c".into(),
                    line: 89,
                    col: 2,
                },
            ],
        }
    }

    fn sample() -> ProbeLog {
        let mut exit = hit("sched_ext_exit", ProbeKind::Exit, 5_123_500_000);
        exit.exit_kind = Some(1025);
        exit.args.clear();
        exit.ip = 0;
        exit.comm = "kworker/u8:1 x".into();
        let mut fentry = hit("validate_cell", ProbeKind::Fentry, 7);
        fentry.fields = vec![0x84, 0x3];
        let mut fexit = hit("validate_cell", ProbeKind::Fexit, 8);
        fexit.fields = vec![0x84, 0x1];
        fexit.ret = Some(0xffff_ffea);
        ProbeLog {
            layouts: vec![
                ProbeLayout {
                    target: "scx_bpf_error_bstr".into(),
                    ..ProbeLayout::default()
                },
                validate_cell(),
            ],
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
                fentry,
                fexit,
                exit,
            ],
            counts: vec![ProbeCount {
                target: "scx_bpf_error_bstr".into(),
                hits: 3,
                kept: 1,
            }],
            lost: 2,
            dropped: 9,
            missed: 4,
        }
    }

    #[test]
    fn format_and_back() {
        let log = sample();
        let text = write_probe_log(&log);
        let lines: Vec<&str> = text.lines().collect();
        let want = [
            LEGEND,
            "attach fn=scx_bpf_error_bstr probe=kprobe.multi ok",
            "attach fn=no_such_fn probe=none error=not a kernel function: no such symbol",
            "layout fn=scx_bpf_error_bstr",
            "layout fn=validate_cell tag=0123456789abcdef len=0x94",
            "param fn=validate_cell name=p pointee=task_struct type=struct task_struct *",
            "param fn=validate_cell name=seq type=u64",
            "field fn=validate_cell param=0 struct=task_struct name=pid size=4 signed=true",
            "field fn=validate_cell param=0 struct=task_struct name=cpumask_0 size=8 signed=false",
            "line fn=validate_cell off=0x0 line=78 col=0 file=/src/demo bpf.c",
            "line fn=validate_cell off=0x84 line=89 col=2 file=/src/demo bpf.c",
            "t=5123.456789 cpu=1 pid=132 fn=scx_bpf_error_bstr kind=kprobe ip=0xffffffff81234560 task=0xffff888003124000 args=0x1,0xffff888003124000,0xffffffffffffffff,0x0,0x5,0x6 comm=sh",
            "t=0.000007 cpu=1 pid=132 fn=validate_cell kind=fentry ip=0xffffffff81234560 task=0xffff888003124000 args=0x1,0xffff888003124000,0xffffffffffffffff,0x0,0x5,0x6 fields=0x84,0x3 comm=sh",
            "t=0.000008 cpu=1 pid=132 fn=validate_cell kind=fexit ip=0xffffffff81234560 task=0xffff888003124000 args=0x1,0xffff888003124000,0xffffffffffffffff,0x0,0x5,0x6 fields=0x84,0x1 ret=0xffffffea comm=sh",
            "t=5123.500000 cpu=1 pid=132 fn=sched_ext_exit kind=exit exit_kind=1025 ip=0x0 task=0xffff888003124000 args= comm=kworker/u8:1 x",
            "hits fn=scx_bpf_error_bstr hits=3 kept=1",
            "lost=2 dropped=9 missed=4",
        ];
        assert_eq!(lines, want);
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
        let mut l = validate_cell();
        l.lines[0].file = "a\nb.c".into();
        log.layouts.push(l);
        let back = parse_probe_log(&write_probe_log(&log));
        assert_eq!(back.events[0].comm, "a?b");
        assert_eq!(back.attaches[0].error.as_deref(), Some("two?lines"));
        assert_eq!(back.layouts[0].lines[0].file, "a?b.c");
        let junk = "t=1.5 cpu=0\nattach fn=x\nhits fn=x hits=1\nt=1.000001 cpu=0 pid=1 fn=f kind=bogus ip=0x0 task=0x0 args= comm=c\nlost=1\n\
            t=1.000001 cpu=0 pid=1 fn=f kind=fexit ip=0x0 task=0x0 args= fields= comm=c\n\
            t=1.000001 cpu=0 pid=1 fn=f kind=fexit ip=0x0 task=0x0 args= ret=0x1 fields=0x1 comm=c\n\
            layout fn=f tag\nparam fn=f name=p\nfield fn=f param=x struct=s name=n size=1 signed=true\n\
            line fn=f off=9 line=1 col=1 file=x\n";
        assert_eq!(parse_probe_log(junk), ProbeLog::default());
        // Lines of a target with no layout line before them are dropped.
        let orphans = "param fn=f name=p type=int\nfield fn=f param=0 struct=s name=n size=1 signed=true\nline fn=f off=0x0 line=1 col=1 file=x\nlayout fn=f";
        let back = parse_probe_log(orphans);
        assert_eq!(
            back.layouts,
            [ProbeLayout {
                target: "f".into(),
                ..ProbeLayout::default()
            }]
        );
    }

    /// Text written before fields and layouts existed still reads.
    #[test]
    fn old_text_still_parses() {
        let old = "attach fn=f probe=kprobe ok\nt=1.000001 cpu=0 pid=1 fn=f kind=kprobe ip=0x0 task=0x0 args=0x1 comm=c\nlost=0 dropped=0";
        let log = parse_probe_log(old);
        assert_eq!(log.events.len(), 1);
        assert_eq!((log.lost, log.dropped, log.missed), (0, 0, 0));
        assert_eq!((log.events[0].fields.len(), log.events[0].ret), (0, None));
        assert!(log.layouts.is_empty());
    }

    const KINDS: [ProbeKind; 8] = ProbeKind::ALL;

    fn arb_hit() -> impl Strategy<Value = ProbeHit> {
        (
            (
                "[a-z_][a-z0-9_.]{0,20}",
                0..KINDS.len(),
                any::<u64>(),
                any::<u32>(),
                any::<u32>(),
                "[ -~]{0,15}",
            ),
            (
                any::<u64>(),
                any::<u64>(),
                proptest::collection::vec(any::<u64>(), 0..7),
                proptest::option::of(any::<u32>()),
                proptest::collection::vec(any::<u64>(), 0..17),
                proptest::option::of(any::<u64>()),
            ),
        )
            .prop_map(
                |((target, k, t_ns, cpu, pid, comm), (task, ip, args, exit_kind, fields, ret))| {
                    ProbeHit {
                        target,
                        kind: KINDS[k],
                        t_ns,
                        cpu,
                        pid,
                        comm,
                        task,
                        ip,
                        args,
                        exit_kind,
                        fields,
                        ret,
                    }
                },
            )
    }

    const IDENT: &str = "[a-z_][a-z0-9_]{0,12}";

    fn arb_layout() -> impl Strategy<Value = ProbeLayout> {
        let param = (IDENT, "[ -~]{0,24}", proptest::option::of(IDENT)).prop_map(
            |(name, type_name, pointee)| ProbeParam {
                name,
                type_name,
                pointee,
            },
        );
        let field = (any::<u32>(), IDENT, IDENT, any::<u32>(), any::<bool>()).prop_map(
            |(param, struct_name, name, size, signed)| ProbeField {
                param,
                struct_name,
                name,
                size,
                signed,
            },
        );
        let line = (any::<u32>(), "[ -~]{0,30}", any::<u32>(), any::<u32>()).prop_map(
            |(offset, file, line, col)| JitLine {
                offset,
                file,
                line,
                col,
            },
        );
        (
            "[a-z_][a-z0-9_.]{0,20}",
            proptest::collection::vec(param, 0..4),
            proptest::collection::vec(field, 0..4),
            proptest::option::of("[0-9a-f]{16}"),
            proptest::option::of(any::<u32>()),
            proptest::collection::vec(line, 0..4),
        )
            .prop_map(
                |(target, params, fields, tag, jit_len, lines)| ProbeLayout {
                    target,
                    params,
                    fields,
                    tag,
                    jit_len,
                    lines,
                },
            )
    }

    proptest! {
        #[test]
        fn events_round_trip(events in proptest::collection::vec(arb_hit(), 0..8)) {
            let log = ProbeLog { events, ..ProbeLog::default() };
            prop_assert_eq!(parse_probe_log(&write_probe_log(&log)), log);
        }

        #[test]
        fn layouts_round_trip(layouts in proptest::collection::vec(arb_layout(), 0..4)) {
            // One layout per target: a second one's lines would go to it.
            let mut seen = std::collections::HashSet::new();
            let layouts: Vec<ProbeLayout> =
                layouts.into_iter().filter(|l| seen.insert(l.target.clone())).collect();
            let log = ProbeLog { layouts, ..ProbeLog::default() };
            prop_assert_eq!(parse_probe_log(&write_probe_log(&log)), log);
        }
    }
}
