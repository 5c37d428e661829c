//! The model table: an immutable snapshot of the loaded versions, keyed by
//! (model, version), and of the refs the node follows, published through
//! `ArcSwap`. Readers `load()` and clone the `Arc<LoadedModel>` they need,
//! so a request finishes on the version it started with even if a swap
//! happens; a version no ref points at leaves the snapshot and is dropped
//! when its last request ends (or, with an unbound grace, once the grace
//! has passed, so routers that still pin it converge first). Writers are
//! serialised by a mutex, publish a whole new snapshot, and publish the
//! serving state derived from it (`serving_state`) on every change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use joust_models::Model;

use crate::config::ModelRef;
use crate::error::ServeError;
use crate::serving_state::StatePublisher;

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
    /// The registry says the alias points at nothing (`m@challenger`
    /// with no open trial): normal, not a failure; it has no version.
    Absent,
}

impl RefState {
    pub fn as_str(self) -> &'static str {
        match self {
            RefState::Loading => "loading",
            RefState::Ready => "ready",
            RefState::Failed => "failed",
            RefState::Absent => "absent",
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

impl Binding {
    fn new(reference: ModelRef) -> Self {
        Self {
            reference,
            version: None,
            state: RefState::Loading,
            last_error: None,
            failures: 0,
        }
    }
}

/// A ref the node's readiness does not wait for: `m@challenger` points at
/// nothing whenever no trial is open.
pub fn optional(reference: &ModelRef) -> bool {
    reference
        .text
        .rsplit_once('@')
        .is_some_and(|(_, alias)| alias == "challenger")
}

/// A version whose artifact the node refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    /// The followed refs that resolved to it.
    pub refs: BTreeSet<String>,
}

/// One immutable state of the table.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    models: BTreeMap<(String, u64), Arc<LoadedModel>>,
    bindings: Vec<Binding>,
    /// Loaded versions no binding points at, since when (kept for the
    /// table's unbound grace).
    unbound: BTreeMap<(String, u64), Instant>,
    /// Versions being loaded for followed refs, and those refs.
    loading: BTreeMap<(String, u64), BTreeSet<String>>,
    /// Versions a followed ref resolved to whose artifact was refused.
    refused: BTreeMap<(String, u64), Refusal>,
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
            let waiting: Vec<String> = self
                .bindings
                .iter()
                .filter(|b| b.reference.model == model && b.state != RefState::Absent)
                .map(|b| format!("{} {}", b.reference.text, b.state.as_str()))
                .collect();
            if !waiting.is_empty() {
                return Err(ServeError::NotReady {
                    model: model.to_owned(),
                    refs: waiting.join(", "),
                });
            }
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

