//! What the guest agent runs: the scheduler and the workload phases. The host
//! writes it as JSON into the initramfs; users write it as TOML
//! (`scxray run --scenario FILE`) or through flags.

use serde::{Deserialize, Serialize};

/// Kinds of work a worker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Work {
    /// A CPU-bound loop.
    Spin,
    /// Pairs of tasks waking each other through a pipe.
    SleepWake,
    /// A loop of fork + exit.
    Fork,
}

/// A group of workers in one cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CgroupSpec {
    pub name: String,
    pub workers: u32,
    pub work: Work,
    /// cpuset for the cgroup (`0-1`, `2`); all CPUs when absent.
    #[serde(default)]
    pub cpus: Option<String>,
}

/// One phase: all its cgroups run together for `duration_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseSpec {
    pub name: String,
    pub duration_ms: u64,
    pub cgroups: Vec<CgroupSpec>,
}

/// The workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub phases: Vec<PhaseSpec>,
}

impl Scenario {
    /// Spinners, then sleep/wake pairs, then a fork-heavy load, each phase
    /// `phase_ms` long with `workers` workers per cgroup in two cgroups.
    pub fn standard(phase_ms: u64, workers: u32) -> Scenario {
        let phase = |name: &str, work: Work| PhaseSpec {
            name: name.to_string(),
            duration_ms: phase_ms,
            cgroups: vec![
                CgroupSpec {
                    name: "cg0".into(),
                    workers,
                    work,
                    cpus: None,
                },
                CgroupSpec {
                    name: "cg1".into(),
                    workers,
                    work,
                    cpus: None,
                },
            ],
        };
        Scenario {
            phases: vec![
                phase("spin", Work::Spin),
                phase("sleep-wake", Work::SleepWake),
                phase("fork", Work::Fork),
            ],
        }
    }

    /// Total planned workload time.
    pub fn duration_ms(&self) -> u64 {
        self.phases.iter().map(|p| p.duration_ms).sum()
    }

