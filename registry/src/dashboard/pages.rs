//! HTML pages for models, versions and the trial list.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};

use super::html::{esc, link, page, seg, table, time};
use super::{PageError, Ui};
use crate::domain::{EventRecord, VersionRecord};
use crate::trials::{Trial, TrialState};

type PageResult = Result<Html<String>, PageError>;

fn status_badge(status: &str) -> String {
    format!(
        "<span class=\"badge status-{}\">{}</span>",
        esc(status),
        esc(status)
    )
}

fn version_href(model: &str, version: u64) -> String {
    format!("/models/{}/versions/{version}", seg(model))
}

fn trial_rows(trials: &[Trial]) -> Vec<Vec<String>> {
    trials
        .iter()
        .rev()
        .map(|t| {
            let state = match (t.state, t.outcome) {
                (TrialState::Open, _) => "open".to_owned(),
                (TrialState::Stopped, Some(o)) => format!("stopped ({o})"),
                (TrialState::Stopped, None) => "stopped".to_owned(),
            };
            vec![
                link(&format!("/trials/{}", t.id), &format!("trial {}", t.id)),
                link(&format!("/models/{}", seg(&t.model)), &t.model),
                format!(
                    "{} vs {}",
                    link(
                        &version_href(&t.model, t.champion_version),
                        &format!("v{}", t.champion_version)
                    ),
                    link(
                        &version_href(&t.model, t.challenger_version),
                        &format!("v{}", t.challenger_version)
                    ),
                ),
                esc(t.mode.as_str()),
                format!("<span class=\"badge\">{}</span>", esc(&state)),
                esc(&time(t.started_at)),
                esc(&t.started_by),
            ]
        })
        .collect()
}

const TRIAL_HEAD: [&str; 7] = [
    "trial",
    "model",
    "champion vs challenger",
    "mode",
    "state",
    "started",
    "by",
];

/// `GET /` and `/models`: every model with its champion, challenger and
/// aliases, and the open trials.
pub async fn models(State(ui): State<Ui>) -> PageResult {
    let models = ui.all_models().await?;
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            let v = |v: Option<u64>| match v {
                Some(v) => link(&version_href(&m.name, v), &format!("v{v}")),
                None => "<span class=\"muted\">—</span>".to_owned(),
            };
            let aliases: Vec<String> = m
                .aliases
                .iter()
                .map(|a| {
                    format!(
                        "{} → {}",
                        esc(&a.alias),
                        link(
                            &version_href(&m.name, a.version),
                            &format!("v{}", a.version)
                        )
                    )
                })
                .collect();
            vec![
                link(&format!("/models/{}", seg(&m.name)), &m.name),
                esc(&m.description),
                format!("#{}", m.latest_version),
                v(m.champion_version),
                v(m.challenger_version),
                aliases.join(", "),
            ]
        })
        .collect();
    let mut body = format!(
        "<h1>Models</h1><p class=\"muted\">{} models</p>",
        models.len()
    );
    body.push_str(&table(
        &[
            "model",
            "description",
            "versions",
            "champion",
            "challenger",
            "aliases",
        ],
        &rows,
    ));
    if ui.registry.trials().is_some() {
        let open = ui.all_trials(None, true).await?;
        let _ = write!(body, "<h2>Open trials</h2>");
        if open.is_empty() {
            body.push_str("<p class=\"muted\">No trial is running.</p>");
        } else {
            body.push_str(&table(&TRIAL_HEAD, &trial_rows(&open)));
        }
    }
    Ok(page("Models", None, &body))
}

/// `GET /models/{name}`: versions, statuses, aliases and trials.
pub async fn model(State(ui): State<Ui>, Path(name): Path<String>) -> PageResult {
    let (model, versions, trials) = ui.model_page(&name).await?;
    let mut body = format!(
        "<h1>{}</h1><p>{}</p><p class=\"muted\">created {} by {}</p>",
        esc(&model.name),
        esc(&model.description),
        esc(&time(model.created_at)),
        esc(&model.created_by)
    );
    let rows: Vec<Vec<String>> = versions
        .iter()
        .rev()
        .map(|v: &VersionRecord| {
            vec![
                link(
                    &version_href(&v.model, v.version),
                    &format!("v{}", v.version),
                ),
                status_badge(v.status.as_str()),
                esc(&v.aliases.join(", ")),
                esc(&v.kind),
                esc(&time(v.created_at)),
                esc(&v.created_by),
                esc(v
                    .annotations
                    .get("training_run_id")
                    .map_or("", String::as_str)),
            ]
        })
        .collect();
    body.push_str("<h2>Versions</h2>");
    body.push_str(&table(
        &[
            "version",
            "status",
            "aliases",
            "kind",
            "registered",
            "by",
            "training run",
        ],
        &rows,
    ));
    body.push_str("<h2>Trials</h2>");
    if trials.is_empty() {
        body.push_str("<p class=\"muted\">No trials.</p>");
    } else {
        body.push_str(&table(&TRIAL_HEAD, &trial_rows(&trials)));
    }
    let _ = write!(
        body,
        "<p class=\"muted\">JSON: {}</p>",
        link(
            &format!("/api/models/{}", seg(&model.name)),
            &format!("/api/models/{}", model.name)
        )
    );
    Ok(page(&model.name, None, &body))
}

