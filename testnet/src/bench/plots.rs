//! The report's plots: SVG drawn with plotters, inlined into report.html.

use std::collections::BTreeMap;

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
    let mut by_n: BTreeMap<usize, Vec<&PointSummary>> = BTreeMap::new();
    for p in points {
        by_n.entry(p.validators).or_default().push(p);
    }
    let series = by_n
        .into_iter()
        .map(|(n, pts)| (format!("{n} validators"), pts))
        .collect::<Vec<_>>();
    latency_vs_throughput_series(&series)
}

/// The same, one colour per named series (runs side by side in `bench compare`).
pub fn latency_vs_throughput_series(series: &[(String, Vec<&PointSummary>)]) -> String {
    let mut svg = String::new();
    let all = || series.iter().flat_map(|(_, pts)| pts.iter());
    let x_max = upper(all().map(|p| p.committed_tps).fold(0.0, f64::max));
    let y_max = upper(all().map(|p| p.e2e_latency_ms.p99).fold(0.0, f64::max));
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
        for (k, (name, pts)) in series.iter().enumerate() {
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
                series.label(format!("{name}, p50")).legend(move |(x, y)| {
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
                series.label(format!("{name}, p99")).legend(move |(x, y)| {
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

/// Sent and committed transactions per second over a run: warm-up shaded, the measured window's
/// end and each fault marked.
pub fn throughput_over_time(point: &PointSummary, timeline: &[(u64, usize, usize)]) -> String {
    let mut svg = String::new();
    let x_max =
        (timeline.iter().map(|t| t.0).max().unwrap_or(1) as f64 + 1.0).max(point.window_to_secs);
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
        mark_phases(&mut chart, point, y_max);
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

/// Shade the warm-up, mark the end of the measured window and each fault.
fn mark_phases(chart: &mut Chart<'_, '_>, point: &PointSummary, y_max: f64) {
    let grey = RGBColor(120, 120, 120);
    if point.window_from_secs > 0.0 {
        let _ = chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, 0.0), (point.window_from_secs, y_max)],
            grey.mix(0.15).filled(),
        )));
        let _ = chart.draw_series(std::iter::once(Text::new(
            "warm-up",
            (0.05, y_max * 0.88),
            ("sans-serif", 12).into_font().color(&grey),
        )));
    }
    if point.window_to_secs > 0.0 {
        let _ = chart.draw_series(std::iter::once(PathElement::new(
            vec![(point.window_to_secs, 0.0), (point.window_to_secs, y_max)],
            grey.stroke_width(1),
        )));
        let _ = chart.draw_series(std::iter::once(Text::new(
            "window ends",
            (point.window_to_secs, y_max * 0.88),
            ("sans-serif", 12).into_font().color(&grey),
        )));
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
}

/// The `q` quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// End-to-end latency of the transactions sent in each second (p50 solid, p99 dashed), by
/// when they were sent: queueing shows as a rising line, a fault as a spike.
pub fn latency_over_time(point: &PointSummary, latencies: &[(f64, f64)]) -> String {
    let mut by_second: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for &(sent, ms) in latencies {
        by_second.entry(sent as u64).or_default().push(ms);
    }
    let (mut p50, mut p99) = (Vec::new(), Vec::new());
    for (second, mut v) in by_second {
        v.sort_by(f64::total_cmp);
        let x = second as f64 + 0.5;
        p50.push((x, quantile(&v, 0.5)));
        p99.push((x, quantile(&v, 0.99)));
    }
    let x_max = (p99.last().map_or(1.0, |p| p.0 + 0.5)).max(point.window_to_secs);
    let y_max = upper(p99.iter().map(|p| p.1).fold(0.0, f64::max));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 300)).into_drawing_area();
        let Some(mut chart) = frame(
            &root,
            &format!("E2e latency by send time: {}", point.label),
            (x_max, "second the transaction was sent"),
            (y_max, "latency (ms)"),
        ) else {
            return svg_error("empty chart");
        };
        if let Ok(s) = chart.draw_series(LineSeries::new(p50, PALETTE[0].stroke_width(2))) {
            s.label("p50")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[0]));
        }
        if let Ok(s) =
            chart.draw_series(DashedLineSeries::new(p99, 6, 4, PALETTE[1].stroke_width(1)))
        {
            s.label("p99")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[1]));
        }
        mark_phases(&mut chart, point, y_max);
        legend(&mut chart, SeriesLabelPosition::UpperRight);
        let _ = root.present();
    }
    svg
}

/// The distribution of e2e latency in the measured window, one line per point: the share of
/// transactions committed within x ms. The x axis ends at the largest p99.9.
pub fn latency_cdf(points: &[(String, Vec<f64>)]) -> String {
    let sorted: Vec<(&str, Vec<f64>)> = points
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(label, v)| {
            let mut v = v.clone();
            v.sort_by(f64::total_cmp);
            (label.as_str(), v)
        })
        .collect();
    let x_max = upper(
        sorted
            .iter()
            .map(|(_, v)| quantile(v, 0.999))
            .fold(0.0, f64::max),
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 400)).into_drawing_area();
        let Some(mut chart) = frame(
            &root,
            "E2e latency distribution (measured window)",
            (x_max, "latency (ms)"),
            (1.0, "share of transactions committed within"),
        ) else {
            return svg_error("empty chart");
        };
        for (k, (label, v)) in sorted.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            // 200 steps are enough for a smooth line whatever the sample count.
            let steps = 200.min(v.len());
            let line: Vec<(f64, f64)> = (0..=steps)
                .map(|j| {
                    let q = j as f64 / steps as f64;
                    (quantile(v, q), q)
                })
                .collect();
            if let Ok(s) = chart.draw_series(LineSeries::new(line, colour.stroke_width(2))) {
                s.label(label.to_string()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            }
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight);
        let _ = root.present();
    }
    svg
}
