//! `--- stats ---`: totals over all workers, then one row per cgroup.
//!
//! ```text
//! 2 workers, 4 cpus, 2 migrations, worst_spread=0.0%, worst_gap=21ms
//!   cg0: workers=1 cpus=2 spread=0.0% gap=10ms migrations=1 iter=209600
//! ```
//!
//! NEWER ktstr prints `spread=n/a` when no worker ran.

use serde::Serialize;

use super::{content_lines, num, num_with, tokens};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub totals: Option<StatsTotals>,
    pub cgroups: Vec<CgroupStats>,
    pub unknown: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatsTotals {
    pub workers: Option<u64>,
    pub cpus: Option<u64>,
    pub migrations: Option<u64>,
    /// Percent; `None` for `n/a`.
    pub worst_spread_pct: Option<f64>,
    pub worst_gap_ms: Option<u64>,
    pub extra: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CgroupStats {
    /// `cg0`: ktstr's positional index, not the cgroup's name.
    pub name: String,
    pub workers: Option<u64>,
    pub cpus: Option<u64>,
    /// Percent; `None` for `n/a`.
    pub spread_pct: Option<f64>,
    pub gap_ms: Option<u64>,
    pub migrations: Option<u64>,
    pub iter: Option<u64>,
    /// `key=value` pairs with an unknown key.
    pub extra: Vec<(String, String)>,
}

impl Stats {
    /// Parses a stats body. Never fails: what is not understood is kept.
    pub fn parse(body: &str) -> Stats {
        let mut s = Stats::default();
        for line in content_lines(body) {
            if s.totals.is_none() && line.contains(" workers,") {
                s.totals = Some(StatsTotals::parse(line));
            } else if let Some(cg) = CgroupStats::parse(line) {
                s.cgroups.push(cg);
            } else {
                s.unknown.push(line.to_string());
            }
        }
        s
    }
}

impl StatsTotals {
    pub fn parse(line: &str) -> StatsTotals {
        let mut t = StatsTotals::default();
        for part in line.split(',').map(str::trim) {
            if let Some(v) = part.strip_prefix("worst_spread=") {
                t.worst_spread_pct = num_with(v, "%");
            } else if let Some(v) = part.strip_prefix("worst_gap=") {
                t.worst_gap_ms = num_with(v, "ms");
            } else if let Some(n) = num_with(part, "workers") {
                t.workers = Some(n);
            } else if let Some(n) = num_with(part, "cpus") {
                t.cpus = Some(n);
            } else if let Some(n) = num_with(part, "migrations") {
                t.migrations = Some(n);
            } else {
                t.extra.push(part.to_string());
            }
        }
        t
    }
}

impl CgroupStats {
    /// A `<name>: key=value ...` row, or `None` when `line` is not one.
    pub fn parse(line: &str) -> Option<CgroupStats> {
        let (name, rest) = line.split_once(':')?;
        if name.is_empty() || name.contains(char::is_whitespace) || !rest.contains('=') {
            return None;
        }
        let mut cg = CgroupStats {
            name: name.to_string(),
            ..CgroupStats::default()
        };
        for (k, v) in tokens(rest) {
            match k {
                "workers" => cg.workers = num(v),
                "cpus" => cg.cpus = num(v),
                "spread" => cg.spread_pct = num_with(v, "%"),
                "gap" => cg.gap_ms = num_with(v, "ms"),
                "migrations" => cg.migrations = num(v),
                "iter" => cg.iter = num(v),
                _ => cg.extra.push((k.to_string(), v.to_string())),
            }
        }
        Some(cg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_example() {
        let s = Stats::parse(
            "2 workers, 4 cpus, 2 migrations, worst_spread=0.0%, worst_gap=21ms\n\
             \x20 cg0: workers=1 cpus=2 spread=0.0% gap=10ms migrations=1 iter=209600\n\
             \x20 cg1: workers=1 cpus=2 spread=0.0% gap=21ms migrations=1 iter=189252",
        );
        assert_eq!(
            s.totals,
            Some(StatsTotals {
                workers: Some(2),
                cpus: Some(4),
                migrations: Some(2),
                worst_spread_pct: Some(0.0),
                worst_gap_ms: Some(21),
                extra: vec![],
            })
        );
        assert_eq!(s.cgroups.len(), 2);
        assert_eq!(
            s.cgroups[1],
            CgroupStats {
                name: "cg1".into(),
                workers: Some(1),
                cpus: Some(2),
                spread_pct: Some(0.0),
                gap_ms: Some(21),
                migrations: Some(1),
                iter: Some(189252),
                extra: vec![],
            }
        );
        assert!(s.unknown.is_empty());
    }

    #[test]
    fn spread_not_available() {
        let s = Stats::parse(
            "32 workers, 32 cpus, 0 migrations, worst_spread=n/a, worst_gap=0ms\n\
             cg0: workers=4 cpus=0 spread=n/a gap=0ms migrations=0 iter=0 newkey=7\n\
             a line nobody knows",
        );
        let t = s.totals.unwrap();
        assert_eq!((t.worst_spread_pct, t.worst_gap_ms), (None, Some(0)));
        assert_eq!(s.cgroups[0].spread_pct, None);
        assert_eq!(s.cgroups[0].cpus, Some(0));
        assert_eq!(
            s.cgroups[0].extra,
            [("newkey".to_string(), "7".to_string())]
        );
        assert_eq!(s.unknown, ["a line nobody knows"]);
    }

    #[test]
    fn garbage_never_panics() {
        for body in [
            "",
            ":",
            ": =",
            "workers,",
            " workers, x",
            "cg0:=",
            "a b: c=d",
        ] {
            let _ = Stats::parse(body);
        }
    }
}
