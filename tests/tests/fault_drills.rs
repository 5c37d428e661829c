//! Fault drills over real components (docs/fuzzing.md#fault-drills):
//!
//! - PostgreSQL stopped mid-trial: no prediction fails, comparison records
//!   are buffered, then dropped and counted, and the registry (writes, its
//!   LISTEN fan-out, record ingest) recovers when PostgreSQL returns.
//! - The registry process killed (SIGKILL) and restarted: node and router
//!   ride out the outage and then see both the change made while it was
//!   down and the one made right after it came back.
//! - 1,000+ idle connections on the node and on the router do not starve
//!   real clients, and do not hold a shutdown's drain forever.
//! - A 100 MB request to `joust serve` is refused with a clear status and
//!   without the process's peak memory growing.
//!
//! The node killed under load (router failover) is in router_failover.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use joust_client::inference::InferRequest;
use joust_models::ModelKind;
use joust_proto::inference::ModelInferRequest;
use joust_proto::v1 as pb;
use joust_registry::{RegistryConfig, Status};
use joust_tests::node::{
    FIXTURE_FEATURES, RegistryOps, TestNode, artifact, eventually, predict_request,
};
use joust_tests::pg_cluster::PrivatePostgres;
use joust_tests::process::JoustProcess;
use joust_tests::router::{TrialOps, two_versions};
use joust_tests::{TestRegistry, TestRouter};
use tokio::io::AsyncWriteExt;
use tonic::transport::Channel;

/// Sends `n` native requests through the router, 16 at a time; returns how
/// many failed (each failure is printed).
async fn drive(router: &TestRouter, n: usize) -> usize {
    let failed = Arc::new(AtomicUsize::new(0));
    let client = router.native();
    futures::stream::iter(0..n)
        .for_each_concurrent(16, |i| {
            let mut c = client.clone();
            let failed = failed.clone();
            async move {
                let mut req = predict_request("m", FIXTURE_FEATURES, 1 + i % 3);
                req.request_id = format!("drill-{i}");
                if let Err(s) = c.predict(req).await {
                    eprintln!("request {i} failed: {s:?}");
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .await;
    failed.load(Ordering::Relaxed)
}

// --- PostgreSQL stopped mid-trial ------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopped_mid_trial_fails_no_prediction_and_counts_dropped_records() {
    let Some(pg) = PrivatePostgres::start_or_skip().await.unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = RegistryConfig {
        database_url: pg.url.clone(),
        blobs_url: format!("file://{}/blobs", dir.path().display()),
        ..Default::default()
    };
    let registry = TestRegistry::start(config, dir, None, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let ops = two_versions(&registry.url).await.unwrap();
    let trials = TrialOps::new(&registry.url);
    let trial = trials
        .start("m", 2, pb::TrialMode::Shadow, 0.0, 1.0)
        .await
        .unwrap();
    let node = TestNode::start_ready(TestNode::config(&registry.url, &["m:1", "m:2"]))
        .await
        .unwrap();
    let mut config = TestRouter::config(&registry.url, &[node.addr]);
    // A small buffer, so the outage overflows it quickly.
    config.record_capacity = 200;
    config.record_batch = 50;
    let router = TestRouter::start_ready(config).await.unwrap();

    // Before: every compared request is shipped.
    const BEFORE: usize = 200;
    assert_eq!(drive(&router, BEFORE).await, 0);
    eventually(Duration::from_secs(30), || async {
        router.stats().await.unwrap().records_sent >= BEFORE as u64
    })
    .await
    .unwrap();

    // PostgreSQL goes away mid-trial: predictions do not notice.
    pg.stop().await.unwrap();
    const DURING: usize = 1500;
    assert_eq!(drive(&router, DURING).await, 0, "predictions failed");
    let stats = router.stats().await.unwrap();
    assert!(
        stats.records_dropped > 0,
        "the buffer (200) overflowed, drops are counted: {stats:?}"
    );
    assert!(
        stats.records_buffered <= stats.records_capacity,
        "{stats:?}"
    );
    let text = router.metrics_text().await.unwrap();
    let dropped_metric = metric(&text, "joust_router_records_dropped_total");
    assert!(dropped_metric >= 1.0, "{text}");
    // The registry answers, with an error, instead of hanging forever.
    let during = tokio::time::timeout(Duration::from_secs(30), trials.report(trial.id)).await;
    assert!(matches!(during, Ok(Err(_))), "{during:?}");

    // PostgreSQL is back: the registry recovers without a restart.
    pg.resume().await.unwrap();
    eventually(Duration::from_secs(60), || async {
        trials.report(trial.id).await.is_ok()
    })
    .await
    .unwrap();
    const AFTER: usize = 100;
    assert_eq!(drive(&router, AFTER).await, 0);
    let total = (BEFORE + DURING + AFTER) as u64;
    // Every compared request is either shipped or dropped and counted.
    eventually(Duration::from_secs(60), || async {
        let s = router.stats().await.unwrap();
        s.records_sent + s.records_dropped == total && s.records_buffered == 0
    })
    .await
    .unwrap();
    let stats = router.stats().await.unwrap();
    let report = trials.report(trial.id).await.unwrap();
    eprintln!(
        "{total} compared requests: {} records shipped, {} dropped and counted, {} stored",
        stats.records_sent, stats.records_dropped, report.records
    );
    assert!(
        report.records >= stats.records_sent && report.records <= total,
        "stored {} records, router sent {} of {total}",
        report.records,
        stats.records_sent
    );
    assert!(
        report.records > BEFORE as u64,
        "records after the outage stored"
    );

    // Writes work and their events reach the router through Watch (the
    // LISTEN connection was re-established).
    trials.stop("m", pb::TrialOutcome::Promote).await.unwrap();
    eventually(Duration::from_secs(20), || async {
        router
            .route("m")
            .await
            .is_some_and(|r| r.champion_version == 2 && r.trial_id == 0)
    })
    .await
    .unwrap();
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, 9),
    )
    .await
    .unwrap();
    router.stop().await.unwrap();
    node.stop().await.unwrap();
}

/// The sum of a metric's series (`name value` or `name{labels} value`).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let rest = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?.1,
                None => rest.strip_prefix(' ')?,
            };
            rest.trim().parse::<f64>().ok()
        })
        .sum()
}

