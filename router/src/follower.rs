//! The route follower: reads every model's champion and every open trial
//! from the registry (a full reconcile) at start and after every
//! reconnection (something may have been missed), then follows
//! `Registry.Watch` (resumed from the last event id) and applies each
//! event that may change a route to the model it names: only that
//! model's champion and open trial are re-read (`GetModel`, `ListTrials`
//! for the model), so a bulk change of N models costs N small reads, not
//! N full ones. A burst naming many models (a replay from far back), an
//! event naming no model, or a failed per-model read falls back to one
//! full reconcile; a periodic full reconcile stays as a safety net.
//! The feed is joust-runtime's [`WatchFollower`]: while the registry is
//! unreachable the router keeps its last routes and reconnects with
//! jittered exponential backoff.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use joust_proto::v1 as pb;
use joust_proto::v1::registry_client::RegistryClient;
use joust_proto::wire::event_kind;
use joust_runtime::{Retry, WatchFollower, WatchUpdate};
use joust_security::SecureChannel as Channel;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use crate::router::Router;
use crate::table::{Route, Routes, TrialMode, TrialRoute};

/// The route a trial message describes (none for a stopped trial).
pub fn trial_route(t: &pb::Trial) -> Option<TrialRoute> {
    if t.state != pb::TrialState::Open as i32 {
        return None;
    }
    let mode = match pb::TrialMode::try_from(t.mode).ok()? {
        pb::TrialMode::Split => TrialMode::Split,
        pb::TrialMode::Shadow => TrialMode::Shadow,
        pb::TrialMode::Off | pb::TrialMode::Unspecified => TrialMode::Off,
    };
    Some(TrialRoute {
        trial_id: t.id,
        challenger_version: t.challenger_version,
        mode,
        weight: t.weight,
        sampling: t.sampling,
        sticky: t.sticky,
    })
}

/// Reads the whole routing table from the registry (every model's
/// champion, every open trial) through `joust-client`.
pub async fn read_routes(channel: &Channel) -> Result<Routes, tonic::Status> {
    let models = joust_client::RegistryClient::new(channel.clone())
        .list_models()
        .await?;
    let trials = joust_client::TrialsClient::new(channel.clone())
        .list_open()
        .await?;
    let mut routes: Routes = models
        .into_iter()
        .filter(|m| m.champion_version > 0)
        .map(|m| {
            let route = Route {
                champion_version: m.champion_version,
                trial: None,
            };
            (m.name, route)
        })
        .collect();
    for t in &trials {
        if let (Some(route), Some(trial)) = (routes.get_mut(&t.model), trial_route(t)) {
            route.trial = Some(trial);
        }
    }
    Ok(routes)
}

/// Above this many distinct models in one burst, one full read is cheaper
/// than a read per model.
const FULL_READ_ABOVE: usize = 64;

/// Reads one model's route from the registry: its champion and its open
/// trial (none when the model is gone or has no champion).
pub async fn read_route(channel: &Channel, model: &str) -> Result<Option<Route>, tonic::Status> {
    let m = match joust_client::RegistryClient::new(channel.clone())
        .get_model(model)
        .await
    {
        Ok(m) => m,
        Err(error) => {
            let status = tonic::Status::from(error);
            if status.code() == tonic::Code::NotFound {
                return Ok(None);
            }
            return Err(status);
        }
    };
    if m.champion_version == 0 {
        return Ok(None);
    }
    let trials = joust_client::TrialsClient::new(channel.clone())
        .list(Some(model), true)
        .await?;
    Ok(Some(Route {
        champion_version: m.champion_version,
        trial: trials
            .iter()
            .filter(|t| t.model == model)
            .find_map(trial_route),
    }))
}

