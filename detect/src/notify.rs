//! Notifications: new anomalies (after rules and whitelists) and queue
//! alerts POSTed as signed JSON to one webhook URL, through the delivery
//! code the registry's webhooks use (crate joust-webhooks: `Deliverer`,
//! `Signer`, `X-Joust-Signature`). A run's event is written to the
//! `detection_notifications` outbox in the run's own transaction, so an
//! event exists exactly when its anomalies do; a delivery loop claims due
//! events, POSTs them (same `X-Joust-Delivery` id and body on every
//! attempt: at least once, receivers dedupe by the id), retries with
//! backoff, and copies the final state (`sent`, `failed`) to the
//! anomalies the event carries.

use std::sync::Arc;
use std::time::Duration;

use joust_webhooks::{Deliverer, Message, Signer};
use serde_json::json;

use crate::detector::Detector;
use crate::domain::{Anomaly, Run};
use crate::error::{DetectError, Result};
use crate::store::notify_sql::{AttemptResult, Notification, NotificationFilter};

/// The event kind of a run's new anomalies.
pub const ANOMALIES_KIND: &str = "detect.anomalies";
/// The event kind of a queue alert.
pub const QUEUE_ALERT_KIND: &str = "detect.queue_alert";

/// Where and how notifications go.
#[derive(Clone)]
pub struct NotifyConfig {
    /// `http://` or `https://` URL the events are POSTed to.
    pub url: url::Url,
    /// The HMAC-SHA256 key of `X-Joust-Signature`.
    pub secret: String,
    /// Attempts before an event is `failed` (≥ 1).
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubled after each one.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Time one POST may take.
    pub timeout: Duration,
    /// Outbox poll period when idle (a new event wakes the loop at once).
    pub poll_every: Duration,
}

impl std::fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("url", &joust_security::redact_url(self.url.as_str()))
            .field("secret", &"(redacted)")
            .field("max_attempts", &self.max_attempts)
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .field("timeout", &self.timeout)
            .field("poll_every", &self.poll_every)
            .finish()
    }
}

impl NotifyConfig {
    /// `url` with the defaults: 8 attempts, 1 s doubling to 5 min, 10 s
    /// per POST, a 1 s poll.
    pub fn new(url: &str, secret: &str) -> Result<Self> {
        let url = url::Url::parse(url).map_err(|e| {
            DetectError::Config(format!(
                "notify-url: expected an http(s) URL, got {url:?}: {e}"
            ))
        })?;
        let config = Self {
            url,
            secret: secret.to_owned(),
            max_attempts: 8,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            poll_every: Duration::from_secs(1),
        };
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(DetectError::Config(m));
        if !matches!(self.url.scheme(), "http" | "https") {
            return bad(format!(
                "notify-url: expected http:// or https://, got {}://",
                self.url.scheme()
            ));
        }
        if self.secret.len() < 16 {
            return bad(format!(
                "notify-secret: expected at least 16 bytes, got {}",
                self.secret.len()
            ));
        }
        if self.max_attempts == 0 || self.max_attempts > 100 {
            return bad(format!(
                "notify-max-attempts: expected 1-100, got {}",
                self.max_attempts
            ));
        }
        if self.timeout.is_zero() || self.poll_every.is_zero() {
            return bad("notify timeout and poll period: expected more than 0".to_owned());
        }
        Ok(())
    }
}

/// The opened notifier; cheap to clone.
#[derive(Debug, Clone)]
pub struct Notifier {
    config: Arc<NotifyConfig>,
    deliverer: Deliverer,
    signer: Signer,
    wake: Arc<tokio::sync::Notify>,
}

impl Notifier {
    pub fn new(config: NotifyConfig) -> Result<Self> {
        config.validate()?;
        let deliverer = Deliverer::new(config.timeout).map_err(DetectError::Config)?;
        let signer = Signer::new(config.secret.as_bytes());
        Ok(Self {
            config: Arc::new(config),
            deliverer,
            signer,
            wake: Arc::default(),
        })
    }

    pub fn config(&self) -> &NotifyConfig {
        &self.config
    }

