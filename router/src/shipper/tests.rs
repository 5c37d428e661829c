//! The shipper's rules against an in-memory sink (the registry end to end
//! is in tests/tests/record_flow.rs).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::*;

/// Collects batches in memory; fails with `fail_code` while `fail` is set;
/// refuses records whose request id is "bad".
#[derive(Clone)]
struct Collect {
    batches: Arc<std::sync::Mutex<Vec<Vec<String>>>>,
    drops: Arc<std::sync::Mutex<Vec<pb::RecordDrops>>>,
    fail: Arc<AtomicBool>,
    fail_code: tonic::Code,
    calls: Arc<AtomicU32>,
}

impl BatchSink for Collect {
    async fn send(
        &mut self,
        batch: Vec<pb::ComparisonRecord>,
        dropped: Vec<pb::RecordDrops>,
    ) -> Result<Vec<pb::RecordRefusal>, tonic::Status> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.fail.load(Ordering::Relaxed) {
            return Err(tonic::Status::new(self.fail_code, "registry down"));
        }
        let refusals = batch
            .iter()
            .enumerate()
            .filter(|(_, r)| r.request_id == "bad")
            .map(|(i, r)| pb::RecordRefusal {
                index: i as u64,
                record_id: r.record_id.clone(),
                reason: "too_many_rows".into(),
                ..Default::default()
            })
            .collect();
        self.drops.lock().unwrap().extend(dropped);
        self.batches
            .lock()
            .unwrap()
            .push(batch.into_iter().map(|r| r.record_id).collect());
        Ok(refusals)
    }
}

fn sink() -> Collect {
    Collect {
        batches: Default::default(),
        drops: Default::default(),
        fail: Default::default(),
        fail_code: tonic::Code::Unavailable,
        calls: Default::default(),
    }
}

fn settings(batch: usize, flush_ms: u64) -> ShipperSettings {
    ShipperSettings {
        batch,
        flush: Duration::from_millis(flush_ms),
        retry_initial: Duration::from_millis(5),
        retry_max: Duration::from_millis(20),
        retries: 3,
    }
}

fn record(trial_id: u64, request_id: &str) -> pb::ComparisonRecord {
    pb::ComparisonRecord {
        trial_id,
        request_id: request_id.into(),
        served: pb::TrialArm::Champion as i32,
        ..Default::default()
    }
}

