//! The summary table (terminal, CSV) and one self-contained HTML report.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::results::PointSummary;

/// Which of the report's tables a column belongs to (the CSV has them all).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Throughput and latency.
    Performance,
    /// What became of every transaction.
    Fate,
    /// CPU and memory of the validators and the load generator.
    Machine,
    /// Where a height's time goes on the validators (`stages`).
    Stages,
}

/// One summary column: CSV header, HTML header, and the value as text.
pub struct Column {
    pub csv: &'static str,
    pub title: &'static str,
    pub value: String,
    pub table: Table,
}

/// The summary columns of a point, in order: the one definition behind `summary.csv` and the
/// report's table.
pub fn columns(p: &PointSummary) -> Vec<Column> {
    let c = |csv, title, value: String| Column {
        csv,
        title,
        value,
        table: Table::Performance,
    };
    let f = |csv, title, value: String| Column {
        csv,
        title,
        value,
        table: Table::Fate,
    };
    let m = |csv, title, value: String| Column {
        csv,
        title,
        value,
        table: Table::Machine,
    };
    let ms = |v: f64| format!("{v:.1}");
    vec![
        c("point", "point", p.label.clone()),
        c("validators", "validators", p.validators.to_string()),
        c("offered_tps", "offered tx/s", p.offered_tps.to_string()),
        c(
            "committed_tps",
            "committed tx/s",
            format!("{:.1}", p.committed_tps),
        ),
        c("e2e_p50_ms", "e2e p50 (ms)", ms(p.e2e_latency_ms.p50)),
        c("e2e_p95_ms", "e2e p95 (ms)", ms(p.e2e_latency_ms.p95)),
        c("e2e_p99_ms", "e2e p99 (ms)", ms(p.e2e_latency_ms.p99)),
        c(
            "accepted_p99_ms",
            "accepted to commit p99 (ms)",
            ms(p.accepted_latency_ms.p99),
        ),
        c("queue_p50_ms", "queue p50 (ms)", ms(p.queue_latency_ms.p50)),
        c(
            "consensus_mean_ms",
            "consensus mean (ms)",
            ms(p.consensus_latency_ms.mean),
        ),
        c(
            "blocks_per_sec",
            "blocks/s",
            format!("{:.2}", p.blocks_per_sec),
        ),
        c(
            "heights_after_round_0",
            "heights in round > 0",
            p.rounds.after_round_0.to_string(),
        ),
        c("complete", "complete", p.complete.to_string()),
        f("sent", "sent", p.sent.to_string()),
        f("accepted", "accepted", p.accepted.to_string()),
        f(
            "rejected",
            "rejected",
            p.rejected.values().sum::<usize>().to_string(),
        ),
        f("retried", "resubmissions", p.retried.to_string()),
        f("unreachable", "unreachable", p.unreachable.to_string()),
        f("dropped", "dropped", p.dropped.to_string()),
        f("stranded", "stranded", p.stranded.to_string()),
        f("crash_lost", "lost in a kill", p.crash_lost.to_string()),
        m(
            "validators_cpu_secs",
            "validators' CPU (s)",
            format!("{:.1}", p.resources.validators_cpu_secs()),
        ),
        m(
            "max_validator_rss_mib",
            "largest validator peak RSS (MiB)",
            p.resources.max_validator_rss_mib().to_string(),
        ),
        m(
            "load_generator_cpu_secs",
            "load generator CPU (s)",
            format!("{:.1}", p.resources.load_generator.cpu_secs),
        ),
        m(
            "load_generator_cpu_share",
            "load generator share of CPU",
            format!("{:.0}%", 100.0 * p.resources.load_generator_share()),
        ),
    ]
    .into_iter()
    .chain(p.stages.columns().map(|(csv, title, value)| Column {
        csv,
        title,
        value,
        table: Table::Stages,
    }))
    .collect()
}

