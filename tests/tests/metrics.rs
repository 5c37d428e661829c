//! Every role's `/metrics` scraped over a real socket: the OpenMetrics
//! content type and `# EOF`, every family under the role's one prefix
//! (`joust_node_`, `joust_router_`, `joust_registry_`, `joust_detect_`),
//! the series the docs promise, and a request for a model nobody serves
//! folded into `model="unknown"` instead of a new label value. Also: every
//! query of the Grafana dashboard names an exported family.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use joust_proto::v1 as pb;
use joust_runtime::{Listeners, RoleConfig};
use joust_tests::node::{FIXTURE_FEATURES, champion_fixture, eventually, predict_request};
use joust_tests::router::TestRouter;
use serde_json::Value;
use tokio::net::TcpListener;

const OPENMETRICS: &str =
    "content-type: application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The body of `GET /metrics`, after checking the content type and `# EOF`.
async fn scrape(addr: std::net::SocketAddr) -> String {
    let answer = joust_tests::scrape_metrics(addr).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.lines().any(|l| l.eq_ignore_ascii_case(OPENMETRICS)),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert_eq!(body.matches("# EOF").count(), 1, "{body}");
    body.to_owned()
}

/// The families of an exposition (`# TYPE NAME KIND`).
fn families(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect()
}

/// Every family and every sample is named `prefix…`.
fn assert_prefixed(body: &str, prefix: &str) {
    for line in body.lines().filter(|l| *l != "# EOF") {
        let name = line
            .strip_prefix("# TYPE ")
            .or_else(|| line.strip_prefix("# HELP "))
            .or_else(|| line.strip_prefix("# UNIT "))
            .unwrap_or(line);
        assert!(name.starts_with(prefix), "{line:?} is not under {prefix}");
    }
}

fn assert_families(body: &str, want: &[&str]) {
    let have = families(body);
    for f in want {
        assert!(have.contains(*f), "{f} missing from {have:?}");
    }
}

