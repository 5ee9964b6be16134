//! Plots (SVG, plotters) and one self-contained HTML report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::results::PointSummary;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// One summary column: CSV header, HTML header, and the value as text.
pub struct Column {
    pub csv: &'static str,
    pub title: &'static str,
    pub value: String,
}

/// The summary columns of a point, in order: the one definition behind `summary.csv` and the
/// report's table.
pub fn columns(p: &PointSummary) -> Vec<Column> {
    let c = |csv, title, value: String| Column { csv, title, value };
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
            "queue_p50_ms",
            "queue p50: send to proposal (ms)",
            ms(p.queue_latency_ms.p50),
        ),
        c(
            "consensus_mean_ms",
            "consensus mean: proposal to commit (ms)",
            ms(p.consensus_latency_ms.mean),
        ),
        c(
            "blocks_per_sec",
            "blocks/s",
            format!("{:.2}", p.blocks_per_sec),
        ),
        c("sent", "sent", p.sent.to_string()),
        c("accepted", "accepted", p.accepted.to_string()),
        c(
            "rejected",
            "rejected",
            p.rejected.values().sum::<usize>().to_string(),
        ),
        c("unreachable", "unreachable", p.unreachable.to_string()),
        c("dropped", "dropped", p.dropped.to_string()),
        c("stranded", "stranded", p.stranded.to_string()),
        c("crash_lost", "lost in a kill", p.crash_lost.to_string()),
        c("complete", "complete", p.complete.to_string()),
    ]
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

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart from 0 to `x.0` and 0 to `y.0`, axes described by `x.1` and `y.1`.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    caption: &str,
    x: (f64, &str),
    y: (f64, &str),
) -> Option<Chart<'a, 'b>> {
    let _ = root.fill(&WHITE);
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x.0, 0.0..y.0)
        .ok()?;
    chart.configure_mesh().x_desc(x.1).y_desc(y.1).draw().ok()?;
    Some(chart)
}

fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, position: SeriesLabelPosition) {
    let _ = chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw();
}

fn upper(max: f64) -> f64 {
    if max <= 0.0 { 1.0 } else { max * 1.15 }
}

/// End-to-end latency (p50 solid, p99 dashed) against committed throughput, one colour per
/// validator count.
pub fn latency_vs_throughput(points: &[PointSummary]) -> String {
    let mut svg = String::new();
    let mut by_n: BTreeMap<usize, Vec<&PointSummary>> = BTreeMap::new();
    for p in points {
        by_n.entry(p.validators).or_default().push(p);
    }
    let x_max = upper(points.iter().map(|p| p.committed_tps).fold(0.0, f64::max));
    let y_max = upper(
        points
            .iter()
            .map(|p| p.e2e_latency_ms.p99)
            .fold(0.0, f64::max),
    );
    {
        let root = SVGBackend::with_string(&mut svg, (720, 440)).into_drawing_area();
        let Some(mut chart) = frame(
            &root,
            "End-to-end latency vs committed throughput",
            (x_max, "committed tx/s"),
            (y_max, "latency (ms)"),
        ) else {
            return svg_error("empty chart");
        };
        for (k, (n, pts)) in by_n.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            let mut pts = pts.clone();
            pts.sort_by_key(|p| p.offered_tps);
            let p50: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| (p.committed_tps, p.e2e_latency_ms.p50))
                .collect();
            let p99: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| (p.committed_tps, p.e2e_latency_ms.p99))
                .collect();
            if let Ok(series) =
                chart.draw_series(LineSeries::new(p50.clone(), colour.stroke_width(2)))
            {
                series
                    .label(format!("{n} validators, p50"))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                    });
            }
            let _ = chart.draw_series(p50.iter().map(|&p| Circle::new(p, 4, colour.filled())));
            if let Ok(series) = chart.draw_series(DashedLineSeries::new(
                p99.clone(),
                6,
                4,
                colour.stroke_width(1),
            )) {
                series
                    .label(format!("{n} validators, p99"))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(1))
                    });
            }
            let _ = chart.draw_series(p99.iter().map(|&p| TriangleMarker::new(p, 4, colour)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft);
        let _ = root.present();
    }
    svg
}

/// Sent and committed transactions per second over a run, with a marker at each fault.
pub fn throughput_over_time(point: &PointSummary, timeline: &[(u64, usize, usize)]) -> String {
    let mut svg = String::new();
    let x_max = timeline.iter().map(|t| t.0).max().unwrap_or(1) as f64 + 1.0;
    let y_max = upper(timeline.iter().map(|t| t.1.max(t.2)).max().unwrap_or(0) as f64);
    {
        let root = SVGBackend::with_string(&mut svg, (720, 360)).into_drawing_area();
        let Some(mut chart) = frame(
            &root,
            &format!("Throughput over time: {}", point.label),
            (x_max, "seconds since the load started"),
            (y_max, "tx/s"),
        ) else {
            return svg_error("empty chart");
        };
        let sent: Vec<(f64, f64)> = timeline.iter().map(|t| (t.0 as f64, t.2 as f64)).collect();
        let committed: Vec<(f64, f64)> =
            timeline.iter().map(|t| (t.0 as f64, t.1 as f64)).collect();
        if let Ok(s) = chart.draw_series(LineSeries::new(sent, PALETTE[3].stroke_width(1))) {
            s.label("sent")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[3]));
        }
        if let Ok(s) = chart.draw_series(LineSeries::new(committed, PALETTE[0].stroke_width(2))) {
            s.label("committed")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[0]));
        }
        for f in &point.faults {
            let _ = chart.draw_series(std::iter::once(PathElement::new(
                vec![(f.at_secs, 0.0), (f.at_secs, y_max)],
                PALETTE[1].stroke_width(1),
            )));
            let _ = chart.draw_series(std::iter::once(Text::new(
                f.what.clone(),
                (f.at_secs, y_max * 0.95),
                ("sans-serif", 12).into_font().color(&PALETTE[1]),
            )));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight);
        let _ = root.present();
    }
    svg
}

