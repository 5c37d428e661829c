//! Scoring feature rows through an Open Inference Protocol endpoint (the
//! router, or a serving node: both answer `inference.GRPCInferenceService`)
//! in large batches, and looking up the SHA-256 of the version that
//! answered in the registry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use joust_client::inference::{InferRequest, decode};
use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_security::{ClientSecurity, SecureChannel as Channel};
use ndarray::ArrayView2;

use crate::error::{DetectError, Result};

/// Retries of a request the endpoint refused as busy (10 ms, doubling).
const BUSY_RETRIES: u32 = 6;
/// First and longest wait before retrying a full node.
const BUSY_FIRST: std::time::Duration = std::time::Duration::from_millis(10);
const BUSY_MAX: std::time::Duration = std::time::Duration::from_secs(1);

/// Where and what to score.
#[derive(Debug, Clone)]
pub struct ScorerConfig {
    /// The router's (or a node's) gRPC address, `http://HOST:PORT`.
    pub router_url: String,
    /// Model name sent in `ModelInferRequest.model_name`.
    pub model: String,
    /// Pinned version ("" = whatever the endpoint serves by default: the
    /// champion).
    pub model_version: String,
    /// Rows per OIP request.
    pub batch_rows: usize,
    /// OIP requests in flight per detection.
    pub concurrency: usize,
    /// Largest gRPC message sent or accepted, in bytes.
    pub max_message_bytes: usize,
    /// TLS and token of the calls to the router and the registry.
    pub client: ClientSecurity,
}

impl Default for ScorerConfig {
    fn default() -> Self {
        Self {
            router_url: "http://127.0.0.1:7072".to_owned(),
            model: "anomaly_detector".to_owned(),
            model_version: String::new(),
            batch_rows: 8192,
            concurrency: 4,
            max_message_bytes: 16 << 20,
            client: ClientSecurity::default(),
        }
    }
}

/// Scores of a batch and the version that produced them.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub scores: Vec<f32>,
    pub labels: Vec<bool>,
    pub model_version: String,
}

/// An OIP client plus a registry client for the models' SHA-256.
#[derive(Clone)]
pub struct Scorer {
    config: ScorerConfig,
    client: GrpcInferenceServiceClient<Channel>,
    registry: Option<joust_client::RegistryClient>,
    sha_cache: Arc<Mutex<HashMap<String, String>>>,
}

