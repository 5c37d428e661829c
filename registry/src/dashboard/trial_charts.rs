//! The trial page's charts: score histograms from the report, anomaly
//! rate (with its 95% Wilson band), latency p50/p99 and agreement per time
//! bucket from the trial's time series.

use std::fmt::Write;

use super::charts::{self, Line};
use super::html::{esc, num, pct};
use crate::trials::report::{ArmReport, Report};
use crate::trials::timeseries::{Point, TimeSeries};
use crate::trials::{Mode, Trial};

/// Picks one arm's figures from a time-series point.
type ArmOf = fn(&Point) -> &ArmReport;

/// The charts section of a trial's page.
pub fn section(t: &Trial, r: &Report, s: &TimeSeries) -> String {
    let half = f64::from(s.bucket_seconds) / 2.0;
    let x = |p: &Point| p.start.timestamp() as f64 + half;
    let arms: [(&'static str, u64, ArmOf); 2] = [
        ("champion", t.champion_version, |p| &p.champion),
        ("challenger", t.challenger_version, |p| &p.challenger),
    ];
    let histogram = match &r.score_histogram {
        Some(h) => charts::histogram(
            "chart-scores",
            "score histograms",
            &h.edges,
            &[
                (
                    &format!("champion v{}", t.champion_version),
                    "champion",
                    &h.champion,
                ),
                (
                    &format!("challenger v{}", t.challenger_version),
                    "challenger",
                    &h.challenger,
                ),
            ],
        ),
        None => charts::histogram("chart-scores", "score histograms", &[], &[]),
    };
    let anomaly: Vec<Line> = arms
        .iter()
        .map(|&(arm, v, get)| {
            let pts = s.points.iter().filter(|p| get(p).anomaly_rate.trials > 0);
            Line {
                label: format!("{arm} v{v}"),
                arm,
                style: "",
                points: pts
                    .clone()
                    .map(|p| (x(p), get(p).anomaly_rate.estimate))
                    .collect(),
                band: pts
                    .map(|p| (x(p), get(p).anomaly_rate.low, get(p).anomaly_rate.high))
                    .collect(),
            }
        })
        .collect();
    let mut latency = Vec::new();
    for &(arm, _, get) in &arms {
        for (style, q) in [("p50", 0), ("p99", 1)] {
            let pick = |a: &ArmReport| {
                if q == 0 {
                    a.latency_p50_us
                } else {
                    a.latency_p99_us
                }
            };
            latency.push(Line {
                label: format!("{arm} {style}"),
                arm,
                style,
                points: s
                    .points
                    .iter()
                    .filter_map(|p| pick(get(p)).map(|v| (x(p), v)))
                    .collect(),
                band: Vec::new(),
            });
        }
    }
    let agreed = s
        .points
        .iter()
        .filter_map(|p| p.agreement.map(|a| (x(p), a)));
    let agreement = Line {
        label: "agreement".into(),
        arm: "agreement",
        style: "",
        points: agreed.clone().map(|(x, a)| (x, a.estimate)).collect(),
        band: agreed.map(|(x, a)| (x, a.low, a.high)).collect(),
    };
    let agreement_lo = agreement
        .band
        .iter()
        .map(|b| b.1)
        .fold(1.0_f64, f64::min)
        .min(0.9);
    let figures = [
        ("Score histograms", histogram),
        (
            "Anomaly rate per arm (95% Wilson band)",
            charts::lines(
                "chart-anomaly-rate",
                "anomaly rate",
                &anomaly,
                None,
                pct,
                "no scored rows yet",
            ),
        ),
        (
            "Latency p50 / p99 per arm (µs)",
            charts::lines(
                "chart-latency",
                "latency",
                &latency,
                None,
                num,
                "no successful requests yet",
            ),
        ),
        (
            "Agreement over time (shadow, 95% Wilson band)",
            charts::lines(
                "chart-agreement",
                "agreement",
                &[agreement],
                Some(((agreement_lo - 0.01).max(0.0), 1.0)),
                pct,
                if t.mode == Mode::Shadow {
                    "no paired rows yet"
                } else {
                    "agreement is measured in shadow mode"
                },
            ),
        ),
    ];
    let mut out = format!(
        "<h2>Charts</h2><p class=\"muted\">Buckets of {} s ({} buckets{}); \
         <a href=\"?bucket={}\">wider</a> · <a href=\"?bucket={}\">narrower</a></p><div class=\"charts\">",
        s.bucket_seconds,
        s.points.len(),
        if s.truncated { ", truncated" } else { "" },
        s.bucket_seconds.saturating_mul(2),
        (s.bucket_seconds / 2).max(1),
    );
    for (caption, svg) in figures {
        let _ = write!(
            out,
            "<figure><figcaption>{}</figcaption>{svg}</figure>",
            esc(caption)
        );
    }
    out.push_str("</div>");
    out
}
