//! `--- failure dump ---`: the dump as a user reads it in a saved report,
//! and parsed back into the same model.
//!
//! One item per line, `key=value` tokens as ktstr writes its own lines:
//!
//! ```text
//! frozen at 12345 ms by the watchpoint on exit_kind (0xffff888003a2c140), rip 0xffffffff8147e760 scx_claim_exit+0x20
//! exit_kind=1025 (SCX_EXIT_ERROR)
//! frozen for 41.200 ms, walk 12.300 ms
//! cpu 0: curr=scx-spin[153] nr_running=3 scx.nr_running=2 scx.flags=0x1 local_dsq=2: scx-spin[154] scx-spin[155]
//! dsq SCX_DSQ_GLOBAL nr=1: scx-fork[160]
//! tasks: 42 total, 42 shown; ENABLED=40 READY=2
//! task 153 scx-spin cpu=0 state=ENABLED flags=0x9(QUEUED|RESET_RUNNABLE_AT) weight=100 slice=20000000 dsq_vtime=0 dsq=SCX_DSQ_LOCAL sticky_cpu=-1 holding_cpu=-1 runnable_at=4294892296 waited=12j
//! map 12 demo.bss type=array key_size=4 value_size=16 max_entries=1
//!   [0] { nr_enqueued = 12, nr_dispatched = 10 }
//!   note: 3 of 1024 entries shown
//! vcpu 0: rip=0xffffffff8147e760 (scx_claim_exit+0x20) rsp=0xffffc90000003e48 rflags=0x46 rax=0x0 rbx=0x1
//! skipped: scx_tasks: deadline
//! ```
//!
//! Names that could be misread (a comm with a space, `=`, a quote, a
//! control character, nothing at all) are written in double quotes with
//! backslash escapes (`"my task"[12]`); free text at a line's end (a map
//! value, a note, a skipped reason) keeps quotes as they are and escapes
//! only backslashes, controls and an edge space. `-` stands for "none".
//! [`write`] and [`parse`] are exact inverses; the body has no blank line
//! and no trailing newline, as a report section's body.

use std::fmt::Write as _;

use super::{
    dsq_name, CpuDump, DsqDump, FailureDump, MapDump, MapEntry, TaskDump, TaskRef, Trigger,
    VcpuRegs,
};

/// A line the parser did not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failure dump, line {line}: {what}: {text:?}")]
pub struct ParseError {
    /// 1-based line number in the section body.
    pub line: usize,
    /// The line as it was.
    pub text: String,
    /// What was wrong with it.
    pub what: String,
}

/// The section body for `d`.
pub fn write(d: &FailureDump) -> String {
    let mut lines: Vec<String> = Vec::new();
    lines.push(trigger_line(d));
    let mut kind = match d.exit_kind {
        Some(k) => format!("exit_kind={k}"),
        None => "exit_kind=-".to_string(),
    };
    if let Some(name) = &d.exit_kind_name {
        let _ = write!(kind, " ({})", quote(name, "()"));
    }
    lines.push(kind);
    lines.push(format!(
        "frozen for {} ms, walk {} ms",
        ms(d.frozen_us),
        ms(d.walk_us)
    ));
    for c in &d.cpus {
        let mut l = format!(
            "cpu {}: curr={} nr_running={} scx.nr_running={} scx.flags={:#x} local_dsq={}:",
            c.cpu,
            c.curr.as_ref().map_or_else(|| "-".to_string(), task_ref),
            c.nr_running,
            c.scx_nr_running,
            c.scx_flags,
            c.local_dsq_nr
        );
        push_refs(&mut l, &c.local_dsq);
        lines.push(l);
    }
    for q in &d.dsqs {
        let mut l = format!("dsq {} nr={}:", dsq_label(q.id), q.nr);
        push_refs(&mut l, &q.tasks);
        lines.push(l);
    }
    let mut l = format!("tasks: {} total, {} shown", d.tasks_total, d.tasks.len());
    for (i, (state, n)) in d.task_states.iter().enumerate() {
        l.push_str(if i == 0 { "; " } else { " " });
        let _ = write!(l, "{}={n}", quote(state, ""));
    }
    lines.push(l);
    for t in &d.tasks {
        lines.push(task_line(t));
        if let Some(scx) = &t.scx {
            let mut l = String::from("  scx:");
            free(&mut l, scx);
            lines.push(l);
        }
    }
    for m in &d.maps {
        lines.push(format!(
            "map {} {} type={} key_size={} value_size={} max_entries={}",
            m.id,
            quote(&m.name, ""),
            quote(&m.map_type, ""),
            m.key_size,
            m.value_size,
            m.max_entries
        ));
        for e in &m.entries {
            let mut l = String::from("  [");
            for c in e.key.chars() {
                match c {
                    ']' => l.push_str("\\]"),
                    c => push_escaped(&mut l, c, false),
                }
            }
            l.push(']');
            free(&mut l, &e.value);
            lines.push(l);
        }
        if let Some(note) = &m.note {
            let mut l = String::from("  note:");
            free(&mut l, note);
            lines.push(l);
        }
    }
    for v in &d.vcpus {
        let mut l = format!("vcpu {}: rip={:#x}", v.cpu, v.rip);
        if let Some(sym) = &v.rip_symbol {
            let _ = write!(l, " ({})", quote(sym, "()"));
        }
        let _ = write!(l, " rsp={:#x} rflags={:#x}", v.rsp, v.rflags);
        for (name, value) in &v.gprs {
            let _ = write!(l, " {}={value:#x}", quote(name, ""));
        }
        lines.push(l);
    }
    for s in &d.skipped {
        let mut l = String::from("skipped:");
        free(&mut l, s);
        lines.push(l);
    }
    lines.join("\n")
}

