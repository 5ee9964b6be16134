//! `lantau bench compare DIR DIR...`: finished runs side by side in one report, each named by
//! what sets it apart (the parameters that differ between the runs, else its build).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::plots;
use super::report::{self, Table};
use super::results::write;
use super::run::RunSummary;
use crate::TestnetError;

/// One finished run and the name it goes by in the comparison.
pub struct Run {
    pub dir: PathBuf,
    pub label: String,
    pub summary: RunSummary,
}

/// Read `summary.json` from each directory and name the runs.
pub fn load(dirs: &[PathBuf]) -> Result<Vec<Run>, TestnetError> {
    let mut runs = Vec::new();
    for dir in dirs {
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path).map_err(|e| TestnetError::io(&path, e))?;
        let summary: RunSummary =
            serde_json::from_str(&text).map_err(|e| TestnetError::Invalid {
                path: path.clone(),
                message: format!(
                    "not the summary of a lantau bench run ({e}); runs from before summary.json carried its parameters must be run again"
                ),
            })?;
        runs.push(Run {
            dir: dir.clone(),
            label: String::new(),
            summary,
        });
    }
    let labels = labels(&runs);
    for (run, label) in runs.iter_mut().zip(labels) {
        run.label = label;
    }
    Ok(runs)
}

/// Each run's parameters that differ from some other run's, as `key=value` (the sweep itself,
/// rates and validator counts, is left out: it is what the table rows show). Runs with equal
/// parameters are told apart by their build, then by their directory.
fn labels(runs: &[Run]) -> Vec<String> {
    let params: Vec<serde_json::Map<String, serde_json::Value>> = runs
        .iter()
        .map(|r| match serde_json::to_value(&r.summary.params) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Default::default(),
        })
        .collect();
    let keys: Vec<&String> = params
        .first()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let differing: Vec<&String> = keys
        .into_iter()
        .filter(|k| !["rates", "validators"].contains(&k.as_str()))
        .filter(|k| params.iter().any(|m| m.get(*k) != params[0].get(*k)))
        .collect();
    let mut labels: Vec<String> = params
        .iter()
        .map(|m| {
            differing
                .iter()
                .map(|k| format!("{k}={}", m.get(*k).map_or("-".into(), compact)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let distinct = |labels: &[String]| {
        let mut seen = std::collections::HashSet::new();
        labels
            .iter()
            .all(|l| !l.is_empty() && seen.insert(l.clone()))
    };
    if !distinct(&labels) {
        for (label, run) in labels.iter_mut().zip(runs) {
            let build = run
                .summary
                .version
                .split("commit ")
                .nth(1)
                .and_then(|c| c.split(',').next())
                .unwrap_or("unknown build");
            *label = [label.as_str(), build]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    if !distinct(&labels) {
        for (label, run) in labels.iter_mut().zip(runs) {
            let name = run
                .dir
                .file_name()
                .map_or("?".into(), |n| n.to_string_lossy());
            *label = format!("{label} ({name})");
        }
    }
    labels
}

fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The comparison's terminal table: one row per (run, point).
pub fn table(runs: &[Run]) -> String {
    let mut out = String::new();
    for run in runs {
        let _ = writeln!(out, "{}  ({})", run.label, run.dir.display());
        out.push_str(&report::summary_table(&run.summary.points));
        out.push('\n');
    }
    out
}

/// Write `report.html` and `latency_vs_throughput.svg` comparing `runs` into `out`.
pub fn write_report(runs: &[Run], out: &Path) -> Result<PathBuf, TestnetError> {
    std::fs::create_dir_all(out).map_err(|e| TestnetError::io(out, e))?;
    let series: Vec<(String, Vec<_>)> = runs
        .iter()
        .map(|r| (r.label.clone(), r.summary.points.iter().collect()))
        .collect();
    let curve = plots::latency_vs_throughput_series(&series);
    write(&out.join("latency_vs_throughput.svg"), &curve)?;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>lantau bench compare</title><style>{}</style></head><body><h1>lantau bench: {} runs compared</h1>",
        report::STYLE,
        runs.len()
    );
    h.push_str("<table><tr><th>run</th><th>directory</th><th>build</th><th>peak tx/s (p99 under cap)</th></tr>");
    for run in runs {
        let cap = run.summary.params.latency_cap_ms;
        let peak = report::peak_under_cap(&run.summary.points, cap).map_or("none".into(), |p| {
            format!("{:.0} ({})", p.committed_tps, p.label)
        });
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            report::escape(&run.label),
            report::escape(&run.dir.display().to_string()),
            report::escape(&run.summary.version),
            report::escape(&peak)
        );
    }
    let _ = write!(h, "</table><h2>Latency vs throughput</h2>{curve}");
    for run in runs {
        let _ = write!(h, "<h2>{}</h2>", report::escape(&run.label));
        h.push_str(&report::points_table(
            &run.summary.points,
            Table::Performance,
        ));
        h.push_str(&report::points_table(&run.summary.points, Table::Fate));
        h.push_str(&report::points_table(&run.summary.points, Table::Machine));
        h.push_str(&report::points_table(&run.summary.points, Table::Stages));
    }
    h.push_str("<h2>Machines</h2>");
    for run in runs {
        let _ = write!(
            h,
            "<h3>{}</h3><pre>{}</pre>",
            report::escape(&run.label),
            report::escape(&serde_json::to_string_pretty(&run.summary.machine).unwrap_or_default())
        );
    }
    let _ = write!(h, "{}</body></html>", report::FOOTNOTE);
    let path = out.join("report.html");
    write(&path, &h)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::config::BenchConfig;

    fn run(dir: &str, version: &str, params: BenchConfig) -> Run {
        Run {
            dir: dir.into(),
            label: String::new(),
            summary: RunSummary {
                version: version.into(),
                params,
                machine: serde_json::json!({"cores": 2}),
                points: vec![],
                aggregates: vec![],
                ceiling: None,
                ceiling_line: None,
            },
        }
    }

    #[test]
    fn runs_are_named_by_what_differs_then_by_build() {
        let base = BenchConfig::default();
        let bigger = BenchConfig {
            tx_size: 512,
            rates: vec![1, 2, 3],
            ..base.clone()
        };
        // The sweep (rates) is not a difference worth a name; tx_size is.
        let runs = [
            run("a", "lantau 0.1.0 (commit aaa, rustc x)", base.clone()),
            run("b", "lantau 0.1.0 (commit aaa, rustc x)", bigger),
        ];
        let names = labels(&runs);
        assert!(
            names[0].starts_with("tx_size=") && names[1] == "tx_size=512",
            "{names:?}"
        );
        // Same parameters, different builds: named by commit.
        let runs = [
            run("a", "lantau 0.1.0 (commit aaa, rustc x)", base.clone()),
            run("b", "lantau 0.1.0 (commit bbb, rustc x)", base.clone()),
        ];
        assert_eq!(labels(&runs), ["aaa", "bbb"]);
        // Nothing differs: the directory tells them apart.
        let runs = [
            run("x/one", "v (commit aaa, r)", base.clone()),
            run("x/two", "v (commit aaa, r)", base),
        ];
        assert_eq!(labels(&runs), ["aaa (one)", "aaa (two)"]);
    }
}
