//! Router harness: a router on 127.0.0.1:0 (gRPC, /metrics, OIP REST) in front of
//! given nodes, with a stop handle and clients.

use std::net::SocketAddr;
use std::time::Duration;

use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_proto::v1 as pb;
use joust_proto::v1::inference_client::InferenceClient;
use joust_proto::v1::router_admin_client::RouterAdminClient;
use joust_router::RouterConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[derive(Debug)]
pub struct TestRouter {
    pub addr: SocketAddr,
    pub url: String,
    pub metrics_addr: SocketAddr,
    /// The OIP REST API (`http://{http_addr}/v2/...`).
    pub http_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), joust_router::RouterError>>>,
}

impl TestRouter {
    /// A router for `registry_url` over `nodes` (`host:port`), with short
    /// intervals for tests.
    pub fn config(registry_url: &str, nodes: &[SocketAddr]) -> RouterConfig {
        RouterConfig {
            registry_url: registry_url.to_owned(),
            nodes: nodes.iter().map(ToString::to_string).collect(),
            retry_initial: Duration::from_millis(50),
            retry_max: Duration::from_millis(500),
            eject_initial: Duration::from_millis(100),
            eject_max: Duration::from_secs(2),
            record_flush: Duration::from_millis(50),
            seed: 42,
            ..RouterConfig::default()
        }
    }

    pub async fn start(config: RouterConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let metrics = TcpListener::bind("127.0.0.1:0").await?;
        let http = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let metrics_addr = metrics.local_addr()?;
        let http_addr = http.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(joust_router::run(
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

    /// Starts a router and waits (grpc.health Watch) until it has read its
    /// routes from the registry.
    pub async fn start_ready(config: RouterConfig) -> anyhow::Result<Self> {
        let router = Self::start(config).await?;
        let mut health = HealthClient::new(router.channel());
        let wait = async {
            let mut stream = health
                .watch(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
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
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .map_err(|_| anyhow::anyhow!("router not SERVING after 10 s"))??;
        Ok(router)
    }

    pub fn channel(&self) -> Channel {
        Channel::from_shared(self.url.clone())
            .expect("url")
            .connect_lazy()
    }

    pub fn oip(&self) -> GrpcInferenceServiceClient<Channel> {
        GrpcInferenceServiceClient::new(self.channel())
    }

    pub fn native(&self) -> InferenceClient<Channel> {
        InferenceClient::new(self.channel())
    }

    pub fn admin(&self) -> RouterAdminClient<Channel> {
        RouterAdminClient::new(self.channel())
    }

    /// The route of `model` as the router holds it.
    pub async fn route(&self, model: &str) -> Option<pb::RouteInfo> {
        self.admin()
            .list_routes(pb::ListRoutesRequest {})
            .await
            .ok()?
            .into_inner()
            .routes
            .into_iter()
            .find(|r| r.model == model)
    }

    pub async fn stats(&self) -> anyhow::Result<pb::RouterStats> {
        Ok(self
            .admin()
            .get_stats(pb::GetStatsRequest {})
            .await?
            .into_inner())
    }

    /// The body of GET /metrics.
    pub async fn metrics_text(&self) -> anyhow::Result<String> {
        crate::scrape_metrics(self.metrics_addr).await
    }

    /// Triggers shutdown and waits for the drain (records flushed).
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

impl Drop for TestRouter {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Trial helpers over the registry's `joust.v1.Trials` (through
/// `joust-client`).
#[derive(Debug, Clone)]
pub struct TrialOps {
    pub client: joust_client::TrialsClient,
}

impl TrialOps {
    pub fn new(url: &str) -> Self {
        Self {
            client: joust_client::TrialsClient::new(
                Channel::from_shared(url.to_owned())
                    .expect("url")
                    .connect_lazy(),
            ),
        }
    }

    /// Starts a sticky trial of `model`'s `challenger` version.
    pub async fn start(
        &self,
        model: &str,
        challenger: u64,
        mode: pb::TrialMode,
        weight: f64,
        sampling: f64,
    ) -> anyhow::Result<pb::Trial> {
        Ok(self
            .client
            .start(pb::StartTrialRequest {
                model: model.to_owned(),
                challenger_version: challenger,
                mode: mode as i32,
                weight,
                sampling,
                sticky: true,
                gates: None,
                reason: "test".into(),
                plan: None,
            })
            .await?)
    }

    pub async fn set_weight(&self, model: &str, weight: f64) -> anyhow::Result<()> {
        self.client
            .update(pb::UpdateTrialRequest {
                model: model.to_owned(),
                mode: pb::TrialMode::Split as i32,
                weight: Some(weight),
                sampling: None,
                gates: None,
                reason: "test".into(),
            })
            .await?;
        Ok(())
    }

    pub async fn stop(&self, model: &str, outcome: pb::TrialOutcome) -> anyhow::Result<()> {
        self.client.stop(model, outcome, "test").await?;
        Ok(())
    }

    pub async fn report(&self, id: u64) -> anyhow::Result<pb::TrialReport> {
        Ok(self.client.report(id, "").await?)
    }
}

/// Model `m` on `registry`: v1 champion, v2 evaluated (both noop models
/// over `FIXTURE_FEATURES` columns, different seeds), ready for a trial.
pub async fn two_versions(registry_url: &str) -> anyhow::Result<crate::node::RegistryOps> {
    use crate::node::{FIXTURE_FEATURES, RegistryOps, artifact};
    use joust_models::ModelKind;
    let ops = RegistryOps::new(registry_url);
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, 1),
    )
    .await?;
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, 5),
    )
    .await?;
    ops.promote("m:1").await?;
    ops.force_evaluated("m:2").await?;
    Ok(ops)
}
