//! A whole run: every (validators, rate) point of the configuration, repeated, then the
//! summaries, plots and the HTML report written from them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ceiling::Ceiling;
use super::config::BenchConfig;
use super::machine::machine_description;
use super::point::run_point;
use super::results::{PointSummary, write};
use super::{plots, report, stats};
use crate::TestnetError;

/// Progress of the whole run: (fraction done, what is happening).
pub type ProgressFn<'a> = &'a mut dyn FnMut(f64, &str);

/// What a run wrote, for the caller to print.
pub struct Outcome {
    pub points: Vec<PointSummary>,
    pub report: PathBuf,
    pub table: String,
    pub peak: Option<PointSummary>,
    pub ceiling: Ceiling,
}

/// Run every point of `config` with the `lantau` at `binary`, writing into `out`.
pub async fn run(
    config: &BenchConfig,
    binary: &Path,
    out: &Path,
    progress: ProgressFn<'_>,
) -> Result<Outcome, TestnetError> {
    config.validate()?;
    std::fs::create_dir_all(out).map_err(|e| TestnetError::io(out, e))?;
    let params = toml::to_string_pretty(config).expect("config serialises");
    let machine = machine_description(binary);
    write(&out.join("params.toml"), &params)?;
    write(&out.join("machine.txt"), &machine)?;
    // Before any testnet runs, on a quiet machine: the ceiling every peak is a ratio of.
    progress(0.0, "measuring the ceiling (raw batch verification)");
    let most = config.validators.iter().copied().max().unwrap_or(1);
    let ceiling = Ceiling::measure(most, std::time::Duration::from_secs(1));
    progress(0.0, &ceiling.line(None));

    // Repeats run back to back, so a slow drift of the machine shows in the interval.
    let pairs: Vec<(usize, u64, usize)> = config
        .validators
        .iter()
        .flat_map(|&n| config.rates.iter().map(move |&r| (n, r)))
        .flat_map(|(n, r)| (1..=config.repeat).map(move |k| (n, r, k)))
        .collect();
    let mut points = Vec::new();
    let mut timelines = Vec::new();
    let mut in_window = Vec::new();
    for (k, &(n, rate, run)) in pairs.iter().enumerate() {
        let label = if config.repeat > 1 {
            format!("{n}v-{rate}tps-r{run}")
        } else {
            format!("{n}v-{rate}tps")
        };
        let share = 1.0 / pairs.len() as f64;
        let mut point_progress = |f: f64, msg: &str| {
            progress(
                (k as f64 + f) * share,
                &format!("[{}/{}] {label}: {msg}", k + 1, pairs.len()),
            )
        };
        let dir = out.join("points").join(&label);
        let (summary, timeline, latencies) = run_point(
            config,
            n,
            rate,
            binary,
            &dir,
            label.clone(),
            &mut point_progress,
        )
        .await?;
        let throughput = plots::throughput_over_time(&summary, &timeline);
        write(&dir.join("throughput.svg"), &throughput)?;
        let latency = plots::latency_over_time(&summary, &latencies);
        write(&dir.join("latency.svg"), &latency)?;
        timelines.push((label.clone(), throughput, latency));
        let (from, to) = (summary.window_from_secs, summary.window_to_secs);
        let measured = latencies
            .iter()
            .filter(|(sent, _)| *sent >= from && *sent < to)
            .map(|&(_, ms)| ms)
            .collect();
        in_window.push((label, measured));
        points.push(summary);
    }
    progress(1.0, "writing the report");
    let cdf = plots::latency_cdf(&in_window);
    write(&out.join("latency_cdf.svg"), &cdf)?;
    let curve = plots::latency_vs_throughput(&points);
    write(&out.join("latency_vs_throughput.svg"), &curve)?;
    let machine_fields: serde_json::Value =
        toml::from_str(&machine).unwrap_or(serde_json::Value::Null);
    let aggregates = if config.repeat > 1 {
        stats::aggregate(&points)
    } else {
        vec![]
    };
    let peak = report::peak_under_cap(&points, config.latency_cap_ms).cloned();
    let ceiling_line = ceiling.line(peak.as_ref().map(|p| p.committed_tps));
    let run = RunSummary {
        version: machine_fields["lantau"]
            .as_str()
            .unwrap_or("unknown")
            .to_string(),
        params: config.clone(),
        machine: machine_fields,
        points: points.clone(),
        aggregates: aggregates.clone(),
        ceiling: Some(ceiling),
        ceiling_line: Some(ceiling_line.clone()),
    };
    write(
        &out.join("summary.json"),
        &serde_json::to_string_pretty(&run).expect("serialises"),
    )?;
    write(&out.join("summary.csv"), &report::summary_csv(&points))?;
    let html = report::html(&report::ReportInput {
        title: format!("lantau bench: {}", out.display()),
        parameters: params,
        machine,
        points: &points,
        aggregates: &aggregates,
        curve_svg: curve,
        cdf_svg: cdf,
        timelines,
        latency_cap_ms: config.latency_cap_ms,
        ceiling_line: ceiling_line.clone(),
    });
    let report_path = out.join("report.html");
    write(&report_path, &html)?;
    let mut table = report::summary_table(&points);
    if !aggregates.is_empty() {
        table.push('\n');
        table.push_str(&stats::aggregate_table(&aggregates));
    }
    Ok(Outcome {
        table,
        peak,
        points,
        report: report_path,
        ceiling,
    })
}

/// `summary.json`: what ran, where, and every point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    /// `lantau --version` of the binary that ran the validators.
    pub version: String,
    pub params: BenchConfig,
    /// machine.txt's fields (CPU, flags, cores, memory, kernel).
    pub machine: serde_json::Value,
    pub points: Vec<PointSummary>,
    /// With `repeat` > 1: each (validators, rate) over its runs, mean and 95% interval.
    #[serde(default)]
    pub aggregates: Vec<stats::Aggregate>,
    /// This machine's ceiling, measured before the first point (absent in older runs).
    #[serde(default)]
    pub ceiling: Option<Ceiling>,
    /// "ceiling C tx/s (...); peak P = R x ceiling", as the terminal printed it.
    #[serde(default)]
    pub ceiling_line: Option<String>,
}
