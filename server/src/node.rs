//! The node: the model table, the loader, the scorer, metrics and health,
//! and the operations on them (sync a ref, reload, unload). gRPC handlers
//! and the registry follower call these.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{Mutex, watch};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{debug, info, warn};

use crate::config::{ModelRef, NodeConfig};
use crate::error::ServeError;
use crate::loader::Loader;
use crate::metrics::Metrics;
use crate::scoring::Scorer;
use crate::table::{LoadedModel, ModelTable, optional};

/// The result of syncing or reloading one ref.
#[derive(Debug, Clone)]
pub struct LoadOutcome {
    pub reference: String,
    pub model: String,
    /// The version the ref pointed at before, if any.
    pub old_version: Option<u64>,
    pub new_version: u64,
    pub sha256: String,
    /// Time spent loading; zero when the version was already loaded.
    pub load_ms: u64,
}

/// Health service name for one model.
pub fn health_name(model: &str) -> String {
    format!("joust.model.{model}")
}

#[derive(Debug)]
pub struct Node {
    pub config: NodeConfig,
    pub table: ModelTable,
    pub loader: Loader,
    pub scorer: Scorer,
    pub metrics: Arc<Metrics>,
    health: HealthReporter,
    /// Serialises loads so the last resolution wins.
    load_lock: Mutex<()>,
    /// Every model name health was ever published for.
    known_models: Mutex<BTreeSet<String>>,
    pub registry_connected: AtomicBool,
    pub watch_cursor: AtomicU64,
    /// The first full sync (every configured ref, then follow-all
    /// discovery) has been tried: until then the node is not ready.
    started: AtomicBool,
    /// Turns true when the node shuts down (ends long-lived streams).
    closing: watch::Sender<bool>,
}

/// Why a sync failed, and how far it got.
enum SyncError {
    /// Resolving the ref failed.
    Resolve(ServeError),
    /// Loading the version the ref resolved to failed.
    Load(u64, ServeError),
}

