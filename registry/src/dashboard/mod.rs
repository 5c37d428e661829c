//! The trial dashboard: a read-only HTTP UI (server-rendered HTML with
//! inline SVG charts, no front-end build step) and the JSON API behind it.
//!
//! A thin edge like `grpc`: handlers call [`Registry`] and [`Trials`] and
//! render; no figure is computed here. A trial's report comes from
//! `Trials::report` — the code `GetTrialReport` runs — and its time series
//! from `Trials::time_series`, which summarises each bucket with the same
//! report builder. It knows nothing of gRPC. [`router`] builds the axum
//! router (to embed it), [`serve`] runs it on a bound listener.

mod api;
mod approvals;
pub mod auth;
mod charts;
mod html;
pub mod json;
mod pages;
pub mod sequential_json;
mod serving_page;
mod trial_charts;
mod trial_page;

use std::future::Future;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::error::{RegistryError, Result};
use crate::registry::Registry;
use crate::trials::Trials;

/// Default listen address of the dashboard.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7080";
/// Seconds between refreshes of an open trial's page (`?refresh=` changes
/// it, `0` turns it off).
pub const DEFAULT_REFRESH_SECONDS: u32 = 5;
/// Most items listed on one page or API answer (models, versions, trials,
/// events).
pub const MAX_LISTED: usize = 10_000;

#[derive(Debug, Clone)]
struct Ui {
    registry: Registry,
    routers: std::sync::Arc<Routers>,
}

/// The routers the serving page asks (`RouterAdmin.ListRoutes` and
/// `ListNodeStates`) and the credentials it asks them with.
#[derive(Debug, Clone, Default)]
pub struct Routers {
    /// gRPC URLs or `host:port`; empty: the serving page says none is set.
    pub urls: Vec<String>,
    pub security: joust_client::ClientSecurity,
}

impl Ui {
    fn trials(&self) -> Result<&Trials> {
        self.registry.trials().ok_or_else(|| {
            RegistryError::NotFound("trials are not enabled on this registry".to_owned())
        })
    }
}

/// The dashboard's routes: HTML pages under `/`, JSON under `/api/`;
/// open (authentication off).
pub fn router(registry: Registry) -> Router {
    router_with(registry, None)
}

/// [`router`] behind `door`: with an authenticator every request needs a
/// token granting `reader` (header or the `/login` cookie; see [`auth`]).
pub fn router_with(registry: Registry, door: auth::Door) -> Router {
    router_full(registry, door, Routers::default())
}

/// [`router_with`] whose serving page asks `routers`.
pub fn router_full(registry: Registry, door: auth::Door, routers: Routers) -> Router {
    let login = Router::new()
        .route("/login", get(auth::login_form).post(auth::login))
        .with_state(door.clone());
    Router::new()
        .route("/", get(pages::models))
        .route("/models", get(pages::models))
        .route("/models/{name}", get(pages::model))
        .route("/models/{name}/versions/{version}", get(pages::version))
        .route("/trials", get(pages::trials))
        .route("/trials/{id}", get(trial_page::trial))
        .route("/approvals", get(approvals::page_html))
        .route("/api/approvals", get(approvals::api))
        .route("/serving", get(serving_page::page_html))
        .route("/api/serving", get(serving_page::api))
        .route("/api/models", get(api::models))
        .route("/api/models/{name}", get(api::model))
        .route("/api/models/{name}/versions/{version}", get(api::version))
        .route("/api/trials", get(api::trials))
        .route("/api/trials/{id}", get(api::trial))
        .route("/api/trials/{id}/report", get(api::report))
        .route("/api/trials/{id}/timeseries", get(api::timeseries))
        .fallback(pages::not_found)
        .with_state(Ui {
            registry,
            routers: std::sync::Arc::new(routers),
        })
        .merge(login)
        .layer(axum::middleware::from_fn_with_state(
            door,
            auth::require_reader,
        ))
}

/// Serves the dashboard on `listener` until `shutdown` resolves (open).
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    serve_with(listener, registry, None, shutdown).await
}

/// [`serve`] behind `door` (see [`router_with`]).
pub async fn serve_with(
    listener: TcpListener,
    registry: Registry,
    door: auth::Door,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    serve_full(listener, registry, door, Routers::default(), shutdown).await
}

/// [`serve_with`] whose serving page asks `routers`.
pub async fn serve_full(
    listener: TcpListener,
    registry: Registry,
    door: auth::Door,
    routers: Routers,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router_full(registry, door, routers))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| RegistryError::Config(format!("dashboard HTTP server: {e}")))
}

