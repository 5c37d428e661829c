//! The producing side of comparison records: the `Recorder` hands records
//! to a bounded buffer without ever waiting (`try_send`; a full buffer
//! drops the record and counts it), keeps the router's record counters
//! (sent, refused and dropped, by reason), and remembers what was dropped
//! per trial, arm and reason until the shipper reports it to the registry.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use joust_proto::v1 as pb;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::{Notify, mpsc};

/// Why records were dropped (the `reason` label of
/// `joust_router_records_dropped_total`, and `RecordDrops.reason`).
pub mod drop_reason {
    /// The buffer was full when the record was made.
    pub const BUFFER_FULL: &str = "buffer_full";
    /// The registry did not answer within the bounded retries (or the
    /// buffer filled while retrying).
    pub const REGISTRY_UNREACHABLE: &str = "registry_unreachable";
    /// The registry refused the whole call (a status that retrying
    /// cannot change, e.g. INVALID_ARGUMENT).
    pub const BATCH_REJECTED: &str = "batch_rejected";
    /// The last send at shutdown failed.
    pub const SHUTDOWN: &str = "shutdown";
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

/// Counters shared by the recorder, the shipper, metrics and GetStats.
#[derive(Debug, Default, Clone)]
pub struct RecordCounters {
    /// Records the registry stored (or had stored: retries).
    pub sent: Counter,
    /// Records dropped before reaching the registry, every reason.
    pub dropped: Counter,
    /// Records the registry refused, every reason.
    pub refused: Counter,
    /// `joust_router_records_dropped_total{reason}`.
    pub dropped_by_reason: Family<ReasonLabels, Counter>,
    /// `joust_router_records_refused_total{reason}` (the registry's code).
    pub refused_by_reason: Family<ReasonLabels, Counter>,
}

impl RecordCounters {
    pub fn count_dropped(&self, reason: &str, n: u64) {
        self.dropped.inc_by(n);
        self.dropped_by_reason
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc_by(n);
    }

