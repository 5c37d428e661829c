//! Comparison records: the `Recorder` hands records to a bounded buffer
//! without ever waiting (`try_send`; a full buffer drops the record and
//! counts it), and the shipper task sends them to the registry in batches
//! (by size and by time) over `Trials.RecordComparisons`. Record ids are
//! the router's instance id plus a counter, so a retried batch is not
//! counted twice. A failed batch is retried with backoff while the buffer
//! has room; once it is full the batch is dropped (counted) so that newer
//! records keep flowing.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use joust_proto::v1 as pb;
use joust_proto::v1::trials_client::TrialsClient;
use joust_security::SecureChannel as Channel;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, warn};

use joust_runtime::{JITTER, backoff};

/// Counters shared by the recorder, the shipper, metrics and GetStats.
#[derive(Debug, Default, Clone)]
pub struct RecordCounters {
    pub sent: Counter,
    pub dropped: Counter,
}

/// The producing side; cheap to share.
#[derive(Debug)]
pub struct Recorder {
    tx: mpsc::Sender<pb::ComparisonRecord>,
    capacity: usize,
    instance: String,
    next_id: AtomicU64,
    pub counters: RecordCounters,
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
            Ok(()) => true,
            Err(_) => {
                self.counters.dropped.inc();
                false
            }
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records waiting in the buffer.
    pub fn buffered(&self) -> usize {
        self.capacity - self.tx.capacity()
    }

    fn full(&self) -> bool {
        self.tx.capacity() == 0
    }
}

/// Where batches go: the registry's `RecordComparisons` in production.
pub trait BatchSink: Send + 'static {
    fn send(
        &mut self,
        batch: Vec<pb::ComparisonRecord>,
    ) -> impl Future<Output = Result<(), tonic::Status>> + Send;
}

