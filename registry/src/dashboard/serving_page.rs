//! `GET /serving` and `/api/serving`: what `joust status` prints, as a
//! page — per model the registry's champion and challenger, a blocked
//! rollout, what each configured router answers with and which node holds
//! which version in which phase (refusal reasons included). The view is
//! joined in `joust_client::serving`; this module only asks and renders.

use std::fmt::Write;

use axum::Json;
use axum::extract::State;
use axum::response::Html;
use joust_client::serving::{ModelFacts, ModelStatus, ask_routers, describe_trial, model_status};

use super::html::{esc, link, page, seg, table};
use super::{ApiError, PageError, Ui};
use crate::error::Result;

/// Seconds between refreshes of the serving page.
const REFRESH_SECONDS: u32 = 5;

impl Ui {
    /// Every model's serving view (empty router lists when the dashboard
    /// was given no routers).
    async fn serving(&self) -> Result<Vec<ModelStatus>> {
        let models = self.all_models().await?;
        let open = match self.registry.trials() {
            Some(_) => self.all_trials(None, true).await?,
            None => Vec::new(),
        };
        let answers = ask_routers(&self.routers.urls, &self.routers.security).await;
        Ok(models
            .into_iter()
            .map(|m| {
                let facts = ModelFacts {
                    trial: open.iter().find(|t| t.model == m.name).map(|t| {
                        describe_trial(
                            t.id,
                            t.mode.as_str(),
                            t.weight,
                            t.sampling,
                            t.champion_version,
                            t.challenger_version,
                        )
                    }),
                    rollout_blocked: m
                        .rollout_blocked
                        .as_ref()
                        .map(|(v, why)| format!("version {v}: {why}")),
                    champion: m.champion_version.unwrap_or(0),
                    challenger: m.challenger_version.unwrap_or(0),
                    model: m.name,
                };
                model_status(facts, &answers)
            })
            .collect())
    }
}

/// `GET /api/serving`: every model's serving view (the JSON `joust status
/// --json` prints).
pub async fn api(State(ui): State<Ui>) -> std::result::Result<Json<Vec<ModelStatus>>, ApiError> {
    Ok(Json(ui.serving().await?))
}

fn version(v: u64) -> String {
    if v == 0 {
        "—".to_owned()
    } else {
        format!("v{v}")
    }
}

fn phase_badge(phase: &str) -> String {
    let class = match phase {
        "ready" => "status-champion",
        "loading" | "draining" => "status-challenger",
        "refused" => "gate-violated",
        _ => "status-retired",
    };
    format!(
        "<span class=\"badge {class}\" data-phase=\"{}\">{}</span>",
        esc(phase),
        esc(phase)
    )
}

/// `GET /serving`: the serving view, refreshed every few seconds.
pub async fn page_html(State(ui): State<Ui>) -> std::result::Result<Html<String>, PageError> {
    let models = ui.serving().await?;
    let mut body = String::from("<h1>Serving</h1>");
    if ui.routers.urls.is_empty() {
        body.push_str(
            "<p class=\"muted\">No routers configured: start the registry with \
             <code>--ui-routers</code> (env <code>JOUST_UI_ROUTERS</code>) to see what \
             they answer with and which node holds which version.</p>",
        );
    } else {
        let _ = write!(
            body,
            "<p class=\"muted\">Routers asked: {}. Refreshes every {REFRESH_SECONDS} s.</p>",
            esc(&ui.routers.urls.join(", "))
        );
    }
    if models.is_empty() {
        body.push_str("<p class=\"muted\">No models.</p>");
    }
    for m in &models {
        let _ = write!(
            body,
            "<h2 data-model=\"{}\">{}</h2><p>champion <b>{}</b> · challenger <b>{}</b>{}</p>",
            esc(&m.model),
            link(&format!("/models/{}", seg(&m.model)), &m.model),
            version(m.champion),
            version(m.challenger),
            m.trial
                .as_ref()
                .map(|t| format!(" · trial {}", esc(t)))
                .unwrap_or_default()
        );
        if let Some(b) = &m.rollout_blocked {
            let _ = write!(
                body,
                "<p class=\"error\" data-blocked=\"registry\">Rollout blocked (registry): {}</p>",
                esc(b)
            );
        }
        let mut rows = Vec::new();
        for r in &m.routers {
            if let Some(e) = &r.error {
                rows.push(vec![
                    esc(&r.router),
                    format!("<span class=\"error\">unreachable: {}</span>", esc(e)),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
                continue;
            }
            let answering = format!(
                "<span data-router=\"{}\" data-answering-champion=\"{}\" \
                 data-answering-challenger=\"{}\">{} / {}</span>{}",
                esc(&r.router),
                r.answering_champion,
                r.answering_challenger,
                version(r.answering_champion),
                version(r.answering_challenger),
                if r.moving() {
                    format!(
                        " <span class=\"badge status-challenger\">registry wants {} / {}: not \
                         ready on enough nodes</span>",
                        version(r.registry_champion),
                        version(r.registry_challenger)
                    )
                } else {
                    String::new()
                },
            );
            let blocked = r
                .blocked
                .as_ref()
                .map(|b| format!("<span class=\"error\">blocked: {}</span>", esc(b)))
                .unwrap_or_default();
            if r.nodes.is_empty() {
                rows.push(vec![
                    esc(&r.router),
                    answering.clone(),
                    "<span class=\"muted\">no nodes</span>".to_owned(),
                    String::new(),
                    String::new(),
                    blocked.clone(),
                ]);
            }
            for (i, n) in r.nodes.iter().enumerate() {
                let (router, answer, blocked) = if i == 0 {
                    (esc(&r.router), answering.clone(), blocked.clone())
                } else {
                    (String::new(), String::new(), String::new())
                };
                let held = if n.version == 0 {
                    "<span class=\"muted\">holds no version</span>".to_owned()
                } else {
                    let reason = if n.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": <span class=\"error\">{}</span>", esc(&n.reason))
                    };
                    format!(
                        "<span data-node=\"{}\" data-version=\"{}\">{}</span> {}{reason}",
                        esc(&n.node),
                        n.version,
                        version(n.version),
                        phase_badge(n.phase)
                    )
                };
                rows.push(vec![
                    router,
                    answer,
                    format!(
                        "{} <span class=\"muted\">({})</span>",
                        esc(&n.node),
                        esc(&n.stream)
                    ),
                    held,
                    esc(&n.refs.join(", ")),
                    blocked,
                ]);
            }
        }
        if !rows.is_empty() {
            body.push_str(&table(
                &[
                    "router",
                    "answering champion / challenger",
                    "node (stream)",
                    "version and phase",
                    "refs",
                    "blocked",
                ],
                &rows,
            ));
        }
    }
    let _ = write!(
        body,
        "<p class=\"muted\">JSON: {}</p>",
        link("/api/serving", "/api/serving")
    );
    Ok(page("Serving", Some(REFRESH_SECONDS), &body))
}
