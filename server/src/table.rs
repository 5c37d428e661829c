//! The model table: an immutable snapshot of the loaded versions, keyed by
//! (model, version), and of the refs the node follows, published through
//! `ArcSwap`. Readers `load()` and clone the `Arc<LoadedModel>` they need,
//! so a request finishes on the version it started with even if a swap
//! happens; a version no ref points at leaves the snapshot and is dropped
//! when its last request ends (or, with an unbound grace, once the grace
//! has passed, so routers that still pin it converge first). Writers are serialised by a mutex and
//! publish a whole new snapshot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use joust_models::Model;

use crate::config::ModelRef;
use crate::error::ServeError;

/// A decoded, verified and warmed model version.
#[derive(Debug)]
pub struct LoadedModel {
    pub name: String,
    pub version: u64,
    pub sha256: String,
    pub model: Model,
    pub loaded_at: SystemTime,
    /// Download, verification, decoding and warm-up.
    pub load_duration: Duration,
    requests: AtomicU64,
}

impl LoadedModel {
    pub fn new(
        name: String,
        version: u64,
        sha256: String,
        model: Model,
        load_duration: Duration,
    ) -> Self {
        Self {
            name,
            version,
            sha256,
            model,
            loaded_at: SystemTime::now(),
            load_duration,
            requests: AtomicU64::new(0),
        }
    }

    /// Counts one answered request.
    pub fn record_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests answered by this version since it was loaded.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Where a followed ref stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefState {
    /// Never loaded yet.
    Loading,
    /// Its last load (or check) succeeded.
    Ready,
    /// Its last load failed; the version it had, if any, keeps serving.
    Failed,
}

impl RefState {
    pub fn as_str(self) -> &'static str {
        match self {
            RefState::Loading => "loading",
            RefState::Ready => "ready",
            RefState::Failed => "failed",
        }
    }
}

/// A followed ref and the version it currently points at on this node.
#[derive(Debug, Clone)]
pub struct Binding {
    pub reference: ModelRef,
    pub version: Option<u64>,
    pub state: RefState,
    pub last_error: Option<String>,
    /// Consecutive failed loads.
    pub failures: u32,
}

/// One immutable state of the table.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    models: BTreeMap<(String, u64), Arc<LoadedModel>>,
    bindings: Vec<Binding>,
    /// Loaded versions no binding points at, since when (kept for the
    /// table's unbound grace).
    unbound: BTreeMap<(String, u64), Instant>,
}