impl BatchSink for TrialsClient<Channel> {
    async fn send(&mut self, batch: Vec<pb::ComparisonRecord>) -> Result<(), tonic::Status> {
        let req = pb::RecordComparisonsRequest { records: batch };
        let resp = self
            .record_comparisons(tokio_stream::iter(vec![req]))
            .await?
            .into_inner();
        debug!(
            accepted = resp.accepted,
            duplicates = resp.duplicates,
            "records shipped"
        );
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ShipperSettings {
    pub batch: usize,
    pub flush: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

/// Runs until `shutdown` turns true, then sends what is buffered once and
/// returns.
pub async fn ship<S: BatchSink>(
    mut sink: S,
    recorder: Arc<Recorder>,
    mut rx: mpsc::Receiver<pb::ComparisonRecord>,
    settings: ShipperSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut batch: Vec<pb::ComparisonRecord> = Vec::with_capacity(settings.batch);
    loop {
        // Wait for a first record, then fill until full or the flush time.
        if batch.is_empty() {
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => batch.push(r),
                    None => return,
                },
                _ = shutdown.changed() => break,
            }
        }
        let deadline = Instant::now() + settings.flush;
        while batch.len() < settings.batch {
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => batch.push(r),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
                _ = shutdown.changed() => break,
            }
        }
        let mut failures = 0u32;
        loop {
            match sink.send(batch.clone()).await {
                Ok(()) => {
                    recorder.counters.sent.inc_by(batch.len() as u64);
                    batch.clear();
                    break;
                }
                Err(status) => {
                    failures = failures.saturating_add(1);
                    if recorder.full() || *shutdown.borrow() {
                        warn!(code = ?status.code(), message = status.message(), records = batch.len(), "record batch dropped: registry unreachable and buffer full");
                        recorder.counters.dropped.inc_by(batch.len() as u64);
                        batch.clear();
                        break;
                    }
                    let delay =
                        backoff(settings.retry_initial, settings.retry_max, failures, JITTER);
                    warn!(code = ?status.code(), message = status.message(), records = batch.len(), ?delay, "record batch failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
        if *shutdown.borrow() {
            break;
        }
    }
    // Shutdown: one attempt for what is buffered.
    while let Ok(r) = rx.try_recv() {
        batch.push(r);
        if batch.len() == settings.batch {
            flush_once(&mut sink, &recorder, &mut batch).await;
        }
    }
    flush_once(&mut sink, &recorder, &mut batch).await;
}

async fn flush_once<S: BatchSink>(
    sink: &mut S,
    recorder: &Recorder,
    batch: &mut Vec<pb::ComparisonRecord>,
) {
    if batch.is_empty() {
        return;
    }
    let n = batch.len() as u64;
    match sink.send(std::mem::take(batch)).await {
        Ok(()) => {
            recorder.counters.sent.inc_by(n);
        }
        Err(status) => {
            warn!(code = ?status.code(), records = n, "records lost at shutdown");
            recorder.counters.dropped.inc_by(n);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Collects batches in memory; fails while `fail` is set.
    #[derive(Clone)]
    struct Collect {
        batches: Arc<std::sync::Mutex<Vec<Vec<String>>>>,
        fail: Arc<std::sync::atomic::AtomicBool>,
    }

    impl BatchSink for Collect {
        async fn send(&mut self, batch: Vec<pb::ComparisonRecord>) -> Result<(), tonic::Status> {
            if self.fail.load(Ordering::Relaxed) {
                return Err(tonic::Status::unavailable("registry down"));
            }
            self.batches
                .lock()
                .unwrap()
                .push(batch.into_iter().map(|r| r.record_id).collect());
            Ok(())
        }
    }

    fn sink() -> Collect {
        Collect {
            batches: Default::default(),
            fail: Default::default(),
        }
    }

    fn settings(batch: usize, flush_ms: u64) -> ShipperSettings {
        ShipperSettings {
            batch,
            flush: Duration::from_millis(flush_ms),
            retry_initial: Duration::from_millis(5),
            retry_max: Duration::from_millis(20),
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
        assert_eq!(rec.buffered(), 3);
        assert_eq!(rec.capacity(), 3);
    }

    #[tokio::test]
    async fn records_go_out_in_batches_by_size_then_by_time_with_unique_ids() {
        let (rec, rx) = Recorder::new(100, "r1".into(), RecordCounters::default());
        let s = sink();
        let (stop_tx, stop) = watch::channel(false);
        // 25 records before the shipper starts: two full batches of 10,
        // then 5 sent when the (long) flush interval... is cut by shutdown.
        for _ in 0..25 {
            rec.record(pb::ComparisonRecord::default());
        }
        let task = tokio::spawn(ship(s.clone(), rec.clone(), rx, settings(10, 60_000), stop));
        while s.batches.lock().unwrap().len() < 2 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        stop_tx.send(true).unwrap();
        task.await.unwrap();
        let batches = s.batches.lock().unwrap().clone();
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
        let ids: std::collections::BTreeSet<_> = batches.concat().into_iter().collect();
        assert_eq!(ids.len(), 25);
        assert!(ids.iter().all(|i| i.starts_with("r1-")));
        assert_eq!(rec.counters.sent.get(), 25);
    }

    #[tokio::test]
    async fn a_partial_batch_is_flushed_after_the_flush_interval() {
        let (rec, rx) = Recorder::new(100, "r".into(), RecordCounters::default());
        let s = sink();
        let (_stop_tx, stop) = watch::channel(false);
        tokio::spawn(ship(s.clone(), rec.clone(), rx, settings(1000, 20), stop));
        for _ in 0..3 {
            rec.record(pb::ComparisonRecord::default());
        }
        while rec.counters.sent.get() < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(s.batches.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_batch_is_retried_with_the_same_ids() {
        let (rec, rx) = Recorder::new(100, "r".into(), RecordCounters::default());
        let s = sink();
        s.fail.store(true, Ordering::Relaxed);
        let (_stop_tx, stop) = watch::channel(false);
        tokio::spawn(ship(s.clone(), rec.clone(), rx, settings(4, 5), stop));
        for _ in 0..4 {
            rec.record(pb::ComparisonRecord::default());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(rec.counters.sent.get(), 0);
        s.fail.store(false, Ordering::Relaxed);
        while rec.counters.sent.get() < 4 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let batches = s.batches.lock().unwrap().clone();
        assert_eq!(batches, vec![vec!["r-0", "r-1", "r-2", "r-3"]]);
        assert_eq!(rec.counters.dropped.get(), 0);
    }
}
