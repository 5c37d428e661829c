//! The routes the router answers with: one task re-plans them
//! (`rollout::plan`, make-before-break) on every change of the registry's
//! routes or of a node's serving state, stores them for the request path
//! (`Router::served`, an `ArcSwap` snapshot), keeps the held-back
//! champions and blocked rollouts for status, and sets readiness health:
//! SERVING once the routes are loaded and a node answers every routed
//! champion.
//!
//! A rollout is **blocked** when the registry's champion cannot become
//! ready: every node that reports its state refused it, or none has it
//! ready `block_after` after the router first waited for it. The previous
//! champion keeps answering; the block is counted
//! (`joust_router_rollouts_blocked`), kept for status and reported once to
//! the registry (`Registry.ReportRolloutBlocked`, retried with backoff).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use joust_proto::v1 as pb;
use joust_proto::v1::registry_client::RegistryClient;
use joust_security::SecureChannel;
use tokio::sync::watch;
use tokio::time::Instant;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{info, warn};

use crate::pool::NodeHandle;
use crate::readiness::{Fit, NodeServing, Phase};
use crate::rollout::{Held, Holdings, plan};
use crate::router::Router;
use joust_runtime::{JITTER, backoff};

/// What the pool's members report, counted.
pub struct PoolHoldings<'a>(pub &'a [Arc<NodeHandle>]);

impl Holdings for PoolHoldings<'_> {
    fn ready(&self, model: &str, version: u64) -> usize {
        self.0
            .iter()
            .filter(|n| n.fit(model, version) == Fit::Ready)
            .count()
    }

    fn answering(&self, model: &str, version: u64) -> usize {
        self.0
            .iter()
            .filter(|n| n.fit(model, version) != Fit::No)
            .count()
    }
}

/// A champion no node can load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub model: String,
    pub version: u64,
    /// The champion that keeps answering.
    pub answering: u64,
    /// Per node (address): why it does not serve the version.
    pub reasons: Vec<(String, String)>,
}

/// Why `version` is not ready on each node, and whether every node that
/// reports refused it.
fn reasons(
    members: &[Arc<NodeHandle>],
    model: &str,
    version: u64,
) -> (Vec<(String, String)>, bool) {
    let mut out = Vec::new();
    let mut reporting = 0;
    let mut refused = 0;
    for n in members {
        let serving = n.serving();
        let why = match &*serving {
            NodeServing::Down => "serving-state stream down".to_owned(),
            NodeServing::Unreported => "does not report its serving state".to_owned(),
            NodeServing::Reported { .. } => {
                reporting += 1;
                match serving.state(model, version) {
                    Some(s) if s.phase == Phase::Refused => {
                        refused += 1;
                        format!("refused: {}", s.reason)
                    }
                    Some(s) => s.phase.as_str().to_owned(),
                    None => "not held".to_owned(),
                }
            }
        };
        out.push((n.address.to_string(), why));
    }
    (out, reporting > 0 && refused == reporting)
}

/// The planner's memory between two plans.
#[derive(Debug, Default)]
struct Waiting {
    /// (model, wanted version) → when the router first held it back.
    since: BTreeMap<(String, u64), Instant>,
    /// Blocked rollouts already reported to the registry.
    reported: BTreeSet<(String, u64)>,
}

impl Waiting {
    /// The blocked rollouts among `held`; forgets what is no longer held.
    fn blocked(
        &mut self,
        held: &[Held],
        members: &[Arc<NodeHandle>],
        now: Instant,
        block_after: Duration,
    ) -> Vec<Blocked> {
        self.since
            .retain(|(m, v), _| held.iter().any(|h| &h.model == m && h.wanted == *v));
        let mut out = Vec::new();
        for h in held {
            let since = *self.since.entry((h.model.clone(), h.wanted)).or_insert(now);
            let (reasons, all_refused) = reasons(members, &h.model, h.wanted);
            if all_refused || now.duration_since(since) >= block_after {
                out.push(Blocked {
                    model: h.model.clone(),
                    version: h.wanted,
                    answering: h.answering,
                    reasons,
                });
            }
        }
        out
    }
}

