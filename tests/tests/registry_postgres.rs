//! PostgreSQL-only registry behaviour: concurrent promotions, and the
//! LISTEN/NOTIFY fan-out between two registry replicas.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use joust_client::RegistryClient;
use joust_registry::{BlobStore, Limits, Registry, S3Options, Status, VersionMeta};
use joust_tests::{TestDatabase, TestRegistry};

async fn registry_on(url: &str) -> Registry {
    let store = joust_registry::store::open(url).await.unwrap();
    let blobs = BlobStore::open("memory://", &S3Options::default()).unwrap();
    Registry::new(store, blobs, Limits::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_promotions_leave_exactly_one_champion() {
    let db = TestDatabase::create().await.unwrap();
    let r = registry_on(&db.url).await;
    r.create_model("m", "", "t").await.unwrap();
    for k in 0..50 {
        let meta = VersionMeta {
            model: "m".into(),
            kind: "opaque".into(),
            ..Default::default()
        };
        let body = futures::stream::iter(vec![Ok::<_, joust_registry::RegistryError>(
            bytes::Bytes::from(format!("v{k}")),
        )]);
        r.register_version(meta, body, "t").await.unwrap();
        r.transition_with(
            &format!("m:{}", k + 1),
            Status::Evaluated,
            "test version, no evaluation",
            true,
            "t",
        )
        .await
        .unwrap();
    }
    let before = r
        .list_events("m", 0, 1000)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    let mut tasks = Vec::new();
    for k in 1..=50u64 {
        let r = r.clone();
        tasks.push(tokio::spawn(async move {
            r.transition(
                &format!("m:{k}"),
                Status::Champion,
                "race",
                &format!("actor{k}"),
            )
            .await
            .map(|_| k)
        }));
    }
    let mut won = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(k) => won.push(k),
            Err(e) => {
                // A clean refusal, never a half-applied change.
                assert!(
                    matches!(e, joust_registry::RegistryError::FailedPrecondition(_)),
                    "{e}"
                );
                failed += 1;
            }
        }
    }
    assert_eq!(won.len() + failed, 50);
    let champions = r
        .list_versions("m", Some(Status::Champion), 0, 100)
        .await
        .unwrap();
    assert_eq!(champions.len(), 1, "exactly one champion");
    let events = r.list_events("m", before, 1000).await.unwrap();
    // Every successful promotion has its audit event, with its actor.
    for k in &won {
        assert!(
            events.iter().any(|e| e.version == Some(*k)
                && e.to == "champion"
                && e.actor == format!("actor{k}")),
            "promotion of {k} has no event"
        );
    }
    let to_champion = events.iter().filter(|e| e.to == "champion").count();
    assert_eq!(to_champion, won.len());
    // Totally ordered: ids strictly increase and time never goes back.
    assert!(
        events
            .windows(2)
            .all(|w| w[0].id < w[1].id && w[0].time <= w[1].time)
    );
    // The last promotion event names the surviving champion.
    let last = events.iter().rev().find(|e| e.to == "champion").unwrap();
    assert_eq!(Some(champions[0].version), last.version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_through_one_replica_reaches_watchers_of_another() {
    let a = TestRegistry::postgres().await.unwrap();
    // Replica B: another registry on the same database and blobs.
    let (listener, registry_b) = a.replica().await.unwrap();
    let b_addr = listener.local_addr().unwrap();
    let (stop_b, stopped_b) = tokio::sync::oneshot::channel::<()>();
    let b_task = tokio::spawn(joust_registry::run(
        listener,
        registry_b,
        joust_runtime::RoleConfig::plain(8 << 20),
        async {
            let _ = stopped_b.await;
        },
    ));

    let client_a = RegistryClient::connect(&a.url)
        .await
        .unwrap()
        .with_actor("alice");
    let client_b = RegistryClient::connect(&format!("http://{b_addr}"))
        .await
        .unwrap();
    client_a.create_model("m", "").await.unwrap();
    let v = client_a
        .register_version(
            "m",
            "opaque",
            bytes::Bytes::from_static(b"bytes"),
            Default::default(),
            "",
        )
        .await
        .unwrap();
    let cursor = client_b
        .list_events("m", 0)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    let mut watch = client_b.watch(cursor, vec!["m".into()]).await.unwrap();
    client_a
        .force_evaluated(&format!("m:{}", v.version), "via A")
        .await
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(3), watch.message())
        .await
        .expect("event within 3 s")
        .unwrap()
        .unwrap();
    assert_eq!(
        (ev.kind.as_str(), ev.to.as_str(), ev.actor.as_str()),
        ("transition", "evaluated", "alice")
    );
    let _ = stop_b.send(());
    let _ = b_task.await;
}
