//! Claims with error bars: the mean of repeated runs of a point and its 95% confidence
//! interval (Student's t, as the runs are few).

use serde::{Deserialize, Serialize};

use super::results::PointSummary;

/// Two-sided 95% quantiles of Student's t for 1..=30 degrees of freedom.
const T_975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// A quantity measured in several runs.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Interval {
    pub runs: usize,
    pub mean: f64,
    /// Half-width of the 95% confidence interval of the mean (0 for a single run: unknown,
    /// not exact).
    pub ci95: f64,
    pub min: f64,
    pub max: f64,
}

impl Interval {
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        if n == 0 {
            return Self::default();
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let ci95 = if n < 2 {
            0.0
        } else {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let t = T_975.get(n - 2).copied().unwrap_or(1.96);
            t * (var / n as f64).sqrt()
        };
        Self {
            runs: n,
            mean,
            ci95,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    /// `mean ± ci95` (or the mean alone for one run), with `decimals`.
    pub fn show(&self, decimals: usize) -> String {
        if self.runs < 2 {
            format!("{:.decimals$}", self.mean)
        } else {
            format!("{:.decimals$} ± {:.decimals$}", self.mean, self.ci95)
        }
    }
}

/// One (validators, rate) point over its repeated runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Aggregate {
    pub label: String,
    pub validators: usize,
    pub offered_tps: u64,
    /// Runs that lost nothing and passed the audit, of `committed_tps.runs`.
    pub complete_runs: usize,
    pub committed_tps: Interval,
    pub e2e_p50_ms: Interval,
    pub e2e_p99_ms: Interval,
    #[serde(default)]
    pub accepted_p99_ms: Interval,
    pub validators_cpu_secs: Interval,
    pub load_generator_share: Interval,
}

/// Group runs by (validators, offered rate), in the order the points first appear.
pub fn aggregate(points: &[PointSummary]) -> Vec<Aggregate> {
    let mut keys: Vec<(usize, u64)> = Vec::new();
    for p in points {
        if !keys.contains(&(p.validators, p.offered_tps)) {
            keys.push((p.validators, p.offered_tps));
        }
    }
    keys.into_iter()
        .map(|(n, rate)| {
            let runs: Vec<&PointSummary> = points
                .iter()
                .filter(|p| (p.validators, p.offered_tps) == (n, rate))
                .collect();
            let of = |f: &dyn Fn(&PointSummary) -> f64| {
                Interval::of(&runs.iter().map(|p| f(p)).collect::<Vec<_>>())
            };
            Aggregate {
                label: format!("{n}v-{rate}tps"),
                validators: n,
                offered_tps: rate,
                complete_runs: runs.iter().filter(|p| p.complete).count(),
                committed_tps: of(&|p| p.committed_tps),
                e2e_p50_ms: of(&|p| p.e2e_latency_ms.p50),
                e2e_p99_ms: of(&|p| p.e2e_latency_ms.p99),
                accepted_p99_ms: of(&|p| p.accepted_latency_ms.p99),
                validators_cpu_secs: of(&|p| p.resources.validators_cpu_secs()),
                load_generator_share: of(&|p| p.resources.load_generator_share()),
            }
        })
        .collect()
}

/// The aggregates as plain text, for the terminal.
pub fn aggregate_table(aggregates: &[Aggregate]) -> String {
    let mut out = format!(
        "{:<16} {:>5} {:>20} {:>18} {:>18} {:>18} {:>9}\n",
        "point (mean ± 95%)",
        "runs",
        "committed_tps",
        "e2e_p50_ms",
        "e2e_p99_ms",
        "accepted_p99_ms",
        "complete"
    );
    for a in aggregates {
        out.push_str(&format!(
            "{:<16} {:>5} {:>20} {:>18} {:>18} {:>18} {:>9}\n",
            a.label,
            a.committed_tps.runs,
            a.committed_tps.show(0),
            a.e2e_p50_ms.show(0),
            a.e2e_p99_ms.show(0),
            a.accepted_p99_ms.show(0),
            format!("{}/{}", a.complete_runs, a.committed_tps.runs)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_runs_give_the_t_interval() {
        let i = Interval::of(&[10.0, 12.0, 14.0]);
        assert_eq!((i.runs, i.mean, i.min, i.max), (3, 12.0, 10.0, 14.0));
        // s = 2, s/sqrt(3) = 1.1547, t(2) = 4.303.
        assert!((i.ci95 - 4.303 * 2.0 / 3f64.sqrt()).abs() < 1e-9, "{i:?}");
        assert_eq!(i.show(1), "12.0 ± 5.0");
        let one = Interval::of(&[7.0]);
        assert_eq!((one.ci95, one.show(0)), (0.0, "7".to_string()));
        assert_eq!(Interval::of(&[]).runs, 0);
    }
}
