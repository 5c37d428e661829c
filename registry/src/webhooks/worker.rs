//! The delivery worker: one task per endpoint (a slow or dead endpoint
//! delays only itself) that tails the audit log into the delivery log,
//! claims due deliveries and sends them, at most `concurrency` at once,
//! retrying failures with capped exponential backoff. It reads and writes
//! only its own tables and the event log, never inside a registry write,
//! so the registry's requests never wait for a receiver.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::metrics::RegistryMetrics;
use crate::watch::EventHub;

use super::config::{Endpoint, WebhookConfig};
use super::deliver::{Deliverer, Message, Outcome};
use super::kinds;
use super::signer::Signer;
use super::store::{Claimed, DeliveryStatus, Finish, WebhookStore};

/// Re-read the log and the due retries at least this often.
const IDLE_POLL: Duration = Duration::from_millis(250);
/// Re-read the log this often even without an announcement (a safety
/// net, as Watch's).
const POLL_FALLBACK: Duration = crate::watch::POLL_FALLBACK;
/// Events read per enqueue pass.
const BATCH: u32 = 200;

/// What every endpoint task shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub config: Arc<WebhookConfig>,
    pub store: WebhookStore,
    pub deliverer: Deliverer,
    pub hub: EventHub,
    pub metrics: Arc<RegistryMetrics>,
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Runs `endpoint`'s deliveries until aborted.
pub(crate) async fn run(shared: Shared, endpoint: Endpoint) {
    let endpoint = Arc::new(endpoint);
    let signer = Signer::new(endpoint.secret.as_bytes());
    let mut wake = shared.hub.subscribe();
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let retry = joust_runtime::Retry::jittered(Duration::from_millis(200), Duration::from_secs(10));
    let mut failures = 0u32;
    let lease = shared.config.timeout + Duration::from_secs(5);
    // The newest event id announced when the log was last read; the log is
    // re-read when a newer one is announced, and every POLL_FALLBACK.
    let mut read_up_to = 0u64;
    let mut last_read = tokio::time::Instant::now();
    loop {
        let announced = *wake.borrow_and_update();
        let read_log = announced > read_up_to || last_read.elapsed() >= POLL_FALLBACK;
        if read_log {
            last_read = tokio::time::Instant::now();
        }
        let more = match step(&shared, &endpoint, &signer, &mut in_flight, lease, read_log).await {
            Ok(more) => {
                failures = 0;
                if read_log && !more {
                    read_up_to = announced;
                }
                more
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, endpoint = endpoint.name, "webhook delivery pass failed; retrying");
                tokio::time::sleep(retry.after(failures)).await;
                continue;
            }
        };
        if more {
            continue;
        }
        tokio::select! {
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            changed = wake.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
            () = tokio::time::sleep(IDLE_POLL) => {}
        }
    }
}

/// One pass: queue new events, start due deliveries in free slots.
/// Returns true when more work is ready at once.
async fn step(
    shared: &Shared,
    endpoint: &Arc<Endpoint>,
    signer: &Signer,
    in_flight: &mut JoinSet<()>,
    lease: Duration,
    read_log: bool,
) -> crate::error::Result<bool> {
    let more_events = if read_log {
        shared.store.enqueue(endpoint, BATCH, now_ms()).await?.1
    } else {
        false
    };
    while in_flight.try_join_next().is_some() {}
    let free = (shared.config.concurrency as usize).saturating_sub(in_flight.len());
    let mut claimed = Vec::new();
    if free > 0 {
        let now = now_ms();
        let until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        claimed = shared
            .store
            .claim(&endpoint.name, now, until, u32::try_from(free).unwrap_or(1))
            .await?;
    }
    let pending = shared.store.pending(&endpoint.name).await?;
    shared.metrics.webhook_queue(&endpoint.name, pending);
    let full = claimed.len() == free && free > 0;
    for c in claimed {
        in_flight.spawn(attempt(shared.clone(), endpoint.clone(), signer.clone(), c));
    }
    Ok(more_events || (full && in_flight.len() < shared.config.concurrency as usize))
}

/// Sends one claimed delivery and records how it ended.
async fn attempt(shared: Shared, endpoint: Arc<Endpoint>, signer: Signer, c: Claimed) {
    let attempt = u32::try_from(c.attempts).unwrap_or(u32::MAX);
    let delivery_id = kinds::delivery_id(&endpoint.name, u64::try_from(c.event_id).unwrap_or(0));
    let message = Message {
        delivery_id: &delivery_id,
        kind: &c.kind,
        body: &c.payload,
        attempt,
    };
    let (outcome, took) = shared.deliverer.deliver(&endpoint, &signer, &message).await;
    let label = match outcome {
        Outcome::Delivered { .. } => "delivered",
        Outcome::Refused { .. } => "refused",
        Outcome::Failed { .. } => "failed",
    };
    shared.metrics.webhook_attempt(&endpoint.name, label, took);
    let now = now_ms();
    let error = outcome.error();
    let status = if outcome.is_delivered() {
        DeliveryStatus::Delivered
    } else if attempt >= shared.config.max_attempts {
        DeliveryStatus::Failed
    } else {
        DeliveryStatus::Pending
    };
    let next = match status {
        DeliveryStatus::Pending => {
            now + i64::try_from(shared.config.backoff(attempt).as_millis()).unwrap_or(i64::MAX / 2)
        }
        DeliveryStatus::Delivered | DeliveryStatus::Failed => now,
    };
    let finished = if status == DeliveryStatus::Pending {
        0
    } else {
        now
    };
    match status {
        DeliveryStatus::Delivered => {
            tracing::debug!(
                endpoint = endpoint.name,
                delivery_id,
                attempt,
                "webhook delivered"
            );
        }
        DeliveryStatus::Pending => tracing::info!(
            endpoint = endpoint.name,
            delivery_id,
            attempt,
            error,
            "webhook attempt failed; will retry"
        ),
        DeliveryStatus::Failed => tracing::warn!(
            endpoint = endpoint.name,
            delivery_id,
            attempt,
            error,
            "webhook delivery failed; no attempts left"
        ),
    }
    if status != DeliveryStatus::Pending {
        shared
            .metrics
            .webhook_delivery(&endpoint.name, status.as_str());
    }
    let finish = Finish {
        status,
        error: &error,
        http_status: outcome.http_status(),
        next_attempt_ms: next,
        finished_ms: finished,
    };
    // The lease covers a store hiccup: unrecorded, the row is retried
    // once the lease ends.
    for n in 1..=3u32 {
        match shared.store.finish(c.id, &finish).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, endpoint = endpoint.name, delivery_id, "recording a webhook attempt failed");
                tokio::time::sleep(Duration::from_millis(200) * n).await;
            }
        }
    }
}
