//! The shipper task: sends the recorder's buffer to the registry in
//! batches (by size and by time) over `Trials.RecordComparisons`. Record
//! ids are the router's instance id plus a counter, so a retried batch is
//! not counted twice.
//!
//! The record flow cannot be poisoned: records the registry refuses are
//! counted (`joust_router_records_refused_total{reason}`) and never sent
//! again; a call that fails is retried with the runtime's backoff at most
//! `retries` times (fewer if the buffer fills meanwhile), then its records
//! are dropped and counted (`joust_router_records_dropped_total{reason}`);
//! a call the registry rejects as a whole (a status retrying cannot change)
//! is dropped at once. Either way the next batch goes next. Dropped counts,
//! per trial, arm and reason, ride along with the next call that succeeds
//! so the trial report shows them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use joust_proto::v1 as pb;
use joust_proto::v1::trials_client::TrialsClient;
use joust_security::SecureChannel as Channel;
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, warn};

use joust_runtime::{JITTER, backoff};

pub use crate::recorder::{RecordCounters, Recorder, drop_reason};

/// Where batches go: the registry's `RecordComparisons` in production.
/// Answers the refused records (by index in `batch`).
pub trait BatchSink: Send + 'static {
    fn send(
        &mut self,
        batch: Vec<pb::ComparisonRecord>,
        dropped: Vec<pb::RecordDrops>,
    ) -> impl Future<Output = Result<Vec<pb::RecordRefusal>, tonic::Status>> + Send;
}

/// The registry's `Trials` service, one call per batch; the batch is split
/// into stream messages of at most half the message limit, so large
/// records (10,000 rows per arm) never make a call too large.
#[derive(Debug, Clone)]
pub struct RegistrySink {
    client: TrialsClient<Channel>,
    message_bytes: usize,
}

impl RegistrySink {
    pub fn new(channel: Channel, max_message_bytes: usize) -> Self {
        Self {
            client: TrialsClient::new(channel)
                .max_decoding_message_size(max_message_bytes)
                .max_encoding_message_size(max_message_bytes),
            message_bytes: (max_message_bytes / 2).max(1),
        }
    }
}

/// Splits `batch` into messages of at most `bytes` encoded bytes each (a
/// record larger than that goes alone); `dropped` rides with the first.
pub fn messages(
    batch: Vec<pb::ComparisonRecord>,
    dropped: Vec<pb::RecordDrops>,
    bytes: usize,
) -> Vec<pb::RecordComparisonsRequest> {
    let mut out = vec![pb::RecordComparisonsRequest {
        records: Vec::new(),
        dropped,
    }];
    let mut size = 0;
    for r in batch {
        let n = r.encoded_len() + 8;
        if let Some(last) = out.last_mut()
            && (last.records.is_empty() || size + n <= bytes)
        {
            size += n;
            last.records.push(r);
            continue;
        }
        size = n;
        out.push(pb::RecordComparisonsRequest {
            records: vec![r],
            dropped: Vec::new(),
        });
    }
    out
}

