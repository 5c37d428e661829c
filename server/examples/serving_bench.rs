//! The serving-node benchmark behind BENCHMARKS.md ("Serving node"):
//! an in-process registry (SQLite, temp dir), a node in a child process
//! (this binary, `node` subcommand) following `echo@champion` (noop, W1)
//! and `forest@champion` (isolation forest, 100 trees, 14 features, W2),
//! then in one run: W1 vs W2 closed loop over OIP and native, an open-loop
//! run, promotion → served propagation, and the node's RSS.
//!
//! `cargo run --release -p joust-server --example serving_bench [SECONDS]`
//!
//! With `JOUST_BENCH_ONNX_DIR` set to a folder written by
//! `tests/onnx/make_models.py` (and `ORT_DYLIB_PATH` to ONNX Runtime), the
//! node also serves scikit-learn's IsolationForest (100 trees, 12
//! features) as kind `onnx` — `onnx_compact@champion`
//! (`iforest_compact.onnx`, one TreeEnsembleRegressor) and
//! `onnx_skl2onnx@champion` (`iforest.onnx`, skl2onnx's own graph) — and
//! the same closed-loop W2 runs against them in the same run (bench/rows.d/onnx-node).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use clap::Parser;
use joust_models::{Model, ModelKind, TrainConfig};
use joust_proto::v1 as pb;
use joust_proto::v1::registry_client::RegistryClient;
use joust_server::loadgen::{Api, LoadConfig, LoadReport, Mode, run_load};
use ndarray::Array2;
use tokio::net::TcpListener;
use tokio::time::Instant;

#[derive(Parser)]
struct NodeCmd {
    #[command(flatten)]
    args: joust_server::ServeArgs,
}

const FEATURES: usize = 14;
/// Features of tests/onnx/make_models.py's models.
const ONNX_FEATURES: usize = 12;

fn artifact(kind: ModelKind, seed: u64) -> Vec<u8> {
    let x = Array2::from_shape_fn((2048, FEATURES), |(i, j)| {
        (((i * 31 + j * 17 + seed as usize * 7) % 1009) as f32 / 100.0).sin()
    });
    let schema = (0..FEATURES).map(|i| format!("f{i}")).collect();
    let mut cfg = TrainConfig::new(kind).with_seed(seed);
    if kind == ModelKind::IsolationForest {
        cfg = cfg.with_param("n_trees", 100);
    }
    Model::train(&cfg, schema, x.view())
        .unwrap()
        .to_bytes()
        .unwrap()
}

async fn register(
    c: &mut RegistryClient<tonic::transport::Channel>,
    model: &str,
    kind: ModelKind,
    seed: u64,
) -> u64 {
    register_bytes(c, model, kind.as_str(), artifact(kind, seed)).await
}

async fn register_bytes(
    c: &mut RegistryClient<tonic::transport::Channel>,
    model: &str,
    kind: &str,
    bytes: Vec<u8>,
) -> u64 {
    let _ = c
        .create_model(pb::CreateModelRequest {
            name: model.into(),
            description: String::new(),
        })
        .await;
    let msgs = vec![
        pb::RegisterVersionRequest {
            part: Some(pb::register_version_request::Part::Metadata(
                pb::VersionMetadata {
                    model: model.into(),
                    kind: kind.into(),
                    ..Default::default()
                },
            )),
        },
        pb::RegisterVersionRequest {
            part: Some(pb::register_version_request::Part::Chunk(bytes)),
        },
    ];
    c.register_version(futures::stream::iter(msgs))
        .await
        .unwrap()
        .into_inner()
        .version
}

