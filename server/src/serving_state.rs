//! The node's serving state: which (model, version) pairs it holds and in
//! what phase (loading, ready, refused with a reason, draining), derived
//! from a table snapshot by a pure function and published through a
//! `tokio::sync::watch` on every change. `ServingAdmin.WatchServingState`
//! streams it; routers follow it to send a version only where it is ready.

use std::sync::Arc;

use tokio::sync::watch;

use crate::table::Snapshot;

/// Where one (model, version) stands on this node (the one phase type
/// nodes, routers and the serving view share).
pub use joust_client::serving::Phase;

/// One (model, version) on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionState {
    pub model: String,
    pub version: u64,
    pub phase: Phase,
    /// Why it was refused; empty unless `Refused`.
    pub reason: String,
    /// The followed refs that point (or, loading or refused, resolved) at it.
    pub refs: Vec<String>,
}

/// The whole serving state of the node at one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingState {
    /// Random per process: a restarted node is a new node to followers.
    pub node_id: String,
    /// Increases with every change of `versions`.
    pub generation: u64,
    /// Ordered by (model, version).
    pub versions: Vec<VersionState>,
}

/// The versions of `snapshot` and their phases, ordered by (model,
/// version). A loaded version is ready while a ref points at it and
/// draining after; a version that is not loaded is refused if its last
/// load was refused, else loading.
pub fn versions(snapshot: &Snapshot) -> Vec<VersionState> {
    let mut out: Vec<VersionState> = snapshot
        .models()
        .map(|m| {
            let refs: Vec<String> = snapshot
                .bindings()
                .iter()
                .filter(|b| b.reference.model == m.name && b.version == Some(m.version))
                .map(|b| b.reference.text.clone())
                .collect();
            VersionState {
                model: m.name.clone(),
                version: m.version,
                phase: if refs.is_empty() {
                    Phase::Draining
                } else {
                    Phase::Ready
                },
                reason: String::new(),
                refs,
            }
        })
        .collect();
    let loaded = |model: &str, version: u64| snapshot.get(model, version).is_some();
    for ((model, version), refusal) in snapshot.refusals() {
        if !loaded(model, *version) {
            out.push(VersionState {
                model: model.clone(),
                version: *version,
                phase: Phase::Refused,
                reason: refusal.reason.clone(),
                refs: refusal.refs.iter().cloned().collect(),
            });
        }
    }
    for ((model, version), refs) in snapshot.loading() {
        let refused = snapshot.refusals().contains_key(&(model.clone(), *version));
        if !loaded(model, *version) && !refused {
            out.push(VersionState {
                model: model.clone(),
                version: *version,
                phase: Phase::Loading,
                reason: String::new(),
                refs: refs.iter().cloned().collect(),
            });
        }
    }
    out.sort_by(|a, b| (&a.model, a.version).cmp(&(&b.model, b.version)));
    out
}

/// Publishes the serving state: one watch channel per node, its sender
/// updated under the table's writer lock so generations follow the order
/// of the changes.
#[derive(Debug)]
pub struct StatePublisher {
    tx: watch::Sender<Arc<ServingState>>,
}

impl StatePublisher {
    /// A publisher with a fresh random node id, at generation 1 with
    /// nothing held.
    pub fn new() -> Self {
        let (tx, _) = watch::channel(Arc::new(ServingState {
            node_id: uuid::Uuid::new_v4().to_string(),
            generation: 1,
            versions: Vec::new(),
        }));
        Self { tx }
    }

    /// Publishes the state of `snapshot` if its versions changed.
    pub fn publish(&self, snapshot: &Snapshot) {
        let next = versions(snapshot);
        self.tx.send_if_modified(|current| {
            if current.versions == next {
                return false;
            }
            *current = Arc::new(ServingState {
                node_id: current.node_id.clone(),
                generation: current.generation + 1,
                versions: next,
            });
            true
        });
    }

    /// The current state.
    pub fn current(&self) -> Arc<ServingState> {
        self.tx.borrow().clone()
    }

    /// A receiver that sees the current state, then every change (a
    /// slow reader sees the latest state, skipping generations).
    pub fn subscribe(&self) -> watch::Receiver<Arc<ServingState>> {
        self.tx.subscribe()
    }
}

impl Default for StatePublisher {
    fn default() -> Self {
        Self::new()
    }
}
