//! Server-rendered SVG charts, assembled by hand (no chart library, no
//! script): overlaid histograms and line charts over time with an optional
//! band. Each chart is `<svg class="chart" id=… data-points=N>`; the
//! elements drawing data have class `data` and `data-arm`, so a check can
//! tell a chart drew something.

use std::fmt::Write;

use chrono::DateTime;

use super::html::{esc, num};

const W: f64 = 600.0;
const H: f64 = 240.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 30.0;
const Y_TICKS: f64 = 4.0;

/// One line of a line chart, optionally with a band around it.
#[derive(Debug)]
pub struct Line {
    pub label: String,
    /// `champion` or `challenger` (colour and `data-arm`).
    pub arm: &'static str,
    /// Extra CSS class (`p99` draws a dashed line).
    pub style: &'static str,
    /// (x, y) in data units, x ascending.
    pub points: Vec<(f64, f64)>,
    /// (x, low, high), x ascending.
    pub band: Vec<(f64, f64, f64)>,
}

/// A linear map from data range [lo, hi] to pixels [a, b].
#[derive(Debug, Clone, Copy)]
struct Scale {
    lo: f64,
    hi: f64,
    a: f64,
    b: f64,
}

impl Scale {
    fn new(lo: f64, hi: f64, a: f64, b: f64) -> Self {
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, lo + 0.5)
        };
        Self { lo, hi, a, b }
    }

    fn px(&self, v: f64) -> f64 {
        self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)
    }

    fn ticks(&self, n: usize) -> impl Iterator<Item = f64> + '_ {
        (0..=n).map(move |i| self.lo + (self.hi - self.lo) * i as f64 / n as f64)
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10ᵏ that is ≥ `v` (> 0).
fn nice_step(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let exp = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * exp)
        .find(|&s| s >= v * (1.0 - 1e-12))
        .unwrap_or(10.0 * exp)
}

/// A y axis from `lo` (rounded down to a multiple of the step) past `hi`,
/// with its ticks at round values.
fn nice_axis(lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
    let step = nice_step((hi - lo) / Y_TICKS);
    let lo = (lo / step + 1e-9).floor() * step;
    let n = ((hi - lo) / step - 1e-9).ceil().max(1.0) as usize;
    let ticks = (0..=n).map(|i| lo + step * i as f64).collect::<Vec<_>>();
    (lo, lo + step * n as f64, ticks)
}

fn open(out: &mut String, id: &str, title: &str, points: usize) {
    let _ = write!(
        out,
        "<svg id=\"{}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" \
         aria-label=\"{}\" data-points=\"{points}\">",
        esc(id),
        esc(title)
    );
}

fn empty(id: &str, title: &str, why: &str) -> String {
    let mut out = String::new();
    open(&mut out, id, title, 0);
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></svg>",
        W / 2.0,
        H / 2.0,
        esc(why)
    );
    out
}

fn axes(out: &mut String, y: &Scale, ticks: &[f64], y_fmt: fn(f64) -> String) {
    for &t in ticks {
        let py = y.px(t);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{py:.1}\" y2=\"{py:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 4.0,
            py + 4.0,
            esc(&y_fmt(t))
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{:.1}\"/>\
         <line class=\"axis\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
        H - BOTTOM,
        W - RIGHT,
        H - BOTTOM,
        H - BOTTOM
    );
}

/// A label under the x axis; the first and last are aligned inwards.
fn x_label(out: &mut String, px: f64, text: &str) {
    let anchor = if px <= LEFT + 8.0 {
        "start"
    } else if px >= W - RIGHT - 8.0 {
        "end"
    } else {
        "middle"
    };
    let _ = write!(
        out,
        "<text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
        H - BOTTOM + 16.0,
        esc(text)
    );
}

fn legend(out: &mut String, items: &[(&str, &str, &str)]) {
    let mut x = LEFT + 4.0;
    for (label, arm, style) in items {
        let _ = write!(
            out,
            "<path class=\"line {arm} {style}\" d=\"M{x:.1} 10 H{:.1}\"/>\
             <text x=\"{:.1}\" y=\"14\">{}</text>",
            x + 18.0,
            x + 22.0,
            esc(label)
        );
        x += 30.0 + 6.5 * label.chars().count() as f64;
    }
}

