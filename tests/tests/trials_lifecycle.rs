//! Trials over gRPC against SQLite and PostgreSQL: start/update/stop rules
//! and version moves, audit events, idempotent record ingest, and the
//! report computed from stored records (figures equal the scipy reference
//! values of `registry/tests/trial_report.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_client::pb;
use joust_models::ModelKind;
use joust_proto::v1::trials_client::TrialsClient;
use joust_tests::TestRegistry;
use joust_tests::node::{RegistryOps, artifact};
use serde_json::Value;
use tonic::Code;
use tonic::transport::Channel;

const TOL: f64 = 1e-6;

fn trials(url: &str) -> TrialsClient<Channel> {
    TrialsClient::new(Channel::from_shared(url.to_owned()).unwrap().connect_lazy())
}

/// Model `m`: v1 champion, v2 and v3 candidates.
async fn model_with_champion(ops: &RegistryOps) {
    for seed in 1..=3 {
        ops.register("m", "noop", artifact(ModelKind::Noop, 3, seed))
            .await
            .unwrap();
    }
    ops.promote("m:1").await.unwrap();
}

fn start(version: u64, mode: pb::TrialMode) -> pb::StartTrialRequest {
    pb::StartTrialRequest {
        model: "m".into(),
        challenger_version: version,
        mode: mode as i32,
        weight: 0.25,
        sampling: 1.0,
        sticky: true,
        gates: Some(pb::TrialGates {
            min_samples: 100,
            min_agreement: Some(0.9),
            ..Default::default()
        }),
        reason: "test".into(),
        plan: None,
    }
}

fn stop(outcome: pb::TrialOutcome) -> pb::StopTrialRequest {
    pb::StopTrialRequest {
        model: "m".into(),
        outcome: outcome as i32,
        reason: "test".into(),
    }
}

async fn status_of(ops: &RegistryOps, v: u64) -> i32 {
    let mut c = ops.client.raw();
    c.get_version(pb::GetVersionRequest {
        r#ref: format!("m:{v}"),
    })
    .await
    .unwrap()
    .into_inner()
    .status
}

