//! The trial page: verdict and gates, per-arm figures, the tests between
//! arms and four charts (score histograms, anomaly rate with its 95%
//! Wilson band, latency p50/p99 and agreement over time). It reloads
//! itself while the trial is open (`<meta http-equiv="refresh">`).

use std::fmt::Write;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use serde::Deserialize;

use super::html::{esc, fig, link, num, page, pct, seg, table, time};
use super::{DEFAULT_REFRESH_SECONDS, PageError, Ui, parse_id, trial_charts};
use crate::error::RegistryError;
use crate::trials::report::{ArmReport, GateState, Report};

use crate::trials::{Arm, LossKind, Mode, Trial, TrialState};

#[derive(Debug, Deserialize)]
pub struct TrialQuery {
    /// Seconds between reloads while the trial is open; 0 turns it off.
    #[serde(default)]
    pub refresh: Option<u32>,
    /// Time-series bucket width in seconds (chosen from the span if absent).
    #[serde(default)]
    pub bucket: Option<u32>,
}

/// Marks each chart with the size of what the browser drew for its data
/// (`data-drawn-width`/`-height`), so a headless browser check can tell a
/// chart was laid out with data. The page needs no script otherwise.
const DRAWN_SCRIPT: &str = "<script>for(const s of document.querySelectorAll('svg.chart')){\
let w=0,h=0;for(const e of s.querySelectorAll('.data')){const b=e.getBBox();\
w=Math.max(w,b.width);h=Math.max(h,b.height);}\
s.dataset.drawnWidth=w.toFixed(1);s.dataset.drawnHeight=h.toFixed(1);}</script>";

/// `GET /trials/{id}[?refresh=SECONDS][&bucket=SECONDS]`.
pub async fn trial(
    State(ui): State<Ui>,
    Path(id): Path<String>,
    q: Result<Query<TrialQuery>, QueryRejection>,
) -> Result<Html<String>, PageError> {
    let Query(q) = q.map_err(|e| {
        RegistryError::InvalidArgument(format!(
            "query: expected refresh=SECONDS and bucket=SECONDS, got {}",
            e.body_text()
        ))
    })?;
    let id = parse_id("id", &id)?;
    let trials = ui.trials()?;
    let (trial, report) = trials.report(id, "").await?;
    let (_, series) = trials.time_series(id, "", q.bucket).await?;
    let refresh = match (trial.state, q.refresh.unwrap_or(DEFAULT_REFRESH_SECONDS)) {
        (TrialState::Open, s) if s > 0 => Some(s),
        _ => None,
    };
    let mut body = header(&trial, refresh);
    body.push_str(&verdict(&trial, &report));
    body.push_str(&trial_charts::section(&trial, &report, &series));
    body.push_str(&arm_table(&trial, &report));
    body.push_str(&period_table(&report));
    body.push_str(&losses_table(&report));
    body.push_str(&tests_table(&report));
    let api = format!("/api/trials/{}", trial.id);
    let _ = write!(
        body,
        "<p class=\"muted\">JSON: {}, {}, {}</p>",
        link(&api, &api),
        link(&format!("{api}/report"), &format!("{api}/report")),
        link(
            &format!("{api}/timeseries?bucket={}", series.bucket_seconds),
            &format!("{api}/timeseries?bucket={}", series.bucket_seconds)
        ),
    );
    body.push_str(DRAWN_SCRIPT);
    Ok(page(&format!("trial {}", trial.id), refresh, &body))
}

