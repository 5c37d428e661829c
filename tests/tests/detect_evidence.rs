//! Evidence artifacts of the detection service: the same inputs in two
//! fresh services give byte-identical documents (SQLite and PostgreSQL,
//! local directory and S3), the document holds the run, the anomalies with
//! their evidence refs and the rules and whitelist applied, and a changed
//! artifact is reported inconsistent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_detect::{Clock, EvidenceConfig};
use joust_models::synthetic::{SyntheticConfig, generate};
use joust_proto::v1 as pb;
use joust_tests::detect::{Backend, ScoringStack, TestDetect};

/// 2024-06-01T12:00:00Z: the fixed clock of both services.
const T0: i64 = 1_717_243_200_000;

/// Where a service writes evidence.
#[derive(Debug, Clone, Copy)]
enum Store {
    Local,
    S3,
}

async fn service(stack: &ScoringStack, backend: Backend, store: Store) -> TestDetect {
    TestDetect::start_with(backend, &stack.node.url, &stack.registry.url, |c| {
        c.clock = Clock::Fixed(T0);
        if let Store::S3 = store {
            let (bucket, s3) = joust_tests::s3_endpoint().expect("S3 endpoint");
            c.evidence = Some(EvidenceConfig {
                url: format!("s3://{bucket}/evidence-{}", uuid::Uuid::new_v4().simple()),
                owner: "team-a".into(),
                s3,
            });
        }
    })
    .await
    .unwrap()
}

/// The same history in a service: ingest, a rule edit, a whitelist
/// entry, detections (one growing series, one call with nothing new) and a
/// verification. Returns the ids of the runs; the third found nothing new.
async fn history(d: &TestDetect) -> Vec<u64> {
    let mut c = d.client();
    let csv = |rows| {
        joust_models::csv_io::write_csv(&generate(&SyntheticConfig {
            tickers: 2,
            rows,
            seed: 9,
            interval_secs: 86_400,
            ..SyntheticConfig::default()
        }))
    };
    c.ingest_csv(pb::IngestCsvRequest {
        interval: "1d".into(),
        csv: csv(260),
    })
    .await
    .unwrap();
    c.set_rule(pb::SetRuleRequest {
        anomaly_type: "price_spike".into(),
        operator: "gt".into(),
        threshold: 0.04,
        enabled: true,
        description: "big moves".into(),
    })
    .await
    .unwrap();
    c.add_whitelist(pb::AddWhitelistRequest {
        ticker: "SYN001".into(),
        interval: "1d".into(),
        reason: "halted".into(),
        created_by: "ops".into(),
    })
    .await
    .unwrap();
    let mut runs = Vec::new();
    let mut first = None;
    for ticker in ["SYN000", "SYN001", "SYN000"] {
        let r = c
            .detect(pb::DetectRequest {
                ticker: ticker.into(),
                interval: "1d".into(),
                trigger: pb::Trigger::Scheduler as i32,
            })
            .await
            .unwrap()
            .into_inner();
        first = first.or_else(|| r.anomalies.first().map(|a| a.id));
        runs.push(r.run.unwrap().id);
    }
    c.ingest_csv(pb::IngestCsvRequest {
        interval: "1d".into(),
        csv: csv(300),
    })
    .await
    .unwrap();
    let grown = c
        .detect(pb::DetectRequest {
            ticker: "SYN000".into(),
            interval: "1d".into(),
            trigger: pb::Trigger::ChartRequest as i32,
        })
        .await
        .unwrap()
        .into_inner();
    runs.push(grown.run.unwrap().id);
    let v = c
        .verify(pb::VerifyRequest {
            anomaly_id: first.expect("SYN000 has anomalies"),
        })
        .await
        .unwrap()
        .into_inner();
    runs.push(v.run.unwrap().id);
    runs
}

async fn evidence(d: &TestDetect, run_id: u64) -> pb::GetEvidenceResponse {
    d.client()
        .get_evidence(pb::GetEvidenceRequest { run_id })
        .await
        .unwrap()
        .into_inner()
}