fn svg_error(message: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\"><text x=\"10\" y=\"20\">{message}</text></svg>"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The summary table as plain text, for the terminal.
pub fn summary_table(points: &[PointSummary]) -> String {
    let mut out = format!(
        "{:<16} {:>9} {:>10} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
        "point",
        "offered",
        "committed",
        "e2e p50",
        "e2e p95",
        "e2e p99",
        "queue p50",
        "consensus",
        "blocks/s",
        "rejected",
        "dropped",
        "stranded",
        "killed",
        "complete"
    );
    for p in points {
        let rejected: usize = p.rejected.values().sum::<usize>() + p.unreachable;
        let _ = writeln!(
            out,
            "{:<16} {:>9} {:>10.0} {:>6.0}ms {:>6.0}ms {:>6.0}ms {:>7.0}ms {:>7.0}ms {:>8.1} {:>8} {:>8} {:>8} {:>8} {:>8}",
            p.label,
            p.offered_tps,
            p.committed_tps,
            p.e2e_latency_ms.p50,
            p.e2e_latency_ms.p95,
            p.e2e_latency_ms.p99,
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

pub struct ReportInput<'a> {
    pub title: String,
    pub parameters: String,
    pub machine: String,
    pub points: &'a [PointSummary],
    pub curve_svg: String,
    /// (label, svg) per point.
    pub timelines: Vec<(String, String)>,
    pub latency_cap_ms: u64,
}

/// One HTML file with everything inline (no external assets).
pub fn html(input: &ReportInput) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}\
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#f4f4f4}}\
td:first-child{{text-align:left}}pre{{background:#f8f8f8;padding:1em;overflow:auto}}.bad{{color:#b00}}\
</style></head><body><h1>{t}</h1>",
        t = escape(&input.title)
    );
    match peak_under_cap(input.points, input.latency_cap_ms) {
        Some(p) => {
            let _ = write!(
                h,
                "<p><b>Peak throughput with e2e p99 &le; {} ms: {:.0} tx/s</b> ({}; p50 {:.0} ms, p99 {:.0} ms)</p>",
                input.latency_cap_ms,
                p.committed_tps,
                escape(&p.label),
                p.e2e_latency_ms.p50,
                p.e2e_latency_ms.p99
            );
        }
        None => {
            let _ = write!(
                h,
                "<p class=\"bad\">No complete point kept e2e p99 under {} ms.</p>",
                input.latency_cap_ms
            );
        }
    }
    h.push_str("<h2>Results</h2><table>");
    if let Some(first) = input.points.first() {
        h.push_str("<tr>");
        for c in columns(first) {
            let _ = write!(h, "<th>{}</th>", escape(c.title));
        }
        h.push_str("</tr>");
    }
    for p in input.points {
        h.push_str(if p.complete {
            "<tr>"
        } else {
            "<tr class=\"bad\">"
        });
        for c in columns(p) {
            let _ = write!(h, "<td>{}</td>", escape(&c.value));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
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
    h.push_str("</p>");
    let _ = write!(h, "<h2>Latency vs throughput</h2>{}", input.curve_svg);
    h.push_str("<h2>Throughput over time</h2>");
    for (label, svg) in &input.timelines {
        let _ = write!(h, "<h3>{}</h3>{svg}", escape(label));
    }
    let _ = write!(
        h,
        "<h2>Parameters</h2><pre>{}</pre><h2>Machine</h2><pre>{}</pre>\
<p>Dropped: accepted, never committed, nothing of the sender refused before it (a loss). Lost in a kill: admitted by a validator at most 250 ms before a kill fault took it down (mempools are memory only; a client resubmits what it does not see committed). Stranded: accepted, never committed, behind an earlier nonce of its sender that was refused for good or lost in a kill (the client resubmits refusals that clear by themselves, such as a full mempool, for a while after the last new transaction; not others, and not past that time).</p><p>Latency: e2e is the client's send time to the commit time on an observing validator (same \
machine, same clock); consensus is the proposer's block timestamp to that commit. Throughput \
counts transactions committed inside the measured window.</p></body></html>",
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
            faults: vec![AppliedFault {
                at_secs: 2.0,
                what: "kill node3".into(),
                killed: vec![3],
                done_secs: 2.0,
            }],
            byzantine: vec![],
            audit: Default::default(),
            complete,
        }
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
        let points = [point(4, 1000.0, 200.0, true), point(7, 800.0, 300.0, true)];
        let curve = latency_vs_throughput(&points);
        assert!(curve.starts_with("<svg") && curve.contains("4 validators, p50"));
        let timeline = throughput_over_time(&points[0], &[(0, 900, 1000), (1, 1000, 1000)]);
        assert!(timeline.contains("kill node3"));
        let page = html(&ReportInput {
            title: "t".into(),
            parameters: "rates = [1000]".into(),
            machine: "cores = 2".into(),
            points: &points,
            curve_svg: curve,
            timelines: vec![("4v".into(), timeline)],
            latency_cap_ms: 1500,
        });
        assert!(page.contains("Peak throughput") && page.matches("<svg").count() == 2);
        assert!(!page.contains("src=\"http"), "no external assets");
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