    pub fn count_refused(&self, reason: &str) {
        self.refused.inc();
        self.refused_by_reason
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }
}

/// Dropped records not yet reported to the registry: (trial id, arm as
/// `pb::TrialArm`, reason) → count.
type Pending = BTreeMap<(u64, i32, &'static str), u64>;

/// The producing side; cheap to share.
#[derive(Debug)]
pub struct Recorder {
    tx: mpsc::Sender<pb::ComparisonRecord>,
    capacity: usize,
    instance: String,
    next_id: AtomicU64,
    pub counters: RecordCounters,
    pending: Mutex<Pending>,
    /// Buffered records at which the shipper is woken (its batch size;
    /// `usize::MAX` until a shipper runs). Below it the shipper sleeps
    /// until its flush time: one wake-up per batch, not per record.
    wake_at: AtomicUsize,
    batch_ready: Notify,
}

impl Recorder {
    /// A recorder and the receiving end its shipper drains.
    pub fn new(
        capacity: usize,
        instance: String,
        counters: RecordCounters,
    ) -> (Arc<Self>, mpsc::Receiver<pb::ComparisonRecord>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            Arc::new(Self {
                tx,
                capacity: capacity.max(1),
                instance,
                next_id: AtomicU64::new(0),
                counters,
                pending: Mutex::new(Pending::new()),
                wake_at: AtomicUsize::new(usize::MAX),
                batch_ready: Notify::new(),
            }),
            rx,
        )
    }

    /// A fresh id, unique to this router process.
    pub fn next_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.instance)
    }

    /// Buffers `record` (its `record_id` is assigned here) or, when the
    /// buffer is full, drops and counts it. Never waits.
    pub fn record(&self, mut record: pb::ComparisonRecord) -> bool {
        record.record_id = self.next_id();
        match self.tx.try_send(record) {
            Ok(()) => {
                if self.buffered() >= self.wake_at.load(Ordering::Relaxed) {
                    self.batch_ready.notify_one();
                }
                true
            }
            Err(e) => {
                let r = e.into_inner();
                self.dropped(std::slice::from_ref(&r), drop_reason::BUFFER_FULL);
                false
            }
        }
    }

    /// Counts `records` as dropped for `reason`, and keeps them for the
    /// next report to the registry.
    pub fn dropped(&self, records: &[pb::ComparisonRecord], reason: &'static str) {
        if records.is_empty() {
            return;
        }
        self.counters.count_dropped(reason, records.len() as u64);
        if let Ok(mut p) = self.pending.lock() {
            for r in records {
                *p.entry((r.trial_id, r.served, reason)).or_default() += 1;
            }
        }
    }

    /// The dropped counts not yet reported, taken out (give them back with
    /// [`Recorder::restore_drops`] if the report fails).
    pub fn take_drops(&self) -> Vec<pb::RecordDrops> {
        let taken = self
            .pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        taken
            .into_iter()
            .map(|((trial_id, arm, reason), count)| pb::RecordDrops {
                trial_id,
                arm,
                reason: reason.to_owned(),
                count,
            })
            .collect()
    }

    /// Puts back drop counts whose report did not reach the registry.
    pub fn restore_drops(&self, drops: Vec<pb::RecordDrops>) {
        let Ok(mut p) = self.pending.lock() else {
            return;
        };
        for d in drops {
            let reason = [
                drop_reason::BUFFER_FULL,
                drop_reason::REGISTRY_UNREACHABLE,
                drop_reason::BATCH_REJECTED,
                drop_reason::SHUTDOWN,
            ]
            .into_iter()
            .find(|r| *r == d.reason)
            .unwrap_or(drop_reason::REGISTRY_UNREACHABLE);
            *p.entry((d.trial_id, d.arm, reason)).or_default() += d.count;
        }
    }

    /// Whether dropped counts wait to be reported.
    pub fn has_drops(&self) -> bool {
        self.pending.lock().map(|p| !p.is_empty()).unwrap_or(false)
    }

    /// Wake the shipper once `batch` records are buffered.
    pub(crate) fn wake_at(&self, batch: usize) {
        self.wake_at.store(batch.max(1), Ordering::Relaxed);
    }

    /// Resolves once a batch is buffered (or was since the last wait).
    pub(crate) async fn batch_ready(&self) {
        self.batch_ready.notified().await;
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records waiting in the buffer.
    pub fn buffered(&self) -> usize {
        self.capacity - self.tx.capacity()
    }

    pub(crate) fn full(&self) -> bool {
        self.tx.capacity() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn made(trial_id: u64, served: pb::TrialArm) -> pb::ComparisonRecord {
        pb::ComparisonRecord {
            trial_id,
            served: served as i32,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_full_buffer_drops_and_counts_without_waiting() {
        let (rec, _rx) = Recorder::new(3, "r".into(), RecordCounters::default());
        let kept = (0..5)
            .filter(|_| rec.record(pb::ComparisonRecord::default()))
            .count();
        assert_eq!(kept, 3);
        assert_eq!(rec.counters.dropped.get(), 2);
        let by = rec.counters.dropped_by_reason.get_or_create(&ReasonLabels {
            reason: drop_reason::BUFFER_FULL.into(),
        });
        assert_eq!(by.get(), 2);
        assert_eq!(rec.buffered(), 3);
        assert_eq!(rec.capacity(), 3);
    }

    #[tokio::test]
    async fn drops_are_kept_per_trial_arm_and_reason_until_reported() {
        let (rec, _rx) = Recorder::new(3, "r".into(), RecordCounters::default());
        rec.dropped(
            &[
                made(4, pb::TrialArm::Champion),
                made(4, pb::TrialArm::Champion),
                made(4, pb::TrialArm::Challenger),
            ],
            drop_reason::REGISTRY_UNREACHABLE,
        );
        assert!(rec.has_drops());
        let drops = rec.take_drops();
        assert!(!rec.has_drops());
        let counts: Vec<_> = drops.iter().map(|d| (d.arm, d.count)).collect();
        assert_eq!(
            counts,
            vec![
                (pb::TrialArm::Champion as i32, 2),
                (pb::TrialArm::Challenger as i32, 1)
            ]
        );
        rec.restore_drops(drops.clone());
        assert_eq!(rec.take_drops(), drops);
    }
}