fn trigger_line(d: &FailureDump) -> String {
    let mut l = format!("frozen at {} ms", d.at_ms);
    match &d.trigger {
        Trigger::Watchpoint {
            address,
            rip,
            rip_symbol,
        } => {
            let _ = write!(l, " by the watchpoint on exit_kind ({address:#x})");
            if rip.is_some() || rip_symbol.is_some() {
                match rip {
                    Some(r) => {
                        let _ = write!(l, ", rip {r:#x}");
                    }
                    None => l.push_str(", rip -"),
                }
                if let Some(s) = rip_symbol {
                    l.push(' ');
                    l.push_str(&quote(s, ""));
                }
            }
        }
        Trigger::Late { why, late_ms } => {
            let _ = write!(l, ", {late_ms} ms late:");
            free(&mut l, why);
        }
        Trigger::Unknown => l.push_str(" (trigger unknown)"),
    }
    l
}

fn task_line(t: &TaskDump) -> String {
    let mut l = format!(
        "task {} {} cpu={} state={} flags={:#x}",
        t.pid,
        quote(&t.comm, ""),
        t.cpu,
        quote(&t.state, ""),
        t.flags
    );
    if !t.flag_names.is_empty() {
        let names: Vec<String> = t.flag_names.iter().map(|n| quote(n, "|()")).collect();
        let _ = write!(l, "({})", names.join("|"));
    }
    let _ = write!(
        l,
        " weight={} slice={} dsq_vtime={} dsq={} sticky_cpu={} holding_cpu={} runnable_at={} waited=",
        t.weight,
        t.slice,
        t.dsq_vtime,
        t.dsq.map_or_else(|| "-".to_string(), dsq_label),
        t.sticky_cpu,
        t.holding_cpu,
        t.runnable_at
    );
    match t.runnable_for_jiffies {
        Some(j) => {
            let _ = write!(l, "{j}j");
        }
        None => l.push('-'),
    }
    l
}

/// Microseconds as milliseconds with three decimals: exact both ways.
fn ms(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// `comm[pid]`, the comm quoted when needed.
fn task_ref(t: &TaskRef) -> String {
    format!("{}[{}]", quote(&t.comm, ""), t.pid)
}

fn push_refs(l: &mut String, tasks: &[TaskRef]) {
    for t in tasks {
        l.push(' ');
        l.push_str(&task_ref(t));
    }
}

/// The kernel's name for a DSQ when it names only this id, else its hex id
/// (`SCX_DSQ_LOCAL_ON|n` drops the bits between the flag and the CPU).
fn dsq_label(id: u64) -> String {
    let name = dsq_name(id);
    if parse_dsq(&name) == Some(id) {
        name
    } else {
        format!("{id:#x}")
    }
}

fn parse_dsq(s: &str) -> Option<u64> {
    const BUILTIN: u64 = 1 << 63;
    const LOCAL_ON: u64 = BUILTIN | (1 << 62);
    Some(match s {
        "SCX_DSQ_INVALID" => BUILTIN,
        "SCX_DSQ_GLOBAL" => BUILTIN | 1,
        "SCX_DSQ_LOCAL" => BUILTIN | 2,
        "SCX_DSQ_BYPASS" => BUILTIN | 3,
        _ => match s.strip_prefix("SCX_DSQ_LOCAL_ON|") {
            Some(cpu) => LOCAL_ON | u64::from(cpu.parse::<u32>().ok()?),
            None => hex(s)?,
        },
    })
}

/// Characters always written escaped: controls, whitespace other than a
/// space, and the invisible ones that reorder or hide text.
fn invisible(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

fn push_escaped(out: &mut String, c: char, in_quotes: bool) {
    match c {
        '\\' => out.push_str("\\\\"),
        '"' if in_quotes => out.push_str("\\\""),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        c if invisible(c) => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
        c => out.push(c),
    }
}

/// `s` as a token: as is, or in double quotes when empty or holding a
/// space, `=`, a quote, a backslash, an invisible character or one of
/// `special` (the separators of where it is written).
fn quote(s: &str, special: &str) -> String {
    let plain = !s.is_empty()
        && !s
            .chars()
            .any(|c| matches!(c, ' ' | '"' | '\\' | '=') || invisible(c) || special.contains(c));
    if plain {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, true);
    }
    out.push('"');
    out
}

/// Appends ` text` (nothing for an empty text), escaped so that a line's
/// edge spaces and controls survive.
fn free(l: &mut String, text: &str) {
    if text.is_empty() {
        return;
    }
    l.push(' ');
    let last = text.chars().count() - 1;
    for (i, c) in text.chars().enumerate() {
        if c == ' ' && (i == 0 || i == last) {
            l.push_str("\\u{20}");
        } else {
            push_escaped(l, c, false);
        }
    }
}

// --- parsing ---

type R<T> = Result<T, String>;

/// The dump `text` (a [`write`] output) says. Lines it does not understand
/// are an error naming the line; blank lines are skipped.
pub fn parse(text: &str) -> Result<FailureDump, ParseError> {
    let mut d = FailureDump::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        parse_line(line, &mut d).map_err(|what| ParseError {
            line: i + 1,
            text: line.to_string(),
            what,
        })?;
    }
    Ok(d)
}