fn header(t: &Trial, refresh: Option<u32>) -> String {
    let version = |v: u64| {
        link(
            &format!("/models/{}/versions/{v}", seg(&t.model)),
            &format!("v{v}"),
        )
    };
    let state = match (t.state, t.outcome) {
        (TrialState::Open, _) => "open".to_owned(),
        (TrialState::Stopped, Some(o)) => format!("stopped ({o})"),
        (TrialState::Stopped, None) => "stopped".to_owned(),
    };
    let share = match t.mode {
        Mode::Split => format!("weight {}", t.weight),
        Mode::Shadow => format!("sampling {}", t.sampling),
        Mode::Off => "paused".to_owned(),
    };
    let mut out = format!(
        "<h1 id=\"trial\" data-trial=\"{}\">Trial {} · {}</h1>\
         <p>champion {} vs challenger {} · mode <b id=\"mode\">{}</b> ({share}{}) · \
         <span id=\"state\" class=\"badge\">{}</span></p>\
         <p class=\"muted\">started {} by {}{}{}</p>",
        t.id,
        t.id,
        link(&format!("/models/{}", seg(&t.model)), &t.model),
        version(t.champion_version),
        version(t.challenger_version),
        esc(t.mode.as_str()),
        if t.sticky { ", sticky" } else { "" },
        esc(&state),
        esc(&time(t.started_at)),
        esc(&t.started_by),
        t.stopped_at
            .map(|s| format!(", stopped {}", esc(&time(s))))
            .unwrap_or_default(),
        if t.reason.is_empty() {
            String::new()
        } else {
            format!(" · {}", esc(&t.reason))
        },
    );
    if let Some(s) = refresh {
        let _ = write!(
            out,
            "<p class=\"muted\">This page reloads every {s} s while the trial is open \
             (<a href=\"?refresh=0\">stop</a>).</p>"
        );
    }
    out
}

fn verdict(t: &Trial, r: &Report) -> String {
    let v = r.verdict.as_str();
    let mut out = format!(
        "<h2>Verdict: <span id=\"verdict\" class=\"badge verdict-{v}\" data-verdict=\"{v}\">{}</span></h2><ul id=\"reasons\">",
        v.replace('_', " ")
    );
    for reason in &r.reasons {
        let _ = write!(out, "<li class=\"reason\">{}</li>", esc(reason));
    }
    out.push_str("</ul>");
    let g = &t.gates;
    let configured: [(&str, Option<f64>, &str); 8] = [
        ("min_samples", Some(g.min_samples as f64), "≥"),
        ("max_error_rate", g.max_error_rate, "≤"),
        ("max_error_rate_delta", g.max_error_rate_delta, "≤"),
        ("max_anomaly_rate_delta", g.max_anomaly_rate_delta, "±"),
        ("min_agreement", g.min_agreement, "≥"),
        ("max_p99_latency_ratio", g.max_p99_latency_ratio, "≤"),
        ("max_psi", g.max_psi, "≤"),
        (
            "min_duration_secs",
            g.min_duration_secs.map(|d| d as f64),
            "≥",
        ),
    ];
    let rows: Vec<Vec<String>> = configured
        .iter()
        .map(|&(gate, limit, op)| {
            let check = r.checks.iter().find(|c| c.gate == gate);
            let (value, band, status) = match (limit, check) {
                (None, _) => (String::new(), String::new(), "<span class=\"muted\">not set</span>".to_owned()),
                (Some(_), None) => (
                    "<span class=\"muted\">—</span>".to_owned(),
                    String::new(),
                    "<span class=\"muted\">not judged yet</span>".to_owned(),
                ),
                (Some(_), Some(c)) => {
                    let s = match c.state {
                        GateState::Satisfied => "passed",
                        GateState::Violated => "violated",
                        GateState::Undecided => "undecided",
                    };
                    let band = match (c.low, c.high) {
                        (Some(lo), Some(hi)) => format!(
                            "<span data-gate-band=\"{gate}\" data-low=\"{lo}\" data-high=\"{hi}\">[{}, {}]</span>",
                            num(lo),
                            num(hi)
                        ),
                        _ => "<span class=\"muted\">point figure</span>".to_owned(),
                    };
                    (
                        format!("#<span data-gate-value=\"{gate}\" data-value=\"{}\">{}</span>", c.value, num(c.value)),
                        band,
                        format!("<span class=\"badge gate-{s}\" data-gate=\"{gate}\" data-status=\"{s}\">{s}</span>"),
                    )
                }
            };
            vec![
                format!("<code>{gate}</code>"),
                limit.map(|l| format!("#{op} {}", num(l))).unwrap_or_default(),
                value,
                band,
                status,
            ]
        })
        .collect();
    let _ = write!(
        out,
        "<h2>Gates</h2><p class=\"muted\">Each gate is a tolerance tested with the trial's confidence \
         {} (α {} per sequential gate, Bonferroni): passed when its confidence sequence lies \
         inside the tolerance, violated when outside. Confidence sequences stay valid however \
         often this page is reloaded (docs/trials.md).</p>",
        num(r.sequential.confidence),
        num(r.sequential.gate_alpha)
    );
    out.push_str(&table(
        &[
            "gate",
            "tolerance",
            "value",
            "confidence sequence",
            "status",
        ],
        &rows,
    ));
    out
}

