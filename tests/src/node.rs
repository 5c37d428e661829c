//! Serving-node harness: a node on 127.0.0.1:0 (gRPC, /metrics, OIP REST) with a
//! stop handle, artifact builders, and registry helpers to register,
//! promote and alias versions.

use std::net::SocketAddr;
use std::time::Duration;

use joust_models::{Model, ModelKind, TrainConfig};
use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_proto::v1 as pb;
use joust_proto::v1::inference_client::InferenceClient;
use joust_proto::v1::serving_admin_client::ServingAdminClient;
use joust_server::NodeConfig;
use ndarray::Array2;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// The feature names every test model uses.
pub fn schema(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("f{i}")).collect()
}

/// A trained artifact of `kind` over `features` columns; `seed` makes
/// versions differ.
pub fn artifact(kind: ModelKind, features: usize, seed: u64) -> Vec<u8> {
    let x = Array2::from_shape_fn((256, features), |(i, j)| {
        ((i * 7 + j * 13 + seed as usize) % 97) as f32 / 10.0
    });
    let mut config = TrainConfig::new(kind).with_seed(seed);
    if kind == ModelKind::IsolationForest {
        config = config.with_param("n_trees", 100);
    }
    Model::train(&config, schema(features), x.view())
        .expect("train")
        .to_bytes()
        .expect("encode")
}

#[derive(Debug)]
pub struct TestNode {
    pub addr: SocketAddr,
    pub url: String,
    pub metrics_addr: SocketAddr,
    /// The OIP REST API (`http://{http_addr}/v2/...`).
    pub http_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), joust_server::ServeError>>>,
}

impl TestNode {
    /// A node following `models` on `registry_url`, with short retry and
    /// reconcile intervals for tests, and no unbound grace (a version
    /// that lost its last ref is dropped at once; tests of the grace set
    /// `unbound_grace`).
    pub fn config(registry_url: &str, models: &[&str]) -> NodeConfig {
        NodeConfig {
            registry_url: registry_url.to_owned(),
            models: models.iter().map(|m| (*m).to_owned()).collect(),
            retry_initial: Duration::from_millis(50),
            retry_max: Duration::from_millis(500),
            unbound_grace: Duration::ZERO,
            ..NodeConfig::default()
        }
    }

