//! The registry's domain API: validation and limits, blobs before rows,
//! and the Watch feed. Transport-free: the gRPC service converts and
//! delegates here.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use crate::blob::BlobStore;
use crate::domain::{
    AliasRecord, DatasetRecord, EventFilter, EventRecord, Metrics, ModelRecord, NewDataset,
    NewVersion, VersionRecord,
};
use crate::error::{RegistryError, Result};
use crate::lifecycle::Status;
use crate::names::{VersionRef, validate_custom_alias, validate_name};
use crate::store::MetadataStore;
#[allow(unused_imports)] // the aggregate traits whose methods are called on the store
use crate::store::{
    AliasStore, DatasetStore, EventStore, LifecycleStore, ModelStore, VersionStore,
};
use crate::watch::{Feed, POLL_FALLBACK, READ_PAGE, Take};
use joust_models::ArtifactKind;
use joust_models::artifact::ArtifactCheckError;

/// Size limits on what clients send; a request over a limit gets
/// `INVALID_ARGUMENT` naming the field and the limit.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_artifact_bytes: u64,
    pub max_dataset_bytes: u64,
    pub max_annotations: usize,
    pub max_annotation_key: usize,
    pub max_annotation_value: usize,
    pub max_metrics_json: usize,
    pub max_text: usize,
    pub max_schema_columns: usize,
    pub default_page: u32,
    pub max_page: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_artifact_bytes: 256 << 20,
            max_dataset_bytes: 1 << 30,
            max_annotations: 64,
            max_annotation_key: 128,
            max_annotation_value: 4096,
            max_metrics_json: 64 << 10,
            max_text: 4096,
            max_schema_columns: 1024,
            default_page: 100,
            max_page: 1000,
        }
    }
}

/// What a client declares before streaming a version's bytes.
#[derive(Debug, Clone, Default)]
pub struct VersionMeta {
    pub model: String,
    pub kind: String,
    pub sha256: String,
    pub annotations: BTreeMap<String, String>,
    pub metrics_json: String,
}

/// What a client declares before streaming a dataset's bytes.
#[derive(Debug, Clone, Default)]
pub struct DatasetMeta {
    pub name: String,
    pub sha256: String,
    pub rows: u64,
    pub schema: Vec<String>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn MetadataStore>,
    blobs: BlobStore,
    limits: Limits,
    /// Set when the server shuts down: open Watch streams end so that a
    /// graceful drain is not held up by long-lived subscribers.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// The trials API on the same database, when the store supports it
    /// (set by `server::open`); `run` then also serves `joust.v1.Trials`.
    trials: Option<crate::trials::Trials>,
    /// Roll back by itself when a rollout is reported blocked.
    auto_rollback: bool,
    /// The registry's own metrics (store latency, Watch subscribers,
    /// records, reports), shared with the trials API.
    metrics: Arc<crate::metrics::RegistryMetrics>,
    /// The configured webhooks and their delivery log (`--webhooks`);
    /// `run` starts their delivery tasks.
    webhooks: Option<crate::webhooks::Webhooks>,
    /// The shared read side of Watch, started by the first subscriber.
    feed: Arc<std::sync::OnceLock<Arc<Feed>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("blobs", &self.blobs)
            .finish()
    }
}

fn invalid(msg: String) -> RegistryError {
    RegistryError::InvalidArgument(msg)
}

fn no_bytes() -> RegistryError {
    invalid("chunk: expected the artifact's bytes after the metadata, got none".to_owned())
}

