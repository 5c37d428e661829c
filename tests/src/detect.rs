//! Detection-service harness: a registry with a champion trained on the
//! synthetic market's 14 features, a serving node following it (the
//! scoring endpoint until the router exists), and an in-process detection
//! service on 127.0.0.1:0 over SQLite or a fresh PostgreSQL database,
//! writing evidence under its temporary directory.

use std::net::SocketAddr;

use joust_detect::{DetectConfig, EvidenceConfig, JobsConfig, ScorerConfig};
use joust_models::synthetic::{SyntheticConfig, generate};
use joust_models::{Model, ModelKind, TrainConfig};
use joust_proto::v1::detection_client::DetectionClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::node::{RegistryOps, TestNode};
use crate::{TestDatabase, TestRegistry};

/// The model name the detection tests score with.
pub const MODEL: &str = "anomaly_detector";

/// Which detection store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// An isolation forest trained on 4 synthetic tickers × 600 bars.
pub fn market_model(seed: u64) -> Vec<u8> {
    let series = generate(&SyntheticConfig {
        tickers: 4,
        rows: 600,
        seed,
        ..SyntheticConfig::default()
    });
    let data = joust_models::dataset::feature_matrix(&series);
    let config = TrainConfig::new(ModelKind::IsolationForest)
        .with_seed(seed)
        .with_param("n_trees", 50);
    Model::train(&config, joust_models::features::schema(), data.x.view())
        .expect("train")
        .to_bytes()
        .expect("encode")
}

/// Registry (SQLite) + champion `anomaly_detector:1` + a node serving it.
#[derive(Debug)]
pub struct ScoringStack {
    pub registry: TestRegistry,
    pub ops: RegistryOps,
    pub node: TestNode,
    /// SHA-256 of version 1.
    pub sha256: String,
}

impl ScoringStack {
    pub async fn start() -> anyhow::Result<Self> {
        let registry = TestRegistry::sqlite().await?;
        let ops = RegistryOps::new(&registry.url);
        let v = ops
            .register(MODEL, "isolation_forest", market_model(7))
            .await?;
        ops.promote(&format!("{MODEL}:1")).await?;
        let node = TestNode::start_ready(TestNode::config(
            &registry.url,
            &[&format!("{MODEL}@champion")],
        ))
        .await?;
        Ok(Self {
            registry,
            ops,
            node,
            sha256: v.sha256,
        })
    }
}

/// A detection service on port 0.
#[derive(Debug)]
pub struct TestDetect {
    pub addr: SocketAddr,
    /// The `/metrics` listener (see [`TestDetect::metrics_text`]).
    pub metrics_addr: SocketAddr,
    pub url: String,
    pub config: DetectConfig,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<joust_detect::Result<()>>>,
    pub dir: tempfile::TempDir,
    pub db: Option<TestDatabase>,
}

impl TestDetect {
    /// A service on `backend` scoring through `scoring_url` with the
    /// registry at `registry_url`.
    pub async fn start(
        backend: Backend,
        scoring_url: &str,
        registry_url: &str,
    ) -> anyhow::Result<Self> {
        Self::start_with(backend, scoring_url, registry_url, |_| {}).await
    }

    /// [`TestDetect::start`] with the backfill queue's settings.
    pub async fn start_with_jobs(
        backend: Backend,
        scoring_url: &str,
        registry_url: &str,
        jobs: JobsConfig,
    ) -> anyhow::Result<Self> {
        Self::start_with(backend, scoring_url, registry_url, |c| c.jobs = jobs).await
    }

    /// Like [`TestDetect::start`], with `tweak` applied to the config
    /// (evidence in `DIR/evidence-store` unless `tweak` changes it).
    pub async fn start_with(
        backend: Backend,
        scoring_url: &str,
        registry_url: &str,
        tweak: impl FnOnce(&mut DetectConfig),
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (database_url, db) = match backend {
            Backend::Sqlite => (format!("sqlite://{}/detect.db", dir.path().display()), None),
            Backend::Postgres => {
                let db = TestDatabase::create().await?;
                (db.url.clone(), Some(db))
            }
        };
        let mut config = DetectConfig {
            database_url,
            registry_url: Some(registry_url.to_owned()),
            scorer: ScorerConfig {
                router_url: scoring_url.to_owned(),
                model: MODEL.to_owned(),
                batch_rows: 256,
                ..ScorerConfig::default()
            },
            evidence: Some(EvidenceConfig {
                url: format!("file://{}/evidence-store", dir.path().display()),
                ..EvidenceConfig::default()
            }),
            ..DetectConfig::default()
        };
        tweak(&mut config);
        let detector = joust_detect::server::open(&config).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let metrics = TcpListener::bind("127.0.0.1:0").await?;
        let metrics_addr = metrics.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let max = config.max_message_bytes;
        let task = tokio::spawn(joust_detect::serve(
            joust_runtime::Listeners::new(listener).with_metrics(Some(metrics)),
            detector,
            joust_runtime::RoleConfig::plain(max),
            async {
                let _ = stopped.await;
            },
        ));
        Ok(Self {
            addr,
            metrics_addr,
            url: format!("http://{addr}"),
            config,
            stop: Some(stop),
            task: Some(task),
            dir,
            db,
        })
    }

    pub fn client(&self) -> DetectionClient<Channel> {
        let channel = Channel::from_shared(self.url.clone())
            .expect("url")
            .connect_lazy();
        DetectionClient::new(channel)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20)
    }

    /// The body of `GET /metrics` (OpenMetrics text).
    pub async fn metrics_text(&self) -> anyhow::Result<String> {
        let answer = crate::scrape_metrics(self.metrics_addr).await?;
        Ok(answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or(answer))
    }

    /// Triggers shutdown and waits for the drain.
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

impl Drop for TestDetect {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// A TCP proxy that accepts connections but forwards nothing until
/// [`Gate::open`]: requests through it hang (a stalled scoring endpoint).
#[derive(Debug)]
pub struct Gate {
    pub url: String,
    open: tokio::sync::watch::Sender<bool>,
    accept: tokio::task::AbortHandle,
}

impl Gate {
    /// A closed gate in front of `target`.
    pub async fn closed(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (open, opened) = tokio::sync::watch::channel(false);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut opened = opened.clone();
                tokio::spawn(async move {
                    if opened.wait_for(|o| *o).await.is_err() {
                        return;
                    }
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        })
        .abort_handle();
        Ok(Self { url, open, accept })
    }

    /// Lets every held and later connection through.
    pub fn open(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