    /// Whether `model` is served (a version loaded) or followed (a ref
    /// bound to it): the names request metrics may be labelled with.
    pub fn knows(&self, model: &str) -> bool {
        self.models.keys().any(|(n, _)| n == model)
            || self.bindings.iter().any(|b| b.reference.model == model)
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

    /// Every followed ref the node must serve has a version, or its
    /// artifact was refused (a settled verdict the serving state reports;
    /// the node's other models keep serving). A challenger ref is never
    /// waited for.
    pub fn ready(&self) -> bool {
        self.bindings.iter().all(|b| {
            optional(&b.reference)
                || b.version.is_some()
                || self
                    .refused
                    .values()
                    .any(|r| r.refs.contains(&b.reference.text))
        })
    }

    /// Versions being loaded for followed refs, with those refs.
    pub fn loading(&self) -> &BTreeMap<(String, u64), BTreeSet<String>> {
        &self.loading
    }

    /// Versions whose artifact was refused.
    pub fn refusals(&self) -> &BTreeMap<(String, u64), Refusal> {
        &self.refused
    }

    /// When the earliest unbound version's grace ends.
    pub fn next_expiry(&self, grace: Duration) -> Option<Instant> {
        self.unbound.values().min().map(|since| *since + grace)
    }

    /// Forgets that `reference` was loading or refused for any version of
    /// `model` (it now points elsewhere, or at nothing), except that a
    /// refusal of `keep_refused` stays (a retry of a refused version
    /// stays refused until it succeeds).
    fn forget_ref(&mut self, model: &str, reference: &str, keep_refused: Option<u64>) {
        for (key, refs) in self.loading.iter_mut() {
            if key.0 == model {
                refs.remove(reference);
            }
        }
        self.loading.retain(|_, refs| !refs.is_empty());
        for (key, refusal) in self.refused.iter_mut() {
            if key.0 == model && Some(key.1) != keep_refused {
                refusal.refs.remove(reference);
            }
        }
        self.refused.retain(|_, r| !r.refs.is_empty());
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
#[derive(Debug)]
pub struct ModelTable {
    current: ArcSwap<Snapshot>,
    writer: Mutex<()>,
    unbound_grace: Duration,
    state: StatePublisher,
}

impl ModelTable {
    /// A table following `refs`, nothing loaded yet.
    pub fn new(refs: Vec<ModelRef>) -> Self {
        let mut bindings: Vec<Binding> = Vec::new();
        for reference in refs {
            if bindings.iter().all(|b| b.reference != reference) {
                bindings.push(Binding::new(reference));
            }
        }
        Self {
            current: ArcSwap::from_pointee(Snapshot {
                bindings,
                ..Snapshot::default()
            }),
            writer: Mutex::new(()),
            unbound_grace: Duration::ZERO,
            state: StatePublisher::new(),
        }
    }

    /// The serving-state publisher (current state and subscriptions).
    pub fn serving_state(&self) -> &StatePublisher {
        &self.state
    }

    /// When the earliest unbound version's grace ends, if any is kept.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.current.load().next_expiry(self.unbound_grace)
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
        // Stored before it is published: a subscriber woken by the new
        // state (the unbound sweeper) must read this snapshot, not the one
        // before it — else it sees no unbound version, sleeps until the
        // next change and the grace stretches to the next reconcile.
        let next = Arc::new(next);
        self.current.store(Arc::clone(&next));
        self.state.publish(&next);
        out
    }

    /// Follows `reference` (appended last) if it is not followed yet, with
    /// nothing loaded for it; returns whether it was new.
    pub fn follow(&self, reference: &ModelRef) -> bool {
        self.update(|s| {
            if s.binding_mut(&reference.text).is_some() {
                return false;
            }
            s.bindings.push(Binding::new(reference.clone()));
            true
        })
    }

    /// Records that followed `reference` resolved to `version` of its
    /// model, which is being loaded (LOADING in the serving state unless
    /// it is loaded or refused already). Unfollowed refs are not recorded.
    pub fn begin_load(&self, reference: &ModelRef, version: u64) {
        self.update(|s| {
            if s.binding_mut(&reference.text).is_none() {
                return;
            }
            s.forget_ref(&reference.model, &reference.text, Some(version));
            s.loading
                .entry((reference.model.clone(), version))
                .or_default()
                .insert(reference.text.clone());
        });
    }

    /// Points `reference` at `loaded` (following it if new, appended last)
    /// and returns the version it pointed at before.
    pub fn install(&self, reference: &ModelRef, loaded: Arc<LoadedModel>) -> Option<u64> {
        self.update(|s| {
            let key = (loaded.name.clone(), loaded.version);
            let version = loaded.version;
            s.forget_ref(&reference.model, &reference.text, None);
            s.models.insert(key, loaded);
            let binding = match s.binding_mut(&reference.text) {
                Some(b) => b,
                None => {
                    s.bindings.push(Binding::new(reference.clone()));
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
        self.update(|s| fail(s, reference, error))
    }

    /// Records that the load of `version` for `reference` failed without
    /// a verdict on the artifact (the registry was unreachable...): it is
    /// no longer loading; the ref is failed and keeps what it had.
    pub fn abandon_load(&self, reference: &ModelRef, version: u64, error: String) -> u32 {
        self.update(|s| {
            if let Some(refs) = s.loading.get_mut(&(reference.model.clone(), version)) {
                refs.remove(&reference.text);
            }
            s.loading.retain(|_, refs| !refs.is_empty());
            fail(s, &reference.text, error)
        })
    }

    /// Records that `version`, which followed `reference` resolved to, was
    /// refused (bad artifact): REFUSED with `reason` in the serving state
    /// until a load of the ref succeeds; the ref is failed and keeps what
    /// it had. Unfollowed refs are not recorded.
    pub fn refuse(&self, reference: &ModelRef, version: u64, reason: String) -> u32 {
        self.update(|s| {
            if s.binding_mut(&reference.text).is_none() {
                return 0;
            }
            s.forget_ref(&reference.model, &reference.text, None);
            let refusal = s
                .refused
                .entry((reference.model.clone(), version))
                .or_insert_with(|| Refusal {
                    reason: reason.clone(),
                    refs: BTreeSet::new(),
                });
            refusal.reason.clone_from(&reason);
            refusal.refs.insert(reference.text.clone());
            fail(s, &reference.text, reason)
        })
    }

    /// Records that the registry says `reference`'s alias points at
    /// nothing: the ref keeps being followed with no version (what it
    /// pointed at is unbound and drains), and this is not a failure.
    pub fn mark_absent(&self, reference: &ModelRef) {
        self.update(|s| {
            s.forget_ref(&reference.model, &reference.text, None);
            if let Some(b) = s.binding_mut(&reference.text) {
                b.version = None;
                b.state = RefState::Absent;
                b.last_error = None;
                b.failures = 0;
            }
        });
    }

    /// Stops following `reference`; returns its binding.
    pub fn unfollow(&self, reference: &str) -> Result<Binding, ServeError> {
        self.update(|s| {
            let i = s
                .bindings
                .iter()
                .position(|b| b.reference.text == reference);
            match i {
                Some(i) => {
                    let b = s.bindings.remove(i);
                    s.forget_ref(&b.reference.model, reference, None);
                    Ok(b)
                }
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

/// Marks `reference` failed with `error`; returns consecutive failures.
fn fail(s: &mut Snapshot, reference: &str, error: String) -> u32 {
    match s.binding_mut(reference) {
        Some(b) => {
            b.state = RefState::Failed;
            b.last_error = Some(error);
            b.failures = b.failures.saturating_add(1);
            b.failures
        }
        None => 0,
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