async fn until(mut f: impl FnMut() -> bool) {
    while !f() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
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
    until(|| s.batches.lock().unwrap().len() >= 2).await;
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
    until(|| rec.counters.sent.get() >= 3).await;
    assert_eq!(s.batches.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_batch_is_retried_with_the_same_ids_while_retries_last() {
    let (rec, rx) = Recorder::new(100, "r".into(), RecordCounters::default());
    let s = sink();
    s.fail.store(true, Ordering::Relaxed);
    let (_stop_tx, stop) = watch::channel(false);
    let mut cfg = settings(4, 5);
    cfg.retries = 1000;
    tokio::spawn(ship(s.clone(), rec.clone(), rx, cfg, stop));
    for _ in 0..4 {
        rec.record(pb::ComparisonRecord::default());
    }
    until(|| s.calls.load(Ordering::Relaxed) >= 3).await;
    assert_eq!(rec.counters.sent.get(), 0);
    s.fail.store(false, Ordering::Relaxed);
    until(|| rec.counters.sent.get() >= 4).await;
    let batches = s.batches.lock().unwrap().clone();
    assert_eq!(batches, vec![vec!["r-0", "r-1", "r-2", "r-3"]]);
    assert_eq!(rec.counters.dropped.get(), 0);
}

#[tokio::test]
async fn after_bounded_retries_a_batch_is_dropped_counted_and_reported_later() {
    let (rec, rx) = Recorder::new(100, "r".into(), RecordCounters::default());
    let s = sink();
    s.fail.store(true, Ordering::Relaxed);
    let (_stop_tx, stop) = watch::channel(false);
    tokio::spawn(ship(s.clone(), rec.clone(), rx, settings(4, 5), stop));
    for _ in 0..4 {
        rec.record(record(9, "ok"));
    }
    until(|| rec.counters.dropped.get() == 4).await;
    // One attempt and three retries.
    assert_eq!(s.calls.load(Ordering::Relaxed), 4);
    let by = rec
        .counters
        .dropped_by_reason
        .get_or_create(&crate::recorder::ReasonLabels {
            reason: drop_reason::REGISTRY_UNREACHABLE.into(),
        })
        .get();
    assert_eq!(by, 4);
    // The registry is back: the next records arrive, the drops with them.
    s.fail.store(false, Ordering::Relaxed);
    rec.record(record(9, "ok"));
    until(|| rec.counters.sent.get() == 1).await;
    let drops = s.drops.lock().unwrap().clone();
    assert_eq!(
        drops,
        vec![pb::RecordDrops {
            trial_id: 9,
            arm: pb::TrialArm::Champion as i32,
            reason: drop_reason::REGISTRY_UNREACHABLE.into(),
            count: 4,
        }]
    );
    assert!(!rec.has_drops());
}

#[tokio::test]
async fn drops_are_reported_without_new_records() {
    let (rec, rx) = Recorder::new(100, "r".into(), RecordCounters::default());
    let s = sink();
    let (_stop_tx, stop) = watch::channel(false);
    rec.dropped(&[record(3, "x")], drop_reason::BUFFER_FULL);
    tokio::spawn(ship(s.clone(), rec.clone(), rx, settings(4, 5), stop));
    until(|| !s.drops.lock().unwrap().is_empty()).await;
    assert_eq!(s.drops.lock().unwrap()[0].count, 1);
}

#[tokio::test]
async fn refused_records_are_counted_and_never_sent_again() {
    let (rec, rx) = Recorder::new(100, "r".into(), RecordCounters::default());
    let s = sink();
    let (_stop_tx, stop) = watch::channel(false);
    tokio::spawn(ship(s.clone(), rec.clone(), rx, settings(3, 5), stop));
    for id in ["ok", "bad", "ok"] {
        rec.record(record(1, id));
    }
    until(|| rec.counters.sent.get() == 2).await;
    assert_eq!(rec.counters.refused.get(), 1);
    rec.record(record(1, "ok"));
    until(|| rec.counters.sent.get() == 3).await;
    assert_eq!(s.calls.load(Ordering::Relaxed), 2, "no resend");
    let refused = rec
        .counters
        .refused_by_reason
        .get_or_create(&crate::recorder::ReasonLabels {
            reason: "too_many_rows".into(),
        })
        .get();
    assert_eq!(refused, 1);
}

#[tokio::test]
async fn a_batch_rejected_as_a_whole_is_dropped_at_once() {
    let (rec, rx) = Recorder::new(100, "r".into(), RecordCounters::default());
    let mut s = sink();
    s.fail_code = tonic::Code::InvalidArgument;
    s.fail.store(true, Ordering::Relaxed);
    let (_stop_tx, stop) = watch::channel(false);
    tokio::spawn(ship(s.clone(), rec.clone(), rx, settings(2, 5), stop));
    rec.record(record(1, "ok"));
    rec.record(record(1, "ok"));
    until(|| rec.counters.dropped.get() == 2).await;
    assert_eq!(s.calls.load(Ordering::Relaxed), 1, "not retried");
}

#[test]
fn large_batches_are_split_into_messages_under_the_limit() {
    let big = |id: &str| pb::ComparisonRecord {
        record_id: id.into(),
        champion: Some(pb::TrialArmResult {
            scores: vec![0.5; 1000],
            ..Default::default()
        }),
        ..Default::default()
    };
    let drops = vec![pb::RecordDrops::default()];
    let msgs = messages((0..5).map(|i| big(&i.to_string())).collect(), drops, 20_000);
    let sizes: Vec<usize> = msgs.iter().map(|m| m.records.len()).collect();
    assert_eq!(sizes, vec![2, 2, 1]);
    assert!(msgs.iter().all(|m| m.encoded_len() <= 20_000));
    assert_eq!(msgs[0].dropped.len(), 1);
    assert!(msgs[1..].iter().all(|m| m.dropped.is_empty()));
}