impl Node {
    pub fn new(config: NodeConfig, health: HealthReporter) -> Result<Self, ServeError> {
        config.validate()?;
        let refs = config
            .models
            .iter()
            .map(|r| ModelRef::parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            table: ModelTable::new(refs).with_unbound_grace(config.unbound_grace),
            loader: Loader::new(
                &config.registry_url,
                config.max_message_bytes,
                &config.client,
            )?,
            scorer: Scorer::new(config.inline_rows, config.max_blocking_batches),
            metrics: Arc::new(Metrics::new()),
            health,
            load_lock: Mutex::new(()),
            known_models: Mutex::new(BTreeSet::new()),
            registry_connected: AtomicBool::new(false),
            watch_cursor: AtomicU64::new(0),
            started: AtomicBool::new(false),
            closing: watch::Sender::new(false),
            config,
        })
    }

    /// Records one inference request in the metrics, labelled with
    /// `model` if the node serves or follows it, else
    /// [`crate::metrics::UNKNOWN_MODEL`] (clients choose the names they
    /// send; the label's values stay bounded).
    pub fn observe_request(
        &self,
        api: &'static str,
        model: &str,
        code: tonic::Code,
        elapsed: std::time::Duration,
    ) {
        let label = if self.table.snapshot().knows(model) {
            model
        } else {
            crate::metrics::UNKNOWN_MODEL
        };
        self.metrics.observe(api, label, code, elapsed);
    }

    /// The first sync: every configured ref, then follow-all discovery;
    /// the node may report ready from then on.
    pub async fn initial_sync(&self) {
        self.reconcile(None, false).await;
        self.discover(None).await;
        self.started.store(true, Ordering::Relaxed);
        self.refresh_health().await;
    }

    /// Signals shutdown to long-lived streams (WatchServingState).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once the node shuts down.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|closing| *closing).await;
        }
    }

    /// Drops each unbound version when its grace ends, until shutdown.
    pub async fn sweep_unbound(&self) {
        let mut changes = self.table.serving_state().subscribe();
        let closed = self.closed();
        tokio::pin!(closed);
        loop {
            let next = self.table.next_expiry();
            tokio::select! {
                () = &mut closed => return,
                changed = changes.changed() => if changed.is_err() { return },
                () = sleep_until_opt(next) => {
                    self.table.sweep();
                    self.metrics
                        .models_loaded
                        .set(self.table.snapshot().models().count() as i64);
                    self.refresh_health().await;
                }
            }
        }
    }

    /// Resolves `reference` in the registry and makes the node serve what
    /// it points at. Unless `force`, a version already loaded is reused.
    /// A failure leaves the previous version serving and is recorded on
    /// the ref (when followed).
    pub async fn sync(&self, reference: &ModelRef, force: bool) -> Result<LoadOutcome, ServeError> {
        let guard = self.load_lock.lock().await;
        let result = self.sync_locked(reference, force).await;
        let result = match result {
            Ok(outcome) => {
                if outcome.old_version != Some(outcome.new_version) {
                    self.metrics
                        .swaps
                        .get_or_create(&Metrics::model(&outcome.model))
                        .inc();
                    info!(
                        reference = %outcome.reference,
                        model = %outcome.model,
                        old_version = outcome.old_version.unwrap_or(0),
                        new_version = outcome.new_version,
                        load_ms = outcome.load_ms,
                        "ref swapped"
                    );
                }
                Ok(outcome)
            }
            Err(SyncError::Resolve(error)) if error.is_absent() && optional(reference) => {
                // `m@challenger` with no open trial: normal, not a failure.
                self.table.mark_absent(reference);
                debug!(reference = %reference.text, "alias points at nothing; following it with no version");
                Err(error)
            }
            Err(SyncError::Resolve(error)) => {
                let failures = self.table.mark_failed(&reference.text, error.to_string());
                self.load_failed(reference, &error, failures);
                Err(error)
            }
            Err(SyncError::Load(version, error)) => {
                let failures = if error.is_refusal() {
                    self.table.refuse(reference, version, error.to_string())
                } else {
                    self.table
                        .abandon_load(reference, version, error.to_string())
                };
                self.load_failed(reference, &error, failures);
                Err(error)
            }
        };
        drop(guard);
        self.refresh_health().await;
        result
    }

    fn load_failed(&self, reference: &ModelRef, error: &ServeError, failures: u32) {
        self.metrics
            .load_failures
            .get_or_create(&Metrics::model(&reference.model))
            .inc();
        warn!(%error, reference = %reference.text, failures, "load refused; previous version keeps serving");
    }

    async fn sync_locked(
        &self,
        reference: &ModelRef,
        force: bool,
    ) -> Result<LoadOutcome, SyncError> {
        let target = self
            .loader
            .resolve(&reference.text)
            .await
            .map_err(SyncError::Resolve)?;
        if target.model != reference.model {
            return Err(SyncError::Resolve(ServeError::Protocol(format!(
                "GetVersion {}: answered model {:?}",
                reference.text, target.model
            ))));
        }
        let snapshot = self.table.snapshot();
        let old_version = snapshot.binding(&reference.text).and_then(|b| b.version);
        let existing = snapshot
            .get(&target.model, target.version)
            .filter(|m| m.sha256.eq_ignore_ascii_case(&target.sha256))
            .cloned();
        drop(snapshot);
        let (loaded, load_ms) = match existing {
            Some(m) if !force => (m, 0),
            _ => {
                self.table.begin_load(reference, target.version);
                let loaded: Arc<LoadedModel> = Arc::new(
                    self.loader
                        .load(&target.model, target.version)
                        .await
                        .map_err(|e| SyncError::Load(target.version, e))?,
                );
                self.metrics
                    .loads
                    .get_or_create(&Metrics::model(&loaded.name))
                    .inc();
                let ms = loaded.load_duration.as_millis() as u64;
                (loaded, ms)
            }
        };
        let outcome = LoadOutcome {
            reference: reference.text.clone(),
            model: loaded.name.clone(),
            old_version,
            new_version: loaded.version,
            sha256: loaded.sha256.clone(),
            load_ms,
        };
        self.table.install(reference, loaded);
        self.metrics
            .models_loaded
            .set(self.table.snapshot().models().count() as i64);
        Ok(outcome)
    }

    /// Admin Reload: re-resolves and reloads `text` now (a new ref is
    /// followed once its first load succeeds).
    pub async fn reload(&self, text: &str) -> Result<LoadOutcome, ServeError> {
        let reference = ModelRef::parse(text)?;
        self.sync(&reference, true).await
    }

    /// Admin Unload: stops following `text`.
    pub async fn unload(&self, text: &str) -> Result<(String, Option<u64>), ServeError> {
        let binding = self.table.unfollow(text)?;
        self.metrics
            .models_loaded
            .set(self.table.snapshot().models().count() as i64);
        self.refresh_health().await;
        info!(
            reference = text,
            version = binding.version.unwrap_or(0),
            "ref unloaded"
        );
        Ok((binding.reference.model, binding.version))
    }

    /// Syncs every followed ref of `model` (every ref when `None`); with
    /// `only_failed`, only those whose last load failed.
    pub async fn reconcile(&self, model: Option<&str>, only_failed: bool) {
        let refs: Vec<ModelRef> = self
            .table
            .snapshot()
            .bindings()
            .iter()
            .filter(|b| model.is_none_or(|m| b.reference.model == m))
            .filter(|b| !only_failed || b.state == crate::table::RefState::Failed)
            .map(|b| b.reference.clone())
            .collect();
        for reference in refs {
            // Failures are recorded on the ref by `sync`.
            let _ = self.sync(&reference, false).await;
        }
    }

    /// Follow-all mode: lists the registry's models (reads only `model`
    /// when given) and follows the champion and challenger of each that
    /// is not followed yet; stops following a champion or challenger ref
    /// whose alias has gone. Does nothing unless `follow_all` is set.
    pub async fn discover(&self, model: Option<&str>) {
        if !self.config.follow_all {
            return;
        }
        // One model (a Watch event): read only that model; otherwise the
        // whole listing.
        let listed = match model {
            Some(name) => self
                .loader
                .get_listed(name)
                .await
                .map(|m| m.into_iter().collect::<Vec<_>>()),
            None => self.loader.list_models().await,
        };
        let listed = match listed {
            Ok(listed) => listed,
            Err(error) => {
                warn!(%error, "follow-all: cannot list the registry's models");
                return;
            }
        };
        let followed: BTreeSet<String> = self
            .table
            .snapshot()
            .bindings()
            .iter()
            .map(|b| b.reference.text.clone())
            .collect();
        let plan = crate::discovery::plan(&listed, &followed);
        for text in plan.drop {
            // Already gone (a concurrent Unload) is fine.
            let _ = self.unload(&text).await;
        }
        for text in plan.add {
            match ModelRef::parse(&text) {
                // Followed before its first load, so readiness waits for
                // it and a failure is retried with backoff (and logged
                // by `sync`).
                Ok(reference) => {
                    self.table.follow(&reference);
                    let _ = self.sync(&reference, false).await;
                }
                Err(error) => warn!(%error, reference = %text, "follow-all: skipping a model"),
            }
        }
    }

    /// Most consecutive failures among followed refs (0: all fine).
    pub fn max_failures(&self) -> u32 {
        self.table
            .snapshot()
            .bindings()
            .iter()
            .map(|b| b.failures)
            .max()
            .unwrap_or(0)
    }

    /// Ready to serve (health `""` SERVING, OIP ServerReady): the first
    /// sync has been tried and every champion ref has a version or a
    /// refused artifact (`Snapshot::ready`).
    pub fn ready(&self) -> bool {
        self.started.load(Ordering::Relaxed) && self.table.snapshot().ready()
    }

    /// Publishes overall and per-model health from the table.
    pub async fn refresh_health(&self) {
        let snapshot = self.table.snapshot();
        let overall = if self.started.load(Ordering::Relaxed) && snapshot.ready() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        let mut names: BTreeSet<String> = snapshot
            .bindings()
            .iter()
            .map(|b| b.reference.model.clone())
            .chain(snapshot.models().map(|m| m.name.clone()))
            .collect();
        {
            let mut known = self.known_models.lock().await;
            known.extend(names.iter().cloned());
            names.clone_from(&known);
        }
        let statuses: Vec<(String, ServingStatus)> = names
            .into_iter()
            .map(|name| {
                let status = if snapshot.versions(&name).is_empty() {
                    ServingStatus::NotServing
                } else {
                    ServingStatus::Serving
                };
                (name, status)
            })
            .collect();
        drop(snapshot);
        self.health.set_service_status("", overall).await;
        for (name, status) in statuses {
            self.health
                .set_service_status(health_name(&name), status)
                .await;
        }
    }
}

/// Sleeps until `at`, or forever when `None`.
async fn sleep_until_opt(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