// --- the registry killed and restarted ------------------------------------

/// The id of the newest registry event about `m`.
async fn last_event_id(ops: &RegistryOps) -> u64 {
    let mut c = ops.client.raw();
    let (mut after, mut last) = (0, 0);
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

async fn node_state(node: &TestNode) -> pb::ListLoadedResponse {
    node.admin()
        .await
        .list_loaded(pb::ListLoadedRequest {})
        .await
        .unwrap()
        .into_inner()
}

async fn router_state(router: &TestRouter) -> pb::ListRoutesResponse {
    router
        .admin()
        .list_routes(pb::ListRoutesRequest {})
        .await
        .unwrap()
        .into_inner()
}

fn spawn_registry(dir: &std::path::Path, listen: &str) -> JoustProcess {
    let db = format!("sqlite://{}/registry.db", dir.display());
    let blobs = format!("file://{}/blobs", dir.display());
    JoustProcess::spawn(
        &[
            "registry",
            "--database-url",
            &db,
            "--blobs",
            &blobs,
            "--listen",
            listen,
            "--ui-listen",
            "off",
        ],
        "joust registry listening on",
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registry_killed_and_restarted_node_and_router_miss_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = spawn_registry(dir.path(), "127.0.0.1:0");
    let addr = registry.addr.to_string();
    let ops = two_versions(&registry.url).await.unwrap();
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, 3),
    )
    .await
    .unwrap();
    ops.force_evaluated("m:3").await.unwrap();
    // Periodic full re-reads off: catching up is the Watch cursor's job.
    let mut node_config = TestNode::config(&registry.url, &["m@champion", "m@challenger"]);
    node_config.reconcile_interval = Duration::from_secs(3600);
    let node = TestNode::start(node_config).await.unwrap();
    node.wait_serving("joust.model.m", Duration::from_secs(30))
        .await
        .unwrap();
    let mut router_config = TestRouter::config(&registry.url, &[node.addr]);
    router_config.reconcile_interval = Duration::from_secs(3600);
    let router = TestRouter::start_ready(router_config).await.unwrap();
    eventually(Duration::from_secs(10), || async {
        node_state(&node).await.registry_connected && router_state(&router).await.registry_connected
    })
    .await
    .unwrap();

    // SIGKILL: no goodbye, every connection cut by the kernel.
    registry.kill().unwrap();
    eventually(Duration::from_secs(20), || async {
        !node_state(&node).await.registry_connected
            && !router_state(&router).await.registry_connected
    })
    .await
    .unwrap();
    assert_eq!(
        drive(&router, 200).await,
        0,
        "serving while the registry is down"
    );

    // While it is down the database changes (another replica's write).
    let offline = joust_registry::server::open(&RegistryConfig {
        database_url: format!("sqlite://{}/registry.db", dir.path().display()),
        blobs_url: format!("file://{}/blobs", dir.path().display()),
        ..Default::default()
    })
    .await
    .unwrap();
    offline
        .transition(
            "m:2",
            Status::Champion,
            "promoted during the outage",
            "drill",
        )
        .await
        .unwrap();
    drop(offline);

    // Back on the same address; a trial opens right away, likely before
    // node and router have reconnected.
    let _registry = spawn_registry(dir.path(), &addr);
    TrialOps::new(&format!("http://{addr}"))
        .start("m", 3, pb::TrialMode::Shadow, 0.0, 1.0)
        .await
        .unwrap();
    let last = last_event_id(&ops).await;

    // Both see both changes, and their cursors are past the last event.
    eventually(Duration::from_secs(30), || async {
        let r = router_state(&router).await;
        let route = r.routes.iter().find(|r| r.model == "m").cloned();
        r.registry_connected
            && r.watch_cursor >= last
            && route.is_some_and(|r| r.champion_version == 2 && r.challenger_version == 3)
    })
    .await
    .unwrap();
    eventually(Duration::from_secs(30), || async {
        let n = node_state(&node).await;
        let serving = n
            .models
            .iter()
            .any(|m| m.version == 2 && m.state == "serving");
        let challenger = n.models.iter().any(|m| m.version == 3);
        n.registry_connected && n.watch_cursor >= last && serving && challenger
    })
    .await
    .unwrap();
    // Clients get the new champion, shadowed by the new challenger.
    let mut client = router.native();
    let answer = client
        .predict(predict_request("m", FIXTURE_FEATURES, 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((answer.arm.as_str(), answer.version), ("champion", 2));
    assert_eq!(drive(&router, 100).await, 0);
    router.stop().await.unwrap();
    node.stop().await.unwrap();
}

// --- many idle connections -------------------------------------------------

/// Makes sure this process may hold `needed` descriptors: raises the soft
/// limit to the hard one with `prlimit` when it is lower.
fn ensure_fd_limit(needed: u64) {
    let soft = || -> u64 {
        std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
            })
            .unwrap_or(u64::MAX)
    };
    if soft() >= needed {
        return;
    }
    let hard = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(4).map(str::to_owned))
        })
        .unwrap_or_default();
    let _ = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={hard}:{hard}"))
        .status();
    assert!(
        soft() >= needed,
        "this drill needs {needed} open files; raise `ulimit -n` (soft limit is {})",
        soft()
    );
}