/// Re-plans once: stores the served routes, the held and blocked lists,
/// and returns whether the router is ready.
fn replan(
    router: &Router,
    registry: Option<&SecureChannel>,
    waiting: &mut Waiting,
    now: Instant,
) -> bool {
    let members = router.pool.members();
    let holdings = PoolHoldings(&members);
    let desired = router.table.snapshot();
    let previous = router.served.snapshot();
    let p = plan(
        &desired,
        &previous,
        &holdings,
        router.config.min_ready_nodes,
    );
    if p.routes != *previous {
        for (model, r) in &p.routes {
            if previous.get(model) != Some(r) {
                info!(
                    model,
                    champion = r.champion_version,
                    challenger = r.trial.as_ref().map(|t| t.challenger_version),
                    "route answering"
                );
            }
        }
        router.served.replace(p.routes.clone());
    }
    let blocked = waiting.blocked(&p.held, &members, now, router.config.rollout_block_after);
    for b in &blocked {
        if waiting.reported.insert((b.model.clone(), b.version)) {
            warn!(model = %b.model, version = b.version, answering = b.answering, reasons = ?b.reasons, "rollout blocked: no node can serve the champion; the previous champion keeps answering");
            if let Some(registry) = registry {
                tokio::spawn(report(
                    registry.clone(),
                    b.clone(),
                    router.config.retry_initial,
                    router.config.retry_max,
                ));
            }
        }
    }
    router.metrics.rollouts_blocked.set(blocked.len() as i64);
    router.metrics.routes_held.set(p.held.len() as i64);
    router.rollouts.store(p.held, blocked);
    let loaded = router
        .routes_loaded
        .load(std::sync::atomic::Ordering::Relaxed);
    loaded
        && p.routes
            .iter()
            .all(|(model, r)| holdings.answering(model, r.champion_version) > 0)
}

/// Keeps the served routes and readiness current until `stop` turns true.
pub async fn keep_served(
    router: Arc<Router>,
    registry: Option<SecureChannel>,
    health: HealthReporter,
    mut stop: watch::Receiver<bool>,
) {
    let changed = router.table.notifier();
    let mut waiting = Waiting::default();
    let mut ready: Option<bool> = None;
    // The block bound is a time: re-plan now and then even when nothing
    // changes.
    let tick = (router.config.rollout_block_after / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(5));
    loop {
        let now_ready = replan(&router, registry.as_ref(), &mut waiting, Instant::now());
        if ready != Some(now_ready) {
            let status = if now_ready {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            info!(?status, "router readiness");
            health.set_service_status("", status).await;
            ready = Some(now_ready);
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = changed.notified() => {}
            _ = tokio::time::sleep(tick) => {}
        }
    }
}

/// Reports a blocked rollout to the registry (idempotent there), retried
/// with backoff a few times.
async fn report(registry: SecureChannel, b: Blocked, initial: Duration, max: Duration) {
    let request = pb::ReportRolloutBlockedRequest {
        model: b.model.clone(),
        version: b.version,
        reasons: b
            .reasons
            .iter()
            .map(|(node, reason)| pb::RolloutNodeReason {
                node: node.clone(),
                reason: reason.clone(),
            })
            .collect(),
    };
    for attempt in 1..=8u32 {
        match RegistryClient::new(registry.clone())
            .report_rollout_blocked(request.clone())
            .await
        {
            Ok(r) => {
                let r = r.into_inner();
                info!(model = %b.model, version = b.version, recorded = r.recorded, rolled_back = r.rolled_back, champion = r.champion_version, "blocked rollout reported to the registry");
                return;
            }
            Err(status) => {
                warn!(model = %b.model, version = b.version, code = ?status.code(), message = status.message(), attempt, "reporting a blocked rollout failed");
                if matches!(
                    status.code(),
                    tonic::Code::PermissionDenied
                        | tonic::Code::Unauthenticated
                        | tonic::Code::Unimplemented
                        | tonic::Code::InvalidArgument
                ) {
                    return;
                }
                tokio::time::sleep(backoff(initial, max, attempt, JITTER)).await;
            }
        }
    }
}

/// The held-back champions and blocked rollouts of the last plan.
#[derive(Debug, Default)]
pub struct Rollouts {
    state: arc_swap::ArcSwap<(Vec<Held>, Vec<Blocked>)>,
}

impl Rollouts {
    fn store(&self, held: Vec<Held>, blocked: Vec<Blocked>) {
        let cur = self.state.load();
        if cur.0 != held || cur.1 != blocked {
            self.state.store(Arc::new((held, blocked)));
        }
    }

    pub fn held(&self) -> Vec<Held> {
        self.state.load().0.clone()
    }

    pub fn blocked(&self) -> Vec<Blocked> {
        self.state.load().1.clone()
    }
}