impl Snapshot {
    /// The version answering for `model`: `version` if pinned, else the
    /// version of the first ref of that model, else its highest loaded.
    pub fn resolve(
        &self,
        model: &str,
        version: Option<u64>,
    ) -> Result<Arc<LoadedModel>, ServeError> {
        let found = match version {
            Some(v) => self.get(model, v),
            None => self.default_version(model).and_then(|v| self.get(model, v)),
        };
        if let Some(m) = found {
            return Ok(m.clone());
        }
        let versions = self.versions(model);
        if versions.is_empty() {
            let loaded: Vec<&str> = self
                .models
                .keys()
                .map(|(n, _)| n.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            return Err(ServeError::ModelNotFound {
                model: model.to_owned(),
                loaded: if loaded.is_empty() {
                    "none".to_owned()
                } else {
                    loaded.join(", ")
                },
            });
        }
        Err(ServeError::VersionNotFound {
            model: model.to_owned(),
            version: version.map(|v| v.to_string()).unwrap_or_default(),
            loaded: versions
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    pub fn get(&self, model: &str, version: u64) -> Option<&Arc<LoadedModel>> {
        self.models.get(&(model.to_owned(), version))
    }

    /// The version unpinned requests for `model` get.
    pub fn default_version(&self, model: &str) -> Option<u64> {
        self.bindings
            .iter()
            .filter(|b| b.reference.model == model)
            .find_map(|b| b.version)
            .or_else(|| self.versions(model).last().copied())
    }

    /// Loaded versions of `model`, ascending.
    pub fn versions(&self, model: &str) -> Vec<u64> {
        self.models
            .keys()
            .filter(|(n, _)| n == model)
            .map(|(_, v)| *v)
            .collect()
    }

    pub fn models(&self) -> impl Iterator<Item = &Arc<LoadedModel>> {
        self.models.values()
    }

    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    pub fn binding(&self, reference: &str) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.reference.text == reference)
    }

    /// Every followed ref has a version and at least one model is loaded.
    pub fn ready(&self) -> bool {
        !self.models.is_empty() && self.bindings.iter().all(|b| b.version.is_some())
    }

    fn binding_mut(&mut self, reference: &str) -> Option<&mut Binding> {
        self.bindings
            .iter_mut()
            .find(|b| b.reference.text == reference)
    }

    /// Drops every version no binding points at, once it has been
    /// unbound for `grace`.
    fn collect(&mut self, grace: Duration) {
        let now = Instant::now();
        let bindings = &self.bindings;
        let unbound = &mut self.unbound;
        self.models.retain(|key, _| {
            let bound = bindings
                .iter()
                .any(|b| b.reference.model == key.0 && b.version == Some(key.1));
            if bound {
                unbound.remove(key);
                return true;
            }
            let since = *unbound.entry(key.clone()).or_insert(now);
            now.duration_since(since) < grace
        });
        let models = &self.models;
        unbound.retain(|key, _| models.contains_key(key));
    }
}

/// The shared, swappable table.
#[derive(Debug, Default)]
pub struct ModelTable {
    current: ArcSwap<Snapshot>,
    writer: Mutex<()>,
    unbound_grace: Duration,
}

impl ModelTable {
    /// A table following `refs`, nothing loaded yet.
    pub fn new(refs: Vec<ModelRef>) -> Self {
        let mut bindings: Vec<Binding> = Vec::new();
        for reference in refs {
            if bindings.iter().all(|b| b.reference != reference) {
                bindings.push(Binding {
                    reference,
                    version: None,
                    state: RefState::Loading,
                    last_error: None,
                    failures: 0,
                });
            }
        }
        Self {
            current: ArcSwap::from_pointee(Snapshot {
                models: BTreeMap::new(),
                bindings,
                unbound: BTreeMap::new(),
            }),
            writer: Mutex::new(()),
            unbound_grace: Duration::ZERO,
        }
    }

    /// Keeps a version that lost its last ref for `grace` (for pinned
    /// requests of routers that have not seen the move yet).
    pub fn with_unbound_grace(mut self, grace: Duration) -> Self {
        self.unbound_grace = grace;
        self
    }

    /// Drops the unbound versions whose grace has passed.
    pub fn sweep(&self) {
        if !self.current.load().unbound.is_empty() {
            self.update(|_| ());
        }
    }

    /// The current snapshot (cheap; for the request path).
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    fn update<R>(&self, f: impl FnOnce(&mut Snapshot) -> R) -> R {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = Snapshot::clone(&self.current.load());
        let out = f(&mut next);
        next.collect(self.unbound_grace);
        self.current.store(Arc::new(next));
        out
    }

    /// Points `reference` at `loaded` (following it if new, appended last)
    /// and returns the version it pointed at before.
    pub fn install(&self, reference: &ModelRef, loaded: Arc<LoadedModel>) -> Option<u64> {
        self.update(|s| {
            let key = (loaded.name.clone(), loaded.version);
            let version = loaded.version;
            s.models.insert(key, loaded);
            let binding = match s.binding_mut(&reference.text) {
                Some(b) => b,
                None => {
                    s.bindings.push(Binding {
                        reference: reference.clone(),
                        version: None,
                        state: RefState::Loading,
                        last_error: None,
                        failures: 0,
                    });
                    let last = s.bindings.len() - 1;
                    &mut s.bindings[last]
                }
            };
            let old = binding.version.replace(version);
            binding.state = RefState::Ready;
            binding.last_error = None;
            binding.failures = 0;
            old
        })
    }

    /// Records a failed load of `reference`; returns consecutive failures.
    /// The version it had stays loaded.
    pub fn mark_failed(&self, reference: &str, error: String) -> u32 {
        self.update(|s| match s.binding_mut(reference) {
            Some(b) => {
                b.state = RefState::Failed;
                b.last_error = Some(error);
                b.failures = b.failures.saturating_add(1);
                b.failures
            }
            None => 0,
        })
    }

    /// Stops following `reference`; returns its binding.
    pub fn unfollow(&self, reference: &str) -> Result<Binding, ServeError> {
        self.update(|s| {
            let i = s
                .bindings
                .iter()
                .position(|b| b.reference.text == reference);
            match i {
                Some(i) => Ok(s.bindings.remove(i)),
                None => Err(ServeError::RefNotFollowed {
                    reference: reference.to_owned(),
                    followed: s
                        .bindings
                        .iter()
                        .map(|b| b.reference.text.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        })
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