    /// Tells the delivery loop an event was written.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// A fresh delivery id.
pub fn new_delivery_id() -> String {
    format!("det-{}", uuid::Uuid::new_v4())
}

/// The body of a run's event: the run and its notified anomalies.
pub fn anomalies_event(delivery_id: &str, run: &Run, anomalies: &[&Anomaly], at_ms: i64) -> String {
    let anomalies: Vec<serde_json::Value> = anomalies
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "ticker": a.ticker,
                "interval": a.interval,
                "timestamp": a.timestamp,
                "close": a.close,
                "volume": a.volume,
                "score": a.score,
                "label": a.label,
                "model_name": a.model_name,
                "model_version": a.model_version,
                "model_sha256": a.model_sha256,
                "types": a.matches.iter().map(|m| json!({
                    "anomaly_type": m.anomaly_type.as_str(),
                    "value": m.value,
                    "operator": m.operator.as_str(),
                    "threshold": m.threshold,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "delivery_id": delivery_id,
        "kind": ANOMALIES_KIND,
        "created_at_ms": at_ms,
        "run": {
            "id": run.id,
            "trigger": run.trigger.as_str(),
            "ticker": run.ticker,
            "interval": run.interval,
            "model_name": run.model_name,
            "model_version": run.model_version,
            "model_sha256": run.model_sha256,
            "started_at_ms": run.started_at_ms,
            "completed_at_ms": run.completed_at_ms,
            "rows_scored": run.rows_scored,
            "anomalies_found": run.anomalies_found,
        },
        "anomalies": anomalies,
    })
    .to_string()
}

fn queue_alert_event(delivery_id: &str, alert: &crate::queue::QueueAlert) -> String {
    json!({
        "delivery_id": delivery_id,
        "kind": QUEUE_ALERT_KIND,
        "created_at_ms": alert.at_ms,
        "queue": {
            "waiting": alert.waiting,
            "alert_length": alert.alert_length,
            "max_queue_length": alert.max_queue_length,
        },
    })
    .to_string()
}

/// Events claimed per poll.
const CLAIM_BATCH: usize = 32;

impl Detector {
    /// Writes a queue alert's event (when notifications are on).
    pub(crate) async fn notify_queue_alert(&self, alert: &crate::queue::QueueAlert) {
        let Some(notifier) = &self.notifier else {
            return;
        };
        let id = new_delivery_id();
        let body = queue_alert_event(&id, alert);
        match self
            .store()
            .insert_notification(&id, QUEUE_ALERT_KIND, &body, alert.at_ms)
            .await
        {
            Ok(_) => notifier.wake(),
            Err(error) => tracing::warn!(%error, "could not write the queue alert's notification"),
        }
    }

    /// Tells the delivery loop a run may have written an event.
    pub(crate) fn wake_notifier(&self) {
        if let Some(n) = &self.notifier {
            n.wake();
        }
    }

    pub async fn list_notifications(
        &self,
        mut filter: NotificationFilter,
    ) -> Result<Vec<Notification>> {
        if let Some(s) = &filter.status
            && !matches!(s.as_str(), "pending" | "sent" | "failed")
        {
            return Err(DetectError::InvalidArgument(format!(
                "status: expected one of pending, sent, failed, got {s:?}"
            )));
        }
        filter.limit = crate::detector::page_size(filter.limit)?;
        self.store().list_notifications(&filter).await
    }

    /// One pass: claims due events and delivers each once. Returns how
    /// many were attempted.
    pub async fn deliver_notifications(&self) -> Result<usize> {
        let Some(notifier) = &self.notifier else {
            return Ok(0);
        };
        let config = notifier.config();
        let now = crate::domain::now_ms();
        // A claim holds for two POST timeouts: a claimer that dies leaves
        // the event to be tried again after that.
        let lease = now.saturating_add(ms(config.timeout.saturating_mul(2)));
        let claimed = self
            .store()
            .claim_notifications(now, lease, CLAIM_BATCH)
            .await?;
        let n = claimed.len();
        for event in claimed {
            let attempt = u32::try_from(event.attempts).unwrap_or(u32::MAX);
            let message = Message {
                delivery_id: &event.delivery_id,
                kind: &event.kind,
                body: &event.body,
                attempt,
            };
            let (outcome, took) = notifier
                .deliverer
                .deliver(&config.url, &notifier.signer, &message)
                .await;
            let at = crate::domain::now_ms();
            let delivered = outcome.is_delivered();
            let last = attempt >= config.max_attempts;
            let status = match (delivered, last) {
                (true, _) => "sent",
                (false, true) => "failed",
                (false, false) => "pending",
            };
            let retry_in =
                joust_runtime::backoff(config.backoff_initial, config.backoff_max, attempt, 0.0);
            let result = AttemptResult {
                status,
                next_attempt_at_ms: if status == "pending" {
                    at.saturating_add(ms(retry_in))
                } else {
                    at
                },
                http_status: i32::from(outcome.http_status()),
                error: outcome.error(),
                at_ms: at,
            };
            self.metrics().notification_attempt(status, took);
            match status {
                "sent" => {
                    tracing::info!(delivery = %event.delivery_id, kind = %event.kind, attempt, "notification sent")
                }
                "failed" => {
                    tracing::warn!(delivery = %event.delivery_id, kind = %event.kind, attempt, error = %result.error, "notification failed after its last attempt")
                }
                _ => {
                    tracing::warn!(delivery = %event.delivery_id, kind = %event.kind, attempt, error = %result.error, retry_in_ms = ms(retry_in), "notification attempt failed; retrying")
                }
            }
            self.store().finish_attempt(event.id, &result).await?;
        }
        Ok(n)
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs until aborted: delivers due events every poll period, at once
/// when woken.
pub(crate) async fn deliver_loop(detector: Detector) {
    let Some(notifier) = detector.notifier.clone() else {
        return;
    };
    let every = notifier.config().poll_every;
    loop {
        match detector.deliver_notifications().await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "notifications: a delivery pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = notifier.wake.notified() => {}
        }
    }
}