fn parse_line(line: &str, d: &mut FailureDump) -> R<()> {
    let indented = line.starts_with(' ');
    let t = line.trim_start();
    if let (true, Some(rest)) = (indented, t.strip_prefix("scx:")) {
        // Tasks come before maps: an `scx:` line belongs to the last task.
        let task = match d.maps.is_empty() {
            true => d.tasks.last_mut(),
            false => None,
        }
        .ok_or("an `scx:` line not under a task")?;
        task.scx = Some(free_text(rest)?);
        return Ok(());
    }
    if indented {
        let map = d
            .maps
            .last_mut()
            .ok_or("a map entry or note outside any map")?;
        if let Some(rest) = t.strip_prefix("note:") {
            map.note = Some(free_text(rest)?);
        } else if let Some(rest) = t.strip_prefix('[') {
            map.entries.push(map_entry(rest)?);
        } else {
            return Err("not a map entry (`[key] value`) or note".into());
        }
        return Ok(());
    }
    if let Some(rest) = t.strip_prefix("frozen at ") {
        parse_trigger(rest, d)
    } else if let Some(rest) = t.strip_prefix("frozen for ") {
        let (frozen, walk) = rest
            .split_once(" ms, walk ")
            .ok_or("expected `frozen for N ms, walk N ms`")?;
        let walk = walk
            .strip_suffix(" ms")
            .ok_or("expected `… ms` at the end")?;
        d.frozen_us = parse_ms(frozen)?;
        d.walk_us = parse_ms(walk)?;
        Ok(())
    } else if let Some(rest) = t.strip_prefix("exit_kind=") {
        let (num, name) = match rest.split_once(' ') {
            Some((n, name)) => {
                let inner = name
                    .strip_prefix('(')
                    .and_then(|s| s.strip_suffix(')'))
                    .ok_or("the exit kind's name goes in parentheses")?;
                (n, Some(unquote_all(inner)?))
            }
            None => (rest, None),
        };
        d.exit_kind = opt(num, num_of::<u32>)?;
        d.exit_kind_name = name;
        Ok(())
    } else if let Some(rest) = t.strip_prefix("cpu ") {
        d.cpus.push(parse_cpu(rest)?);
        Ok(())
    } else if let Some(rest) = t.strip_prefix("dsq ") {
        d.dsqs.push(parse_dsq_line(rest)?);
        Ok(())
    } else if let Some(rest) = t.strip_prefix("tasks: ") {
        let (counts, states) = match rest.split_once("; ") {
            Some((c, s)) => (c, Some(s)),
            None => (rest, None),
        };
        let (total, _shown) = counts
            .split_once(" total, ")
            .ok_or("expected `tasks: N total, N shown`")?;
        d.tasks_total = num_of(total)?;
        d.task_states.clear();
        for tok in tokens(states.unwrap_or(""))? {
            let (name, n) = quoted_kv(tok)?;
            d.task_states.push((name, num_of(n)?));
        }
        Ok(())
    } else if let Some(rest) = t.strip_prefix("task ") {
        d.tasks.push(parse_task(rest)?);
        Ok(())
    } else if let Some(rest) = t.strip_prefix("map ") {
        d.maps.push(parse_map(rest)?);
        Ok(())
    } else if let Some(rest) = t.strip_prefix("vcpu ") {
        d.vcpus.push(parse_vcpu(rest)?);
        Ok(())
    } else if let Some(rest) = t.strip_prefix("skipped:") {
        d.skipped.push(free_text(rest)?);
        Ok(())
    } else {
        Err("not a line of a failure dump".into())
    }
}

fn parse_trigger(rest: &str, d: &mut FailureDump) -> R<()> {
    let (at, rest) = rest.split_once(" ms").ok_or("expected `frozen at N ms`")?;
    d.at_ms = num_of(at)?;
    d.trigger = if rest == " (trigger unknown)" {
        Trigger::Unknown
    } else if let Some(w) = rest.strip_prefix(" by the watchpoint on exit_kind (") {
        let (address, after) = w.split_once(')').ok_or("no `)` after the address")?;
        let (rip, rip_symbol) = if after.is_empty() {
            (None, None)
        } else {
            let r = after
                .strip_prefix(", rip ")
                .ok_or("expected `, rip ADDR [SYMBOL]`")?;
            let (addr, sym) = match r.split_once(' ') {
                Some((a, s)) => (a, Some(unquote_all(s)?)),
                None => (r, None),
            };
            (opt(addr, hex_of)?, sym)
        };
        Trigger::Watchpoint {
            address: hex_of(address)?,
            rip,
            rip_symbol,
        }
    } else if let Some(l) = rest.strip_prefix(", ") {
        let (late, why) = l
            .split_once(" ms late:")
            .ok_or("expected `, N ms late: WHY`")?;
        Trigger::Late {
            why: free_text(why)?,
            late_ms: num_of(late)?,
        }
    } else {
        return Err("unknown trigger".into());
    };
    Ok(())
}

fn parse_cpu(rest: &str) -> R<CpuDump> {
    let toks = tokens(rest)?;
    let [cpu, curr, nr, scx_nr, flags, local, tasks @ ..] = toks.as_slice() else {
        return Err("too few fields for a CPU".into());
    };
    let cpu = cpu.strip_suffix(':').ok_or("expected `cpu N:`")?;
    let local = value(local, "local_dsq")?
        .strip_suffix(':')
        .ok_or("expected `local_dsq=N:`")?;
    Ok(CpuDump {
        cpu: num_of(cpu)?,
        curr: opt(value(curr, "curr")?, parse_task_ref)?,
        nr_running: num_of(value(nr, "nr_running")?)?,
        scx_nr_running: num_of(value(scx_nr, "scx.nr_running")?)?,
        scx_flags: hex_of(value(flags, "scx.flags")?)?,
        local_dsq_nr: num_of(local)?,
        local_dsq: tasks.iter().map(|t| parse_task_ref(t)).collect::<R<_>>()?,
    })
}

fn parse_dsq_line(rest: &str) -> R<DsqDump> {
    let toks = tokens(rest)?;
    let [id, nr, tasks @ ..] = toks.as_slice() else {
        return Err("expected `dsq NAME nr=N:`".into());
    };
    let nr = value(nr, "nr")?
        .strip_suffix(':')
        .ok_or("expected `nr=N:`")?;
    Ok(DsqDump {
        id: parse_dsq(id).ok_or("not a DSQ name or id")?,
        nr: num_of(nr)?,
        tasks: tasks.iter().map(|t| parse_task_ref(t)).collect::<R<_>>()?,
    })
}

