//! Issue 21, incremental routes and Watch fan-out:
//! - many Watch subscribers on one registry cost one store read per change
//!   (the shared feed), not one per subscriber, on PostgreSQL
//!   (LISTEN/NOTIFY) and on SQLite (the local writer's announcements);
//! - a router process and a `--follow-all` node process apply a promotion
//!   of model B by reading model B only (`GetModel`, `ListTrials` for B),
//!   never the whole listing, counted by the registry process's own
//!   per-RPC metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use joust_models::ModelKind;
use joust_proto::v1 as pb;
use joust_runtime::{Listeners, RoleConfig};
use joust_tests::TestDatabase;
use joust_tests::node::{FIXTURE_FEATURES, RegistryOps, artifact, eventually};
use joust_tests::topology::Role;
use tokio::net::TcpListener;

const SUBSCRIBERS: u64 = 50;
const CHANGES: u64 = 10;

/// The value of the series `name{labels}` in an exposition (0 if absent;
/// the sum when `labels` matches several series).
fn series(body: &str, name: &str, labels: &str) -> u64 {
    body.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

async fn fan_out(config: joust_registry::RegistryConfig) {
    let registry = joust_registry::server::open(&config).await.unwrap();
    let metrics = registry.metrics().clone();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", grpc.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(joust_registry::run(
        Listeners::new(grpc),
        registry,
        RoleConfig::plain(8 << 20),
        async {
            let _ = stopped.await;
        },
    ));
    let channel = tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = pb::registry_client::RegistryClient::new(channel.clone());
    let create = |name: String| {
        let mut c = client.clone();
        async move {
            c.create_model(pb::CreateModelRequest {
                name,
                ..Default::default()
            })
            .await
            .unwrap();
        }
    };
    create("m0".into()).await;

    // Every subscriber replays the log from the start (a read of its own:
    // older than what the feed keeps), then follows the feed.
    let received = Arc::new(AtomicU64::new(0));
    let mut streams = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let mut watch = client
            .clone()
            .watch(pb::WatchRequest::default())
            .await
            .unwrap()
            .into_inner();
        let received = received.clone();
        streams.push(tokio::spawn(async move {
            while let Ok(Some(_)) = watch.message().await {
                received.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let all_saw = |n: u64| {
        let received = received.clone();
        async move {
            eventually(Duration::from_secs(20), || {
                let got = received.load(Ordering::Relaxed);
                async move { got == n * SUBSCRIBERS }
            })
            .await
            .unwrap_or_else(|e| panic!("{e}: {} events", received.load(Ordering::Relaxed)));
        }
    };
    all_saw(1).await;
    let text = metrics.encode();
    let reads = "joust_registry_watch_store_reads_total";
    let (feed0, sub0) = (
        series(&text, reads, r#"reader="feed""#),
        series(&text, reads, r#"reader="subscriber""#),
    );
    assert!(sub0 <= SUBSCRIBERS, "{text}");

    // Changes one at a time: each reaches every subscriber before the next.
    let started = Instant::now();
    for i in 1..=CHANGES {
        create(format!("m{i}")).await;
        all_saw(1 + i).await;
    }
    let elapsed = started.elapsed();
    let text = metrics.encode();
    let feed = series(&text, reads, r#"reader="feed""#) - feed0;
    let sub = series(&text, reads, r#"reader="subscriber""#) - sub0;
    // One read per announced change, plus the 2 s safety poll; never one
    // per subscriber (that would be SUBSCRIBERS × CHANGES = 500).
    let polls = elapsed.as_secs() / 2 + 2;
    assert!(
        feed >= 1 && feed <= CHANGES + polls,
        "feed reads {feed} for {CHANGES} changes in {elapsed:?}"
    );
    assert_eq!(sub, 0, "no subscriber read the store itself: {text}");
    assert_eq!(
        series(&text, "joust_registry_watch_events_sent_total", ""),
        (1 + CHANGES) * SUBSCRIBERS,
        "{text}"
    );
    assert!(
        text.contains(&format!("joust_registry_watch_subscribers {SUBSCRIBERS}\n")),
        "{text}"
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    for s in streams {
        s.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_watchers_on_postgres_cost_one_store_read_per_change() {
    let db = TestDatabase::create().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    fan_out(joust_registry::RegistryConfig {
        database_url: db.url.clone(),
        blobs_url: format!("file://{}/blobs", dir.path().display()),
        ..Default::default()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_watchers_on_sqlite_cost_one_store_read_per_change() {
    let dir = tempfile::tempdir().unwrap();
    fan_out(joust_registry::RegistryConfig {
        database_url: format!("sqlite://{}/registry.db", dir.path().display()),
        blobs_url: format!("file://{}/blobs", dir.path().display()),
        ..Default::default()
    })
    .await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// Calls of `method` the registry process answered, from its `/metrics`.
async fn calls(metrics: std::net::SocketAddr, method: &str) -> u64 {
    let text = joust_tests::scrape_metrics(metrics).await.unwrap();
    series(
        &text,
        "joust_registry_grpc_requests_total",
        &format!(r#"method="{method}""#),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_and_a_follow_all_node_apply_a_promotion_by_reading_that_model_only() {
    let db = TestDatabase::create().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let blobs = format!("file://{}/blobs", dir.path().display());
    let metrics: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let registry = Role::start(
        "registry",
        strings(&[
            "registry",
            "--database-url",
            &db.url,
            "--blobs",
            &blobs,
            "--listen",
            "127.0.0.1:0",
            "--ui-listen",
            "off",
            "--metrics-listen",
            &metrics.to_string(),
        ]),
        "joust registry listening on",
        dir.path().join("registry.log"),
    )
    .await
    .unwrap();
    let ops = RegistryOps::new(&registry.url);
    for (i, model) in ["a", "b"].into_iter().enumerate() {
        let bytes = artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, i as u64 + 1);
        ops.register(model, "isolation_forest", bytes)
            .await
            .unwrap();
        ops.promote(&format!("{model}:1")).await.unwrap();
    }
    let b2 = artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, 9);
    ops.register("b", "isolation_forest", b2).await.unwrap();
    ops.force_evaluated("b:2").await.unwrap();

    // A follow-all node (it, too, must read only b) and a router over it.
    // The periodic full reconciles are pushed out of the test's way.
    let node = Role::start(
        "node",
        strings(&[
            "serve",
            "--registry",
            &registry.url,
            "--follow-all",
            "--reconcile-secs",
            "3600",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--http-listen",
            "off",
        ]),
        "joust serve listening on",
        dir.path().join("node.log"),
    )
    .await
    .unwrap();
    node.wait_serving(Duration::from_secs(60)).await.unwrap();
    let router = Role::start(
        "router",
        strings(&[
            "route",
            "--registry",
            &registry.url,
            "--nodes",
            &node.addr.to_string(),
            "--reconcile-secs",
            "3600",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--http-listen",
            "off",
        ]),
        "joust router listening on",
        dir.path().join("router.log"),
    )
    .await
    .unwrap();
    let channel = tonic::transport::Endpoint::from_shared(router.url.clone())
        .unwrap()
        .connect_lazy();
    let wanted = |model: &'static str| {
        let mut admin = pb::router_admin_client::RouterAdminClient::new(channel.clone());
        async move {
            let routes = admin
                .list_routes(pb::ListRoutesRequest {})
                .await
                .ok()?
                .into_inner();
            if !routes.registry_connected {
                return None;
            }
            routes
                .routes
                .into_iter()
                .find(|r| r.model == model)
                .map(|r| r.registry_champion_version)
        }
    };
    eventually(Duration::from_secs(30), || async {
        wanted("a").await == Some(1) && wanted("b").await == Some(1)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", router.log_tail(30)));
    // The start-up read is done (and the log's replay applied).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (lists, gets, trials) = (
        calls(metrics, "ListModels").await,
        calls(metrics, "GetModel").await,
        calls(metrics, "ListTrials").await,
    );
    assert!(lists >= 1, "the router read every route at start");

    ops.transition("b:2", pb::VersionStatus::Champion)
        .await
        .unwrap();
    eventually(Duration::from_secs(20), || async {
        wanted("b").await == Some(2)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", router.log_tail(30)));
    assert_eq!(wanted("a").await, Some(1));
    // The node serves b:2 too (it loaded it: the router answers from it).
    let mut infer = joust_proto::v1::inference_client::InferenceClient::new(channel.clone());
    eventually(Duration::from_secs(20), || {
        let mut infer = infer.clone();
        async move {
            infer
                .predict(joust_tests::node::predict_request("b", FIXTURE_FEATURES, 1))
                .await
                .is_ok_and(|r| r.into_inner().version == 2)
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", router.log_tail(30), node.log_tail(30)));
    let _ = infer
        .predict(joust_tests::node::predict_request("a", FIXTURE_FEATURES, 1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        calls(metrics, "ListModels").await,
        lists,
        "a promotion of b made the router or the node re-read every model"
    );
    let (gets, trials) = (
        calls(metrics, "GetModel").await - gets,
        calls(metrics, "ListTrials").await - trials,
    );
    // One read of b per event of the promotion (b:2 champion, b:1 retired)
    // by the router and by the node, coalesced when they arrive together.
    assert!((2..=6).contains(&gets), "GetModel calls: {gets}");
    assert!((1..=3).contains(&trials), "ListTrials calls: {trials}");
    drop(router);
    drop(node);
    drop(registry);
}
