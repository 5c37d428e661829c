//! `Registry.ReportRolloutBlocked` over the wire, on PostgreSQL and
//! SQLite: one `rollout_blocked` event per (model, version) however many
//! routers report, only while the version is the champion, shown on the
//! model; with auto-rollback the first report rolls the champion back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_proto::v1 as pb;
use joust_tests::TestRegistry;
use joust_tests::router::two_versions;

fn report(version: u64) -> pb::ReportRolloutBlockedRequest {
    pb::ReportRolloutBlockedRequest {
        model: "m".into(),
        version,
        reasons: vec![
            pb::RolloutNodeReason {
                node: "10.0.0.1:7071".into(),
                reason: "refused: checksum mismatch".into(),
            },
            pb::RolloutNodeReason {
                node: "10.0.0.2:7071".into(),
                reason: "refused: checksum mismatch".into(),
            },
        ],
    }
}

async fn blocked_events(ops: &joust_tests::node::RegistryOps) -> Vec<pb::Event> {
    ops.client
        .raw()
        .list_events(pb::ListEventsRequest {
            model: "m".into(),
            after_id: 0,
            page_size: 1000,
        })
        .await
        .unwrap()
        .into_inner()
        .events
        .into_iter()
        .filter(|e| e.kind == "rollout_blocked")
        .collect()
}

async fn recorded_once_and_shown(registry: TestRegistry) {
    let ops = two_versions(&registry.url).await.unwrap();
    ops.transition("m:2", pb::VersionStatus::Champion)
        .await
        .unwrap();
    let mut c = ops.client.raw();
    // Not the champion: nothing recorded.
    let r = c
        .report_rollout_blocked(report(1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.recorded, r.rolled_back, r.champion_version),
        (false, false, 2)
    );
    // Three routers report v2: one event.
    let mut recorded = 0;
    for _ in 0..3 {
        let r = c
            .report_rollout_blocked(report(2))
            .await
            .unwrap()
            .into_inner();
        recorded += u32::from(r.recorded);
        assert!(!r.rolled_back, "auto-rollback is off by default");
    }
    assert_eq!(recorded, 1);
    let events = blocked_events(&ops).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].version, 2);
    assert!(
        events[0]
            .reason
            .contains("10.0.0.2:7071: refused: checksum mismatch")
    );
    let m = c
        .get_model(pb::GetModelRequest { name: "m".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((m.champion_version, m.rollout_blocked_version), (2, 2));
    assert!(m.rollout_blocked_reason.contains("checksum mismatch"));
    // Bad input names the field.
    let e = c.report_rollout_blocked(report(0)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().starts_with("version:"), "{}", e.message());
}

#[tokio::test]
async fn sqlite_records_once_and_shows_it() {
    recorded_once_and_shown(TestRegistry::sqlite().await.unwrap()).await;
}

#[tokio::test]
async fn postgres_records_once_and_shows_it() {
    recorded_once_and_shown(TestRegistry::postgres().await.unwrap()).await;
}

#[tokio::test]
async fn auto_rollback_rolls_back_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = joust_registry::RegistryConfig {
        database_url: format!("sqlite://{}/registry.db", dir.path().display()),
        blobs_url: format!("file://{}/blobs", dir.path().display()),
        auto_rollback: true,
        ..Default::default()
    };
    let registry = TestRegistry::start(config, dir, None, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let ops = two_versions(&registry.url).await.unwrap();
    ops.transition("m:2", pb::VersionStatus::Champion)
        .await
        .unwrap();
    let mut c = ops.client.raw();
    let r = c
        .report_rollout_blocked(report(2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.recorded, r.rolled_back, r.champion_version),
        (true, true, 1)
    );
    // A second router's report: v2 is no longer champion.
    let r = c
        .report_rollout_blocked(report(2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.recorded, r.rolled_back, r.champion_version),
        (false, false, 1)
    );
    let m = c
        .get_model(pb::GetModelRequest { name: "m".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((m.champion_version, m.rollout_blocked_version), (1, 0));
    let rollbacks: Vec<pb::Event> = c
        .list_events(pb::ListEventsRequest {
            model: "m".into(),
            after_id: 0,
            page_size: 1000,
        })
        .await
        .unwrap()
        .into_inner()
        .events
        .into_iter()
        .filter(|e| e.kind == "rollback")
        .collect();
    assert!(!rollbacks.is_empty());
    assert!(rollbacks.iter().all(|e| {
        e.actor == "joust-registry"
            && e.reason
                .contains("auto-rollback: rollout of version 2 blocked")
    }));
}