/// Applies a burst's events model by model; false when a read failed
/// (the caller then reconciles in full).
async fn apply(router: &Router, channel: &Channel, models: &BTreeSet<String>) -> bool {
    for model in models {
        match read_route(channel, model).await {
            Ok(route) => {
                if router.table.route(model) != route {
                    info!(model = %model, champion = route.as_ref().map(|r| r.champion_version), trial = route.as_ref().and_then(|r| r.trial.as_ref()).map(|t| t.trial_id), "route updated");
                    router.table.set(model, route);
                }
            }
            Err(status) => {
                warn!(model = %model, code = ?status.code(), message = status.message(), "route read failed; reconciling every route");
                return false;
            }
        }
    }
    true
}

/// Re-reads the table; on failure the last routes stay.
async fn reconcile(router: &Router, channel: &Channel) -> bool {
    match read_routes(channel).await {
        Ok(routes) => {
            if *router.table.snapshot() != routes {
                info!(
                    models = routes.len(),
                    trials = routes.values().filter(|r| r.trial.is_some()).count(),
                    "routes updated"
                );
            }
            // Readiness health follows in `served` (routes loaded and a
            // node ready for every champion).
            router.routes_loaded.store(true, Ordering::Relaxed);
            router.table.replace(routes);
            true
        }
        Err(status) => {
            warn!(code = ?status.code(), message = status.message(), "route reconcile failed; keeping the last routes");
            false
        }
    }
}

/// Runs until `shutdown` turns true.
pub async fn follow(router: Arc<Router>, channel: Channel, mut shutdown: watch::Receiver<bool>) {
    let cfg = router.config.clone();
    let mut tick = tokio::time::interval_at(
        Instant::now() + cfg.reconcile_interval,
        cfg.reconcile_interval,
    );
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut feed = WatchFollower::new(
        RegistryClient::new(channel.clone()),
        router.watch_cursor.load(Ordering::Relaxed),
        Retry::jittered(cfg.retry_initial, cfg.retry_max),
    );
    loop {
        if *shutdown.borrow() {
            return;
        }
        let connected = feed.is_connected();
        tokio::select! {
            _ = shutdown.changed() => return,
            update = feed.next() => match update {
                WatchUpdate::Connected { .. } => {
                    set_connected(&router, true);
                    // Catch up on anything missed while disconnected (or at start).
                    reconcile(&router, &channel).await;
                }
                WatchUpdate::Events(events) => {
                    // A burst of events makes one read per model it names.
                    let mut dirty = BTreeSet::new();
                    let mut everything = false;
                    for e in &events {
                        if note(&router, e) {
                            if e.model.is_empty() {
                                everything = true;
                            } else {
                                dirty.insert(e.model.clone());
                            }
                        }
                    }
                    let full = everything
                        || dirty.len() > FULL_READ_ABOVE
                        || (!dirty.is_empty() && !apply(&router, &channel, &dirty).await);
                    if full {
                        reconcile(&router, &channel).await;
                    }
                }
                WatchUpdate::Disconnected { .. } => set_connected(&router, false),
            },
            _ = tick.tick(), if connected => {
                reconcile(&router, &channel).await;
            }
        }
    }
}

fn set_connected(router: &Router, up: bool) {
    router.registry_connected.store(up, Ordering::Relaxed);
    router.metrics.registry_connected.set(i64::from(up));
}

/// Advances the cursor; true when the event may change a route.
fn note(router: &Router, event: &pb::Event) -> bool {
    router.watch_cursor.fetch_max(event.id, Ordering::Relaxed);
    router
        .metrics
        .watch_cursor
        .set(i64::try_from(event.id).unwrap_or(i64::MAX));
    debug!(id = event.id, model = %event.model, kind = %event.kind, "registry event");
    event_kind::may_change_routes(&event.kind)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn only_open_trials_route() {
        let mut t = pb::Trial {
            id: 3,
            challenger_version: 4,
            mode: pb::TrialMode::Shadow as i32,
            sampling: 0.5,
            state: pb::TrialState::Open as i32,
            ..Default::default()
        };
        let r = trial_route(&t).unwrap();
        assert_eq!(
            (r.trial_id, r.challenger_version, r.mode, r.sampling),
            (3, 4, TrialMode::Shadow, 0.5)
        );
        t.state = pb::TrialState::Stopped as i32;
        assert!(trial_route(&t).is_none());
    }
}