/// Opens `n` connections to `addr` and leaves them idle: half never send a
/// byte, half send the HTTP/2 preface and an empty SETTINGS frame (a client
/// that connected and then went quiet).
async fn idle_connections(addr: std::net::SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i % 2 == 1 {
            s.write_all(PREFACE).await.unwrap();
        }
        conns.push(s);
    }
    conns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_idle_connections_do_not_starve_real_clients() {
    const IDLE: usize = 1200;
    // Client and server ends of every idle connection live in this process.
    ensure_fd_limit(4 * IDLE as u64 + 1000);
    let registry = TestRegistry::sqlite().await.unwrap();
    two_versions(&registry.url).await.unwrap();
    let mut node_config = TestNode::config(&registry.url, &["m@champion"]);
    node_config.drain_timeout = Duration::from_secs(2);
    let node = TestNode::start_ready(node_config).await.unwrap();
    let mut router_config = TestRouter::config(&registry.url, &[node.addr]);
    router_config.drain_timeout = Duration::from_secs(2);
    let router = TestRouter::start_ready(router_config).await.unwrap();
    let _idle_node = idle_connections(node.addr, IDLE).await;
    eprintln!("{IDLE} idle connections on the node");
    let _idle_router = idle_connections(router.addr, IDLE).await;
    eprintln!("{IDLE} idle connections on the router");

    // Real clients on new connections: every request answered. The
    // deadline only turns a hang into a failure; it is not a speed target.
    for url in [node.url.clone(), router.url.clone()] {
        let results: Vec<Result<(), tonic::Status>> = futures::stream::iter(0..20)
            .map(|_| {
                let url = url.clone();
                async move {
                    let channel = Channel::from_shared(url).unwrap().connect_lazy();
                    let mut c = pb::inference_client::InferenceClient::new(channel);
                    for _ in 0..10 {
                        let mut req =
                            tonic::Request::new(predict_request("m", FIXTURE_FEATURES, 2));
                        req.set_timeout(Duration::from_secs(30));
                        c.predict(req).await?;
                    }
                    Ok(())
                }
            })
            .buffer_unordered(20)
            .collect()
            .await;
        let failed: Vec<_> = results.into_iter().filter_map(Result::err).collect();
        assert!(failed.is_empty(), "{url}: {failed:?}");
        eprintln!("{url}: 200 requests answered");
    }
    // The router still reaches its node and the registry.
    assert_eq!(drive(&router, 200).await, 0);
    // Shutdown drains, then closes the idle connections instead of waiting
    // for them forever (the bound only turns a hang into a failure).
    tokio::time::timeout(Duration::from_secs(60), router.stop())
        .await
        .expect("router stops with idle connections open")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), node.stop())
        .await
        .expect("node stops with idle connections open")
        .unwrap();
}