async fn transition(
    c: &mut RegistryClient<tonic::transport::Channel>,
    r: &str,
    to: pb::VersionStatus,
) {
    c.transition(pb::TransitionRequest {
        r#ref: r.into(),
        to: to as i32,
        reason: "bench: synthetic version, no evaluation".into(),
        // The bench registers throwaway versions: it overrides the
        // evaluation a real candidate needs.
        force_evaluated: to == pb::VersionStatus::Evaluated,
    })
    .await
    .unwrap();
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn summary(name: &str, r: &LoadReport) -> serde_json::Value {
    serde_json::json!({
        "workload": name,
        "api": r.config.api,
        "mode": r.config.mode,
        "requests": r.requests,
        "throughput_rps": (r.throughput_rps * 10.0).round() / 10.0,
        "p50_us": r.p50_us, "p90_us": r.p90_us, "p99_us": r.p99_us, "p999_us": r.p999_us,
        "errors": r.errors,
    })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("node") {
        let cmd = NodeCmd::parse_from(args.iter().skip(1));
        joust_server::cli::serve(cmd.args, &Default::default())
            .await
            .unwrap();
        return;
    }
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(8.0);

    // Registry.
    let dir = tempfile::tempdir().unwrap();
    let config = joust_registry::RegistryConfig {
        database_url: format!("sqlite://{}/registry.db", dir.path().display()),
        blobs_url: format!("file://{}/blobs", dir.path().display()),
        ..Default::default()
    };
    let registry = joust_registry::server::open(&config).await.unwrap();
    let rl = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let registry_url = format!("http://{}", rl.local_addr().unwrap());
    tokio::spawn(joust_registry::run(
        rl,
        registry,
        joust_runtime::RoleConfig::plain(64 << 20),
        std::future::pending(),
    ));
    let mut reg = RegistryClient::connect(registry_url.clone()).await.unwrap();
    for (model, kind) in [
        ("echo", ModelKind::Noop),
        ("forest", ModelKind::IsolationForest),
    ] {
        let v = register(&mut reg, model, kind, 1).await;
        transition(
            &mut reg,
            &format!("{model}:{v}"),
            pb::VersionStatus::Evaluated,
        )
        .await;
        transition(
            &mut reg,
            &format!("{model}:{v}"),
            pb::VersionStatus::Champion,
        )
        .await;
    }

    // Optional: scikit-learn's IsolationForest as ONNX, two exports.
    let onnx_dir = std::env::var_os("JOUST_BENCH_ONNX_DIR").map(std::path::PathBuf::from);
    let onnx_models: Vec<(&str, &str)> = if onnx_dir.is_some() {
        vec![
            ("onnx_compact", "iforest_compact.onnx"),
            ("onnx_skl2onnx", "iforest.onnx"),
        ]
    } else {
        Vec::new()
    };
    let mut node_models = vec!["echo@champion".to_owned(), "forest@champion".to_owned()];
    for (model, file) in &onnx_models {
        let dir = onnx_dir.as_ref().unwrap();
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let t = Instant::now();
        let v = register_bytes(&mut reg, model, "onnx", bytes).await;
        eprintln!(
            "registered {model}:{v} ({file}) in {:.2}s",
            t.elapsed().as_secs_f64()
        );
        transition(
            &mut reg,
            &format!("{model}:{v}"),
            pb::VersionStatus::Evaluated,
        )
        .await;
        transition(
            &mut reg,
            &format!("{model}:{v}"),
            pb::VersionStatus::Champion,
        )
        .await;
        node_models.push(format!("{model}@champion"));
    }

    // Node in a child process, on port 0: its address is the line it
    // prints once bound (stdout is ours after that).
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["node", "--registry", &registry_url])
        .args(node_models.iter().flat_map(|m| ["--model", m.as_str()]))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off"])
        .args(["--http-listen", "off"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let addr = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let addr = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("joust serve listening on ")
                    .map(str::to_owned)
            })
            .expect("the node printed no listening line");
        // Keep draining so the node never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        addr
    })
    .await
    .unwrap();
    let target = format!("http://{addr}");
    let ready_by =
        Instant::now() + Duration::from_secs(if onnx_models.is_empty() { 20 } else { 120 });
    loop {
        use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
        if let Ok(mut c) = GrpcInferenceServiceClient::connect(target.clone()).await
            && let Ok(r) = c
                .server_ready(joust_proto::inference::ServerReadyRequest {})
                .await
            && r.into_inner().ready
        {
            break;
        }
        assert!(Instant::now() < ready_by, "node not ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rss_loaded = rss_kib(child.id());

    let load = |model: &str, api: Api, mode: Mode| LoadConfig {
        target: target.clone(),
        api,
        model: model.into(),
        features: if model.starts_with("onnx") {
            ONNX_FEATURES
        } else {
            FEATURES
        },
        rows: 1,
        mode,
        duration: Duration::from_secs_f64(seconds),
        warmup: Duration::from_secs(1),
        connections: 4,
        client: Default::default(),
        payload: Default::default(),
    };
    let closed = Mode::Closed { concurrency: 32 };
    let mut results = Vec::new();
    let mut rps = std::collections::BTreeMap::new();
    let mut workloads = vec![
        ("W1 echo", "echo", Api::Oip, closed),
        ("W2 forest", "forest", Api::Oip, closed),
        ("W1 echo", "echo", Api::Native, closed),
        ("W2 forest", "forest", Api::Native, closed),
        (
            "W2 forest",
            "forest",
            Api::Oip,
            Mode::Open {
                rate_per_sec: 2000.0,
            },
        ),
    ];
    if !onnx_models.is_empty() {
        // Side by side: the native forest again, then the ONNX exports.
        workloads.extend([
            ("W2 forest", "forest", Api::Oip, closed),
            ("W2 onnx compact", "onnx_compact", Api::Oip, closed),
            ("W2 onnx compact", "onnx_compact", Api::Native, closed),
            ("W2 onnx skl2onnx", "onnx_skl2onnx", Api::Oip, closed),
        ]);
    }
    for (name, model, api, mode) in workloads {
        let r = run_load(load(model, api, mode)).await.unwrap();
        eprintln!(
            "{name} {api:?} {mode:?}: {:.0} rps p50 {} µs p99 {} µs",
            r.throughput_rps, r.p50_us, r.p99_us
        );
        if matches!(mode, Mode::Closed { .. }) {
            // A repeated workload keeps its first figure here; both are in `results`.
            rps.entry(format!("{name} {api:?}"))
                .or_insert(r.throughput_rps);
        }
        results.push(summary(name, &r));
    }
    let rss_after_load = rss_kib(child.id());

    // Promotion → served, 10 times.
    let mut native = pb::inference_client::InferenceClient::connect(target.clone())
        .await
        .unwrap();
    let probe = pb::PredictRequest {
        model: "forest".into(),
        rows: vec![pb::FeatureRow {
            values: vec![0.1; FEATURES],
            features: Default::default(),
        }],
        ..Default::default()
    };
    let mut propagation_ms = Vec::new();
    for seed in 2..12 {
        let v = register(&mut reg, "forest", ModelKind::IsolationForest, seed).await;
        transition(
            &mut reg,
            &format!("forest:{v}"),
            pb::VersionStatus::Evaluated,
        )
        .await;
        let started = Instant::now();
        transition(
            &mut reg,
            &format!("forest:{v}"),
            pb::VersionStatus::Champion,
        )
        .await;
        loop {
            let r = native.predict(probe.clone()).await.unwrap().into_inner();
            if r.version == v {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        propagation_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    propagation_ms.sort_by(f64::total_cmp);
    let _ = child.kill();
    let _ = child.wait();

    let ratio_oip = rps["W2 forest Oip"] / rps["W1 echo Oip"];
    let ratio_native = rps["W2 forest Native"] / rps["W1 echo Native"];
    let onnx_ratios: serde_json::Value = if onnx_models.is_empty() {
        serde_json::Value::Null
    } else {
        let r = |k: &str| (rps[k] / rps["W2 forest Oip"] * 1000.0).round() / 1000.0;
        serde_json::json!({
            "onnx_compact_over_native_oip": r("W2 onnx compact Oip"),
            "onnx_skl2onnx_over_native_oip": r("W2 onnx skl2onnx Oip"),
        })
    };
    let report = serde_json::json!({
        "seconds_per_workload": seconds,
        "onnx_over_native_throughput": onnx_ratios,
        "results": results,
        "w2_over_w1_throughput": { "oip": (ratio_oip * 1000.0).round() / 1000.0, "native": (ratio_native * 1000.0).round() / 1000.0 },
        "propagation_ms": { "min": propagation_ms[0], "median": propagation_ms[propagation_ms.len() / 2], "max": propagation_ms[propagation_ms.len() - 1] },
        "node_rss_mib": { "models_loaded": node_models.len(), "loaded_idle": rss_loaded as f64 / 1024.0, "after_load": rss_after_load as f64 / 1024.0 },
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