/// Overlaid histograms of `series` ((label, arm, counts)) on shared `edges`.
pub fn histogram(id: &str, title: &str, edges: &[f64], series: &[(&str, &str, &[u64])]) -> String {
    let total: u64 = series.iter().flat_map(|s| s.2.iter()).sum();
    if edges.len() < 2 || total == 0 {
        return empty(id, title, "no scores yet");
    }
    let max = series
        .iter()
        .flat_map(|s| s.2.iter())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    let x = Scale::new(edges[0], edges[edges.len() - 1], LEFT, W - RIGHT);
    let (lo, hi, ticks) = nice_axis(0.0, max as f64);
    let y = Scale::new(lo, hi, H - BOTTOM, TOP);
    let mut out = String::new();
    open(&mut out, id, title, edges.len() - 1);
    axes(&mut out, &y, &ticks, num);
    for t in x.ticks(4) {
        x_label(&mut out, x.px(t), &format!("{t:.3}"));
    }
    for (label, arm, counts) in series {
        // A step outline closed to the axis: up and across each bin.
        let mut d = format!("M{:.1} {:.1}", x.px(edges[0]), y.px(0.0));
        for (i, &c) in counts.iter().enumerate() {
            let (l, r) = (x.px(edges[i]), x.px(edges[i + 1]));
            let top = y.px(c as f64);
            let _ = write!(d, " L{l:.1} {top:.1} L{r:.1} {top:.1}");
        }
        let _ = write!(
            d,
            " L{:.1} {:.1} Z",
            x.px(edges[edges.len() - 1]),
            y.px(0.0)
        );
        let n: u64 = counts.iter().sum();
        let _ = write!(
            out,
            "<path class=\"data bars {arm}\" data-arm=\"{arm}\" data-points=\"{}\" \
             data-total=\"{n}\" d=\"{d}\"><title>{}: {n} scores</title></path>",
            counts.len(),
            esc(label)
        );
    }
    let items: Vec<_> = series.iter().map(|s| (s.0, s.1, "")).collect();
    legend(&mut out, &items);
    out.push_str("</svg>");
    out
}