fn pinned(model: &str) -> joust_proto::inference::ModelInferRequest {
    let values = vec![0.5; FIXTURE_FEATURES];
    let mut r = joust_client::inference::InferRequest::new(model, FIXTURE_FEATURES, values).build();
    r.model_version = "1".to_owned();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_router_metrics_are_prefixed_and_model_labels_bounded() {
    let (registry, _ops, node) = champion_fixture(|c| c).await;
    let router = TestRouter::start_ready(TestRouter::config(&registry.url, &[node.addr]))
        .await
        .unwrap();

    // The node: one answered request for `m`, then names nobody serves,
    // on both APIs.
    let mut native = node.native().await;
    native
        .predict(predict_request("m", FIXTURE_FEATURES, 2))
        .await
        .unwrap();
    for ghost in ["ghost-a", "ghost-b", "ghost-c"] {
        let e = native
            .predict(predict_request(ghost, FIXTURE_FEATURES, 1))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    }
    let e = node
        .oip()
        .await
        .model_infer(pinned("ghost-d"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");

    let body = scrape(node.metrics_addr).await;
    assert_prefixed(&body, "joust_node_");
    assert_families(
        &body,
        &[
            "joust_node_requests",
            "joust_node_request_errors",
            "joust_node_request_duration_seconds",
            "joust_node_model_loads",
            "joust_node_model_swaps",
            "joust_node_models_loaded",
            "joust_node_registry_connected",
            "joust_node_watch_cursor",
        ],
    );
    assert!(
        body.contains(r#"joust_node_requests_total{api="native",model="m"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"joust_node_requests_total{api="native",model="unknown"} 3"#),
        "{body}"
    );
    assert!(
        body.contains(r#"joust_node_requests_total{api="oip",model="unknown"} 1"#),
        "{body}"
    );
    assert!(!body.contains("ghost"), "{body}");
    assert!(
        body.contains("joust_node_model_loads_total{model=\"m\"} 1"),
        "{body}"
    );

    // The router: a routed request, an unrouted one (refused before any
    // metric), and one pinned to a version of a model without a route
    // (counted as unknown).
    let mut oip = router.oip();
    let mut ok = pinned("m");
    ok.model_version.clear();
    oip.model_infer(ok).await.unwrap();
    let mut unrouted = pinned("ghost-e");
    unrouted.model_version.clear();
    let e = oip.model_infer(unrouted).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    // No node reports that version ready: the router answers UNAVAILABLE.
    let e = oip.model_infer(pinned("ghost-f")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");

    let body = scrape(router.metrics_addr).await;
    assert_prefixed(&body, "joust_router_");
    assert_families(
        &body,
        &[
            "joust_router_requests",
            "joust_router_request_errors",
            "joust_router_request_duration_seconds",
            "joust_router_records_sent",
            "joust_router_nodes",
            "joust_router_registry_connected",
        ],
    );
    assert!(
        body.contains(r#"joust_router_requests_total{model="m",arm="champion"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"joust_router_requests_total{model="unknown",arm="pinned"} 1"#),
        "{body}"
    );
    assert!(!body.contains("ghost"), "{body}");
    router.stop().await.unwrap();
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_exports_rpcs_store_latency_watchers_records_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let config = joust_registry::RegistryConfig {
        database_url: format!("sqlite://{}/registry.db", dir.path().display()),
        blobs_url: format!("file://{}/blobs", dir.path().display()),
        ..joust_registry::RegistryConfig::default()
    };
    let registry = joust_registry::server::open(&config).await.unwrap();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (url, metrics_addr) = (
        format!("http://{}", grpc.local_addr().unwrap()),
        metrics.local_addr().unwrap(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(joust_registry::run(
        Listeners::new(grpc).with_metrics(Some(metrics)),
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
    let mut client = pb::registry_client::RegistryClient::new(channel.clone());
    client
        .create_model(pb::CreateModelRequest {
            name: "m".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut watch = client
        .watch(pb::WatchRequest::default())
        .await
        .unwrap()
        .into_inner();
    // The model's creation event: the stream is being served.
    assert!(watch.message().await.unwrap().is_some());
    // A record for a trial that does not exist: refused, and counted.
    let mut trials = pb::trials_client::TrialsClient::new(channel);
    let record = pb::ComparisonRecord {
        trial_id: 987_654,
        record_id: "r1".into(),
        ..Default::default()
    };
    trials
        .record_comparisons(futures::stream::iter([pb::RecordComparisonsRequest {
            records: vec![record],
            ..Default::default()
        }]))
        .await
        .unwrap();

    let body = scrape(metrics_addr).await;
    assert_prefixed(&body, "joust_registry_");
    assert_families(
        &body,
        &[
            "joust_registry_grpc_requests",
            "joust_registry_grpc_request_duration_seconds",
            "joust_registry_store_duration_seconds",
            "joust_registry_watch_subscribers",
            "joust_registry_records_ingested",
            "joust_registry_trial_report_duration_seconds",
        ],
    );
    assert!(
        body.contains(r#"joust_registry_grpc_requests_total{service="joust.v1.Registry",method="CreateModel",code="Ok"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"joust_registry_store_duration_seconds_count{op="create_model"} 1"#),
        "{body}"
    );
    assert!(
        body.contains("joust_registry_watch_subscribers 1\n"),
        "{body}"
    );
    assert!(
        body.contains(r#"joust_registry_records_ingested_total{outcome="refused"} 1"#),
        "{body}"
    );

    // The subscriber leaves the gauge when its stream goes away.
    drop(watch);
    eventually(Duration::from_secs(5), || async {
        scrape(metrics_addr)
            .await
            .contains("joust_registry_watch_subscribers 0\n")
    })
    .await
    .unwrap();
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detection_exports_runs_jobs_queue_and_scoring() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = joust_detect::DetectConfig {
        database_url: format!("sqlite://{}/detect.db", dir.path().display()),
        registry_url: None,
        evidence: None,
        ..joust_detect::DetectConfig::default()
    };
    // Nothing claims the job: it stays in the queue.
    config.jobs.start_workers = false;
    // Nothing answers here: the detection run fails, and is counted.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    config.scorer.router_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let detector = joust_detect::server::open(&config).await.unwrap();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (url, metrics_addr) = (
        format!("http://{}", grpc.local_addr().unwrap()),
        metrics.local_addr().unwrap(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(joust_detect::server::serve(
        Listeners::new(grpc).with_metrics(Some(metrics)),
        detector,
        RoleConfig::plain(8 << 20),
        async {
            let _ = stopped.await;
        },
    ));

    // Before any call: the gauges and histograms, every job state at 0.
    let body = scrape(metrics_addr).await;
    assert_prefixed(&body, "joust_detect_");
    assert_families(
        &body,
        &[
            "joust_detect_anomalies_found",
            "joust_detect_jobs",
            "joust_detect_queue_length",
            "joust_detect_scoring_duration_seconds",
        ],
    );
    assert!(body.contains("joust_detect_queue_length 0\n"), "{body}");
    assert!(
        body.contains(r#"joust_detect_jobs{state="pending"} 0"#),
        "{body}"
    );

    let mut client = pb::detection_client::DetectionClient::new(
        tonic::transport::Endpoint::from_shared(url)
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let ingested = client
        .ingest_synthetic(pb::IngestSyntheticRequest {
            interval: "1d".into(),
            tickers: 1,
            rows: 80,
            seed: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ticker = ingested.series[0].ticker.clone();
    client
        .backfill(pb::BackfillRequest {
            ticker: ticker.clone(),
            period: "max".into(),
            interval: "1d".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .detect(pb::DetectRequest {
            ticker,
            interval: "1d".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();

    let body = scrape(metrics_addr).await;
    assert_prefixed(&body, "joust_detect_");
    assert_families(
        &body,
        &[
            "joust_detect_grpc_requests",
            "joust_detect_grpc_request_duration_seconds",
            "joust_detect_runs",
        ],
    );
    assert!(
        body.contains(r#"joust_detect_jobs{state="pending"} 1"#),
        "{body}"
    );
    assert!(body.contains("joust_detect_queue_length 1\n"), "{body}");
    assert!(
        body.lines()
            .any(|l| l.starts_with("joust_detect_runs_total{")
                && l.contains(r#"outcome="failed"} 1"#)),
        "{body}"
    );
    assert!(
        body.contains(r#"joust_detect_grpc_requests_total{service="joust.v1.Detection",method="Backfill",code="Ok"} 1"#),
        "{body}"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// Every query of the Grafana dashboard names a family some role exports
/// (a histogram's `_bucket`, a counter's `_total`), and the dashboard
/// covers every role.
#[test]
fn grafana_dashboard_queries_exported_metrics() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../helm/joust/dashboards/joust.json");
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // Each role's exposition with a sample in every family (an empty
    // family is not encoded).
    let tiny = Duration::from_micros(50);
    let node = joust_server::metrics::Metrics::new();
    node.observe("oip", "m", tonic::Code::Internal, tiny);
    let m = joust_server::metrics::Metrics::model("m");
    node.loads.get_or_create(&m).inc();
    node.load_failures.get_or_create(&m).inc();
    node.swaps.get_or_create(&m).inc();
    let router = joust_router::metrics::Metrics::new();
    router.observe("m", "champion", tonic::Code::Internal, tiny);
    router.records.count_dropped("buffer_full", 1);
    router.records.count_refused("too_many_rows");
    let registry = joust_registry::metrics::RegistryMetrics::new();
    futures::executor::block_on(registry.store_op("get_model", async {}));
    let _watcher = registry.watch_subscriber();
    registry.records(1, 1, 1);
    let detect = joust_detect::metrics::DetectMetrics::new();
    detect.run(joust_detect::domain::Trigger::Api, true);
    let rpc = |prefix| {
        let m = joust_runtime::RpcMetrics::new(prefix);
        m.record("/joust.v1.X/Y", "Ok", tokio::time::Instant::now());
        m.encode()
    };
    let expositions = [
        node.encode(),
        router.encode(),
        registry.encode(),
        rpc(joust_registry::metrics::PREFIX),
        detect.encode(),
        rpc(joust_detect::metrics::PREFIX),
    ];
    let exported: BTreeSet<String> = expositions.iter().flat_map(|e| families(e)).collect();
    let mut exprs = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(t["expr"].as_str().unwrap().to_owned());
        }
    }
    let mut used = BTreeSet::new();
    for expr in &exprs {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("joust_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..end];
            rest = &tail[end..];
            let family = ["_total", "_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            assert!(
                exported.contains(family),
                "{name} in {expr:?} is not exported"
            );
            used.insert(family.to_owned());
        }
    }
    for prefix in [
        "joust_node_",
        "joust_router_",
        "joust_registry_",
        "joust_detect_",
    ] {
        assert!(
            used.iter().any(|f| f.starts_with(prefix)),
            "the dashboard shows no {prefix}* metric: {used:?}"
        );
    }
}
