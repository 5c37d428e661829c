//! Health that follows the database: a background task pings the metadata
//! store every [`PING_INTERVAL`] (each ping bounded by [`PING_TIMEOUT`])
//! and sets the `grpc.health.v1` status of every service this role serves
//! — `NOT_SERVING` while the database does not answer, `SERVING` again
//! once it does. Only changes are written (and logged).

use std::sync::Arc;
use std::time::Duration;

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{info, warn};

use crate::store::MetadataStore;

/// Time between two pings.
pub const PING_INTERVAL: Duration = Duration::from_secs(1);
/// Longest a ping may take before the database counts as unreachable.
pub const PING_TIMEOUT: Duration = Duration::from_millis(800);

/// Whether the store answers a trivial query within `timeout`.
pub async fn database_answers(store: &dyn MetadataStore, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, store.ping()).await,
        Ok(Ok(()))
    )
}

/// Runs until dropped (abort the task): keeps `services` (and the
/// server-wide `""` entry) in step with the database. The first ping runs
/// at once, so a registry started on a dead database turns `NOT_SERVING`
/// within one timeout.
pub async fn follow_database(
    store: Arc<dyn MetadataStore>,
    reporter: HealthReporter,
    services: Vec<&'static str>,
    interval: Duration,
    timeout: Duration,
) {
    let mut last: Option<bool> = None;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let up = database_answers(store.as_ref(), timeout).await;
        if last == Some(up) {
            continue;
        }
        if up {
            if last.is_some() {
                info!("metadata store answers again: SERVING");
            }
        } else {
            warn!(
                timeout_ms = timeout.as_millis() as u64,
                "metadata store does not answer: NOT_SERVING"
            );
        }
        let status = if up {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for service in std::iter::once("").chain(services.iter().copied()) {
            reporter.set_service_status(service, status).await;
        }
        last = Some(up);
    }
}