/// `summary.csv`: one row per point.
pub fn summary_csv(points: &[PointSummary]) -> String {
    let mut out = String::new();
    if let Some(first) = points.first() {
        let headers: Vec<&str> = columns(first).iter().map(|c| c.csv).collect();
        out.push_str(&headers.join(","));
        out.push('\n');
    }
    for p in points {
        let values: Vec<String> = columns(p).into_iter().map(|c| c.value).collect();
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The summary table as plain text, for the terminal: the CSV's column names (rejected also
/// counts what could not be sent, `unreachable` in the CSV).
pub fn summary_table(points: &[PointSummary]) -> String {
    let mut out = format!(
        "{:<16} {:>11} {:>13} {:>10} {:>10} {:>10} {:>15} {:>12} {:>17} {:>14} {:>8} {:>8} {:>8} {:>10} {:>8}\n",
        "point",
        "offered_tps",
        "committed_tps",
        "e2e_p50_ms",
        "e2e_p95_ms",
        "e2e_p99_ms",
        "accepted_p99_ms",
        "queue_p50_ms",
        "consensus_mean_ms",
        "blocks_per_sec",
        "rejected",
        "dropped",
        "stranded",
        "crash_lost",
        "complete"
    );
    for p in points {
        let rejected: usize = p.rejected.values().sum::<usize>() + p.unreachable;
        let _ = writeln!(
            out,
            "{:<16} {:>11} {:>13.0} {:>10.0} {:>10.0} {:>10.0} {:>15.0} {:>12.0} {:>17.0} {:>14.1} {:>8} {:>8} {:>8} {:>10} {:>8}",
            p.label,
            p.offered_tps,
            p.committed_tps,
            p.e2e_latency_ms.p50,
            p.e2e_latency_ms.p95,
            p.e2e_latency_ms.p99,
            p.accepted_latency_ms.p99,
            p.queue_latency_ms.p50,
            p.consensus_latency_ms.mean,
            p.blocks_per_sec,
            rejected,
            p.dropped,
            p.stranded,
            p.crash_lost,
            if p.complete { "yes" } else { "NO" }
        );
    }
    out
}

/// The best committed throughput among points whose e2e p99 stays under `cap_ms`.
pub fn peak_under_cap(points: &[PointSummary], cap_ms: u64) -> Option<&PointSummary> {
    points
        .iter()
        .filter(|p| {
            p.complete && p.e2e_latency_ms.samples > 0 && p.e2e_latency_ms.p99 <= cap_ms as f64
        })
        .max_by(|a, b| a.committed_tps.total_cmp(&b.committed_tps))
}

/// What the HTML report shows.
pub struct ReportInput<'a> {
    pub title: String,
    pub parameters: String,
    pub machine: String,
    pub points: &'a [PointSummary],
    /// Repeated points, mean and 95% interval (empty without `repeat`).
    pub aggregates: &'a [super::stats::Aggregate],
    pub curve_svg: String,
    pub cdf_svg: String,
    /// Per point: (label, throughput over time, latency over time).
    pub timelines: Vec<(String, String, String)>,
    pub latency_cap_ms: u64,
    /// "ceiling C tx/s (...); peak P = R x ceiling" (`bench::ceiling`).
    pub ceiling_line: String,
}

pub const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1100px;padding:0 1em}\
table{border-collapse:collapse;font-size:13px;margin-bottom:1em}\
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}\
th{background:#f4f4f4;font-weight:600;vertical-align:bottom}td:first-child,th:first-child{text-align:left}\
.wide{overflow-x:auto}svg{max-width:100%;height:auto}\
pre{background:#f8f8f8;padding:1em;overflow:auto}.bad{color:#b00}";

/// An HTML table of `points`, one row each, with the columns of `table`.
pub fn points_table(points: &[PointSummary], table: Table) -> String {
    let mut h = String::from("<div class=\"wide\"><table>");
    if let Some(first) = points.first() {
        h.push_str("<tr>");
        for c in columns(first)
            .iter()
            .filter(|c| c.table == table || c.csv == "point")
        {
            let _ = write!(h, "<th>{}</th>", escape(c.title));
        }
        h.push_str("</tr>");
    }
    for p in points {
        h.push_str(if p.complete {
            "<tr>"
        } else {
            "<tr class=\"bad\">"
        });
        for c in columns(p)
            .iter()
            .filter(|c| c.table == table || c.csv == "point")
        {
            let _ = write!(h, "<td>{}</td>", escape(&c.value));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table></div>");
    h
}

/// Repeated points: mean ± half-width of the 95% interval, and the range.
pub fn aggregates_table(aggregates: &[super::stats::Aggregate]) -> String {
    let mut h = String::from(
        "<h2>Repeated runs: mean &plusmn; 95% confidence interval</h2><div class=\"wide\"><table><tr><th>point</th><th>runs</th><th>complete</th><th>committed tx/s</th><th>range</th><th>e2e p50 (ms)</th><th>e2e p99 (ms)</th><th>accepted to commit p99 (ms)</th><th>validators' CPU (s)</th><th>load generator share</th></tr>",
    );
    for a in aggregates {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}&ndash;{:.0}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}%</td></tr>",
            escape(&a.label),
            a.committed_tps.runs,
            a.complete_runs,
            escape(&a.committed_tps.show(0)),
            a.committed_tps.min,
            a.committed_tps.max,
            escape(&a.e2e_p50_ms.show(0)),
            escape(&a.e2e_p99_ms.show(0)),
            escape(&a.accepted_p99_ms.show(0)),
            escape(&a.validators_cpu_secs.show(1)),
            100.0 * a.load_generator_share.mean
        );
    }
    h.push_str("</table></div>");
    h
}

/// p2p messages received by kind, one row per point.
pub fn messages_table(points: &[PointSummary]) -> String {
    let kinds: BTreeSet<&String> = points
        .iter()
        .flat_map(|p| p.messages_received.keys())
        .collect();
    if kinds.is_empty() {
        return "<p>No message counts (no validator answered /metrics).</p>".into();
    }
    let mut h = String::from("<div class=\"wide\"><table><tr><th>point</th>");
    for k in &kinds {
        let _ = write!(h, "<th>{}</th>", escape(k));
    }
    h.push_str("<th>per committed tx</th></tr>");
    for p in points {
        let _ = write!(h, "<tr><td>{}</td>", escape(&p.label));
        for k in &kinds {
            let n = p.messages_received.get(*k).copied().unwrap_or(0);
            let _ = write!(h, "<td>{n}</td>");
        }
        let all: u64 = p.messages_received.values().sum();
        let per_tx = all as f64 / p.committed.max(1) as f64;
        let _ = write!(h, "<td>{per_tx:.2}</td></tr>");
    }
    h.push_str("</table></div>");
    h
}

/// The headline: the best throughput under the latency cap, or why there is none.
fn headline(points: &[PointSummary], cap_ms: u64) -> String {
    match peak_under_cap(points, cap_ms) {
        Some(p) => format!(
            "<p><b>Peak throughput with e2e p99 &le; {cap_ms} ms: {:.0} tx/s</b> ({}; p50 {:.0} ms, p99 {:.0} ms)</p>",
            p.committed_tps,
            escape(&p.label),
            p.e2e_latency_ms.p50,
            p.e2e_latency_ms.p99
        ),
        None => format!("<p class=\"bad\">No complete point kept e2e p99 under {cap_ms} ms.</p>"),
    }
}

pub const FOOTNOTE: &str = "<p>Dropped: accepted, never committed, nothing of the sender refused before it (a loss). Lost in a kill: admitted by a validator at most 250 ms before a kill fault took it down (mempools are memory only; a client resubmits what it does not see committed). Stranded: accepted, never committed, behind an earlier nonce of its sender that was refused for good or lost in a kill (the client resubmits refusals that clear by themselves, such as a full mempool, for a while after the last new transaction; not others, and not past that time).</p>\
<p>Latency: e2e is the client's send time to the commit time on an observing validator (same machine, same clock); queue is send to the proposal that carried the transaction; consensus is the proposer's block timestamp to that commit. Throughput counts transactions committed inside the measured window; the warm-up before it is shaded in the plots. Heights in round &gt; 0 were decided after a proposer missed its turn or the votes split. Messages are those the honest validators took from the network, summed.</p>";

/// One HTML file with everything inline (no external assets).
pub fn html(input: &ReportInput) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{t}</title><style>{STYLE}</style></head><body><h1>{t}</h1>",
        t = escape(&input.title)
    );
    h.push_str(&headline(input.points, input.latency_cap_ms));
    let _ = write!(h, "<p>{}</p>", escape(&input.ceiling_line));
    if !input.aggregates.is_empty() {
        h.push_str(&aggregates_table(input.aggregates));
    }
    h.push_str("<h2>Throughput and latency</h2>");
    h.push_str(&points_table(input.points, Table::Performance));
    h.push_str("<h2>What became of every transaction</h2>");
    h.push_str(&points_table(input.points, Table::Fate));
    h.push_str("<h2>Machine use</h2>");
    h.push_str(&points_table(input.points, Table::Machine));
    h.push_str("<h2>Where a height's time goes</h2><p>Each validator, in turn at every height: the proposer builds its block, the others validate it, each persists its prevote and precommit (and the proposer its proposal) before sending them, and every validator commits the decided block. Means per event over the honest validators, warm-up included; what remains of a height is waiting: the block interval, the network, the slowest of the quorum.</p>");
    h.push_str(&points_table(input.points, Table::Stages));
    for p in input.points.iter().filter(|p| !p.byzantine.is_empty()) {
        let _ = write!(
            h,
            "<p>{}: Byzantine validators (for the whole run): {}.</p>",
            escape(&p.label),
            escape(&p.byzantine.join(", "))
        );
    }
    h.push_str("<p>Refusals by code: ");
    for p in input.points.iter().filter(|p| !p.rejected.is_empty()) {
        let codes: Vec<String> = p.rejected.iter().map(|(c, n)| format!("{c} {n}")).collect();
        let _ = write!(h, "{}: {}. ", escape(&p.label), escape(&codes.join(", ")));
    }
    if input.points.iter().all(|p| p.rejected.is_empty()) {
        h.push_str("none.");
    }
    h.push_str("</p><h2>Messages received, by kind</h2>");
    h.push_str(&messages_table(input.points));
    let _ = write!(
        h,
        "<h2>Latency vs throughput</h2>{}<h2>Latency distribution</h2>{}",
        input.curve_svg, input.cdf_svg
    );
    h.push_str("<h2>Over time</h2>");
    for (label, throughput, latency) in &input.timelines {
        let _ = write!(h, "<h3>{}</h3>{throughput}{latency}", escape(label));
    }
    let _ = write!(
        h,
        "<h2>Parameters</h2><pre>{}</pre><h2>Machine</h2><pre>{}</pre>{FOOTNOTE}</body></html>",
        escape(&input.parameters),
        escape(&input.machine)
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::results::{AppliedFault, Stats};

    fn point(n: usize, tps: f64, p99: f64, complete: bool) -> PointSummary {
        PointSummary {
            label: format!("{n}v-{tps}"),
            validators: n,
            offered_tps: tps as u64,
            tx_size: 160,
            window_secs: 10.0,
            sent: 10,
            accepted: 10,
            rejected: Default::default(),
            retried: 0,
            unreachable: 0,
            committed: 10,
            dropped: 0,
            stranded: 0,
            crash_lost: 0,
            committed_tps: tps,
            blocks_per_sec: 5.0,
            e2e_latency_ms: Stats {
                samples: 10,
                mean: p99 / 2.0,
                p50: p99 / 2.0,
                p95: p99,
                p99,
                max: p99,
            },
            consensus_latency_ms: Stats::default(),
            queue_latency_ms: Stats::default(),
            accepted_latency_ms: Stats::default(),
            faults: vec![AppliedFault {
                at_secs: 2.0,
                what: "kill node3".into(),
                killed: vec![3],
                done_secs: 2.0,
            }],
            window_from_secs: 1.0,
            window_to_secs: 11.0,
            rounds: Default::default(),
            messages_received: Default::default(),
            stages: Default::default(),
            resources: Default::default(),
            byzantine: vec![],
            audit: Default::default(),
            complete,
        }
    }

    #[test]
    fn repeated_runs_aggregate_by_point() {
        let a = point(4, 1000.0, 200.0, true);
        let mut b = point(4, 1200.0, 300.0, false);
        b.offered_tps = 1000;
        let c = point(7, 800.0, 100.0, true);
        let aggs = crate::bench::stats::aggregate(&[a, c, b]);
        assert_eq!(aggs.len(), 2, "by (validators, rate), in first-seen order");
        assert_eq!((aggs[0].validators, aggs[0].committed_tps.runs), (4, 2));
        assert_eq!(aggs[0].committed_tps.mean, 1100.0);
        assert_eq!(aggs[0].complete_runs, 1);
        assert!(aggs[0].committed_tps.ci95 > 0.0);
        assert_eq!((aggs[1].validators, aggs[1].committed_tps.runs), (7, 1));
        let text = crate::bench::stats::aggregate_table(&aggs);
        assert!(text.contains("1100 ± ") && text.contains("1/2"), "{text}");
    }

    #[test]
    fn peak_respects_the_cap_and_completeness() {
        let points = [
            point(4, 1000.0, 200.0, true),
            point(4, 5000.0, 900.0, true),
            point(4, 9000.0, 2000.0, true),
            point(4, 7000.0, 800.0, false),
        ];
        assert_eq!(peak_under_cap(&points, 1000).unwrap().committed_tps, 5000.0);
        assert!(peak_under_cap(&points, 100).is_none());
    }

    #[test]
    fn report_is_one_self_contained_html_file_with_plots() {
        use crate::bench::plots::{
            latency_cdf, latency_over_time, latency_vs_throughput, throughput_over_time,
        };
        let mut points = [point(4, 1000.0, 200.0, true), point(7, 800.0, 300.0, true)];
        points[0].messages_received =
            [("prevote".to_string(), 400), ("proposal".to_string(), 30)].into();
        points[0].rounds.after_round_0 = 2;
        let curve = latency_vs_throughput(&points);
        assert!(curve.starts_with("<svg") && curve.contains("4 validators, p50"));
        let timeline = throughput_over_time(&points[0], &[(0, 900, 1000), (1, 1000, 1000)]);
        assert!(timeline.contains("kill node3") && timeline.contains("warm-up"));
        let latency = latency_over_time(&points[0], &[(0.2, 100.0), (0.4, 300.0), (1.5, 120.0)]);
        assert!(latency.contains("p99") && latency.contains("window ends"));
        let cdf = latency_cdf(&[
            ("4v".into(), vec![100.0, 120.0, 300.0]),
            ("7v".into(), vec![]),
        ]);
        assert!(
            cdf.contains("4v") && !cdf.contains(">7v<"),
            "an empty point draws no line"
        );
        let page = html(&ReportInput {
            title: "t".into(),
            parameters: "rates = [1000]".into(),
            machine: "cores = 2".into(),
            points: &points,
            aggregates: &crate::bench::stats::aggregate(&points),
            curve_svg: curve,
            cdf_svg: cdf,
            timelines: vec![("4v".into(), timeline, latency)],
            latency_cap_ms: 1500,
            ceiling_line: "ceiling 40000 tx/s (2 cores x 80000 raw sig/s / 4 validators)".into(),
        });
        assert!(page.contains("Peak throughput") && page.matches("<svg").count() == 4);
        assert!(page.contains("ceiling 40000 tx/s"));
        assert!(!page.contains("src=\"http"), "no external assets");
        assert!(
            page.contains("<th>prevote</th>") && page.contains("<td>400</td>"),
            "{page}"
        );
        assert!(page.contains("heights in round &gt; 0"), "{page}");
        assert!(
            page.contains("Repeated runs") && page.contains("<td>4v-1000tps</td>"),
            "{page}"
        );
        // The footnote describes the client as it is: it resubmits transient refusals.
        assert!(
            !page.contains("does not resubmit") && page.contains("the client resubmits"),
            "{page}"
        );
        assert!(summary_table(&points).lines().count() == 3);
        let csv = summary_csv(&points);
        assert_eq!(csv.lines().count(), 3);
        let header_fields = csv.lines().next().unwrap().split(',').count();
        assert!(csv.lines().all(|l| l.split(',').count() == header_fields));
    }
}