/// Reads a whole upload into memory, refusing more than `max_bytes`.
async fn collect_limited<S, E>(what: &'static str, mut chunks: S, max_bytes: u64) -> Result<Bytes>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    RegistryError: From<E>,
{
    use futures::StreamExt;
    let mut out = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        if (out.len() + chunk.len()) as u64 > max_bytes {
            return Err(RegistryError::TooLarge {
                what,
                limit: max_bytes,
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.into())
}

impl Registry {
    pub fn new(store: Arc<dyn MetadataStore>, blobs: BlobStore, limits: Limits) -> Self {
        Self {
            store,
            blobs,
            limits,
            closing: Arc::new(tokio::sync::watch::Sender::new(false)),
            trials: None,
            auto_rollback: false,
            metrics: Arc::new(crate::metrics::RegistryMetrics::new()),
            webhooks: None,
            feed: Arc::default(),
        }
    }

    /// Attaches webhooks (same database as `store`).
    pub fn with_webhooks(mut self, webhooks: crate::webhooks::Webhooks) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    /// The configured webhooks, if any.
    pub fn webhooks(&self) -> Option<&crate::webhooks::Webhooks> {
        self.webhooks.as_ref()
    }

    /// Rolls a champion back by itself when its rollout is reported
    /// blocked (`joust registry --auto-rollback`).
    pub fn with_auto_rollback(mut self, on: bool) -> Self {
        self.auto_rollback = on;
        self
    }

    /// Attaches the trials API (same database as `store`).
    pub fn with_trials(mut self, trials: crate::trials::Trials) -> Self {
        self.trials = Some(trials.with_metrics(self.metrics.clone()));
        self
    }

    /// The registry's own metrics (`joust_registry_*`).
    pub fn metrics(&self) -> &Arc<crate::metrics::RegistryMetrics> {
        &self.metrics
    }

    pub fn trials(&self) -> Option<&crate::trials::Trials> {
        self.trials.as_ref()
    }

    /// Ends every open Watch stream (called when the server shuts down;
    /// subscribers reconnect, to this or another replica, from their cursor).
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    pub fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.store
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Clamps a requested page size (0 = default).
    pub fn page(&self, requested: u32) -> u32 {
        if requested == 0 {
            self.limits.default_page
        } else {
            requested.min(self.limits.max_page)
        }
    }

    fn check_text(&self, field: &str, value: &str) -> Result<()> {
        if value.len() > self.limits.max_text {
            return Err(invalid(format!(
                "{field}: expected at most {} bytes, got {}",
                self.limits.max_text,
                value.len()
            )));
        }
        Ok(())
    }

    fn check_annotations(&self, annotations: &BTreeMap<String, String>) -> Result<()> {
        let l = &self.limits;
        if annotations.len() > l.max_annotations {
            return Err(invalid(format!(
                "annotations: expected at most {} entries, got {}",
                l.max_annotations,
                annotations.len()
            )));
        }
        for (k, v) in annotations {
            if k.is_empty() || k.len() > l.max_annotation_key {
                return Err(invalid(format!(
                    "annotations: expected keys of 1 to {} bytes, got {:?} ({} bytes)",
                    l.max_annotation_key,
                    k.chars().take(40).collect::<String>(),
                    k.len()
                )));
            }
            if v.len() > l.max_annotation_value {
                return Err(invalid(format!(
                    "annotations[{k}]: expected at most {} bytes, got {}",
                    l.max_annotation_value,
                    v.len()
                )));
            }
        }
        Ok(())
    }

    fn parse_metrics(&self, text: &str) -> Result<Metrics> {
        if text.trim().is_empty() {
            return Ok(Metrics::new());
        }
        if text.len() > self.limits.max_metrics_json {
            return Err(invalid(format!(
                "metrics_json: expected at most {} bytes, got {}",
                self.limits.max_metrics_json,
                text.len()
            )));
        }
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            Ok(other) => Err(invalid(format!(
                "metrics_json: expected a JSON object, got {}",
                json_kind(&other)
            ))),
            Err(e) => Err(invalid(format!(
                "metrics_json: expected a JSON object, got invalid JSON ({e})"
            ))),
        }
    }

    /// Refuses `bytes` whose SHA-256 differs from a declared one.
    fn check_digest(declared: &str, bytes: &[u8]) -> Result<()> {
        if declared.is_empty() {
            return Ok(());
        }
        use sha2::Digest;
        let actual = hex::encode(sha2::Sha256::digest(bytes));
        if declared.eq_ignore_ascii_case(&actual) {
            Ok(())
        } else {
            Err(RegistryError::DigestMismatch {
                declared: declared.to_owned(),
                actual,
            })
        }
    }

    fn check_sha(field: &str, sha: &str) -> Result<()> {
        if !sha.is_empty() && (sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit())) {
            return Err(invalid(format!(
                "{field}: expected 64 hexadecimal characters (SHA-256), got {:?}",
                sha.chars().take(80).collect::<String>()
            )));
        }
        Ok(())
    }

    pub async fn create_model(
        &self,
        name: &str,
        description: &str,
        actor: &str,
    ) -> Result<ModelRecord> {
        validate_name("name", name)?;
        self.check_text("description", description)?;
        self.metrics
            .store_op(
                "create_model",
                self.store.create_model(name, description, actor),
            )
            .await
    }

    pub async fn get_model(&self, name: &str) -> Result<ModelRecord> {
        validate_name("name", name)?;
        self.metrics
            .store_op("get_model", self.store.get_model(name))
            .await
    }

    pub async fn list_models(&self, after: &str, page: u32) -> Result<Vec<ModelRecord>> {
        self.metrics
            .store_op(
                "list_models",
                self.store.list_models(after, self.page(page)),
            )
            .await
    }

    /// Validates `meta`, streams the bytes into the blob store (refusing a
    /// digest mismatch), then records the version. Nothing is recorded if
    /// anything fails.
    pub async fn register_version<S, E>(
        &self,
        meta: VersionMeta,
        chunks: S,
        actor: &str,
    ) -> Result<(VersionRecord, bool)>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        RegistryError: From<E>,
    {
        validate_name("metadata.model", &meta.model)?;
        let kind: ArtifactKind = meta
            .kind
            .parse()
            .map_err(|e| invalid(format!("metadata.kind: {e}")))?;
        Self::check_sha("metadata.sha256", &meta.sha256)?;
        self.check_annotations(&meta.annotations)?;
        let metrics = self.parse_metrics(&meta.metrics_json)?;
        // Fail fast before any upload when the model does not exist.
        self.metrics
            .store_op("get_model", self.store.get_model(&meta.model))
            .await?;
        let blob = match kind {
            // Never decoded, never served: streamed straight to the store.
            ArtifactKind::Opaque => {
                self.blobs
                    .put_stream(
                        "artifact",
                        chunks,
                        Some(meta.sha256.as_str()),
                        self.limits.max_artifact_bytes,
                    )
                    .await?
            }
            // A model is checked before anything is written: a refused
            // artifact leaves no blob and no row.
            ArtifactKind::Model(_) => {
                let bytes =
                    collect_limited("artifact", chunks, self.limits.max_artifact_bytes).await?;
                if bytes.is_empty() {
                    return Err(no_bytes());
                }
                Self::check_digest(&meta.sha256, &bytes)?;
                let checked = bytes.clone();
                let annotations = meta.annotations.clone();
                tokio::task::spawn_blocking(move || {
                    kind.check_annotated(
                        &checked,
                        annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    )
                })
                .await
                .map_err(|e| RegistryError::Corrupt(format!("artifact check panicked: {e}")))?
                .map_err(|e| match e {
                    ArtifactCheckError::OnnxMapping(m) => invalid(format!(
                        "metadata.annotations: ONNX output mapping: {m}; nothing was recorded"
                    )),
                    e => invalid(format!("chunk: {e}; nothing was recorded")),
                })?;
                let one = futures::stream::iter([Ok::<_, RegistryError>(bytes)]);
                self.blobs
                    .put_stream::<_, RegistryError>(
                        "artifact",
                        one,
                        Some(meta.sha256.as_str()),
                        self.limits.max_artifact_bytes,
                    )
                    .await?
            }
        };
        if blob.size == 0 {
            return Err(no_bytes());
        }
        self.metrics
            .store_op(
                "insert_version",
                self.store.insert_version(
                    NewVersion {
                        model: meta.model,
                        kind: kind.as_str().to_owned(),
                        artifact_uri: blob.uri,
                        sha256: blob.sha256,
                        size_bytes: blob.size,
                        annotations: meta.annotations,
                        metrics,
                    },
                    actor,
                ),
            )
            .await
    }

    pub async fn get_version(&self, reference: &str) -> Result<VersionRecord> {
        let r = VersionRef::parse("ref", reference)?;
        self.metrics
            .store_op("resolve_version", self.store.resolve_version(&r))
            .await
    }

    pub async fn list_versions(
        &self,
        model: &str,
        status: Option<Status>,
        after_version: u64,
        page: u32,
    ) -> Result<Vec<VersionRecord>> {
        validate_name("model", model)?;
        self.metrics
            .store_op(
                "list_versions",
                self.store
                    .list_versions(model, status, after_version, self.page(page)),
            )
            .await
    }

    /// The version a ref names and a stream of its artifact's bytes.
    pub async fn artifact(
        &self,
        reference: &str,
    ) -> Result<(VersionRecord, BoxStream<'static, Result<Bytes>>)> {
        let v = self.get_version(reference).await?;
        let bytes = self.blobs.get(&v.sha256).await?;
        Ok((v, bytes))
    }

    /// Moves a version to `to` as the lifecycle plan allows (see
    /// `lifecycle`); a promotion is a transition to `champion`.
    pub async fn transition(
        &self,
        reference: &str,
        to: Status,
        reason: &str,
        actor: &str,
    ) -> Result<VersionRecord> {
        self.transition_with(reference, to, reason, false, actor)
            .await
    }

    /// [`Registry::transition`], optionally overriding a candidate's missing
    /// evaluation on its way to `evaluated` (`force_evaluated`: needs a
    /// reason; written to the audit log as `evaluation_overridden`).
    pub async fn transition_with(
        &self,
        reference: &str,
        to: Status,
        reason: &str,
        force_evaluated: bool,
        actor: &str,
    ) -> Result<VersionRecord> {
        self.check_text("reason", reason)?;
        let v = self.get_version(reference).await?;
        self.metrics
            .store_op(
                "transition",
                self.store
                    .transition(&v.model, v.version, to, reason, force_evaluated, actor),
            )
            .await
    }

    pub async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: u64,
        actor: &str,
    ) -> Result<AliasRecord> {
        validate_name("model", model)?;
        validate_custom_alias("alias", alias)?;
        if version == 0 {
            return Err(invalid(
                "version: expected a version number ≥ 1, got 0".into(),
            ));
        }
        self.metrics
            .store_op(
                "set_alias",
                self.store.set_alias(model, alias, version, actor),
            )
            .await
    }

    pub async fn delete_alias(&self, model: &str, alias: &str, actor: &str) -> Result<()> {
        validate_name("model", model)?;
        validate_custom_alias("alias", alias)?;
        self.metrics
            .store_op("delete_alias", self.store.delete_alias(model, alias, actor))
            .await
    }

    pub async fn annotate(
        &self,
        reference: &str,
        annotations: BTreeMap<String, String>,
        metrics_json: &str,
        actor: &str,
    ) -> Result<VersionRecord> {
        self.check_annotations(&annotations)?;
        let metrics = self.parse_metrics(metrics_json)?;
        if annotations.is_empty() && metrics.is_empty() {
            return Err(invalid(
                "annotations: expected at least one annotation or metric, got none".into(),
            ));
        }
        let v = self.get_version(reference).await?;
        let current = v.annotations.len() + annotations.len();
        if current > self.limits.max_annotations * 4 {
            return Err(invalid(format!(
                "annotations: a version holds at most {} annotations",
                self.limits.max_annotations * 4
            )));
        }
        self.metrics
            .store_op(
                "annotate",
                self.store
                    .annotate(&v.model, v.version, annotations, metrics, actor),
            )
            .await
    }

    /// Retires the champion and makes the champion it replaced champion
    /// again: rollbacks walk back the chain of promotions, never returning
    /// to a version a rollback retired. Returns (retired, champion).
    pub async fn rollback(
        &self,
        model: &str,
        reason: &str,
        actor: &str,
    ) -> Result<(VersionRecord, VersionRecord)> {
        self.rollback_to(model, None, reason, actor).await
    }

    /// [`Registry::rollback`], or with `to: Some(n)` back to the named
    /// former champion `n` (audited as a rollback). Concurrent rollbacks
    /// of one model serialise.
    pub async fn rollback_to(
        &self,
        model: &str,
        to: Option<u64>,
        reason: &str,
        actor: &str,
    ) -> Result<(VersionRecord, VersionRecord)> {
        validate_name("model", model)?;
        self.check_text("reason", reason)?;
        if to == Some(0) {
            return Err(invalid("to: expected a version number ≥ 1, got 0".into()));
        }
        self.metrics
            .store_op("rollback", self.store.rollback(model, to, reason, actor))
            .await
    }

    /// A router's report that no node can serve `model` `version` (the
    /// champion): one `rollout_blocked` event per (model, version) with the
    /// nodes' reasons, then, with auto-rollback on, a rollback by the
    /// registry itself (only by the report that wrote the event, so several
    /// routers reporting roll back once). Returns (recorded, rolled back,
    /// champion after).
    pub async fn report_rollout_blocked(
        &self,
        model: &str,
        version: u64,
        reasons: &[(String, String)],
        actor: &str,
    ) -> Result<(bool, bool, Option<u64>)> {
        validate_name("model", model)?;
        if version == 0 {
            return Err(invalid(
                "version: expected the blocked champion's version (≥ 1), got 0".into(),
            ));
        }
        let mut reason = reasons
            .iter()
            .map(|(node, why)| format!("{node}: {why}"))
            .collect::<Vec<_>>()
            .join("; ");
        if reason.is_empty() {
            reason = "no node can serve it".to_owned();
        }
        if reason.len() > self.limits.max_text {
            let mut cut = self.limits.max_text.saturating_sub(3);
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
            reason.push_str("...");
        }
        let (recorded, champion) = self
            .metrics
            .store_op(
                "record_rollout_blocked",
                self.store
                    .record_rollout_blocked(model, version, &reason, actor),
            )
            .await?;
        if !(recorded && self.auto_rollback) {
            return Ok((recorded, false, champion));
        }
        let why = format!("auto-rollback: rollout of version {version} blocked");
        match self.rollback(model, &why, "joust-registry").await {
            Ok((_, champion)) => {
                tracing::warn!(
                    model,
                    version,
                    champion = champion.version,
                    "rollout blocked: rolled back"
                );
                Ok((true, true, Some(champion.version)))
            }
            Err(error) => {
                tracing::warn!(model, version, %error, "rollout blocked: auto-rollback not possible");
                Ok((true, false, Some(version)))
            }
        }
    }

    pub async fn list_events(
        &self,
        model: &str,
        after_id: u64,
        page: u32,
    ) -> Result<Vec<EventRecord>> {
        let models = if model.is_empty() {
            vec![]
        } else {
            validate_name("model", model)?;
            vec![model.to_owned()]
        };
        self.metrics
            .store_op(
                "list_events",
                self.store.list_events(&EventFilter {
                    models,
                    after_id,
                    limit: self.page(page),
                }),
            )
            .await
    }

    /// The Watch feed, started on first use: one task reads each new
    /// event from the store once for every stream of this registry.
    fn feed(&self) -> Arc<Feed> {
        self.feed
            .get_or_init(|| {
                let feed = Arc::new(Feed::new(self.store.hub().latest()));
                tokio::spawn(run_feed(
                    self.store.clone(),
                    self.metrics.clone(),
                    Arc::downgrade(&feed),
                    self.closing.subscribe(),
                ));
                feed
            })
            .clone()
    }

    /// Every event after `after_id` (filtered by model when `models` is not
    /// empty), then new ones as they commit. The stream ends when the
    /// receiver is dropped; a store error is sent and ends it. New events
    /// come from the shared [`Feed`] (one store read per change for all
    /// streams); a stream reads the store itself only while it is older
    /// than what the feed keeps, or after the feed's read failed.
    pub fn watch(
        &self,
        after_id: u64,
        models: Vec<String>,
    ) -> Result<mpsc::Receiver<Result<EventRecord>>> {
        for m in &models {
            validate_name("models", m)?;
        }
        let (tx, rx) = mpsc::channel(256);
        let store = self.store.clone();
        let metrics = self.metrics.clone();
        let feed = self.feed();
        let mut closing = self.closing.subscribe();
        tokio::spawn(async move {
            let _subscriber = metrics.watch_subscriber();
            let mut signal = feed.subscribe();
            let mut failures = signal.borrow().failures;
            let mut cursor = after_id;
            let page = READ_PAGE as usize;
            loop {
                let now = *signal.borrow_and_update();
                let feed_failed = now.failures != failures;
                failures = now.failures;
                let taken = if feed_failed {
                    Take::Behind
                } else {
                    feed.after(cursor, page)
                };
                let batch: Vec<Arc<EventRecord>> = match taken {
                    Take::Events(events) => events,
                    Take::Behind => {
                        metrics.watch_read("subscriber");
                        let filter = EventFilter {
                            models: vec![],
                            after_id: cursor,
                            limit: READ_PAGE,
                        };
                        match metrics
                            .store_op("list_events", store.list_events(&filter))
                            .await
                        {
                            Ok(b) => b.into_iter().map(Arc::new).collect(),
                            Err(e) => {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                        }
                    }
                };
                let full = batch.len() == page;
                for ev in batch {
                    cursor = ev.id;
                    if models.is_empty() || models.contains(&ev.model) {
                        if tx.send(Ok(EventRecord::clone(&ev))).await.is_err() {
                            return;
                        }
                        metrics.watch_sent();
                    }
                }
                if full {
                    continue;
                }
                if *closing.borrow() {
                    return;
                }
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = closing.changed() => return,
                    _ = signal.changed() => {}
                    // A safety net: look at the feed again even unwoken.
                    _ = tokio::time::sleep(POLL_FALLBACK) => {}
                }
            }
        });
        Ok(rx)
    }

    fn check_schema(&self, schema: &[String]) -> Result<()> {
        if schema.len() > self.limits.max_schema_columns {
            return Err(invalid(format!(
                "metadata.schema: expected at most {} columns, got {}",
                self.limits.max_schema_columns,
                schema.len()
            )));
        }
        for c in schema {
            if c.is_empty() || c.len() > 128 {
                return Err(invalid(format!(
                    "metadata.schema: expected column names of 1 to 128 bytes, got {:?}",
                    c.chars().take(40).collect::<String>()
                )));
            }
        }
        Ok(())
    }

    pub async fn register_dataset<S, E>(
        &self,
        meta: DatasetMeta,
        chunks: S,
        actor: &str,
    ) -> Result<(DatasetRecord, bool)>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        RegistryError: From<E>,
    {
        validate_name("metadata.name", &meta.name)?;
        Self::check_sha("metadata.sha256", &meta.sha256)?;
        self.check_annotations(&meta.annotations)?;
        self.check_schema(&meta.schema)?;
        let blob = self
            .blobs
            .put_stream(
                "dataset",
                chunks,
                Some(meta.sha256.as_str()),
                self.limits.max_dataset_bytes,
            )
            .await?;
        self.metrics
            .store_op(
                "insert_dataset",
                self.store.insert_dataset(
                    NewDataset {
                        name: meta.name,
                        uri: blob.uri,
                        sha256: blob.sha256,
                        size_bytes: blob.size,
                        rows: meta.rows,
                        schema: meta.schema,
                        annotations: meta.annotations,
                    },
                    actor,
                ),
            )
            .await
    }

    pub async fn get_dataset(&self, reference: &str) -> Result<DatasetRecord> {
        let r = VersionRef::parse("ref", reference)?;
        self.metrics
            .store_op("resolve_dataset", self.store.resolve_dataset(&r))
            .await
    }

    pub async fn list_datasets(
        &self,
        name: &str,
        after: Option<(String, u64)>,
        page: u32,
    ) -> Result<Vec<DatasetRecord>> {
        if !name.is_empty() {
            validate_name("name", name)?;
        }
        self.metrics
            .store_op(
                "list_datasets",
                self.store.list_datasets(name, after, self.page(page)),
            )
            .await
    }

    pub async fn dataset_bytes(
        &self,
        reference: &str,
    ) -> Result<(DatasetRecord, BoxStream<'static, Result<Bytes>>)> {
        let d = self.get_dataset(reference).await?;
        let bytes = self.blobs.get(&d.sha256).await?;
        Ok((d, bytes))
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The feed's task: after every announcement (and every [`POLL_FALLBACK`])
/// reads the events after the feed's head from the store, once, and hands
/// them to the feed. Ends when the registry closes its streams or is
/// dropped.
async fn run_feed(
    store: Arc<dyn MetadataStore>,
    metrics: Arc<crate::metrics::RegistryMetrics>,
    feed: std::sync::Weak<Feed>,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let mut announced = store.hub().subscribe();
    loop {
        announced.borrow_and_update();
        let Some(f) = feed.upgrade() else { return };
        let filter = EventFilter {
            models: vec![],
            after_id: f.signal().head,
            limit: READ_PAGE,
        };
        metrics.watch_read("feed");
        let full = match metrics
            .store_op("list_events", store.list_events(&filter))
            .await
        {
            Ok(batch) => {
                let full = batch.len() == READ_PAGE as usize;
                f.push(batch);
                full
            }
            Err(error) => {
                tracing::warn!(%error, "Watch feed: reading new events failed; retrying");
                f.failed();
                false
            }
        };
        drop(f);
        if full {
            continue;
        }
        if *closing.borrow() {
            return;
        }
        tokio::select! {
            _ = closing.changed() => return,
            changed = announced.changed() => {
                if changed.is_err() {
                    // The hub is gone (store dropped): poll instead.
                    tokio::time::sleep(POLL_FALLBACK).await;
                }
            }
            _ = tokio::time::sleep(POLL_FALLBACK) => {}
        }
    }
}
