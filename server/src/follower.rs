//! The registry follower: keeps the node's refs current through the
//! registry's Watch stream (resumed from the last event id after any
//! disconnection), a periodic full reconcile, and retries of failed loads
//! with exponential backoff. While the registry is unreachable the node
//! keeps serving what it holds.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior, sleep_until};
use tracing::{debug, info, warn};

use crate::node::Node;

/// `initial · 2^(failures-1)`, capped at `max`.
pub fn backoff(initial: Duration, max: Duration, failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    initial.saturating_mul(1 << shift).min(max)
}

/// Runs until `shutdown` turns true.
pub async fn follow(node: Arc<Node>, mut shutdown: watch::Receiver<bool>) {
    let cfg = node.config.clone();
    node.reconcile(None, false).await;
    node.discover(None).await;
    let mut reconcile = tokio::time::interval_at(
        Instant::now() + cfg.reconcile_interval,
        cfg.reconcile_interval,
    );
    reconcile.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut disconnects: u32 = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let cursor = node.watch_cursor.load(Ordering::Relaxed);
        let mut stream = match node.loader.watch(cursor).await {
            Ok(stream) => stream,
            Err(error) => {
                disconnects = disconnects.saturating_add(1);
                set_connected(&node, false);
                let delay = backoff(cfg.retry_initial, cfg.retry_max, disconnects);
                debug!(%error, ?delay, "registry Watch unavailable; retrying");
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                continue;
            }
        };
        set_connected(&node, true);
        if disconnects > 0 {
            info!(cursor, "registry Watch resumed");
            // Catch up even on changes the event log cannot replay.
            node.reconcile(None, false).await;
            node.discover(None).await;
        }
        loop {
            let retry_at = match node.max_failures() {
                0 => None,
                n => Some(Instant::now() + backoff(cfg.retry_initial, cfg.retry_max, n)),
            };
            tokio::select! {
                _ = shutdown.changed() => return,
                msg = stream.message() => match msg {
                    Ok(Some(event)) => {
                        let mut dirty = BTreeSet::new();
                        note(&node, &mut dirty, event);
                        // Coalesce a burst of events into one reconcile.
                        while let Some(Ok(Some(event))) = stream.message().now_or_never() {
                            note(&node, &mut dirty, event);
                        }
                        for model in dirty {
                            node.reconcile(Some(&model), false).await;
                            node.discover(Some(&model)).await;
                        }
                    }
                    Ok(None) => {
                        warn!("registry closed the Watch stream; reconnecting");
                        break;
                    }
                    Err(status) => {
                        warn!(code = ?status.code(), message = status.message(), "registry Watch failed; reconnecting");
                        break;
                    }
                },
                _ = reconcile.tick() => {
                    node.table.sweep();
                    node.reconcile(None, false).await;
                    node.discover(None).await;
                }
                _ = sleep_until(retry_at.unwrap_or_else(far_future)), if retry_at.is_some() => {
                    node.reconcile(None, true).await;
                }
            }
        }
        disconnects = 1;
        set_connected(&node, false);
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let (i, m) = (Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(backoff(i, m, 1), Duration::from_millis(100));
        assert_eq!(backoff(i, m, 2), Duration::from_millis(200));
        assert_eq!(backoff(i, m, 4), Duration::from_millis(800));
        assert_eq!(backoff(i, m, 40), m);
    }
}
