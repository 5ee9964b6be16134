//! Where a height's time goes on the validators: the stages each one waits on in turn
//! (building a proposal, judging one, persisting each signature, committing), read from the
//! histograms in their `/metrics`. A stage that dominates `height` here is what holds the
//! chain back at this load; CPU profiles say what each stage spends its time on.

use serde::{Deserialize, Serialize};

/// Mean milliseconds per event of each stage, over the honest validators, from their
/// histograms since start (warm-up and drain included). `None`: no validator recorded one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stages {
    /// Commit to commit (`lantau_height_seconds`).
    pub height_ms: Option<f64>,
    /// The proposer's block: picking and executing the mempool's transfers.
    pub build_ms: Option<f64>,
    /// Judging a proposed block before the prevote: structure, signatures, execution.
    pub validate_ms: Option<f64>,
    /// One signing record made durable; a validator waits on about three per height (its
    /// prevote, its precommit, and as proposer its proposal).
    pub signing_ms: Option<f64>,
    /// Storing a decided block (synced) and applying it.
    pub commit_ms: Option<f64>,
}

/// The histograms behind each field of [`Stages`], as named in `/metrics`.
const SERIES: [&str; 5] = [
    "lantau_height_seconds",
    "lantau_block_build_seconds",
    "lantau_block_validate_seconds",
    "lantau_signing_persist_seconds",
    "lantau_block_commit_seconds",
];

impl Stages {
    /// Pool the histograms of several validators' `/metrics` texts.
    pub fn from_metrics(texts: &[String]) -> Stages {
        let mean_ms = |series: &str| {
            let total = |suffix: &str| -> f64 {
                let name = format!("{series}_{suffix} ");
                texts
                    .iter()
                    .flat_map(|t| t.lines())
                    .filter_map(|l| l.strip_prefix(&name)?.trim().parse::<f64>().ok())
                    .sum()
            };
            let count = total("count");
            (count > 0.0).then(|| 1000.0 * total("sum") / count)
        };
        let [height, build, validate, signing, commit] = SERIES.map(mean_ms);
        Stages {
            height_ms: height,
            build_ms: build,
            validate_ms: validate,
            signing_ms: signing,
            commit_ms: commit,
        }
    }

    /// `(CSV header, HTML header, value)` per stage; an unrecorded stage is empty.
    pub fn columns(&self) -> [(&'static str, &'static str, String); 5] {
        let v = |ms: Option<f64>| ms.map(|ms| format!("{ms:.1}")).unwrap_or_default();
        [
            ("height_mean_ms", "height (ms)", v(self.height_ms)),
            ("build_mean_ms", "build proposal (ms)", v(self.build_ms)),
            (
                "validate_mean_ms",
                "validate proposal (ms)",
                v(self.validate_ms),
            ),
            (
                "signing_mean_ms",
                "persist one signature (ms)",
                v(self.signing_ms),
            ),
            ("commit_mean_ms", "commit block (ms)", v(self.commit_ms)),
        ]
    }

    /// One line for the terminal, or `None` when no validator answered.
    pub fn line(&self, label: &str) -> Option<String> {
        let height = self.height_ms?;
        let ms = |v: Option<f64>| v.map(|v| format!("{v:.1} ms")).unwrap_or("-".into());
        Some(format!(
            "{label}: a height took {height:.1} ms; validate {}, commit {}, build {}, one signature persisted {} (validators' means)",
            ms(self.validate_ms),
            ms(self.commit_ms),
            ms(self.build_ms),
            ms(self.signing_ms),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_sums_and_counts_across_validators() {
        let a = "# TYPE lantau_block_commit_seconds histogram\n\
lantau_block_commit_seconds_sum 0.030\n\
lantau_block_commit_seconds_count 2\n\
lantau_block_commit_seconds_bucket{le=\"0.0005\"} 0\n\
lantau_height_seconds_sum 0.5\n\
lantau_height_seconds_count 5\n";
        let b = "lantau_block_commit_seconds_sum 0.010\n\
lantau_block_commit_seconds_count 2\n\
lantau_height_seconds_sum 0.3\n\
lantau_height_seconds_count 3\n\
lantau_block_build_seconds_sum 0\n\
lantau_block_build_seconds_count 0\n";
        let s = Stages::from_metrics(&[a.into(), b.into()]);
        let close = |v: Option<f64>, want: f64| (v.unwrap() - want).abs() < 1e-9;
        assert!(close(s.commit_ms, 10.0), "{s:?}");
        assert!(close(s.height_ms, 100.0), "{s:?}");
        assert_eq!(s.build_ms, None, "no proposal built: no mean");
        assert_eq!(s.validate_ms, None);
        let line = s.line("4v-1000tps").unwrap();
        assert!(line.contains("height took 100.0 ms") && line.contains("commit 10.0 ms"));
        assert!(line.contains("build -"), "{line}");
        assert_eq!(Stages::default().line("x"), None);
        assert_eq!(s.columns()[4].2, "10.0");
        assert_eq!(s.columns()[1].2, "");
    }
}