/// Lines over time (x in Unix seconds), with bands drawn under them.
/// The y axis spans `y_range` (widened to round ticks), else 0 to the
/// largest value.
pub fn lines(
    id: &str,
    title: &str,
    lines: &[Line],
    y_range: Option<(f64, f64)>,
    y_fmt: fn(f64) -> String,
    no_data: &str,
) -> String {
    let points: usize = lines.iter().map(|l| l.points.len()).sum();
    if points == 0 {
        return empty(id, title, no_data);
    }
    let xs = lines.iter().flat_map(|l| {
        l.points
            .iter()
            .map(|p| p.0)
            .chain(l.band.iter().map(|b| b.0))
    });
    let x_lo = xs.clone().fold(f64::INFINITY, f64::min);
    let x_hi = xs.fold(f64::NEG_INFINITY, f64::max);
    let (y_lo, y_hi) = y_range.unwrap_or_else(|| {
        let top = lines
            .iter()
            .flat_map(|l| {
                l.points
                    .iter()
                    .map(|p| p.1)
                    .chain(l.band.iter().map(|b| b.2))
            })
            .fold(0.0, f64::max);
        (0.0, if top > 0.0 { top } else { 1.0 })
    });
    let (y_lo, y_hi, y_ticks) = nice_axis(y_lo, y_hi);
    let x = Scale::new(x_lo, x_hi, LEFT + 6.0, W - RIGHT - 6.0);
    let y = Scale::new(y_lo, y_hi, H - BOTTOM, TOP);
    let mut out = String::new();
    open(&mut out, id, title, points);
    axes(&mut out, &y, &y_ticks, y_fmt);
    let ticks = if x_hi > x_lo { 3 } else { 0 };
    for t in x.ticks(ticks) {
        let label = DateTime::from_timestamp(t.round() as i64, 0)
            .map(|d| d.format("%H:%M:%S").to_string())
            .unwrap_or_default();
        x_label(&mut out, x.px(t), &label);
    }
    for l in lines.iter().filter(|l| !l.band.is_empty()) {
        let mut d = String::new();
        for (i, &(bx, lo, _)) in l.band.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1} {:.1} ",
                if i == 0 { "M" } else { "L" },
                x.px(bx),
                y.px(lo)
            );
        }
        for &(bx, _, hi) in l.band.iter().rev() {
            let _ = write!(d, "L{:.1} {:.1} ", x.px(bx), y.px(hi));
        }
        d.push('Z');
        let _ = write!(
            out,
            "<path class=\"data band {}\" data-arm=\"{}\" data-points=\"{}\" d=\"{d}\">\
             <title>{}: 95% interval</title></path>",
            l.arm,
            l.arm,
            l.band.len(),
            esc(&l.label)
        );
    }
    for l in lines {
        let mut d = String::new();
        for (i, &(px, py)) in l.points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1} {:.1} ",
                if i == 0 { "M" } else { "L" },
                x.px(px),
                y.px(py)
            );
        }
        let _ = write!(
            out,
            "<path class=\"data line {} {}\" data-arm=\"{}\" data-points=\"{}\" d=\"{}\">\
             <title>{}</title></path>",
            l.arm,
            l.style,
            l.arm,
            l.points.len(),
            d.trim_end(),
            esc(&l.label)
        );
        for &(px, py) in &l.points {
            let _ = write!(
                out,
                "<circle class=\"data marker {}\" data-arm=\"{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.2\"/>",
                l.arm,
                l.arm,
                x.px(px),
                y.px(py)
            );
        }
    }
    let items: Vec<_> = lines
        .iter()
        .map(|l| (l.label.as_str(), l.arm, l.style))
        .collect();
    legend(&mut out, &items);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(120.0), 200.0);
        assert_eq!(nice_axis(0.0, 669.95).1, 800.0);
        let (lo, hi, ticks) = nice_axis(0.0, 1.0);
        assert_eq!((lo, hi, ticks.len()), (0.0, 1.0, 5));
        let (lo, hi, _) = nice_axis(0.66, 1.0);
        assert!(
            (lo - 0.6).abs() < 1e-12 && (hi - 1.0).abs() < 1e-12,
            "{lo} {hi}"
        );
    }

    #[test]
    fn histogram_draws_one_outline_per_arm() {
        let svg = histogram(
            "h",
            "scores",
            &[0.0, 0.5, 1.0],
            &[
                ("champion", "champion", &[3, 1]),
                ("challenger", "challenger", &[0, 4]),
            ],
        );
        assert!(svg.starts_with("<svg id=\"h\""));
        assert_eq!(svg.matches("class=\"data bars").count(), 2);
        assert!(svg.contains("data-total=\"4\""));
        assert!(svg.ends_with("</svg>"));
        let none = histogram("h", "scores", &[0.0, 1.0], &[("c", "champion", &[0])]);
        assert!(none.contains("data-points=\"0\"") && !none.contains("class=\"data"));
    }

    #[test]
    fn lines_draw_bands_lines_and_markers() {
        let l = Line {
            label: "champion".into(),
            arm: "champion",
            style: "",
            points: vec![(0.0, 0.1), (60.0, 0.2)],
            band: vec![(0.0, 0.05, 0.15), (60.0, 0.1, 0.3)],
        };
        let svg = lines(
            "a",
            "rate",
            &[l],
            Some((0.0, 1.0)),
            |v| format!("{v}"),
            "none",
        );
        assert!(svg.contains("data-points=\"2\""));
        assert_eq!(svg.matches("class=\"data band").count(), 1);
        assert_eq!(svg.matches("class=\"data line").count(), 1);
        assert_eq!(svg.matches("<circle class=\"data marker").count(), 2);
        // y = 0.1 on [0, 1] maps to 90% of the plot height below TOP.
        let want = format!(
            "M{:.1} {:.1}",
            LEFT + 6.0,
            H - BOTTOM - 0.1 * (H - BOTTOM - TOP)
        );
        assert!(svg.contains(&want), "{svg}");
    }
}