impl std::fmt::Debug for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Scorer {
    /// A scorer whose connections are opened lazily (the router may start
    /// after this service).
    pub fn new(config: ScorerConfig, registry_url: Option<&str>) -> Result<Self> {
        if config.batch_rows == 0 || config.concurrency == 0 {
            return Err(DetectError::Config(
                "batch rows and scoring concurrency: expected at least 1".to_owned(),
            ));
        }
        let channel = config
            .client
            .connect_lazy(&config.router_url)
            .map_err(|e| DetectError::Config(format!("router URL: {e}")))?;
        let client = GrpcInferenceServiceClient::new(channel)
            .max_decoding_message_size(config.max_message_bytes)
            .max_encoding_message_size(config.max_message_bytes);
        let registry = match registry_url {
            Some(url) => {
                let channel = config
                    .client
                    .connect_lazy(url)
                    .map_err(|e| DetectError::Config(format!("registry URL: {e}")))?;
                Some(joust_client::RegistryClient::new(channel))
            }
            None => None,
        };
        Ok(Self {
            config,
            client,
            registry,
            sha_cache: Arc::default(),
        })
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// The scoring endpoint's address.
    pub fn endpoint(&self) -> &str {
        &self.config.router_url
    }

    /// Whether the endpoint answers OIP `ModelReady` with `ready: true`
    /// for the model (and the pinned version, if any): the router says so
    /// only while a node has it loaded. `Err` carries why not, for the log.
    pub async fn ready(&self) -> std::result::Result<(), String> {
        let request = joust_proto::inference::ModelReadyRequest {
            name: self.config.model.clone(),
            version: self.config.model_version.clone(),
        };
        match self.client.clone().model_ready(request).await {
            Ok(r) if r.get_ref().ready => Ok(()),
            Ok(_) => Err(format!(
                "{} answers that model {} is not ready",
                self.config.router_url, self.config.model
            )),
            Err(s) => Err(format!(
                "ModelReady {} at {}: {} ({:?})",
                self.config.model,
                self.config.router_url,
                s.message(),
                s.code()
            )),
        }
    }

    /// Scores every row of `x` (N × F) in batches of `batch_rows`. The
    /// first batch decides the version; the rest are pinned to it, so one
    /// detection is scored by one version even if the champion changes.
    pub async fn score(&self, x: ArrayView2<'_, f32>) -> Result<Scored> {
        self.score_reporting(x, &|_| {}).await
    }

    /// [`Scorer::score`], telling `progress` the rows scored so far after
    /// each request.
    pub async fn score_reporting(
        &self,
        x: ArrayView2<'_, f32>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Scored> {
        let n = x.nrows();
        let mut out = Scored {
            scores: Vec::with_capacity(n),
            labels: Vec::with_capacity(n),
            model_version: String::new(),
        };
        if n == 0 {
            return Ok(out);
        }
        let cols = x.ncols();
        let mut batches = x
            .axis_chunks_iter(ndarray::Axis(0), self.config.batch_rows)
            .map(|b| (b.nrows(), b.iter().copied().collect::<Vec<f32>>()));
        let Some((rows, values)) = batches.next() else {
            return Ok(out);
        };
        let first = self
            .infer(rows, cols, values, self.config.model_version.clone())
            .await?;
        let version = first.model_version.clone();
        out.model_version = version.clone();
        out.scores.extend(first.scores);
        out.labels.extend(first.labels);
        progress(out.scores.len() as u64);
        let rest: Vec<(usize, Vec<f32>)> = batches.collect();
        let mut rest = futures::stream::iter(rest)
            .map(|(rows, values)| self.infer(rows, cols, values, version.clone()))
            .buffered(self.config.concurrency);
        while let Some(r) = rest.try_next().await? {
            out.scores.extend(r.scores);
            out.labels.extend(r.labels);
            progress(out.scores.len() as u64);
        }
        Ok(out)
    }

    async fn infer(
        &self,
        rows: usize,
        cols: usize,
        values: Vec<f32>,
        version: String,
    ) -> Result<Scored> {
        let mut request = InferRequest::new(self.config.model.clone(), cols, values).build();
        // As configured, or as the endpoint spelled the first batch's version.
        request.model_version = version;
        // A full node answers RESOURCE_EXHAUSTED: back off and retry a few
        // times before failing the detection.
        let mut tries = 0;
        let response = loop {
            match self.client.clone().model_infer(request.clone()).await {
                Ok(r) => break r.into_inner(),
                Err(s) if s.code() == tonic::Code::ResourceExhausted && tries < BUSY_RETRIES => {
                    tries += 1;
                    tokio::time::sleep(joust_runtime::backoff(
                        BUSY_FIRST,
                        BUSY_MAX,
                        tries,
                        joust_runtime::JITTER,
                    ))
                    .await;
                }
                Err(s) => {
                    return Err(DetectError::Scoring(format!(
                        "ModelInfer {} at {}: {} ({:?})",
                        self.config.model,
                        self.config.router_url,
                        s.message(),
                        s.code()
                    )));
                }
            }
        };
        decode(response, Some(rows))
            .map(|d| Scored {
                scores: d.scores,
                labels: d.labels,
                model_version: d.model_version,
            })
            .map_err(|e| DetectError::Scoring(format!("ModelInfer response: {e}")))
    }

    /// The SHA-256 of `model:version` from the registry ("" without a
    /// registry). Cached: versions are immutable.
    pub async fn sha256(&self, version: &str) -> Result<String> {
        let Some(registry) = &self.registry else {
            return Ok(String::new());
        };
        let reference = format!("{}:{version}", self.config.model);
        if let Ok(cache) = self.sha_cache.lock()
            && let Some(sha) = cache.get(&reference)
        {
            return Ok(sha.clone());
        }
        let v = registry
            .get_version(&reference)
            .await
            .map_err(|e| DetectError::Registry(format!("GetVersion {reference}: {e}")))?;
        if let Ok(mut cache) = self.sha_cache.lock() {
            cache.insert(reference, v.sha256.clone());
        }
        Ok(v.sha256)
    }
}
