//! Pending approvals: every open trial whose plan waits at an
//! `await_approval` step, with the report figures the controller asked on
//! (`GET /approvals`, `GET /api/approvals`). Approving or denying is
//! `joust trial approve|deny` (the dashboard is read-only).

use axum::Json;
use axum::extract::State;
use axum::response::Html;
use serde::Serialize;

use super::html::{esc, fig, link, num, page, pct, table, time};
use super::json::{ReportJson, TrialJson};
use super::{ApiError, PageError, Ui};
use crate::error::Result;
use crate::trials::rollout::{Approval, PlanState};

/// One pending approval.
#[derive(Debug, Serialize)]
pub struct ApprovalJson {
    pub trial: TrialJson,
    /// The step whose end awaits approval (from 0).
    pub step: usize,
    pub steps: usize,
    /// When that step started (RFC 3339).
    pub step_started_at: String,
    /// The trial report now (the figures the request was made on, updated).
    pub report: ReportJson,
}

impl Ui {
    /// Open trials awaiting approval, oldest first.
    async fn pending_approvals(&self) -> Result<Vec<ApprovalJson>> {
        let trials = self.trials()?;
        let mut out = Vec::new();
        for t in self.all_trials(None, true).await? {
            let Some(PlanState {
                plan,
                step,
                step_started_at,
                approval: Approval::Pending,
                ..
            }) = trials.plan(t.id).await?
            else {
                continue;
            };
            let (trial, report) = trials.report(t.id, "").await?;
            out.push(ApprovalJson {
                trial: (&trial).into(),
                step,
                steps: plan.steps.len(),
                step_started_at: time(step_started_at),
                report: ReportJson::new(&trial, &report),
            });
        }
        Ok(out)
    }
}

/// `GET /api/approvals`: the pending approvals with their reports.
pub async fn api(State(ui): State<Ui>) -> std::result::Result<Json<Vec<ApprovalJson>>, ApiError> {
    Ok(Json(ui.pending_approvals().await?))
}

/// `GET /approvals`: the same as a page.
pub async fn page_html(State(ui): State<Ui>) -> std::result::Result<Html<String>, PageError> {
    let pending = ui.pending_approvals().await?;
    let rows: Vec<Vec<String>> = pending
        .iter()
        .map(|a| {
            let r = &a.report;
            let arm = |name: &str, x: &super::json::ArmReportJson| {
                format!(
                    "{name} v{}: {} requests, {} errors ({})",
                    x.version,
                    fig(&format!("{name}.requests"), Some(x.requests as f64), num),
                    fig(&format!("{name}.errors"), Some(x.errors as f64), num),
                    fig(&format!("{name}.error_rate"), Some(x.error_rate), pct),
                )
            };
            vec![
                link(&format!("/trials/{}", a.trial.id), &format!("trial {}", a.trial.id)),
                esc(&a.trial.model),
                format!("{} of {} (since {})", a.step, a.steps, esc(&a.step_started_at)),
                format!(
                    "<span class=\"badge verdict-{v}\">{v}</span>",
                    v = esc(r.verdict)
                ),
                format!(
                    "{}<br>{}<br>anomaly-rate delta {}",
                    arm("champion", &r.champion),
                    arm("challenger", &r.challenger),
                    fig("anomaly_rate_delta", Some(r.anomaly_rate_delta), num),
                ),
                esc(&r.reasons.join("; ")),
                format!(
                    "<code>joust trial approve {m} --reason …</code><br><code>joust trial deny {m} --reason …</code>",
                    m = esc(&a.trial.model)
                ),
            ]
        })
        .collect();
    let mut body = format!(
        "<h1>Pending approvals</h1><p class=\"muted\">{} trials await approval</p>",
        pending.len()
    );
    body.push_str(&table(
        &[
            "trial", "model", "step", "verdict", "figures", "reasons", "decide",
        ],
        &rows,
    ));
    Ok(page(
        "Pending approvals",
        Some(super::DEFAULT_REFRESH_SECONDS),
        &body,
    ))
}