/// The fixture records of the report test, as wire records of `trial`.
pub fn fixture_records(trial: u64, prefix: &str) -> Vec<pb::ComparisonRecord> {
    let raw: Value = serde_json::from_str(include_str!(
        "../../registry/tests/fixtures/trial_records.json"
    ))
    .unwrap();
    let arm = |v: &Value| {
        (!v.is_null()).then(|| pb::TrialArmResult {
            version: v["version"].as_u64().unwrap(),
            scores: v["scores"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_f64().unwrap())
                .collect(),
            labels: v["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_bool().unwrap())
                .collect(),
            latency_us: v["latency_us"].as_u64().unwrap(),
            status_code: v["status_code"].as_i64().unwrap() as i32,
        })
    };
    raw.as_array()
        .unwrap()
        .iter()
        .map(|r| pb::ComparisonRecord {
            record_id: format!("{prefix}{}", r["record_id"].as_str().unwrap()),
            trial_id: trial,
            request_id: "req".into(),
            time: None,
            routing_key_hash: u64::MAX - 7,
            served: if r["served"] == "challenger" {
                pb::TrialArm::Challenger
            } else {
                pb::TrialArm::Champion
            } as i32,
            champion: arm(&r["champion"]),
            challenger: arm(&r["challenger"]),
        })
        .collect()
}

async fn lifecycle(reg: TestRegistry) {
    let ops = RegistryOps::new(&reg.url);
    let mut t = trials(&reg.url);
    model_with_champion(&ops).await;

    // The challenger must be evaluated.
    let e = t
        .start_trial(start(2, pb::TrialMode::Shadow))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e}");
    ops.force_evaluated("m:2").await.unwrap();
    ops.force_evaluated("m:3").await.unwrap();
    let trial = t
        .start_trial(start(2, pb::TrialMode::Shadow))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((trial.champion_version, trial.challenger_version), (1, 2));
    assert_eq!(trial.state, pb::TrialState::Open as i32);
    assert_eq!(
        status_of(&ops, 2).await,
        pb::VersionStatus::Challenger as i32
    );

    // One open trial per model.
    let e = t
        .start_trial(start(3, pb::TrialMode::Split))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e}");

    // Bad values name the field.
    let mut bad = pb::UpdateTrialRequest {
        model: "m".into(),
        weight: Some(1.5),
        ..Default::default()
    };
    let e = t.update_trial(bad.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("weight"), "{e}");
    bad.weight = Some(0.5);
    let updated = t.update_trial(bad).await.unwrap().into_inner();
    assert_eq!(updated.weight, 0.5);
    assert_eq!(updated.mode, pb::TrialMode::Shadow as i32);

    // Records: idempotent by record id.
    let records = fixture_records(trial.id, "a-");
    let batches: Vec<_> = records
        .chunks(250)
        .map(|c| pb::RecordComparisonsRequest {
            records: c.to_vec(),
            dropped: vec![],
        })
        .collect();
    let r = t
        .record_comparisons(futures::stream::iter(batches.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.accepted, r.duplicates), (600, 0));
    let r = t
        .record_comparisons(futures::stream::iter(batches))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.accepted, r.duplicates), (0, 600));

    // A record for an unknown trial is refused, by name.
    let mut stray = records[0].clone();
    stray.trial_id = 999;
    stray.record_id = "stray".into();
    let r = t
        .record_comparisons(futures::stream::iter(vec![pb::RecordComparisonsRequest {
            records: vec![stray],
            dropped: vec![],
        }]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.accepted, 0);
    assert_eq!(
        (
            r.refusals[0].record_id.as_str(),
            r.refusals[0].reason.as_str()
        ),
        ("stray", "unknown_trial"),
        "{r:?}"
    );

    // The report (from the rollups of the stored records) equals the scipy
    // reference figures.
    let rep = t
        .get_trial_report(pb::GetTrialReportRequest {
            id: 0,
            model: "m".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rep.records, 600);
    let a = rep.champion.unwrap();
    let b = rep.challenger.unwrap();
    assert_eq!(
        (a.requests, a.errors, b.requests, b.errors),
        (600, 15, 465, 21)
    );
    assert_eq!(b.version, 2);
    let close = |name: &str, got: f64, want: f64| {
        assert!((got - want).abs() <= TOL, "{name}: got {got}, want {want}");
    };
    let ar = a.anomaly_rate.unwrap();
    close("champion wilson low", ar.low, 0.08114512040994587);
    close("champion wilson high", ar.high, 0.1152967786857799);
    close(
        "challenger p99",
        b.latency_p99_us.unwrap(),
        562.8299999999999,
    );
    let z = rep.anomaly_rate_test.unwrap();
    close("z", z.statistic, 1.8787189181008321);
    close("z p", z.p_value, 0.06028288327184129);
    let ag = rep.agreement.unwrap();
    close("agreement", ag.estimate, 0.9427570093457944);
    let mc = rep.mcnemar.unwrap();
    close("mcnemar chi2", mc.statistic, 23.591836734693878);
    close("mcnemar p", mc.p_value, 1.1909167495392802e-06);
    close(
        "mean |Δ|",
        rep.mean_abs_score_diff.unwrap(),
        0.25191880490654206,
    );
    // The report reads rollups: PSI bins sit at the HDR sketch's deciles
    // (docs/trials.md, rollups; exact from raw records: 0.008245183888099038).
    let psi = rep.psi.unwrap();
    assert!(
        (psi - 0.008245183888099038).abs() <= joust_registry::trials::rollup_check::PSI_ABS,
        "psi: got {psi}"
    );
    assert_eq!(
        rep.verdict,
        pb::TrialVerdict::Promote as i32,
        "{:?}",
        rep.reasons
    );

    // Promote: v2 champion, v1 retired, the trial stopped.
    let stopped = t
        .stop_trial(stop(pb::TrialOutcome::Promote))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stopped.state, pb::TrialState::Stopped as i32);
    assert_eq!(stopped.outcome, pb::TrialOutcome::Promote as i32);
    assert_eq!(status_of(&ops, 2).await, pb::VersionStatus::Champion as i32);
    assert_eq!(status_of(&ops, 1).await, pb::VersionStatus::Retired as i32);
    let e = t
        .stop_trial(stop(pb::TrialOutcome::Abort))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e}");

    // Reject and abort put the challenger back to evaluated.
    for outcome in [pb::TrialOutcome::Reject, pb::TrialOutcome::Abort] {
        t.start_trial(start(3, pb::TrialMode::Split)).await.unwrap();
        assert_eq!(
            status_of(&ops, 3).await,
            pb::VersionStatus::Challenger as i32
        );
        let s = t.stop_trial(stop(outcome)).await.unwrap().into_inner();
        assert_eq!(s.outcome, outcome as i32);
        assert_eq!(
            status_of(&ops, 3).await,
            pb::VersionStatus::Evaluated as i32
        );
        assert_eq!(status_of(&ops, 2).await, pb::VersionStatus::Champion as i32);
    }

    let list = t
        .list_trials(pb::ListTrialsRequest {
            model: "m".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .trials;
    assert_eq!(list.len(), 3);
    let open = t
        .list_trials(pb::ListTrialsRequest {
            open_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .trials;
    assert!(open.is_empty());

    // Every change is an audit event.
    let mut rc = ops.client.raw();
    let kinds: Vec<String> = rc
        .list_events(pb::ListEventsRequest {
            model: "m".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k.starts_with("trial_"))
        .collect();
    assert_eq!(
        kinds,
        [
            "trial_started",
            "trial_updated",
            "trial_stopped",
            "trial_started",
            "trial_stopped",
            "trial_started",
            "trial_stopped"
        ]
    );
}

#[tokio::test]
async fn lifecycle_on_sqlite() {
    lifecycle(TestRegistry::sqlite().await.unwrap()).await;
}

#[tokio::test]
async fn lifecycle_on_postgres() {
    lifecycle(TestRegistry::postgres().await.unwrap()).await;
}

#[tokio::test]
async fn a_trial_needs_a_champion() {
    let reg = TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&reg.url);
    ops.register("m", "noop", artifact(ModelKind::Noop, 3, 1))
        .await
        .unwrap();
    ops.force_evaluated("m:1").await.unwrap();
    let e = trials(&reg.url)
        .start_trial(start(1, pb::TrialMode::Split))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("no champion"), "{e}");
}
