//! The serving node following the registry, on SQLite and PostgreSQL:
//! hot swap under load with zero failed requests, promotion and rollback
//! reaching the node within a second, and a registry outage the node rides
//! out and then catches up from.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use joust_models::ModelKind;
use joust_proto::v1 as pb;
use joust_registry::Status;
use joust_tests::TestRegistry;
use joust_tests::node::{Partition, RegistryOps, TestNode, artifact, eventually, predict_request};
use tokio::time::Instant;

const F: usize = 4;

async fn serving_version(node: &TestNode) -> Option<u64> {
    let mut c = node.native().await;
    c.predict(predict_request("m", F, 1))
        .await
        .ok()
        .map(|r| r.into_inner().version)
}

async fn listed(node: &TestNode) -> pb::ListLoadedResponse {
    let mut admin = node.admin().await;
    admin
        .list_loaded(pb::ListLoadedRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// The id of the newest registry event about `m`.
async fn last_event_id(ops: &RegistryOps) -> u64 {
    let mut c = ops.client.raw();
    let mut after = 0;
    let mut last = 0;
    loop {
        let page = c
            .list_events(pb::ListEventsRequest {
                model: "m".into(),
                after_id: after,
                page_size: 500,
            })
            .await
            .unwrap()
            .into_inner();
        last = page.events.iter().map(|e| e.id).max().unwrap_or(last);
        if page.next_after_id == 0 {
            return last;
        }
        after = page.next_after_id;
    }
}

async fn swap_under_load(registry: TestRegistry) {
    let ops = RegistryOps::new(&registry.url);
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, F, 1),
    )
    .await
    .unwrap();
    ops.register("m", "noop", artifact(ModelKind::Noop, F, 2))
        .await
        .unwrap();
    ops.set_alias("m", "live", 1).await.unwrap();
    let node = TestNode::start_ready(TestNode::config(&registry.url, &["m@live"]))
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let url = node.url.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut c = pb::inference_client::InferenceClient::connect(url)
                    .await
                    .unwrap();
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let r = c.predict(predict_request("m", F, 2)).await;
                    answers.push((started, r.map(|r| r.into_inner().version)));
                }
                answers
            })
        })
        .collect();

    // Flip every 100 ms for 5 s (50 flips), ending on version 2.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let flips = 50u64;
    for flip in 1..=flips {
        tick.tick().await;
        let target = if flip % 2 == 1 { 1 } else { 2 };
        ops.set_alias("m", "live", target).await.unwrap();
    }
    // Settled: the node has seen the last event, then serves version 2.
    let last = last_event_id(&ops).await;
    eventually(Duration::from_secs(5), || async {
        listed(&node).await.watch_cursor >= last
    })
    .await
    .unwrap();
    eventually(Duration::from_secs(5), || async {
        listed(&node).await.refs[0].version == 2
    })
    .await
    .unwrap();
    let settled = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);

    let mut total = 0;
    let mut seen = [0usize; 3];
    for c in clients {
        for (started, answer) in c.await.unwrap() {
            total += 1;
            let version = answer.unwrap_or_else(|e| panic!("failed request during swaps: {e:?}"));
            assert!(
                version == 1 || version == 2,
                "answer from version {version}"
            );
            seen[version as usize] += 1;
            if started > settled {
                assert_eq!(version, 2, "answer after the last swap settled");
            }
        }
    }
    assert!(
        seen[1] > 0 && seen[2] > 0,
        "both versions answered: {seen:?}"
    );
    assert!(total > 500, "{total} requests");
    let swaps = node.metrics_text().await.unwrap();
    assert!(
        swaps.contains("joust_node_model_swaps_total{model=\"m\"}"),
        "{swaps}"
    );
    node.stop().await.unwrap();
}

async fn registry_driven_swap(registry: TestRegistry) {
    let ops = RegistryOps::new(&registry.url);
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, F, 1),
    )
    .await
    .unwrap();
    ops.promote("m:1").await.unwrap();
    let node = TestNode::start_ready(TestNode::config(&registry.url, &["m@champion"]))
        .await
        .unwrap();
    assert_eq!(serving_version(&node).await, Some(1));

    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, F, 2),
    )
    .await
    .unwrap();
    ops.force_evaluated("m:2").await.unwrap();
    let promoted = Instant::now();
    ops.transition("m:2", pb::VersionStatus::Champion)
        .await
        .unwrap();
    eventually(Duration::from_secs(1), || async {
        serving_version(&node).await == Some(2)
    })
    .await
    .unwrap();
    eprintln!("promotion → served: {:?}", promoted.elapsed());

    let rolled = Instant::now();
    ops.rollback("m").await.unwrap();
    eventually(Duration::from_secs(1), || async {
        serving_version(&node).await == Some(1)
    })
    .await
    .unwrap();
    eprintln!("rollback → served: {:?}", rolled.elapsed());
    node.stop().await.unwrap();
}

async fn registry_down_then_catch_up(mut registry: TestRegistry) {
    let ops = RegistryOps::new(&registry.url);
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, F, 1),
    )
    .await
    .unwrap();
    ops.promote("m:1").await.unwrap();
    ops.register("m", "noop", artifact(ModelKind::Noop, F, 2))
        .await
        .unwrap();
    ops.force_evaluated("m:2").await.unwrap();
    // The node reaches the registry through a cuttable forwarder: an
    // in-process server's graceful stop would wait for the node's Watch
    // stream, where a dying process just drops its connections.
    let link = Partition::start(registry.addr).await.unwrap();
    let node = TestNode::start_ready(TestNode::config(&link.url, &["m@champion"]))
        .await
        .unwrap();
    eventually(Duration::from_secs(5), || async {
        listed(&node).await.registry_connected
    })
    .await
    .unwrap();

    link.cut();
    tokio::time::timeout(Duration::from_secs(10), registry.stop())
        .await
        .expect("registry stops");
    eventually(Duration::from_secs(5), || async {
        !listed(&node).await.registry_connected
    })
    .await
    .unwrap();
    for _ in 0..20 {
        assert_eq!(
            serving_version(&node).await,
            Some(1),
            "serves while the registry is down"
        );
    }

    // The registry's database changes while the node cannot see it.
    let offline = joust_registry::server::open(&registry.config)
        .await
        .unwrap();
    offline
        .transition(
            "m:2",
            Status::Champion,
            "promoted while the node was cut off",
            "test",
        )
        .await
        .unwrap();
    drop(offline);
    assert_eq!(serving_version(&node).await, Some(1));

    registry.restart().await.unwrap();
    link.heal().await.unwrap();
    let took = eventually(Duration::from_secs(5), || async {
        serving_version(&node).await == Some(2)
    })
    .await
    .unwrap();
    eprintln!("caught up {took:?} after the registry came back");
    let l = listed(&node).await;
    assert!(l.registry_connected);
    assert_eq!(l.refs[0].state, "ready");
    assert!(l.watch_cursor >= last_event_id(&ops).await);
    node.stop().await.unwrap();
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(joust_tests::TestRegistry::sqlite().await.unwrap()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(joust_tests::TestRegistry::postgres().await.unwrap()).await;
                }
            )*
        }
    };
}

on_both_backends!(
    swap_under_load,
    registry_driven_swap,
    registry_down_then_catch_up
);
