//! The trial page's charts: score histograms from the report, anomaly
//! rate (with its 95% Wilson band), latency p50/p99 and agreement per time
//! bucket from the trial's time series, and the cumulative anomaly-rate
//! difference and agreement with their confidence-sequence bands (the
//! sequential method the verdict uses, at the report's per-gate α).

use std::fmt::Write;

use super::charts::{self, Line};
use super::html::{esc, num, pct};
use crate::trials::report::{ArmReport, Report};
use crate::trials::sequential::{self, RowSums};
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
    let alpha = r.sequential.gate_alpha;
    let (mut ka, mut na, mut kb, mut nb, mut agree, mut paired) = (0, 0, 0, 0, 0, 0);
    let (mut sa, mut sb) = (RowSums::default(), RowSums::default());
    let mut delta = Line {
        label: "challenger − champion".into(),
        arm: "challenger",
        style: "",
        points: Vec::new(),
        band: Vec::new(),
    };
    let mut agreement_cs = Line {
        label: "agreement".into(),
        arm: "agreement",
        style: "",
        points: Vec::new(),
        band: Vec::new(),
    };
    for p in &s.points {
        let end = p.start.timestamp() as f64 + 2.0 * half;
        ka += p.champion.anomaly_rate.successes;
        na += p.champion.anomaly_rate.trials;
        kb += p.challenger.anomaly_rate.successes;
        nb += p.challenger.anomaly_rate.trials;
        sa.merge(&p.champion.row_sums);
        sb.merge(&p.challenger.row_sums);
        if let Some(a) = p.agreement {
            agree += a.successes;
            paired += a.trials;
        }
        if let Some(cs) = sequential::clustered_rate_difference((ka, na, &sa), (kb, nb, &sb), alpha)
        {
            delta.points.push((end, cs.estimate));
            delta.band.push((end, cs.low, cs.high));
        }
        if let Some(cs) = sequential::rate(agree, paired, alpha) {
            agreement_cs.points.push((end, cs.estimate));
            agreement_cs.band.push((end, cs.low, cs.high));
        }
    }
    let sequential_caption = format!(
        "Anomaly-rate difference, cumulative ({:.2}% confidence sequence band)",
        100.0 * (1.0 - alpha)
    );
    let agreement_caption = format!(
        "Agreement, cumulative ({:.2}% confidence sequence band)",
        100.0 * (1.0 - alpha)
    );
    let figures = [
        ("Score histograms", histogram),
        (
            sequential_caption.as_str(),
            charts::lines(
                "chart-sequential-anomaly-delta",
                "anomaly rate difference",
                &[delta],
                None,
                pct,
                "no scored rows in both arms yet",
            ),
        ),
        (
            agreement_caption.as_str(),
            charts::lines(
                "chart-sequential-agreement",
                "agreement",
                &[agreement_cs],
                None,
                pct,
                "no paired rows yet (agreement needs a shadow period)",
            ),
        ),
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
