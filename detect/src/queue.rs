//! Backpressure on the backfill queue: the queue-length limit `Backfill`
//! checks, and the queue monitor that keeps the queue-length gauge current
//! and fires the queue alert once each time the length reaches the alert
//! length (re-armed once it falls below).

use std::sync::atomic::Ordering;

use crate::detector::Detector;
use crate::error::{DetectError, Result};
use crate::jobs::JobStatus;

/// Jobs waiting to be claimed (pending + retrying) in store counts.
pub(crate) fn waiting(counts: &[(String, u64)]) -> u64 {
    counts
        .iter()
        .filter(|(s, _)| s == JobStatus::Pending.as_str() || s == JobStatus::Retrying.as_str())
        .map(|(_, n)| *n)
        .sum()
}

/// What the queue alert tells (the log line, the webhook event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueAlert {
    pub waiting: u64,
    pub alert_length: u64,
    pub max_queue_length: u64,
    pub at_ms: i64,
}

impl Detector {
    /// Jobs waiting to be claimed now.
    pub async fn queue_length(&self) -> Result<u64> {
        Ok(waiting(&self.store().job_counts().await?))
    }

    /// Refuses a new job when the queue is at its limit (checked before the
    /// insert: concurrent `Backfill` calls may pass it together, by at most
    /// their number).
    pub(crate) async fn admit_job(&self) -> Result<()> {
        let max = self.jobs().max_queue_length;
        if max == 0 {
            return Ok(());
        }
        let waiting = self.queue_length().await?;
        self.observe_queue(waiting).await;
        if waiting >= max {
            self.metrics().backfill_refused();
            return Err(DetectError::ResourceExhausted(format!(
                "backfill queue full: {waiting} jobs waiting (pending + retrying) reach max_queue_length {max} \
                 (--max-queue-length); retry once the queue drains"
            )));
        }
        Ok(())
    }

    /// Sets the queue gauge and fires or re-arms the alert for `waiting`.
    pub(crate) async fn observe_queue(&self, waiting: u64) {
        self.metrics().set_queue_length(waiting);
        let alert = self.jobs().queue_alert_length;
        if alert == 0 {
            return;
        }
        if waiting < alert {
            self.queue_alert_armed.store(true, Ordering::Relaxed);
            return;
        }
        if !self.queue_alert_armed.swap(false, Ordering::Relaxed) {
            return;
        }
        let event = QueueAlert {
            waiting,
            alert_length: alert,
            max_queue_length: self.jobs().max_queue_length,
            at_ms: self.clock.now_ms(),
        };
        tracing::warn!(
            waiting,
            alert_length = alert,
            max_queue_length = event.max_queue_length,
            "backfill queue alert: the queue length reached the alert length"
        );
        self.metrics().queue_alert();
        self.record_queue_alert(event);
        self.notify_queue_alert(&event).await;
    }

    /// Keeps the last alert (shown by `WorkerStatus`).
    fn record_queue_alert(&self, event: QueueAlert) {
        if let Ok(mut last) = self.last_queue_alert.lock() {
            *last = Some(event);
        }
    }

    /// The last queue alert fired by this service, if any.
    pub fn last_queue_alert(&self) -> Option<QueueAlert> {
        self.last_queue_alert.lock().ok().and_then(|l| *l)
    }

    /// Reads the queue length and observes it (the monitor's tick).
    pub async fn monitor_queue(&self) -> Result<u64> {
        let counts = self.store().job_counts().await?;
        self.metrics().set_jobs(&counts);
        let n = waiting(&counts);
        self.observe_queue(n).await;
        Ok(n)
    }
}

/// Runs until aborted: one queue reading every `monitor_every`.
pub(crate) async fn monitor_loop(detector: Detector) {
    let every = detector
        .jobs()
        .monitor_every
        .max(std::time::Duration::from_millis(10));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(error) = detector.monitor_queue().await {
            tracing::warn!(%error, "queue monitor: reading the queue length failed");
        }
    }
}