impl BatchSink for RegistrySink {
    async fn send(
        &mut self,
        batch: Vec<pb::ComparisonRecord>,
        dropped: Vec<pb::RecordDrops>,
    ) -> Result<Vec<pb::RecordRefusal>, tonic::Status> {
        let msgs = messages(batch, dropped, self.message_bytes);
        let resp = self
            .client
            .record_comparisons(tokio_stream::iter(msgs))
            .await?
            .into_inner();
        debug!(
            accepted = resp.accepted,
            duplicates = resp.duplicates,
            refused = resp.refusals.len(),
            "records shipped"
        );
        Ok(resp.refusals)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ShipperSettings {
    pub batch: usize,
    pub flush: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Retries of a failed call before its records are dropped.
    pub retries: u32,
}

/// Whether a failed call may succeed if sent again (the registry down or
/// overloaded) rather than never (the call itself is refused).
fn retriable(code: tonic::Code) -> bool {
    use tonic::Code::*;
    !matches!(
        code,
        InvalidArgument
            | OutOfRange
            | FailedPrecondition
            | Unimplemented
            | NotFound
            | AlreadyExists
    )
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
    recorder.wake_at(settings.batch);
    loop {
        // Wait for a first record (or, with dropped counts to report, at
        // most one flush interval), then fill until full or the flush time.
        if batch.is_empty() {
            let report_drops = recorder.has_drops();
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => batch.push(r),
                    None => return,
                },
                _ = tokio::time::sleep(settings.flush), if report_drops => {}
                _ = shutdown.changed() => break,
            }
        }
        // Then sleep until the batch is full (the recorder wakes this
        // task once, not per record) or the flush time, and take what
        // is buffered.
        let deadline = Instant::now() + settings.flush;
        while !batch.is_empty() && batch.len() < settings.batch {
            let open = drain(&mut rx, &mut batch, settings.batch);
            if !open || batch.len() >= settings.batch {
                break;
            }
            let stop = tokio::select! {
                _ = recorder.batch_ready() => false,
                _ = tokio::time::sleep_until(deadline) => true,
                _ = shutdown.changed() => true,
            };
            if stop {
                drain(&mut rx, &mut batch, settings.batch);
                break;
            }
        }
        deliver(&mut sink, &recorder, &mut batch, &settings, &mut shutdown).await;
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

/// Moves buffered records into `batch` up to `max`, without waiting;
/// false once the channel is closed and empty.
fn drain(
    rx: &mut mpsc::Receiver<pb::ComparisonRecord>,
    batch: &mut Vec<pb::ComparisonRecord>,
    max: usize,
) -> bool {
    while batch.len() < max {
        match rx.try_recv() {
            Ok(r) => batch.push(r),
            Err(mpsc::error::TryRecvError::Empty) => return true,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
    true
}

/// Sends `batch` (and the dropped counts) with bounded retries; empties
/// `batch` whatever happens.
async fn deliver<S: BatchSink>(
    sink: &mut S,
    recorder: &Recorder,
    batch: &mut Vec<pb::ComparisonRecord>,
    settings: &ShipperSettings,
    shutdown: &mut watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    loop {
        let drops = recorder.take_drops();
        if batch.is_empty() && drops.is_empty() {
            return;
        }
        let status = match sink.send(batch.clone(), drops.clone()).await {
            Ok(refusals) => {
                settle(recorder, std::mem::take(batch), &refusals);
                return;
            }
            Err(status) => status,
        };
        if !retriable(status.code()) {
            // Sending it again would be refused again: drop the records,
            // and the dropped counts that rode along (they may be what
            // was refused; they stay in this router's metrics).
            warn!(code = ?status.code(), message = status.message(), records = batch.len(), drop_reports = drops.len(), "record batch rejected by the registry; dropped");
            recorder.dropped(batch, drop_reason::BATCH_REJECTED);
            batch.clear();
            return;
        }
        recorder.restore_drops(drops);
        failures = failures.saturating_add(1);
        if failures > settings.retries || recorder.full() || *shutdown.borrow() {
            warn!(code = ?status.code(), message = status.message(), records = batch.len(), failures, "record batch dropped: registry unreachable");
            recorder.dropped(batch, drop_reason::REGISTRY_UNREACHABLE);
            batch.clear();
            return;
        }
        let delay = backoff(settings.retry_initial, settings.retry_max, failures, JITTER);
        warn!(code = ?status.code(), message = status.message(), records = batch.len(), ?delay, failures, "record batch failed; retrying");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Counts a delivered batch: refused records by the registry's reason,
/// the rest as sent.
fn settle(recorder: &Recorder, batch: Vec<pb::ComparisonRecord>, refusals: &[pb::RecordRefusal]) {
    for r in refusals {
        warn!(
            reason = r.reason,
            message = r.message,
            record_id = r.record_id,
            trial_id = r.trial_id,
            "comparison record refused by the registry"
        );
        recorder.counters.count_refused(&r.reason);
    }
    let sent = (batch.len() as u64).saturating_sub(refusals.len() as u64);
    recorder.counters.sent.inc_by(sent);
}

async fn flush_once<S: BatchSink>(
    sink: &mut S,
    recorder: &Recorder,
    batch: &mut Vec<pb::ComparisonRecord>,
) {
    let drops = recorder.take_drops();
    if batch.is_empty() && drops.is_empty() {
        return;
    }
    let records = std::mem::take(batch);
    match sink.send(records.clone(), drops).await {
        Ok(refusals) => settle(recorder, records, &refusals),
        Err(status) => {
            warn!(code = ?status.code(), records = records.len(), "records lost at shutdown");
            recorder.dropped(&records, drop_reason::SHUTDOWN);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