fn parse_task(rest: &str) -> R<TaskDump> {
    let toks = tokens(rest)?;
    let [pid, comm, cpu, state, flags, weight, slice, vtime, dsq, sticky, holding, runnable_at, waited] =
        toks.as_slice()
    else {
        return Err("expected a pid, a comm and 11 fields".into());
    };
    let flags = value(flags, "flags")?;
    let (raw, names) = match flags.split_once('(') {
        Some((raw, names)) => {
            let names = names
                .strip_suffix(')')
                .ok_or("no `)` after the flag names")?;
            let names = split_outside_quotes(names, '|')?
                .into_iter()
                .map(unquote_all)
                .collect::<R<_>>()?;
            (raw, names)
        }
        None => (flags, Vec::new()),
    };
    let waited = value(waited, "waited")?;
    Ok(TaskDump {
        pid: num_of(pid)?,
        comm: unquote_all(comm)?,
        cpu: num_of(value(cpu, "cpu")?)?,
        flags: hex_of(raw)?,
        state: unquote_all(value(state, "state")?)?,
        flag_names: names,
        weight: num_of(value(weight, "weight")?)?,
        slice: num_of(value(slice, "slice")?)?,
        dsq_vtime: num_of(value(vtime, "dsq_vtime")?)?,
        dsq: opt(value(dsq, "dsq")?, |s| {
            parse_dsq(s).ok_or_else(|| "not a DSQ name or id".to_string())
        })?,
        sticky_cpu: num_of(value(sticky, "sticky_cpu")?)?,
        holding_cpu: num_of(value(holding, "holding_cpu")?)?,
        runnable_at: num_of(value(runnable_at, "runnable_at")?)?,
        runnable_for_jiffies: opt(waited, |s| {
            num_of(s.strip_suffix('j').ok_or("expected `waited=Nj`")?)
        })?,
        scx: None,
    })
}

fn parse_map(rest: &str) -> R<MapDump> {
    let toks = tokens(rest)?;
    let [id, name, map_type, key_size, value_size, max_entries] = toks.as_slice() else {
        return Err("expected `map ID NAME type= key_size= value_size= max_entries=`".into());
    };
    Ok(MapDump {
        id: num_of(id)?,
        name: unquote_all(name)?,
        map_type: unquote_all(value(map_type, "type")?)?,
        key_size: num_of(value(key_size, "key_size")?)?,
        value_size: num_of(value(value_size, "value_size")?)?,
        max_entries: num_of(value(max_entries, "max_entries")?)?,
        entries: Vec::new(),
        note: None,
    })
}

/// `key] value` (the `[` already taken).
fn map_entry(rest: &str) -> R<MapEntry> {
    let mut key = String::new();
    let mut chars = rest.char_indices();
    let after = loop {
        match chars.next() {
            None => return Err("no `]` after the key".into()),
            Some((i, ']')) => break &rest[i + 1..],
            Some((_, '\\')) => key.push(escape(&mut chars)?),
            Some((_, c)) => key.push(c),
        }
    };
    Ok(MapEntry {
        key,
        value: free_text(after)?,
    })
}

fn parse_vcpu(rest: &str) -> R<VcpuRegs> {
    let toks = tokens(rest)?;
    let [cpu, rip, rest @ ..] = toks.as_slice() else {
        return Err("expected `vcpu N: rip=…`".into());
    };
    let (rip_symbol, rest) = match rest {
        [sym, rest @ ..] if sym.starts_with('(') => {
            let inner = sym
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or("the symbol goes in parentheses")?;
            (Some(unquote_all(inner)?), rest)
        }
        _ => (None, rest),
    };
    let [rsp, rflags, gprs @ ..] = rest else {
        return Err("expected rsp= and rflags=".into());
    };
    Ok(VcpuRegs {
        cpu: num_of(cpu.strip_suffix(':').ok_or("expected `vcpu N:`")?)?,
        rip: hex_of(value(rip, "rip")?)?,
        rip_symbol,
        rsp: hex_of(value(rsp, "rsp")?)?,
        rflags: hex_of(value(rflags, "rflags")?)?,
        gprs: gprs
            .iter()
            .map(|t| {
                let (name, v) = quoted_kv(t)?;
                Ok((name, hex_of(v)?))
            })
            .collect::<R<_>>()?,
    })
}

/// The value of a `key=value` token with this key.
fn value<'a>(tok: &'a str, key: &str) -> R<&'a str> {
    tok.strip_prefix(key)
        .and_then(|s| s.strip_prefix('='))
        .ok_or_else(|| format!("expected `{key}=`"))
}

/// `NAME=value` with a possibly quoted name.
fn quoted_kv(tok: &str) -> R<(String, &str)> {
    let (name, rest) = if tok.starts_with('"') {
        unquote_prefix(tok)?
    } else {
        let (n, _) = tok.split_once('=').ok_or("expected `name=value`")?;
        (n.to_string(), &tok[n.len()..])
    };
    let v = rest.strip_prefix('=').ok_or("expected `name=value`")?;
    Ok((name, v))
}

/// `None` for `-`, else what `f` reads.
fn opt<T>(s: &str, f: impl FnOnce(&str) -> R<T>) -> R<Option<T>> {
    if s == "-" {
        Ok(None)
    } else {
        f(s).map(Some)
    }
}

fn num_of<T: std::str::FromStr>(s: &str) -> R<T> {
    s.parse().map_err(|_| format!("`{s}` is not a number"))
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

fn hex_of<T: TryFrom<u64>>(s: &str) -> R<T> {
    hex(s)
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| format!("`{s}` is not a hex number in range"))
}

fn parse_ms(s: &str) -> R<u64> {
    let bad = || format!("`{s}` is not milliseconds with three decimals");
    let (whole, frac) = s.split_once('.').ok_or_else(bad)?;
    if frac.len() != 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: u64 = num_of(whole)?;
    let frac: u64 = num_of(frac)?;
    whole
        .checked_mul(1000)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(bad)
}