    pub async fn start(config: NodeConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let metrics = TcpListener::bind("127.0.0.1:0").await?;
        let http = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let metrics_addr = metrics.local_addr()?;
        let http_addr = http.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(joust_server::run(
            joust_runtime::Listeners::new(listener)
                .with_metrics(Some(metrics))
                .with_http(Some(http)),
            config,
            async {
                let _ = stopped.await;
            },
        ));
        Ok(Self {
            addr,
            url: format!("http://{addr}"),
            metrics_addr,
            http_addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Starts a node and waits (through grpc.health Watch) until every ref
    /// it follows has a version loaded.
    pub async fn start_ready(config: NodeConfig) -> anyhow::Result<Self> {
        let node = Self::start(config).await?;
        node.wait_serving("", Duration::from_secs(10)).await?;
        Ok(node)
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(self.url.clone())
            .expect("url")
            .connect_lazy()
    }

    pub async fn oip(&self) -> GrpcInferenceServiceClient<Channel> {
        GrpcInferenceServiceClient::new(self.channel().await)
    }

    pub async fn native(&self) -> InferenceClient<Channel> {
        InferenceClient::new(self.channel().await)
    }

    pub async fn admin(&self) -> ServingAdminClient<Channel> {
        ServingAdminClient::new(self.channel().await)
    }

    pub async fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel().await)
    }

    /// The node's serving-state stream (`ServingAdmin.WatchServingState`).
    pub async fn serving_states(&self) -> anyhow::Result<tonic::Streaming<pb::ServingState>> {
        Ok(self
            .admin()
            .await
            .watch_serving_state(pb::WatchServingStateRequest {})
            .await?
            .into_inner())
    }

    /// Waits on grpc.health.v1 Watch until `service` is SERVING.
    pub async fn wait_serving(&self, service: &str, timeout: Duration) -> anyhow::Result<()> {
        let mut health = self.health().await;
        let wait = async {
            let mut stream = health
                .watch(tonic_health::pb::HealthCheckRequest {
                    service: service.to_owned(),
                })
                .await?
                .into_inner();
            while let Some(msg) = stream.message().await? {
                if msg.status == ServingStatus::Serving as i32 {
                    return Ok(());
                }
            }
            anyhow::bail!("health stream ended")
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| anyhow::anyhow!("{service:?} not SERVING after {timeout:?}"))?
    }

    /// The body of GET /metrics.
    pub async fn metrics_text(&self) -> anyhow::Result<String> {
        crate::scrape_metrics(self.metrics_addr).await
    }

    /// Triggers shutdown and waits for the drain; returns `run`'s result.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.task.take() {
            Some(t) => Ok(t.await??),
            None => Ok(()),
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Registry operations the node tests need, over the registry's gRPC API
/// (through `joust-client`; `client.raw()` for calls it does not wrap).
#[derive(Debug, Clone)]
pub struct RegistryOps {
    pub client: joust_client::RegistryClient,
}

impl RegistryOps {
    pub fn new(url: &str) -> Self {
        let channel = Channel::from_shared(url.to_owned())
            .expect("url")
            .connect_lazy();
        Self {
            client: joust_client::RegistryClient::new(channel),
        }
    }

    /// Operations with `security`'s TLS and token (a protected registry).
    pub fn secure(url: &str, security: &joust_security::ClientSecurity) -> Self {
        Self {
            client: joust_client::RegistryClient::new(
                security.connect_lazy(url).expect("registry URL"),
            ),
        }
    }

    /// Registers `bytes` as a new version of `model` (created if needed).
    pub async fn register(
        &self,
        model: &str,
        kind: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<pb::ModelVersion> {
        match self.client.create_model(model, "").await {
            Ok(_) => {}
            Err(e) if e.code() == Some(tonic::Code::AlreadyExists) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(self
            .client
            .register_version(model, kind, bytes.into(), Default::default(), "")
            .await?)
    }

    pub async fn transition(
        &self,
        reference: &str,
        to: pb::VersionStatus,
    ) -> anyhow::Result<pb::ModelVersion> {
        Ok(self.client.transition(reference, to, "test").await?)
    }

    /// candidate → evaluated by the audited override (test versions carry
    /// no evaluation).
    pub async fn force_evaluated(&self, reference: &str) -> anyhow::Result<pb::ModelVersion> {
        Ok(self
            .client
            .force_evaluated(reference, "test version, no evaluation")
            .await?)
    }

    /// candidate → evaluated (override) → champion.
    pub async fn promote(&self, reference: &str) -> anyhow::Result<()> {
        self.force_evaluated(reference).await?;
        self.transition(reference, pb::VersionStatus::Champion)
            .await?;
        Ok(())
    }

    pub async fn set_alias(&self, model: &str, alias: &str, version: u64) -> anyhow::Result<()> {
        self.client.set_alias(model, alias, version).await?;
        Ok(())
    }

    pub async fn rollback(&self, model: &str) -> anyhow::Result<()> {
        self.client.rollback(model, "test").await?;
        Ok(())
    }
}

/// A positional native request of `rows` rows over `features` columns.
pub fn predict_request(model: &str, features: usize, rows: usize) -> pb::PredictRequest {
    let values: Vec<f32> = (0..rows)
        .flat_map(|r| (0..features).map(move |f| (r + f) as f32 * 0.1))
        .collect();
    joust_client::inference::native_request(model, features, &values)
}

/// Polls `check` every 10 ms until it is true or `timeout` passes; returns
/// the time it took.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    while started.elapsed() < timeout {
        if check().await {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("condition not met within {timeout:?}")
}

/// A TCP forwarder in front of a server, which a test can cut (every
/// connection dropped, nothing accepted) and heal on the same address: how
/// a node sees its registry's process die and come back. It can also hold
/// each piece of the server's answers for a while (`set_delay`): a slow
/// link, so a load in progress stays visible.
#[derive(Debug)]
pub struct Partition {
    pub addr: SocketAddr,
    pub url: String,
    target: SocketAddr,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Partition {
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let p = Self {
            addr,
            url: format!("http://{addr}"),
            target,
            tasks: Default::default(),
            delay_ms: Default::default(),
        };
        p.accept(listener);
        Ok(p)
    }

    /// Holds every piece of the server's answers for `delay` before
    /// passing it on (zero: none).
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn accept(&self, listener: TcpListener) {
        let tasks = self.tasks.clone();
        let target = self.target;
        let delay_ms = self.delay_ms.clone();
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let delay_ms = delay_ms.clone();
                let conn = tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut in_read, mut in_write) = inbound.into_split();
                    let (mut out_read, mut out_write) = outbound.into_split();
                    let requests = tokio::io::copy(&mut in_read, &mut out_write);
                    let answers = async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = out_read.read(&mut buf).await?;
                            if n == 0 {
                                return in_write.shutdown().await;
                            }
                            let ms = delay_ms.load(std::sync::atomic::Ordering::Relaxed);
                            if ms > 0 {
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                            }
                            in_write.write_all(&buf[..n]).await?;
                        }
                    };
                    let _ = tokio::join!(requests, answers);
                });
                tasks.lock().unwrap().push(conn.abort_handle());
            }
        });
        self.tasks.lock().unwrap().push(accept.abort_handle());
    }

    /// Drops every connection and stops accepting.
    pub fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// Accepts again on the same address.
    pub async fn heal(&self) -> anyhow::Result<()> {
        let listener = TcpListener::bind(self.addr).await?;
        self.accept(listener);
        Ok(())
    }
}

