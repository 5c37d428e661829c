//! The JSON API (`/api/…`): the documents behind the pages, for scripts.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use super::json::{
    EventJson, ModelJson, ModelPageJson, ReportJson, TimeSeriesJson, TrialJson, VersionPageJson,
};
use super::{ApiError, Ui, parse_id};
use crate::error::RegistryError;

/// A query string that did not parse, as a 400 naming what was expected.
fn bad_query(expected: &str, e: &QueryRejection) -> ApiError {
    ApiError(RegistryError::InvalidArgument(format!(
        "query: expected {expected}, got {}",
        e.body_text()
    )))
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// `GET /api/models`: every model.
pub async fn models(State(ui): State<Ui>) -> ApiResult<Vec<ModelJson>> {
    let models = ui.all_models().await?;
    Ok(Json(models.iter().map(Into::into).collect()))
}

/// `GET /api/models/{name}`: the model, its versions and its trials.
pub async fn model(State(ui): State<Ui>, Path(name): Path<String>) -> ApiResult<ModelPageJson> {
    let (model, versions, trials) = ui.model_page(&name).await?;
    Ok(Json(ModelPageJson {
        model: (&model).into(),
        versions: versions.iter().map(Into::into).collect(),
        trials: trials.iter().map(Into::into).collect(),
    }))
}

/// `GET /api/models/{name}/versions/{version}`: the version (lineage
/// annotations, metrics) and its audit history.
pub async fn version(
    State(ui): State<Ui>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<VersionPageJson> {
    let (version, history) = ui.version_page(&name, &version).await?;
    Ok(Json(VersionPageJson {
        version: (&version).into(),
        history: history.iter().map(EventJson::from).collect(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct TrialsQuery {
    /// Only this model's trials.
    #[serde(default)]
    pub model: Option<String>,
    /// Only open trials.
    #[serde(default)]
    pub open: bool,
}

/// `GET /api/trials[?model=NAME][&open=true]`: trials, oldest first.
pub async fn trials(
    State(ui): State<Ui>,
    q: Result<Query<TrialsQuery>, QueryRejection>,
) -> ApiResult<Vec<TrialJson>> {
    let Query(q) = q.map_err(|e| bad_query("model=NAME and open=true|false", &e))?;
    let model = q.model.as_deref().filter(|m| !m.is_empty());
    let trials = ui.all_trials(model, q.open).await?;
    Ok(Json(trials.iter().map(Into::into).collect()))
}

/// `GET /api/trials/{id}`.
pub async fn trial(State(ui): State<Ui>, Path(id): Path<String>) -> ApiResult<TrialJson> {
    let id = parse_id("id", &id)?;
    let trial = ui.trials()?.find(id, "").await?;
    Ok(Json((&trial).into()))
}

/// `GET /api/trials/{id}/report`: the report `GetTrialReport` returns, plus
/// the judged gates and the score histogram.
pub async fn report(State(ui): State<Ui>, Path(id): Path<String>) -> ApiResult<ReportJson> {
    let id = parse_id("id", &id)?;
    let (trial, report) = ui.trials()?.report(id, "").await?;
    Ok(Json(ReportJson::new(&trial, &report)))
}

#[derive(Debug, Deserialize)]
pub struct SeriesQuery {
    /// Bucket width in seconds; chosen from the trial's span when absent.
    #[serde(default)]
    pub bucket: Option<u32>,
}

/// `GET /api/trials/{id}/timeseries[?bucket=SECONDS]`: per-arm figures per
/// time bucket.
pub async fn timeseries(
    State(ui): State<Ui>,
    Path(id): Path<String>,
    q: Result<Query<SeriesQuery>, QueryRejection>,
) -> ApiResult<TimeSeriesJson> {
    let Query(q) = q.map_err(|e| bad_query("bucket=SECONDS (a positive integer)", &e))?;
    let id = parse_id("id", &id)?;
    let (trial, series) = ui.trials()?.time_series(id, "", q.bucket).await?;
    Ok(Json(TimeSeriesJson::new(&trial, &series)))
}