/// One row per period (mode, weight or sampling change) beside the totals.
fn period_table(r: &Report) -> String {
    if r.periods.is_empty() {
        return String::new();
    }
    let mut rows: Vec<Vec<String>> = r
        .periods
        .iter()
        .map(|p| {
            let share = r
                .sequential
                .served_share
                .iter()
                .find(|(s, _)| s.period == p.period.period)
                .map(|(_, s)| format!("[{}, {}]", num(s.low), num(s.high)))
                .unwrap_or_default();
            vec![
                format!("#{}", p.period.period),
                esc(&time(p.period.started_at)),
                esc(p.period.mode.as_str()),
                format!("#{}", num(p.period.weight)),
                format!("#{}", num(p.period.sampling)),
                format!("#{}", num(p.records as f64)),
                format!("#{}", num(p.champion_served as f64)),
                format!("#{}", num(p.challenger_served as f64)),
                format!("#{}", num(p.paired_rows as f64)),
                share,
            ]
        })
        .collect();
    rows.push(vec![
        "total".to_owned(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        format!("#{}", num(r.records as f64)),
        String::new(),
        String::new(),
        format!("#{}", num(r.comparison.paired_rows as f64)),
        String::new(),
    ]);
    let mut out = "<h2>Periods</h2><p class=\"muted\">Every mode, weight or sampling change \
         starts a period; a split period's served share is checked against its own weight \
         (99.9% confidence sequence).</p>"
        .to_owned();
    out.push_str(&table(
        &[
            "period",
            "started",
            "mode",
            "weight",
            "sampling",
            "records",
            "champion served",
            "challenger served",
            "paired rows",
            "challenger share (sequence)",
        ],
        &rows,
    ));
    out
}

fn arm_table(t: &Trial, r: &Report) -> String {
    type Row = (
        &'static str,
        &'static str,
        fn(&ArmReport) -> Option<f64>,
        fn(f64) -> String,
    );
    let rows: [Row; 11] = [
        ("requests", "requests", |a| Some(a.requests as f64), num),
        ("errors", "errors", |a| Some(a.errors as f64), num),
        ("error rate", "error_rate", |a| Some(a.error_rate), pct),
        (
            "anomalous rows",
            "anomaly_rate.successes",
            |a| Some(a.anomaly_rate.successes as f64),
            num,
        ),
        (
            "scored rows",
            "anomaly_rate.trials",
            |a| Some(a.anomaly_rate.trials as f64),
            num,
        ),
        (
            "anomaly rate",
            "anomaly_rate.estimate",
            |a| Some(a.anomaly_rate.estimate),
            pct,
        ),
        (
            "anomaly rate 95% low",
            "anomaly_rate.low",
            |a| Some(a.anomaly_rate.low),
            pct,
        ),
        (
            "anomaly rate 95% high",
            "anomaly_rate.high",
            |a| Some(a.anomaly_rate.high),
            pct,
        ),
        (
            "latency p50 (µs)",
            "latency_p50_us",
            |a| a.latency_p50_us,
            num,
        ),
        (
            "latency p95 (µs)",
            "latency_p95_us",
            |a| a.latency_p95_us,
            num,
        ),
        (
            "latency p99 (µs)",
            "latency_p99_us",
            |a| a.latency_p99_us,
            num,
        ),
    ];
    let arms = [("champion", &r.champion), ("challenger", &r.challenger)];
    let mut body: Vec<Vec<String>> = rows
        .iter()
        .map(|&(label, path, get, show)| {
            let mut row = vec![esc(label)];
            for (name, a) in arms {
                row.push(format!("#{}", fig(&format!("{name}.{path}"), get(a), show)));
            }
            row
        })
        .collect();
    let quantiles = r
        .champion
        .score_quantiles
        .len()
        .max(r.challenger.score_quantiles.len());
    for i in 0..quantiles {
        let q = r
            .champion
            .score_quantiles
            .get(i)
            .or_else(|| r.challenger.score_quantiles.get(i))
            .map_or(0.0, |p| p.0);
        let mut row = vec![format!("score q{}", num(q * 100.0))];
        for (name, a) in arms {
            let v = a.score_quantiles.get(i).map(|p| p.1);
            row.push(format!(
                "#{}",
                fig(&format!("{name}.score_quantiles.{i}.value"), v, num)
            ));
        }
        body.push(row);
    }
    for (label, kind) in [
        ("records refused", LossKind::Refused),
        ("records dropped", LossKind::Dropped),
    ] {
        let mut row = vec![esc(label)];
        for (name, arm) in [("champion", Arm::Champion), ("challenger", Arm::Challenger)] {
            let n = r.losses.count(Some(arm), kind);
            row.push(format!(
                "#{}",
                fig(&format!("{name}.{}", kind.as_str()), Some(n as f64), num)
            ));
        }
        body.push(row);
    }
    format!(
        "<h2>Per arm</h2>{}",
        table(
            &[
                "figure",
                &format!("champion v{}", t.champion_version),
                &format!("challenger v{}", t.challenger_version)
            ],
            &body
        )
    )
}

/// Lost records by arm, kind and reason (nothing when none were lost).
fn losses_table(r: &Report) -> String {
    if r.losses.rows.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<String>> = r
        .losses
        .rows
        .iter()
        .enumerate()
        .map(|(i, l)| {
            vec![
                esc(l.arm.map_or("-", Arm::as_str)),
                esc(l.kind.as_str()),
                esc(&l.reason),
                format!(
                    "#{}",
                    fig(&format!("losses.{i}.count"), Some(l.count as f64), num)
                ),
            ]
        })
        .collect();
    format!(
        "<h2>Lost records</h2>{}",
        table(&["arm", "kind", "reason", "records"], &rows)
    )
}

fn tests_table(r: &Report) -> String {
    let c = &r.comparison;
    let p_or = |t: Option<crate::trials::stats::Test>| t.map(|t| t.p_value);
    let s_or = |t: Option<crate::trials::stats::Test>| t.map(|t| t.statistic);
    let rows = vec![
        vec![
            "records".into(),
            format!("#{}", fig("records", Some(r.records as f64), num)),
            String::new(),
        ],
        vec![
            "paired rows (shadow)".into(),
            format!("#{}", fig("paired_rows", Some(c.paired_rows as f64), num)),
            String::new(),
        ],
        vec![
            "anomaly rate delta (challenger − champion)".into(),
            format!(
                "#{}",
                fig("anomaly_rate_delta", Some(c.anomaly_rate_delta), pct)
            ),
            String::new(),
        ],
        vec![
            "two-proportion z-test".into(),
            format!(
                "#z = {}",
                fig(
                    "anomaly_rate_test.statistic",
                    s_or(c.anomaly_rate_test),
                    num
                )
            ),
            format!(
                "#p = {}",
                fig("anomaly_rate_test.p_value", p_or(c.anomaly_rate_test), num)
            ),
        ],
        vec![
            "agreement (shadow)".into(),
            format!(
                "#{}",
                fig("agreement.estimate", c.agreement.map(|a| a.estimate), pct)
            ),
            format!(
                "#95% [{}, {}]",
                fig("agreement.low", c.agreement.map(|a| a.low), pct),
                fig("agreement.high", c.agreement.map(|a| a.high), pct)
            ),
        ],
        vec![
            "McNemar (shadow)".into(),
            format!("#χ² = {}", fig("mcnemar.statistic", s_or(c.mcnemar), num)),
            format!("#p = {}", fig("mcnemar.p_value", p_or(c.mcnemar), num)),
        ],
        vec![
            "mean |score difference| (shadow)".into(),
            format!(
                "#{}",
                fig("mean_abs_score_diff", c.mean_abs_score_diff, num)
            ),
            String::new(),
        ],
        vec![
            "PSI (challenger vs champion scores)".into(),
            format!("#{}", fig("psi", c.psi, num)),
            String::new(),
        ],
        vec![
            "sample-ratio check (split)".into(),
            format!(
                "#χ² = {}",
                fig(
                    "sample_ratio_mismatch.statistic",
                    s_or(c.sample_ratio_mismatch),
                    num
                )
            ),
            format!(
                "#p = {}",
                fig(
                    "sample_ratio_mismatch.p_value",
                    p_or(c.sample_ratio_mismatch),
                    num
                )
            ),
        ],
    ];
    format!(
        "<h2>Tests between arms</h2>{}",
        table(&["test", "value", "p-value / interval"], &rows)
    )
}