/// The HTTP status for a registry error (exhaustive, like `grpc::status`).
fn http_status(e: &RegistryError) -> StatusCode {
    match e {
        RegistryError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
        RegistryError::NotFound(_) => StatusCode::NOT_FOUND,
        RegistryError::AlreadyExists(_) | RegistryError::FailedPrecondition(_) => {
            StatusCode::CONFLICT
        }
        RegistryError::DigestMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        RegistryError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        RegistryError::Database(_)
        | RegistryError::Migration(_)
        | RegistryError::Blob(_)
        | RegistryError::Corrupt(_)
        | RegistryError::Config(_)
        | RegistryError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A failed API request: `{"error": "…"}` with the matching status.
#[derive(Debug)]
struct ApiError(RegistryError);

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = http_status(&self.0);
        if status.is_server_error() {
            tracing::warn!(error = %self.0, "dashboard API request failed");
        }
        let body = serde_json::json!({ "error": self.0.to_string() });
        (status, axum::Json(body)).into_response()
    }
}

/// A failed page request: an HTML page saying what went wrong.
#[derive(Debug)]
struct PageError(RegistryError);

impl From<RegistryError> for PageError {
    fn from(e: RegistryError) -> Self {
        Self(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = http_status(&self.0);
        if status.is_server_error() {
            tracing::warn!(error = %self.0, "dashboard page failed");
        }
        let title = status.canonical_reason().unwrap_or("error");
        let body = format!(
            "<h1>{}</h1><p class=\"error\">{}</p>",
            html::esc(title),
            html::esc(&self.0.to_string())
        );
        (status, html::page(title, None, &body)).into_response()
    }
}

/// Parses a path segment that must be a positive integer.
fn parse_id(field: &str, raw: &str) -> Result<u64> {
    match raw.parse::<u64>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(RegistryError::InvalidArgument(format!(
            "{field}: expected a positive integer, got {:?}",
            raw.chars().take(40).collect::<String>()
        ))),
    }
}

/// Every page of a paged listing, up to [`MAX_LISTED`] items.
async fn collect_pages<T, K, F, Fut>(first: K, mut next: F, key: impl Fn(&T) -> K) -> Result<Vec<T>>
where
    F: FnMut(K) -> Fut,
    Fut: Future<Output = Result<Vec<T>>>,
{
    let mut all = Vec::new();
    let mut after = first;
    loop {
        let page = next(after).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = key(last);
        all.extend(page);
        if all.len() >= MAX_LISTED {
            all.truncate(MAX_LISTED);
            break;
        }
    }
    Ok(all)
}

impl Ui {
    /// A model, its versions and its trials.
    async fn model_page(
        &self,
        name: &str,
    ) -> Result<(
        crate::domain::ModelRecord,
        Vec<crate::domain::VersionRecord>,
        Vec<crate::trials::Trial>,
    )> {
        let model = self.registry.get_model(name).await?;
        let versions = self.all_versions(name).await?;
        let trials = match self.registry.trials() {
            Some(_) => self.all_trials(Some(name), false).await?,
            None => Vec::new(),
        };
        Ok((model, versions, trials))
    }

    /// A version and its audit events, oldest first.
    async fn version_page(
        &self,
        name: &str,
        version: &str,
    ) -> Result<(
        crate::domain::VersionRecord,
        Vec<crate::domain::EventRecord>,
    )> {
        let v = parse_id("version", version)?;
        let record = self.registry.get_version(&format!("{name}:{v}")).await?;
        let mut events = self.all_events(&record.model).await?;
        events.retain(|e| e.version == Some(v));
        Ok((record, events))
    }

    async fn all_models(&self) -> Result<Vec<crate::domain::ModelRecord>> {
        let r = &self.registry;
        collect_pages(
            String::new(),
            |after| async move { r.list_models(&after, u32::MAX).await },
            |m| m.name.clone(),
        )
        .await
    }

    async fn all_versions(&self, model: &str) -> Result<Vec<crate::domain::VersionRecord>> {
        let r = &self.registry;
        collect_pages(
            0,
            |after| async move { r.list_versions(model, None, after, u32::MAX).await },
            |v| v.version,
        )
        .await
    }

    /// The audit events of one model (or of every model when empty).
    async fn all_events(&self, model: &str) -> Result<Vec<crate::domain::EventRecord>> {
        let r = &self.registry;
        collect_pages(
            0,
            |after| async move { r.list_events(model, after, u32::MAX).await },
            |e| e.id,
        )
        .await
    }

    async fn all_trials(
        &self,
        model: Option<&str>,
        open_only: bool,
    ) -> Result<Vec<crate::trials::Trial>> {
        let t = self.trials()?;
        collect_pages(
            0,
            |after| async move { t.list(model, open_only, after, 1000).await },
            |t| t.id,
        )
        .await
    }
}