fn parse_task_ref(tok: &str) -> R<TaskRef> {
    let (comm, pid) = if tok.starts_with('"') {
        let (comm, rest) = unquote_prefix(tok)?;
        (comm, rest)
    } else {
        let open = tok.rfind('[').ok_or("expected `comm[pid]`")?;
        (tok[..open].to_string(), &tok[open..])
    };
    let pid = pid
        .strip_prefix('[')
        .and_then(|p| p.strip_suffix(']'))
        .ok_or("expected `comm[pid]`")?;
    Ok(TaskRef {
        pid: num_of(pid)?,
        comm,
    })
}

/// Splits at spaces outside double quotes; runs of spaces count as one.
fn tokens(s: &str) -> R<Vec<&str>> {
    Ok(split_outside_quotes(s, ' ')?
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect())
}

fn split_outside_quotes(s: &str, sep: char) -> R<Vec<&str>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if quoted => {
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if quoted {
        return Err("a quote is not closed".into());
    }
    out.push(&s[start..]);
    Ok(out)
}

/// A quoted string at the start of `s` and what follows it.
fn unquote_prefix(s: &str) -> R<(String, &str)> {
    let body = s.strip_prefix('"').ok_or("expected a quote")?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    loop {
        match chars.next() {
            None => return Err("a quote is not closed".into()),
            Some((i, '"')) => return Ok((out, &body[i + 1..])),
            Some((_, '\\')) => out.push(escape(&mut chars)?),
            Some((_, c)) => out.push(c),
        }
    }
}

/// A whole token: quoted, or taken as is.
fn unquote_all(s: &str) -> R<String> {
    if s.starts_with('"') {
        let (out, rest) = unquote_prefix(s)?;
        if !rest.is_empty() {
            return Err("text after a closing quote".into());
        }
        Ok(out)
    } else {
        Ok(s.to_string())
    }
}

