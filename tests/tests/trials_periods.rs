//! Trial periods and the sequential verdict through the real registry
//! (SQLite and PostgreSQL, over gRPC): the README's sequence (shadow, then
//! split 0.1) and a weight change 0.2 → 0.5 reach a verdict, because each
//! split period's sample ratio is checked against its own weight and the
//! shadow period's pairs still count; a trial fed one repeated payload is
//! not promoted while a PSI gate is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_client::pb;
use joust_models::ModelKind;
use joust_proto::v1::trials_client::TrialsClient;
use joust_tests::TestRegistry;
use joust_tests::node::{RegistryOps, artifact};
use tonic::transport::Channel;

fn trials(url: &str) -> TrialsClient<Channel> {
    TrialsClient::new(Channel::from_shared(url.to_owned()).unwrap().connect_lazy())
}

/// SplitMix64: deterministic pseudo-random bits per record index.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) from index `i` and stream `s`.
fn unif(i: u64, s: u64) -> f64 {
    (mix(i ^ s.wrapping_mul(0xA24B_AED4_963E_E407)) >> 11) as f64 / (1u64 << 53) as f64
}

fn arm(version: u64, score: f64, label: bool) -> pb::TrialArmResult {
    pb::TrialArmResult {
        version,
        scores: vec![score],
        labels: vec![label],
        latency_us: 100,
        status_code: 0,
    }
}

fn now() -> prost_types::Timestamp {
    let t = chrono::Utc::now();
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// `n` records from index `from`: anomaly rate 0.05 in both arms; in
/// shadow both arms answer and disagree on about 2% of rows; in split the
/// challenger serves a share `weight`.
fn records(trial: u64, from: u64, n: u64, shadow: bool, weight: f64) -> Vec<pb::ComparisonRecord> {
    (from..from + n)
        .map(|i| {
            let score = unif(i, 1);
            let label = score < 0.05;
            // Flip 19% of anomalies and 1% of normal rows: about 1.9% of
            // rows disagree and both arms keep a 0.05 rate in expectation.
            let flip = unif(i, 2) < if label { 0.19 } else { 0.01 };
            let to_challenger = !shadow && unif(i, 3) < weight;
            let (champion, challenger) = if shadow {
                (
                    Some(arm(1, score, label)),
                    Some(arm(2, score, label != flip)),
                )
            } else if to_challenger {
                (None, Some(arm(2, score, label)))
            } else {
                (Some(arm(1, score, label)), None)
            };
            pb::ComparisonRecord {
                record_id: format!("t{trial}-r{i}"),
                trial_id: trial,
                request_id: format!("q{i}"),
                time: Some(now()),
                routing_key_hash: 0,
                served: if to_challenger {
                    pb::TrialArm::Challenger
                } else {
                    pb::TrialArm::Champion
                } as i32,
                champion,
                challenger,
            }
        })
        .collect()
}

async fn send(t: &mut TrialsClient<Channel>, records: Vec<pb::ComparisonRecord>) {
    let n = records.len() as u64;
    let batches: Vec<_> = records
        .chunks(5_000)
        .map(|c| pb::RecordComparisonsRequest {
            records: c.to_vec(),
            dropped: vec![],
        })
        .collect();
    let r = t
        .record_comparisons(futures::stream::iter(batches))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.accepted, n);
}

async fn model(ops: &RegistryOps, name: &str) {
    for seed in 1..=2 {
        ops.register(name, "noop", artifact(ModelKind::Noop, 3, seed))
            .await
            .unwrap();
    }
    ops.promote(&format!("{name}:1")).await.unwrap();
    ops.force_evaluated(&format!("{name}:2")).await.unwrap();
}

fn start(
    model: &str,
    mode: pb::TrialMode,
    weight: f64,
    gates: pb::TrialGates,
) -> pb::StartTrialRequest {
    pb::StartTrialRequest {
        model: model.into(),
        challenger_version: 2,
        mode: mode as i32,
        weight,
        sampling: 1.0,
        sticky: false,
        gates: Some(gates),
        reason: "periods test".into(),
        plan: None,
    }
}

fn update(model: &str, mode: Option<pb::TrialMode>, weight: Option<f64>) -> pb::UpdateTrialRequest {
    pb::UpdateTrialRequest {
        model: model.into(),
        mode: mode.map_or(0, |m| m as i32),
        weight,
        sampling: None,
        gates: None,
        reason: "periods test".into(),
    }
}

async fn report(t: &mut TrialsClient<Channel>, model: &str) -> pb::TrialReport {
    t.get_trial_report(pb::GetTrialReportRequest {
        id: 0,
        model: model.into(),
    })
    .await
    .unwrap()
    .into_inner()
}

fn state<'a>(r: &'a pb::TrialReport, gate: &str) -> &'a str {
    &r.checks
        .iter()
        .find(|c| c.gate == gate)
        .unwrap_or_else(|| panic!("no check {gate}: {:?}", r.checks))
        .state
}