// --- a 100 MB request ------------------------------------------------------

/// An OIP request of `bytes` raw FP32 bytes, shape `[N, FIXTURE_FEATURES]`.
fn oip_request(bytes: usize) -> ModelInferRequest {
    let rows = bytes / (4 * FIXTURE_FEATURES);
    let value = f32::from_le_bytes([0x3f; 4]);
    InferRequest::new("m", FIXTURE_FEATURES, vec![value; rows * FIXTURE_FEATURES])
        .raw()
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_100_mb_request_is_refused_without_a_memory_spike() {
    let registry = TestRegistry::sqlite().await.unwrap();
    two_versions(&registry.url).await.unwrap();
    let node = JoustProcess::spawn(
        &[
            "serve",
            "--registry",
            &registry.url,
            "--model",
            "m@champion",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--http-listen",
            "off",
        ],
        "joust serve listening on",
    )
    .unwrap();
    node.wait_serving(Duration::from_secs(60)).await.unwrap();
    let channel = Channel::from_shared(node.url.clone())
        .unwrap()
        .connect_lazy();
    let mut oip =
        joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient::new(
            channel.clone(),
        );
    // Warm up: the allocator's working set for ordinary traffic.
    for _ in 0..50 {
        oip.model_infer(oip_request(16 * 1024)).await.unwrap();
    }
    let before = node.proc_status_bytes("VmHWM").unwrap();

    const MB: usize = 1 << 20;
    let huge = oip_request(100 * MB);
    for _ in 0..3 {
        let status = oip.model_infer(huge.clone()).await.unwrap_err();
        eprintln!(
            "100 MB OIP request: {:?} {}",
            status.code(),
            status.message()
        );
        assert!(
            matches!(
                status.code(),
                tonic::Code::ResourceExhausted | tonic::Code::OutOfRange
            ),
            "{status:?}"
        );
        assert!(
            status.message().contains("too large") && status.message().contains("limit"),
            "the message says what the limit is: {status:?}"
        );
    }
    // The native API too.
    let mut native = pb::inference_client::InferenceClient::new(channel);
    let mut big = predict_request("m", FIXTURE_FEATURES, 1);
    big.rows[0].values = vec![1.0; 100 * MB / 4];
    let status = native.predict(big).await.unwrap_err();
    assert!(
        matches!(
            status.code(),
            tonic::Code::ResourceExhausted | tonic::Code::OutOfRange
        ),
        "{status:?}"
    );

    let after = node.proc_status_bytes("VmHWM").unwrap();
    let growth = after.saturating_sub(before);
    eprintln!("VmHWM before {before} B, after {after} B, growth {growth} B");
    assert!(
        growth < 50 * MB as u64,
        "peak memory grew by {} MB refusing 100 MB requests",
        growth / MB as u64
    );
    // Still serving.
    oip.model_infer(oip_request(16 * 1024)).await.unwrap();
}