/// Free text after a `note:`-like prefix: empty, or a space and the text.
fn free_text(rest: &str) -> R<String> {
    if rest.is_empty() {
        return Ok(String::new());
    }
    let text = rest.strip_prefix(' ').ok_or("expected a space")?;
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((_, c)) = chars.next() {
        if c == '\\' {
            out.push(escape(&mut chars)?);
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// The character an escape stands for (the backslash already taken).
fn escape(chars: &mut std::str::CharIndices<'_>) -> R<char> {
    Ok(match chars.next().ok_or("a backslash ends the line")?.1 {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        'u' => {
            if chars.next().map(|(_, c)| c) != Some('{') {
                return Err("expected `\\u{HEX}`".into());
            }
            let mut code = String::new();
            loop {
                match chars.next() {
                    Some((_, '}')) => break,
                    Some((_, c)) if c.is_ascii_hexdigit() && code.len() < 6 => code.push(c),
                    _ => return Err("expected `\\u{HEX}`".into()),
                }
            }
            u32::from_str_radix(&code, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or("not a character code")?
        }
        c => c,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(comm: &str, pid: i32) -> TaskRef {
        TaskRef {
            pid,
            comm: comm.into(),
        }
    }

    fn task(pid: i32, comm: &str) -> TaskDump {
        TaskDump {
            pid,
            comm: comm.into(),
            cpu: 1,
            flags: 0x9,
            state: "ENABLED".into(),
            flag_names: vec!["QUEUED".into(), "RESET_RUNNABLE_AT".into()],
            weight: 100,
            slice: 20_000_000,
            dsq_vtime: 0,
            dsq: Some(0x8000_0000_0000_0002),
            sticky_cpu: -1,
            holding_cpu: -1,
            runnable_at: 4_294_892_296,
            runnable_for_jiffies: Some(12),
            scx: None,
        }
    }

    /// A dump with every kind of line and the awkward values.
    pub(crate) fn rich() -> FailureDump {
        let odd = [
            "my task",
            "a[1]",
            "\"q\"",
            "tab\there",
            "漢字 ✓",
            "",
            "x=y",
            "back\\slash",
            "\u{1b}[31mred",
            "]",
            "-",
            " edge ",
            "\u{202e}rtl",
        ];
        let mut tasks: Vec<TaskDump> = odd
            .iter()
            .enumerate()
            .map(|(i, c)| task(-(i as i32), c))
            .collect();
        tasks.push(TaskDump {
            pid: i32::MAX,
            cpu: u32::MAX,
            flags: u32::MAX,
            state: "weird state=1".into(),
            flag_names: vec!["A|B".into(), "(x)".into(), String::new()],
            weight: u32::MAX,
            slice: u64::MAX,
            dsq_vtime: u64::MAX,
            dsq: Some(0xc000_0100_0000_0003),
            sticky_cpu: i32::MIN,
            holding_cpu: 7,
            runnable_at: u64::MAX,
            runnable_for_jiffies: None,
            ..task(1, "scx-spin")
        });
        tasks.push(TaskDump {
            dsq: None,
            flag_names: Vec::new(),
            ..task(2, "idle")
        });
        tasks.push(TaskDump {
            scx: Some("{ sched = 0xffff888003a2c000, dsq = 0x0, weight = 100 } \\ \t".into()),
            ..task(3, "handled")
        });
        FailureDump {
            at_ms: u64::MAX,
            trigger: Trigger::Watchpoint {
                address: 0xffff_8880_03a2_c140,
                rip: Some(u64::MAX),
                rip_symbol: Some("scx_claim_exit+0x20".into()),
            },
            exit_kind: Some(1025),
            exit_kind_name: Some("SCX_EXIT_ERROR (x)".into()),
            frozen_us: u64::MAX,
            walk_us: 0,
            cpus: vec![
                CpuDump {
                    cpu: 0,
                    curr: Some(r("scx spin", -1)),
                    nr_running: 3,
                    scx_nr_running: 2,
                    scx_flags: 0x1,
                    local_dsq_nr: 2,
                    local_dsq: odd.iter().map(|c| r(c, 5)).collect(),
                },
                CpuDump::default(),
            ],
            dsqs: vec![
                DsqDump {
                    id: 0x8000_0000_0000_0001,
                    nr: 1,
                    tasks: vec![r("scx-fork", 160)],
                },
                DsqDump {
                    id: 0xc000_0000_0000_0003,
                    nr: 0,
                    tasks: Vec::new(),
                },
                DsqDump {
                    id: 0x64,
                    nr: u32::MAX,
                    tasks: vec![r("", i32::MIN)],
                },
            ],
            tasks_total: 42,
            task_states: vec![
                ("ENABLED".into(), 40),
                ("READY".into(), 2),
                ("a b=c".into(), 0),
            ],
            tasks,
            maps: vec![
                MapDump {
                    id: 12,
                    name: "demo.bss".into(),
                    map_type: "array".into(),
                    key_size: 4,
                    value_size: 16,
                    max_entries: 1,
                    entries: vec![
                        MapEntry {
                            key: "0".into(),
                            value: "{ nr_enqueued = 12, nr_dispatched = 10 }".into(),
                        },
                        MapEntry {
                            key: "a]b\\[".into(),
                            value: " lead and trail ".into(),
                        },
                        MapEntry {
                            key: String::new(),
                            value: String::new(),
                        },
                        MapEntry {
                            key: "0@3".into(),
                            value: "de ad \"be\" ef\n\u{0}".into(),
                        },
                    ],
                    note: Some("3 of 1024 entries shown".into()),
                },
                MapDump {
                    id: 13,
                    name: "my map".into(),
                    map_type: "type 33".into(),
                    note: Some(String::new()),
                    ..MapDump::default()
                },
            ],
            vcpus: vec![
                VcpuRegs {
                    cpu: 0,
                    rip: 0xffff_ffff_8147_e760,
                    rip_symbol: Some("scx_claim_exit+0x20".into()),
                    rsp: 0xffff_c900_0000_3e48,
                    rflags: 0x46,
                    gprs: vec![("rax".into(), 0), ("r15".into(), u64::MAX)],
                },
                VcpuRegs {
                    cpu: 1,
                    rip_symbol: Some("odd (sym)".into()),
                    gprs: vec![("x=y".into(), 1)],
                    ..VcpuRegs::default()
                },
                VcpuRegs::default(),
            ],
            skipped: vec![
                "scx_tasks: deadline".into(),
                String::new(),
                "  spaces  ".into(),
            ],
        }
    }

    /// The dump of tests/fixtures/failure-dump/scx-bpf-error.txt: a spin
    /// worker dispatched to a DSQ that does not exist.
    pub(crate) fn fixture_dump() -> FailureDump {
        let spin = |pid| r("scx-spin", pid);
        let t = |pid: i32, comm: &str, cpu: u32, dsq: Option<u64>, waited: u64| TaskDump {
            cpu,
            dsq,
            runnable_at: 4_294_892_296 - waited,
            runnable_for_jiffies: Some(waited),
            flag_names: if dsq.is_some() {
                vec!["QUEUED".into(), "RESET_RUNNABLE_AT".into()]
            } else {
                vec!["RESET_RUNNABLE_AT".into()]
            },
            flags: if dsq.is_some() { 0x9 } else { 0x8 },
            ..task(pid, comm)
        };
        const LOCAL: u64 = 0x8000_0000_0000_0002;
        const GLOBAL: u64 = 0x8000_0000_0000_0001;
        FailureDump {
            at_ms: 2_113,
            trigger: Trigger::Watchpoint {
                address: 0xffff_8880_03a2_c140,
                rip: Some(0xffff_ffff_8147_e760),
                rip_symbol: Some("scx_claim_exit+0x20".into()),
            },
            exit_kind: Some(1025),
            exit_kind_name: Some("SCX_EXIT_ERROR_BPF".into()),
            frozen_us: 41_200,
            walk_us: 12_300,
            cpus: vec![
                CpuDump {
                    cpu: 0,
                    curr: Some(spin(153)),
                    nr_running: 3,
                    scx_nr_running: 3,
                    scx_flags: 0x1,
                    local_dsq_nr: 2,
                    local_dsq: vec![spin(154), r("kworker/0:1", 31)],
                },
                CpuDump {
                    cpu: 1,
                    curr: Some(r("scx-fork", 161)),
                    nr_running: 1,
                    scx_nr_running: 1,
                    scx_flags: 0x0,
                    local_dsq_nr: 0,
                    local_dsq: Vec::new(),
                },
            ],
            dsqs: vec![
                DsqDump {
                    id: GLOBAL,
                    nr: 1,
                    tasks: vec![r("scx-fork", 160)],
                },
                DsqDump {
                    id: LOCAL,
                    nr: 2,
                    tasks: vec![spin(154), r("kworker/0:1", 31)],
                },
            ],
            tasks_total: 6,
            task_states: vec![("ENABLED".into(), 6)],
            tasks: vec![
                t(31, "kworker/0:1", 0, Some(LOCAL), 3),
                TaskDump {
                    scx: Some(
                        "{ sched = 0xffff888003a2c000, dsq = 0x0, ops_state = { counter = 0 }, \
                         dsq_seq = 41, flags = 1029, weight = 100, sticky_cpu = -1, \
                         holding_cpu = -1, slice = 20000000, dsq_vtime = 0, disallow = false }"
                            .into(),
                    ),
                    ..t(153, "scx-spin", 0, None, 0)
                },
                t(154, "scx-spin", 0, Some(LOCAL), 12),
                t(160, "scx-fork", 1, Some(GLOBAL), 7),
                t(161, "scx-fork", 1, None, 0),
                TaskDump {
                    weight: 10_000,
                    slice: 0,
                    ..t(1, "init", 1, None, 0)
                },
            ],
            maps: vec![
                MapDump {
                    id: 12,
                    name: "demo.bss".into(),
                    map_type: "array".into(),
                    key_size: 4,
                    value_size: 16,
                    max_entries: 1,
                    entries: vec![MapEntry {
                        key: "0".into(),
                        value: "{ nr_enqueued = 1204, nr_dispatched = 1187, bad_dsq = 100 }".into(),
                    }],
                    note: None,
                },
                MapDump {
                    id: 13,
                    name: "task_ctx".into(),
                    map_type: "hash".into(),
                    key_size: 4,
                    value_size: 8,
                    max_entries: 4096,
                    entries: vec![
                        MapEntry {
                            key: "153".into(),
                            value: "{ dsq = 100, vtime = 52110 }".into(),
                        },
                        MapEntry {
                            key: "154".into(),
                            value: "{ dsq = 0, vtime = 51980 }".into(),
                        },
                        MapEntry {
                            key: "160".into(),
                            value: "{ dsq = 0, vtime = 0 }".into(),
                        },
                    ],
                    note: Some("3 of 3 entries".into()),
                },
            ],
            vcpus: vec![
                VcpuRegs {
                    cpu: 0,
                    rip: 0xffff_ffff_8147_e760,
                    rip_symbol: Some("scx_claim_exit+0x20".into()),
                    rsp: 0xffff_c900_0000_3e48,
                    rflags: 0x46,
                    gprs: vec![
                        ("rax".into(), 0x401),
                        ("rbx".into(), 0xffff_8880_03a2_c000),
                        ("rcx".into(), 0),
                        ("rdx".into(), 0x64),
                        ("rsi".into(), 0xffff_8880_0571_8000),
                        ("rdi".into(), 0xffff_8880_03a2_c140),
                    ],
                },
                VcpuRegs {
                    cpu: 1,
                    rip: 0xffff_ffff_81f3_2a1e,
                    rip_symbol: Some("pv_native_safe_halt+0xe".into()),
                    rsp: 0xffff_c900_0008_be90,
                    rflags: 0x246,
                    gprs: vec![("rax".into(), 0), ("rbx".into(), 1)],
                },
            ],
            skipped: vec!["ops.dump: not called (the guest was frozen before it)".into()],
        }
    }

    #[test]
    fn the_fixture_holds_what_the_writer_writes() {
        let text = include_str!("../../tests/fixtures/failure-dump/scx-bpf-error.txt");
        let report = crate::parse::parse_str(text);
        let want = write(&fixture_dump());
        let body = crate::sections::section_body(&report, &crate::report::SectionKind::FailureDump)
            .unwrap_or_else(|| panic!("no failure dump section; it should hold:\n{want}"));
        assert_eq!(body, want, "\n{want}");
        // A known section: the ktstr layout writes and reads it back as is.
        let again = crate::parse::parse_str(&crate::write::to_ktstr(&report));
        assert_eq!(again, report);
        let crash = report.crash().expect("a crash");
        assert_eq!(
            fixture_dump().task_named_in(crash.message.as_deref().unwrap()),
            Some(153)
        );
    }

    fn round_trip(d: &FailureDump) {
        let text = write(d);
        let back = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(&back, d, "\n{text}");
        assert_eq!(write(&back), text);
        // No line a report's section splitter could take for its own.
        for l in text.lines() {
            assert!(!l.trim().is_empty() && !l.starts_with("---"), "{l:?}");
        }
    }

    #[test]
    fn rich_and_empty_dumps_round_trip() {
        round_trip(&rich());
        round_trip(&FailureDump::default());
        let mut d = rich();
        for trigger in [
            Trigger::Unknown,
            Trigger::Late {
                why: "no watchpoint: (gdbstub busy) \\ 漢".into(),
                late_ms: 300,
            },
            Trigger::Late {
                why: String::new(),
                late_ms: 0,
            },
            Trigger::Watchpoint {
                address: 0,
                rip: None,
                rip_symbol: Some("sym with space".into()),
            },
            Trigger::Watchpoint {
                address: 1,
                rip: Some(2),
                rip_symbol: None,
            },
            Trigger::Watchpoint {
                address: 1,
                rip: None,
                rip_symbol: None,
            },
        ] {
            d.trigger = trigger;
            d.exit_kind = None;
            round_trip(&d);
            d.exit_kind_name = None;
            round_trip(&d);
        }
    }

    #[test]
    fn reads_as_documented() {
        let text = "frozen at 12345 ms by the watchpoint on exit_kind (0xffff888003a2c140), rip 0xffffffff8147e760 scx_claim_exit+0x20\n\
                    exit_kind=1025 (SCX_EXIT_ERROR)\n\
                    frozen for 41.200 ms, walk 12.300 ms\n\
                    cpu 0: curr=scx-spin[153] nr_running=3 scx.nr_running=2 scx.flags=0x1 local_dsq=2: scx-spin[154] \"my task\"[155]\n\
                    tasks: 1 total, 0 shown; ENABLED=1";
        let d = parse(text).unwrap();
        assert_eq!(d.at_ms, 12345);
        assert_eq!(d.frozen_us, 41_200);
        assert_eq!(d.exit_kind_name.as_deref(), Some("SCX_EXIT_ERROR"));
        assert_eq!(d.cpus[0].local_dsq[1], r("my task", 155));
        assert_eq!(write(&d), text);
        let t = write(&rich());
        assert!(t.contains("task 0 \"my task\" cpu=1 state=ENABLED flags=0x9(QUEUED|RESET_RUNNABLE_AT) weight=100"), "{t}");
        assert!(
            t.contains("\n  [0] { nr_enqueued = 12, nr_dispatched = 10 }\n"),
            "{t}"
        );
        assert!(t.contains(" dsq=SCX_DSQ_LOCAL "), "{t}");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("frozen at 1 ms (trigger unknown)\nbogus line").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.text, "bogus line");
        assert!(parse("  [0] 1").is_err(), "an entry outside a map");
        assert!(parse("cpu 0: curr=\"open[1] nr_running=1").is_err());
    }

    #[test]
    fn every_prefix_parses_or_errs_without_panicking() {
        let text = write(&rich());
        for (i, _) in text.char_indices() {
            let _ = parse(&text[..i]);
        }
        // Whole lines only: a partial model, in order.
        let lines: Vec<&str> = text.lines().collect();
        for n in 0..lines.len() {
            let d = parse(&lines[..n].join("\n")).unwrap();
            assert!(d.tasks.len() <= rich().tasks.len());
        }
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[a-z \\[\\]\"=()|\\\\:,{}@-]{0,10}",
            Just(String::new()),
            Just(" ".to_string()),
        ]
    }

    fn task_ref() -> impl Strategy<Value = TaskRef> {
        (any::<i32>(), text()).prop_map(|(pid, comm)| TaskRef { pid, comm })
    }

    fn dump() -> impl Strategy<Value = FailureDump> {
        let trigger = prop_oneof![
            Just(Trigger::Unknown),
            (text(), any::<u64>()).prop_map(|(why, late_ms)| Trigger::Late { why, late_ms }),
            (
                any::<u64>(),
                any::<Option<u64>>(),
                proptest::option::of(text())
            )
                .prop_map(|(address, rip, rip_symbol)| Trigger::Watchpoint {
                    address,
                    rip,
                    rip_symbol
                }),
        ];
        let cpu = (
            any::<u32>(),
            proptest::option::of(task_ref()),
            any::<(u32, u32, u32, u32)>(),
            proptest::collection::vec(task_ref(), 0..3),
        )
            .prop_map(|(cpu, curr, (a, b, c, e), local_dsq)| CpuDump {
                cpu,
                curr,
                nr_running: a,
                scx_nr_running: b,
                scx_flags: c,
                local_dsq_nr: e,
                local_dsq,
            });
        let dsq_id = prop_oneof![
            any::<u64>(),
            (0u64..5).prop_map(|x| (1 << 63) | x),
            any::<u32>().prop_map(|c| 0xc000_0000_0000_0000 | u64::from(c)),
        ];
        let dsq = (
            dsq_id.clone(),
            any::<u32>(),
            proptest::collection::vec(task_ref(), 0..3),
        )
            .prop_map(|(id, nr, tasks)| DsqDump { id, nr, tasks });
        let task = (
            (any::<i32>(), text(), any::<u32>(), any::<u32>(), text()),
            proptest::collection::vec(text(), 0..3),
            (any::<u32>(), any::<u64>(), any::<u64>()),
            proptest::option::of(dsq_id),
            (
                any::<i32>(),
                any::<i32>(),
                any::<u64>(),
                any::<Option<u64>>(),
                proptest::option::of(text()),
            ),
        )
            .prop_map(
                |((pid, comm, cpu, flags, state), flag_names, (weight, slice, vt), dsq, rest)| {
                    TaskDump {
                        pid,
                        comm,
                        cpu,
                        flags,
                        state,
                        flag_names,
                        weight,
                        slice,
                        dsq_vtime: vt,
                        dsq,
                        sticky_cpu: rest.0,
                        holding_cpu: rest.1,
                        runnable_at: rest.2,
                        runnable_for_jiffies: rest.3,
                        scx: rest.4,
                    }
                },
            );
        let map = (
            (any::<u32>(), text(), text(), any::<(u32, u32, u32)>()),
            proptest::collection::vec(
                (text(), text()).prop_map(|(key, value)| MapEntry { key, value }),
                0..3,
            ),
            proptest::option::of(text()),
        )
            .prop_map(|((id, name, map_type, (k, v, m)), entries, note)| MapDump {
                id,
                name,
                map_type,
                key_size: k,
                value_size: v,
                max_entries: m,
                entries,
                note,
            });
        let vcpu = (
            any::<(u32, u64, u64, u64)>(),
            proptest::option::of(text()),
            proptest::collection::vec((text(), any::<u64>()), 0..3),
        )
            .prop_map(|((cpu, rip, rsp, rflags), rip_symbol, gprs)| VcpuRegs {
                cpu,
                rip,
                rip_symbol,
                rsp,
                rflags,
                gprs,
            });
        (
            (
                any::<u64>(),
                trigger,
                any::<Option<u32>>(),
                proptest::option::of(text()),
                any::<(u64, u64, u32)>(),
            ),
            proptest::collection::vec(cpu, 0..3),
            proptest::collection::vec(dsq, 0..3),
            proptest::collection::vec(task, 0..4),
            proptest::collection::vec((text(), any::<u32>()), 0..3),
            proptest::collection::vec(map, 0..3),
            proptest::collection::vec(vcpu, 0..3),
            proptest::collection::vec(text(), 0..3),
        )
            .prop_map(
                |(
                    (at_ms, trigger, exit_kind, exit_kind_name, (frozen_us, walk_us, total)),
                    cpus,
                    dsqs,
                    tasks,
                    task_states,
                    maps,
                    vcpus,
                    skipped,
                )| FailureDump {
                    at_ms,
                    trigger,
                    exit_kind,
                    exit_kind_name,
                    frozen_us,
                    walk_us,
                    cpus,
                    dsqs,
                    tasks,
                    tasks_total: total,
                    task_states,
                    maps,
                    vcpus,
                    skipped,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn any_dump_round_trips(d in dump()) {
            let text = write(&d);
            let back = parse(&text);
            prop_assert_eq!(back.as_ref(), Ok(&d), "{}", text);
            prop_assert_eq!(write(&back.unwrap()), text);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn mangled_dumps_never_panic(cut in 0usize..4000, junk in "[ -~\\\\\"\\n]{0,20}") {
            let mut text = write(&rich());
            let at = text.char_indices().map(|(i, _)| i).nth(cut % text.chars().count()).unwrap_or(0);
            text.insert_str(at, &junk);
            let _ = parse(&text);
        }
    }
}
