//! The registry follower: keeps the node's refs current through the
//! registry's Watch stream (joust-runtime's [`WatchFollower`], resumed
//! from the last event id after any disconnection), a periodic full
//! reconcile, and retries of failed loads with exponential backoff. While
//! the registry is unreachable the node keeps serving what it holds.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use joust_runtime::{Retry, WatchFollower, WatchUpdate, backoff};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior, sleep_until};
use tracing::debug;

use crate::node::Node;

/// Runs until `shutdown` turns true.
pub async fn follow(node: Arc<Node>, mut shutdown: watch::Receiver<bool>) {
    let cfg = node.config.clone();
    node.initial_sync().await;
    let mut reconcile = tokio::time::interval_at(
        Instant::now() + cfg.reconcile_interval,
        cfg.reconcile_interval,
    );
    reconcile.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut feed = WatchFollower::new(
        node.loader.registry(),
        node.watch_cursor.load(Ordering::Relaxed),
        Retry::jittered(cfg.retry_initial, cfg.retry_max),
    );
    loop {
        if *shutdown.borrow() {
            return;
        }
        let connected = feed.is_connected();
        let retry_at = match node.max_failures() {
            0 => None,
            // Exact: a load retry is this node's own schedule.
            n => Some(Instant::now() + backoff(cfg.retry_initial, cfg.retry_max, n, 0.0)),
        };
        tokio::select! {
            _ = shutdown.changed() => return,
            update = feed.next() => match update {
                WatchUpdate::Connected { first } => {
                    set_connected(&node, true);
                    if !first {
                        // Catch up even on changes the event log cannot replay.
                        node.reconcile(None, false).await;
                        node.discover(None).await;
                    }
                }
                WatchUpdate::Events(events) => {
                    // A burst of events makes one reconcile per model.
                    let mut dirty = BTreeSet::new();
                    for event in events {
                        note(&node, &mut dirty, event);
                    }
                    for model in dirty {
                        node.reconcile(Some(&model), false).await;
                        node.discover(Some(&model)).await;
                    }
                }
                WatchUpdate::Disconnected { .. } => set_connected(&node, false),
            },
            _ = reconcile.tick(), if connected => {
                node.table.sweep();
                node.reconcile(None, false).await;
                node.discover(None).await;
            }
            _ = sleep_until(retry_at.unwrap_or_else(far_future)), if connected && retry_at.is_some() => {
                node.reconcile(None, true).await;
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

fn set_connected(node: &Node, up: bool) {
    node.registry_connected.store(up, Ordering::Relaxed);
    node.metrics.registry_connected.set(i64::from(up));
}

/// Advances the cursor and marks the event's model dirty if followed (in
/// follow-all mode, every model an event is about).
fn note(node: &Node, dirty: &mut BTreeSet<String>, event: joust_proto::v1::Event) {
    node.watch_cursor.fetch_max(event.id, Ordering::Relaxed);
    node.metrics
        .watch_cursor
        .set(i64::try_from(event.id).unwrap_or(i64::MAX));
    let followed = node.config.follow_all
        || node
            .table
            .snapshot()
            .bindings()
            .iter()
            .any(|b| b.reference.model == event.model);
    if followed {
        debug!(id = event.id, model = %event.model, kind = %event.kind, "registry event");
        dirty.insert(event.model);
    }
}