/// README: shadow first, then `trial update --mode split --weight 0.1`.
async fn shadow_then_split(reg: &TestRegistry) {
    let ops = RegistryOps::new(&reg.url);
    let mut t = trials(&reg.url);
    model(&ops, "readme").await;
    let gates = pb::TrialGates {
        min_samples: 1_000,
        min_agreement: Some(0.9),
        max_anomaly_rate_delta: Some(0.02),
        ..Default::default()
    };
    let trial = t
        .start_trial(start("readme", pb::TrialMode::Shadow, 0.0, gates))
        .await
        .unwrap()
        .into_inner();
    send(&mut t, records(trial.id, 0, 3_000, true, 0.0)).await;
    t.update_trial(update("readme", Some(pb::TrialMode::Split), Some(0.1)))
        .await
        .unwrap();
    send(&mut t, records(trial.id, 3_000, 10_000, false, 0.1)).await;
    let r = report(&mut t, "readme").await;
    assert_eq!(r.periods.len(), 2, "{:?}", r.periods);
    let (p0, p1) = (&r.periods[0], &r.periods[1]);
    assert_eq!((p0.mode, p0.records), (pb::TrialMode::Shadow as i32, 3_000));
    assert_eq!(
        (p1.mode, p1.weight, p1.records),
        (pb::TrialMode::Split as i32, 0.1, 10_000)
    );
    assert_eq!(p0.paired_rows, 3_000);
    // Pooled, the served share (≈ 1,000 of 13,000) misses 0.1 by far; the
    // split period alone matches its weight.
    let shares = &r.sequential.as_ref().unwrap().served_share;
    assert_eq!(shares.len(), 1);
    let s = shares[0].share.unwrap();
    assert!(s.low <= 0.1 && 0.1 <= s.high, "{s:?}");
    assert!(
        !r.reasons
            .iter()
            .any(|x| x.contains("sample ratio mismatch")),
        "{:?}",
        r.reasons
    );
    assert_eq!(state(&r, "min_agreement"), "satisfied", "{:?}", r.reasons);
    assert_eq!(
        r.verdict,
        pb::TrialVerdict::Promote as i32,
        "{:?}",
        r.reasons
    );
}

/// A weight change 0.2 → 0.5 in split mode.
async fn weight_change(reg: &TestRegistry) {
    let ops = RegistryOps::new(&reg.url);
    let mut t = trials(&reg.url);
    model(&ops, "weights").await;
    let gates = pb::TrialGates {
        min_samples: 1_000,
        max_anomaly_rate_delta: Some(0.03),
        max_error_rate: Some(0.05),
        ..Default::default()
    };
    let trial = t
        .start_trial(start("weights", pb::TrialMode::Split, 0.2, gates))
        .await
        .unwrap()
        .into_inner();
    send(&mut t, records(trial.id, 0, 5_000, false, 0.2)).await;
    t.update_trial(update("weights", None, Some(0.5)))
        .await
        .unwrap();
    send(&mut t, records(trial.id, 5_000, 5_000, false, 0.5)).await;
    let r = report(&mut t, "weights").await;
    let weights: Vec<f64> = r.periods.iter().map(|p| p.weight).collect();
    assert_eq!(weights, vec![0.2, 0.5]);
    let shares = &r.sequential.as_ref().unwrap().served_share;
    assert_eq!(shares.len(), 2);
    for p in shares {
        let s = p.share.unwrap();
        assert!(s.low <= p.weight && p.weight <= s.high, "{p:?}");
    }
    // The fixed-horizon χ² is the latest period's.
    let srm = r.sample_ratio_mismatch.unwrap();
    assert!(srm.p_value > 0.001, "{srm:?}");
    assert_eq!(
        r.verdict,
        pb::TrialVerdict::Promote as i32,
        "{:?}",
        r.reasons
    );
}

/// One repeated payload: every record the same row; the challenger scores
/// it a little differently, so PSI is huge while every rate is equal.
async fn repeated_payload(reg: &TestRegistry) {
    let ops = RegistryOps::new(&reg.url);
    let mut t = trials(&reg.url);
    model(&ops, "payload").await;
    let gates = pb::TrialGates {
        min_samples: 100,
        max_psi: Some(0.25),
        ..Default::default()
    };
    let trial = t
        .start_trial(start("payload", pb::TrialMode::Shadow, 0.0, gates))
        .await
        .unwrap()
        .into_inner();
    let recs = (0..2_000)
        .map(|i| pb::ComparisonRecord {
            record_id: format!("p{i}"),
            trial_id: trial.id,
            request_id: String::new(),
            time: Some(now()),
            routing_key_hash: 0,
            served: pb::TrialArm::Champion as i32,
            champion: Some(arm(1, 0.5, true)),
            challenger: Some(arm(2, 0.51, true)),
        })
        .collect();
    send(&mut t, recs).await;
    let r = report(&mut t, "payload").await;
    assert!(r.psi.unwrap() > 0.25, "psi {:?}", r.psi);
    assert_eq!(state(&r, "max_psi"), "undecided");
    assert_eq!(
        r.verdict,
        pb::TrialVerdict::KeepRunning as i32,
        "{:?}",
        r.reasons
    );
    // The same trial without the PSI gate would be promoted: the gate is
    // what holds it. A gates-only change starts no period.
    let mut u = update("payload", None, None);
    u.gates = Some(pb::TrialGates {
        min_samples: 100,
        ..Default::default()
    });
    t.update_trial(u).await.unwrap();
    let r = report(&mut t, "payload").await;
    assert_eq!(r.periods.len(), 1);
    assert_eq!(
        r.verdict,
        pb::TrialVerdict::Promote as i32,
        "{:?}",
        r.reasons
    );
}

async fn all(reg: TestRegistry) {
    shadow_then_split(&reg).await;
    weight_change(&reg).await;
    repeated_payload(&reg).await;
}

#[tokio::test]
async fn periods_on_sqlite() {
    all(TestRegistry::sqlite().await.unwrap()).await;
}

#[tokio::test]
async fn periods_on_postgres() {
    all(TestRegistry::postgres().await.unwrap()).await;
}
