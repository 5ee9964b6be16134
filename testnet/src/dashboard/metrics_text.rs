//! Reading a node's `/metrics` (Prometheus/OpenMetrics text) for the dashboard: only what it
//! needs, sums by series name and by one label. A node's answer is input like any other: at
//! most [`MAX_METRICS_BYTES`] are read, and lines that are not samples are skipped.

use std::collections::BTreeMap;

/// Counts by label across validators (refusal codes, consensus refusal reasons).
pub type Counts = BTreeMap<String, f64>;

/// One `name{labels} value` line.
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// The samples of a Prometheus/OpenMetrics text.
pub struct Metrics(Vec<Sample>);

/// Most bytes of a metrics text read (a node is not trusted to keep it small).
pub const MAX_METRICS_BYTES: usize = 1 << 20;

/// Parse what a node's `/metrics` answers; lines that are not samples are skipped.
pub fn parse_metrics(text: &str) -> Metrics {
    let mut end = text.len().min(MAX_METRICS_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text[..end];
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                None => (series, vec![]),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}')?;
                    let labels = body
                        .split(',')
                        .filter_map(|pair| {
                            let (k, v) = pair.split_once('=')?;
                            Some((k.to_string(), v.trim_matches('"').to_string()))
                        })
                        .collect();
                    (name, labels)
                }
            };
            Some(Sample {
                name: name.to_string(),
                labels,
                value,
            })
        })
        .collect();
    Metrics(samples)
}

impl Metrics {
    /// The sum of every sample of `name`.
    pub fn sum(&self, name: &str) -> f64 {
        self.0
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .sum()
    }

    /// `name`'s samples summed by the value of `label`.
    pub fn by_label(&self, name: &str, label: &str) -> Counts {
        let mut out = Counts::new();
        for s in self.0.iter().filter(|s| s.name == name) {
            if let Some((_, value)) = s.labels.iter().find(|(k, _)| k == label) {
                *out.entry(value.clone()).or_default() += s.value;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_text_is_read_by_name_and_label() {
        let m = parse_metrics(
            "lantau_txs_committed_total 5\nlantau_txs_refused_total{code=\"bad_signature\"} 1\n# EOF\n",
        );
        assert_eq!(m.sum("lantau_txs_committed_total"), 5.0);
        let by_code = m.by_label("lantau_txs_refused_total", "code");
        assert_eq!(by_code.get("bad_signature"), Some(&1.0));
        assert_eq!(m.sum("no_such_series"), 0.0);
        // Garbage is skipped, not an error.
        assert_eq!(parse_metrics("x{y\n{}} 1\n\u{0}").sum("x"), 0.0);
    }
}