fn event_rows(events: &[EventRecord]) -> Vec<Vec<String>> {
    events
        .iter()
        .rev()
        .map(|e| {
            let change = match (e.from.is_empty(), e.to.is_empty()) {
                (true, true) => String::new(),
                (true, false) => esc(&e.to),
                (false, true) => esc(&e.from),
                (false, false) => format!("{} → {}", esc(&e.from), esc(&e.to)),
            };
            vec![
                format!("#{}", e.id),
                esc(&time(e.time)),
                esc(&e.actor),
                esc(&e.kind),
                change,
                esc(&e.reason),
            ]
        })
        .collect()
}

/// `GET /models/{name}/versions/{version}`: lineage annotations, metrics,
/// artifact and audit history.
pub async fn version(
    State(ui): State<Ui>,
    Path((name, version)): Path<(String, String)>,
) -> PageResult {
    let (v, history) = ui.version_page(&name, &version).await?;
    let mut body = format!(
        "<h1>{} v{} {}</h1>",
        link(&format!("/models/{}", seg(&v.model)), &v.model),
        v.version,
        status_badge(v.status.as_str())
    );
    body.push_str(&table(
        &["field", "value"],
        &[
            vec!["kind".into(), esc(&v.kind)],
            vec!["aliases".into(), esc(&v.aliases.join(", "))],
            vec![
                "registered".into(),
                format!("{} by {}", esc(&time(v.created_at)), esc(&v.created_by)),
            ],
            vec!["status since".into(), esc(&time(v.status_changed_at))],
            vec![
                "artifact".into(),
                format!("<code>{}</code>", esc(&v.artifact_uri)),
            ],
            vec!["sha256".into(), format!("<code>{}</code>", esc(&v.sha256))],
            vec!["size".into(), format!("{} bytes", v.size_bytes)],
        ],
    ));
    body.push_str("<h2>Lineage and annotations</h2>");
    if v.annotations.is_empty() {
        body.push_str("<p class=\"muted\">None.</p>");
    } else {
        let rows: Vec<Vec<String>> = v
            .annotations
            .iter()
            .map(|(k, val)| vec![format!("<code>{}</code>", esc(k)), esc(val)])
            .collect();
        body.push_str(&table(&["key", "value"], &rows));
    }
    body.push_str("<h2>Metrics</h2>");
    if v.metrics.is_empty() {
        body.push_str("<p class=\"muted\">None.</p>");
    } else {
        let rows: Vec<Vec<String>> = v
            .metrics
            .iter()
            .map(|(k, val)| {
                let shown = match val {
                    serde_json::Value::Number(n) => format!("#{n}"),
                    serde_json::Value::String(s) => esc(s),
                    other => format!("<code>{}</code>", esc(&other.to_string())),
                };
                vec![format!("<code>{}</code>", esc(k)), shown]
            })
            .collect();
        body.push_str(&table(&["metric", "value"], &rows));
    }
    body.push_str("<h2>Audit history</h2>");
    body.push_str(&table(
        &["event", "time", "actor", "kind", "change", "reason"],
        &event_rows(&history),
    ));
    let api = format!("/api/models/{}/versions/{}", seg(&v.model), v.version);
    let _ = write!(body, "<p class=\"muted\">JSON: {}</p>", link(&api, &api));
    Ok(page(&format!("{} v{}", v.model, v.version), None, &body))
}

/// `GET /trials`: every trial, newest first.
pub async fn trials(State(ui): State<Ui>) -> PageResult {
    let trials = ui.all_trials(None, false).await?;
    let mut body = format!(
        "<h1>Trials</h1><p class=\"muted\">{} trials</p>",
        trials.len()
    );
    body.push_str(&table(&TRIAL_HEAD, &trial_rows(&trials)));
    Ok(page("Trials", None, &body))
}

/// Any other path: a 404 page, or JSON under `/api/`.
pub async fn not_found(uri: Uri) -> Response {
    let msg = format!("no page at {}", uri.path());
    if uri.path().starts_with("/api/") {
        let body = serde_json::json!({ "error": msg });
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    let body = format!("<h1>Not found</h1><p class=\"error\">{}</p>", esc(&msg));
    (StatusCode::NOT_FOUND, page("Not found", None, &body)).into_response()
}