async fn byte_identical(backend: Backend, store: Store) {
    let stack = ScoringStack::start().await.unwrap();
    let a = service(&stack, backend, store).await;
    let b = service(&stack, backend, store).await;
    let runs_a = history(&a).await;
    let runs_b = history(&b).await;
    assert_eq!(runs_a, runs_b);
    // A run that found nothing new writes no evidence.
    let e = a
        .client()
        .get_evidence(pb::GetEvidenceRequest { run_id: runs_a[2] })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    assert!(e.message().contains("found nothing new"), "{e:?}");
    for id in [runs_a[0], runs_a[1], runs_a[3], runs_a[4]].iter() {
        let ea = evidence(&a, *id).await;
        let eb = evidence(&b, *id).await;
        assert!(ea.consistent && eb.consistent, "run {id}");
        assert_eq!(ea.document, eb.document, "run {id}: evidence differs");
        assert_eq!(ea.sha256, eb.sha256);
        assert!(
            ea.uri.ends_with(&format!("/{id}/detection.json")),
            "{}",
            ea.uri
        );
        if let Store::S3 = store {
            assert!(ea.uri.starts_with("s3://"), "{}", ea.uri);
            assert!(ea.uri.contains("/evidence/team-a/"), "{}", ea.uri);
        }
    }

    // What the document of the whitelisted run holds.
    let doc: serde_json::Value =
        serde_json::from_slice(&evidence(&a, runs_a[1]).await.document).unwrap();
    assert_eq!(doc["schema"], "joust.detection.evidence/v1");
    assert_eq!(doc["created_at"], "2024-06-01T12:00:00.000Z");
    assert_eq!(doc["run"]["trigger"], "scheduler");
    assert_eq!(doc["run"]["started_at"], "2024-06-01T12:00:00.000Z");
    assert_eq!(doc["series"]["ticker"], "SYN001");
    assert_eq!(doc["metadata"]["model"]["sha256"], stack.sha256.as_str());
    assert_eq!(doc["metadata"]["model"]["version"], "1");
    assert_eq!(
        doc["metadata"]["thresholds_applied"],
        serde_json::json!({
            "model_label": {"operator": "eq", "threshold": 1.0},
            "price_spike": {"operator": "gt", "threshold": 0.04},
        })
    );
    let anomalies = doc["detected_anomalies"].as_array().unwrap();
    assert!(!anomalies.is_empty());
    assert_eq!(
        doc["metadata"]["whitelist_checks"],
        serde_json::json!({"whitelist_count": 1, "whitelisted_anomalies": anomalies.len()})
    );
    for a in anomalies {
        assert_eq!(a["whitelisted"], true);
        let refs = a["evidence_refs"].as_array().unwrap();
        assert_eq!(refs[0], format!("run:{}", runs_a[1]));
        assert_eq!(refs[1], format!("anomaly:{}", a["id"]));
        assert!(refs[2].as_str().unwrap().starts_with("bar:SYN001/1d/"));
        assert_eq!(a["features"].as_object().unwrap().len(), 14);
        let first_type = a["types"].as_object().unwrap().keys().next().unwrap();
        assert_eq!(&a["event_type"], first_type);
    }
    // The verification run's document holds the re-scored bar.
    let doc: serde_json::Value =
        serde_json::from_slice(&evidence(&a, runs_a[4]).await.document).unwrap();
    assert_eq!(doc["run"]["trigger"], "verification");
    assert_eq!(doc["verification"]["current"]["model_version"], "1");
    assert!(doc["detected_anomalies"].as_array().unwrap().is_empty());
}

async fn local_changes_are_reported(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let d = service(&stack, backend, Store::Local).await;
    let runs = history(&d).await;
    let e = evidence(&d, runs[0]).await;
    let path = d.dir.path().join(format!(
        "evidence-store/evidence/joust/{}/detection.json",
        runs[0]
    ));
    assert_eq!(std::fs::read(&path).unwrap(), e.document);
    let mut changed = e.document.clone();
    changed.extend_from_slice(b" ");
    std::fs::write(&path, changed).unwrap();
    assert!(!evidence(&d, runs[0]).await.consistent);
    // A run that does not exist, and one without evidence.
    let mut c = d.client();
    let err = c
        .get_evidence(pb::GetEvidenceRequest { run_id: 999 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    std::fs::remove_file(&path).unwrap();
    let err = c
        .get_evidence(pb::GetEvidenceRequest { run_id: runs[0] })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert!(err.message().starts_with("run_id:"), "{err:?}");
    let err = c
        .get_evidence(pb::GetEvidenceRequest { run_id: 0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn same_inputs_give_byte_identical_evidence() {
        byte_identical(Backend::Sqlite, Store::Local).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changed_or_missing_evidence_is_reported() {
        local_changes_are_reported(Backend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn same_inputs_give_byte_identical_evidence() {
        byte_identical(Backend::Postgres, Store::Local).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changed_or_missing_evidence_is_reported() {
        local_changes_are_reported(Backend::Postgres).await;
    }
}

mod s3 {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn same_inputs_give_byte_identical_evidence() {
        if joust_tests::s3_endpoint().is_none() {
            assert!(
                !joust_tests::require_all(),
                "JOUST_TEST_S3_ENDPOINT is unset but this run requires the S3 suite"
            );
            eprintln!(
                "S3 evidence test skipped: JOUST_TEST_S3_ENDPOINT unset (scripts/test sets it)"
            );
            return;
        }
        byte_identical(Backend::Sqlite, Store::S3).await;
    }
}
