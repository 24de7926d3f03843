//! `--monitor-*` options of `demo` and `run`: ktstr's monitor thresholds,
//! which decide the `--- monitor ---` verdict (report-only, as in ktstr: a
//! failed verdict does not change the exit code).

use clap::Args;
use scxray::host_monitor::summary::Thresholds;

/// ktstr's `MonitorThresholds`, each defaulting to ktstr's value.
#[derive(Args, Debug, Clone, Copy)]
#[command(next_help_heading = "Monitor thresholds (the --- monitor --- verdict)")]
pub struct MonitorArgs {
    /// Fail when a sample's imbalance ratio (max/min runnable over CPUs) is above this.
    #[arg(long, value_name = "RATIO", default_value_t = Thresholds::DEFAULT.max_imbalance_ratio)]
    pub monitor_max_imbalance: f64,
    /// Fail when a CPU's local DSQ is deeper than this.
    #[arg(long, value_name = "N", default_value_t = Thresholds::DEFAULT.max_local_dsq_depth)]
    pub monitor_max_dsq_depth: u32,
    /// Do not fail when a CPU's runqueue clock stands still while it has tasks.
    #[arg(long)]
    pub monitor_allow_stuck: bool,
    /// Consecutive samples a violation must last to count.
    #[arg(long, value_name = "N", default_value_t = Thresholds::DEFAULT.sustained_samples as u32,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub monitor_sustained: u32,
    /// Fail when SCX select_cpu_fallback events per second go above this.
    #[arg(long, value_name = "PER_S", default_value_t = Thresholds::DEFAULT.max_fallback_rate)]
    pub monitor_max_fallback_rate: f64,
    /// Fail when SCX dispatch_keep_last events per second go above this.
    #[arg(long, value_name = "PER_S", default_value_t = Thresholds::DEFAULT.max_keep_last_rate)]
    pub monitor_max_keep_last_rate: f64,
}

impl MonitorArgs {
    /// The thresholds, or a message naming the option that makes no sense.
    pub fn thresholds(&self) -> anyhow::Result<Thresholds> {
        for (flag, v) in [
            ("--monitor-max-imbalance", self.monitor_max_imbalance),
            (
                "--monitor-max-fallback-rate",
                self.monitor_max_fallback_rate,
            ),
            (
                "--monitor-max-keep-last-rate",
                self.monitor_max_keep_last_rate,
            ),
        ] {
            if !v.is_finite() || v < 0.0 {
                anyhow::bail!("{flag} {v}: give a number of 0 or more");
            }
        }
        Ok(Thresholds {
            max_imbalance_ratio: self.monitor_max_imbalance,
            max_local_dsq_depth: self.monitor_max_dsq_depth,
            fail_on_stall: !self.monitor_allow_stuck,
            sustained_samples: self.monitor_sustained as usize,
            max_fallback_rate: self.monitor_max_fallback_rate,
            max_keep_last_rate: self.monitor_max_keep_last_rate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        m: MonitorArgs,
    }

    #[test]
    fn defaults_are_ktstrs_and_flags_override_them() {
        let t = Cli::parse_from(["x"]).m.thresholds().unwrap();
        assert_eq!(t, Thresholds::DEFAULT);
        let t = Cli::parse_from([
            "x",
            "--monitor-max-imbalance",
            "2.5",
            "--monitor-allow-stuck",
            "--monitor-sustained",
            "3",
        ])
        .m
        .thresholds()
        .unwrap();
        assert_eq!(t.max_imbalance_ratio, 2.5);
        assert!(!t.fail_on_stall);
        assert_eq!(t.sustained_samples, 3);
        let e = Cli::parse_from(["x", "--monitor-max-fallback-rate=-1"])
            .m
            .thresholds()
            .unwrap_err();
        assert!(
            e.to_string().contains("--monitor-max-fallback-rate -1"),
            "{e}"
        );
        assert!(Cli::try_parse_from(["x", "--monitor-sustained", "0"]).is_err());
    }
}
