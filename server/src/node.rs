//! The node: the model table, the loader, the scorer, metrics and health,
//! and the operations on them (sync a ref, reload, unload). gRPC handlers
//! and the registry follower call these.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use tokio::sync::Mutex;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{info, warn};

use crate::config::{ModelRef, NodeConfig};
use crate::error::ServeError;
use crate::loader::Loader;
use crate::metrics::Metrics;
use crate::scoring::Scorer;
use crate::table::{LoadedModel, ModelTable};

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
            config,
        })
    }

    /// Resolves `reference` in the registry and makes the node serve what
    /// it points at. Unless `force`, a version already loaded is reused.
    /// A failure leaves the previous version serving and is recorded on
    /// the ref (when followed).
    pub async fn sync(&self, reference: &ModelRef, force: bool) -> Result<LoadOutcome, ServeError> {
        let result = self.sync_inner(reference, force).await;
        match &result {
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
            }
            Err(error) => {
                let failures = self.table.mark_failed(&reference.text, error.to_string());
                self.metrics
                    .load_failures
                    .get_or_create(&Metrics::model(&reference.model))
                    .inc();
                warn!(%error, reference = %reference.text, failures, "load refused; previous version keeps serving");
            }
        }
        self.refresh_health().await;
        result
    }

    async fn sync_inner(
        &self,
        reference: &ModelRef,
        force: bool,
    ) -> Result<LoadOutcome, ServeError> {
        let _guard = self.load_lock.lock().await;
        let target = self.loader.resolve(&reference.text).await?;
        if target.model != reference.model {
            return Err(ServeError::Protocol(format!(
                "GetVersion {}: answered model {:?}",
                reference.text, target.model
            )));
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
                let loaded: Arc<LoadedModel> =
                    Arc::new(self.loader.load(&target.model, target.version).await?);
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

    /// Follow-all mode: lists the registry's models and follows the
    /// champion and challenger of each (of `model` only when given) that
    /// is not followed yet; stops following a champion or challenger ref
    /// whose alias has gone. Does nothing unless `follow_all` is set.
    pub async fn discover(&self, model: Option<&str>) {
        if !self.config.follow_all {
            return;
        }
        let listed = match self.loader.list_models().await {
            Ok(listed) => listed,
            Err(error) => {
                warn!(%error, "follow-all: cannot list the registry's models");
                return;
            }
        };
        let listed: Vec<_> = listed
            .into_iter()
            .filter(|m| model.is_none_or(|name| m.name == name))
            .collect();
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
                // Followed once its first load succeeds; a failure is
                // logged by `sync` and retried at the next discovery.
                Ok(reference) => {
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

    /// Publishes overall and per-model health from the table.
    pub async fn refresh_health(&self) {
        let snapshot = self.table.snapshot();
        let overall = if snapshot.ready() {
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