    /// Parses a TOML scenario file's text.
    pub fn from_toml(text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Syntax(e.to_string()))?;
        s.check()?;
        Ok(s)
    }

    /// Rejects scenarios the agent could not run.
    pub fn check(&self) -> Result<(), ScenarioError> {
        if self.phases.is_empty() {
            return Err(ScenarioError::Invalid(
                "a scenario needs at least one [[phases]] entry".into(),
            ));
        }
        for p in &self.phases {
            if p.cgroups.is_empty() {
                return Err(ScenarioError::Invalid(format!(
                    "phase `{}` has no cgroups",
                    p.name
                )));
            }
            if p.duration_ms == 0 || p.duration_ms > 3_600_000 {
                return Err(ScenarioError::Invalid(format!(
                    "phase `{}`: duration_ms must be 1..=3600000, got {}",
                    p.name, p.duration_ms
                )));
            }
            for c in &p.cgroups {
                if c.workers == 0 || c.workers > 512 {
                    return Err(ScenarioError::Invalid(format!(
                        "phase `{}`, cgroup `{}`: workers must be 1..=512, got {}",
                        p.name, c.name, c.workers
                    )));
                }
                if c.name.is_empty()
                    || !c
                        .name
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
                {
                    return Err(ScenarioError::Invalid(format!(
                        "cgroup name `{}` must be letters, digits, `_` or `-`",
                        c.name
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Everything the agent needs for one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The scheduler's path inside the guest.
    pub scheduler: String,
    pub args: Vec<String>,
    /// Guest directories for the scheduler's LD_LIBRARY_PATH: where its
    /// libraries were found on the host outside the loader's defaults.
    #[serde(default)]
    pub library_path: Vec<String>,
    /// How long the scheduler may take to reach `enabled`.
    pub attach_timeout_ms: u64,
    pub scenario: Scenario,
    /// Kernel symbols the host monitor needs: the agent looks them up in
    /// `/proc/kallsyms` once and sends a [`Record::Symbols`]. The host then
    /// reads guest memory on its own.
    ///
    /// [`Record::Symbols`]: super::record::Record::Symbols
    #[serde(default)]
    pub kallsyms: Vec<String>,
    /// Functions to probe (experimental, `--probe`): kernel functions get a
    /// kprobe, functions of the scheduler's BPF programs an fentry, and a
    /// `sched_ext_exit` trigger comes with them. `kernel:NAME` or `bpf:NAME`
    /// forces one kind. See [`check_probe_target`].
    #[serde(default)]
    pub probes: Vec<String>,
    /// Park after preparing: wait for a [`HostOrder`] on the record port
    /// before loading the scheduler (auto-repro boots its VM while the test
    /// run still runs, and learns the probes once it crashed).
    #[serde(default)]
    pub park: bool,
}

/// What the host tells a parked guest agent: one JSON line on the record
/// port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "order", rename_all = "snake_case")]
pub enum HostOrder {
    /// Go on with these probe targets (they replace [`RunConfig::probes`]).
    Run { probes: Vec<String> },
}

impl HostOrder {
    /// The bytes on the wire: the JSON and a newline.
    pub fn to_line(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec(self).unwrap_or_default();
        b.push(b'\n');
        b
    }
}

/// The longest order line a guest reads.
pub const MAX_ORDER_LINE: usize = 64 * 1024;

/// Most probe targets one run takes.
pub const MAX_PROBE_TARGETS: usize = 64;

/// A probe target that cannot be a function name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeTargetError {
    #[error("probe target `{0}`: expected a function name (letters, digits, `_`, `.`), optionally after `kernel:` or `bpf:`, at most 128 characters")]
    BadName(String),
    #[error("{count} probe targets: at most {MAX_PROBE_TARGETS}")]
    TooMany { count: usize },
}

/// Where a probe target is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeScope {
    /// A kernel function if the kernel has one of that name, else a BPF one.
    Any,
    Kernel,
    Bpf,
}

/// Splits `kernel:NAME` / `bpf:NAME` / `NAME` and checks the name.
pub fn check_probe_target(target: &str) -> Result<(ProbeScope, &str), ProbeTargetError> {
    let (scope, name) = if let Some(n) = target.strip_prefix("kernel:") {
        (ProbeScope::Kernel, n)
    } else if let Some(n) = target.strip_prefix("bpf:") {
        (ProbeScope::Bpf, n)
    } else {
        (ProbeScope::Any, target)
    };
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if ok {
        Ok((scope, name))
    } else {
        Err(ProbeTargetError::BadName(target.to_string()))
    }
}

/// Checks a whole target list (each name, and how many).
pub fn check_probe_targets(targets: &[String]) -> Result<(), ProbeTargetError> {
    if targets.len() > MAX_PROBE_TARGETS {
        return Err(ProbeTargetError::TooMany {
            count: targets.len(),
        });
    }
    targets
        .iter()
        .try_for_each(|t| check_probe_target(t).map(|_| ()))
}

/// Where the agent finds its [`RunConfig`] in the initramfs.
pub const RUN_CONFIG_PATH: &str = "/scxray/run.json";

/// A scenario that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario is not valid TOML: {0}")]
    Syntax(String),
    #[error("scenario: {0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_scenario() {
        let s = Scenario::from_toml(
            r#"
            [[phases]]
            name = "burst"
            duration_ms = 2000
            cgroups = [{ name = "web", workers = 4, work = "spin", cpus = "0-1" },
                       { name = "db", workers = 2, work = "sleep-wake" }]
            "#,
        )
        .unwrap();
        assert_eq!(s.phases[0].cgroups[0].cpus.as_deref(), Some("0-1"));
        assert_eq!(s.duration_ms(), 2000);
        assert!(Scenario::from_toml("[[phases]]\nname='x'\nduration_ms=0\ncgroups=[]").is_err());
        let err = Scenario::from_toml("phases = 3").unwrap_err().to_string();
        assert!(err.contains("not valid TOML"), "{err}");
    }

    #[test]
    fn probe_targets() {
        assert_eq!(
            check_probe_target("scx_enable.isra.0"),
            Ok((ProbeScope::Any, "scx_enable.isra.0"))
        );
        assert_eq!(
            check_probe_target("bpf:validate_cell"),
            Ok((ProbeScope::Bpf, "validate_cell"))
        );
        assert_eq!(
            check_probe_target("kernel:enqueue_task_scx"),
            Ok((ProbeScope::Kernel, "enqueue_task_scx"))
        );
        for bad in ["", "bpf:", "a b", "x\n", "f*", ".cold", &"x".repeat(129)] {
            let err = check_probe_target(bad).unwrap_err();
            assert_eq!(err, ProbeTargetError::BadName(bad.to_string()));
        }
        let many = vec!["f".to_string(); MAX_PROBE_TARGETS + 1];
        assert_eq!(
            check_probe_targets(&many),
            Err(ProbeTargetError::TooMany { count: 65 })
        );
        assert!(check_probe_targets(&many[..3]).is_ok());
        // An old run.json without the field still reads.
        let old = r#"{"scheduler":"/s","args":[],"attach_timeout_ms":1,"scenario":{"phases":[]}}"#;
        let old = serde_json::from_str::<RunConfig>(old).unwrap();
        assert!(old.probes.is_empty() && !old.park);
        let order = HostOrder::Run {
            probes: vec!["bpf:validate_cell".into()],
        };
        let line = order.to_line();
        assert_eq!(
            String::from_utf8_lossy(&line),
            "{\"order\":\"run\",\"probes\":[\"bpf:validate_cell\"]}\n"
        );
        assert_eq!(serde_json::from_slice::<HostOrder>(&line).unwrap(), order);
    }

    #[test]
    fn standard_is_valid() {
        Scenario::standard(1000, 2).check().unwrap();
    }
}