/// Columns of the fixture's models.
pub const FIXTURE_FEATURES: usize = 3;

/// A registry (SQLite) with model `m`: v1 champion (isolation forest), v2
/// registered (noop), and a node following `m@champion`.
pub async fn champion_fixture(
    config: impl FnOnce(NodeConfig) -> NodeConfig,
) -> (crate::TestRegistry, RegistryOps, TestNode) {
    let registry = crate::TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, 1),
    )
    .await
    .unwrap();
    ops.promote("m:1").await.unwrap();
    ops.register("m", "noop", artifact(ModelKind::Noop, FIXTURE_FEATURES, 2))
        .await
        .unwrap();
    let node = TestNode::start_ready(config(TestNode::config(&registry.url, &["m@champion"])))
        .await
        .unwrap();
    (registry, ops, node)
}

/// An OIP request of model `m` (built by the inference codec), then
/// given `shape` and `datatype` as they are (bad-input tests send
/// malformed ones).
pub fn infer_request(
    shape: Vec<i64>,
    datatype: &str,
    values: Vec<f32>,
) -> joust_proto::inference::ModelInferRequest {
    let features = shape
        .get(1)
        .and_then(|f| usize::try_from(*f).ok())
        .unwrap_or(1);
    let mut r = joust_client::inference::InferRequest::new("m", features, values)
        .id("req-1")
        .build();
    r.inputs[0].shape = shape;
    r.inputs[0].datatype = datatype.into();
    r
}

/// `(model, version, phase, reason, refs)` of every version in `state`:
/// one line per version, easy to compare in a test.
pub fn state_lines(state: &pb::ServingState) -> Vec<String> {
    state
        .versions
        .iter()
        .map(|v| {
            let phase = pb::VersionPhase::try_from(v.phase)
                .map(|p| {
                    p.as_str_name()
                        .trim_start_matches("VERSION_PHASE_")
                        .to_owned()
                })
                .unwrap_or_else(|_| format!("phase {}", v.phase));
            let mut line = format!("{}:{} {phase} [{}]", v.model, v.version, v.refs.join(","));
            if !v.reason.is_empty() {
                line.push_str(" reason=");
                line.push_str(&v.reason);
            }
            line
        })
        .collect()
}

/// Reads `states` until one satisfies `check`, within `timeout`; returns
/// it and every state read on the way (including it). Generations
/// increase strictly and the node id never changes along the way.
pub async fn next_state_until(
    states: &mut tonic::Streaming<pb::ServingState>,
    timeout: Duration,
    mut check: impl FnMut(&pb::ServingState) -> bool,
) -> anyhow::Result<Vec<pb::ServingState>> {
    let mut seen: Vec<pb::ServingState> = Vec::new();
    let read = async {
        while let Some(state) = states.message().await? {
            if let Some(last) = seen.last() {
                anyhow::ensure!(
                    state.generation > last.generation && state.node_id == last.node_id,
                    "generation {} after {} (node {} after {})",
                    state.generation,
                    last.generation,
                    state.node_id,
                    last.node_id
                );
            }
            anyhow::ensure!(state.full, "every message is a full state");
            let done = check(&state);
            seen.push(state);
            if done {
                return Ok(());
            }
        }
        anyhow::bail!("serving-state stream ended")
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(())) => Ok(seen),
        Ok(Err(e)) => Err(e.context(format!(
            "states so far: {:?}",
            seen.iter().map(state_lines).collect::<Vec<_>>()
        ))),
        Err(_) => anyhow::bail!(
            "no matching serving state within {timeout:?}; states: {:?}",
            seen.iter().map(state_lines).collect::<Vec<_>>()
        ),
    }
}
