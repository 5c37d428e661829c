//! The load generator behind `joust bench`: closed loop (C concurrent
//! callers, each sending its next request when the previous answer
//! arrives) or open loop (a fixed rate R, latency measured from the
//! intended send time so a slow server cannot hide its queueing), over the
//! Open Inference Protocol or the native API. Latencies go into an HDR
//! histogram; the report is JSON-serialisable.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use joust_client::inference::{InferRequest, native_request};
use joust_proto::inference::ModelInferRequest;
use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_proto::v1::PredictRequest;
use joust_proto::v1::inference_client::InferenceClient;
use joust_security::{ClientSecurity, SecureChannel as Channel};
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::ServeError;

/// Which API to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    Oip,
    Native,
}

/// Closed loop at a concurrency, or open loop at a rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Closed { concurrency: usize },
    Open { rate_per_sec: f64 },
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadConfig {
    /// Node (or router) URL, `http://host:port`.
    pub target: String,
    pub api: Api,
    pub model: String,
    /// Columns per row.
    pub features: usize,
    /// Rows per request.
    pub rows: usize,
    pub mode: Mode,
    /// Measured time; in JSON `duration_ms`, a number.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// Unmeasured load before the measured `duration`; in JSON
    /// `warmup_ms`.
    #[serde(rename = "warmup_ms", serialize_with = "millis")]
    pub warmup: Duration,
    /// HTTP/2 connections shared by the callers.
    pub connections: usize,
    /// TLS and token of the calls.
    #[serde(skip)]
    pub client: ClientSecurity,
    /// What the requests carry: one fixed payload (the default) or real
    /// rows replayed in order.
    pub payload: Payload,
}

/// The rows the requests carry.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Payload {
    /// The same synthetic rows in every request.
    #[default]
    Fixed,
    /// Real feature rows, sent in order and looping when exhausted.
    Replay(Arc<Replay>),
}

/// Feature rows to replay: `rows × features` values, row-major, and a
/// cursor shared by every caller so the rows go out in order (across
/// callers, in the order the callers take them).
#[derive(Debug, Serialize)]
pub struct Replay {
    /// Where the rows came from (`dataset market:1`, `csv rows.csv`).
    pub source: String,
    pub features: usize,
    pub rows: usize,
    #[serde(skip)]
    values: Vec<f32>,
    #[serde(skip)]
    next: AtomicUsize,
}

impl Replay {
    /// `values` holds whole rows of `features` columns; at least one.
    pub fn new(source: String, features: usize, values: Vec<f32>) -> Result<Self, ServeError> {
        if features == 0 || values.is_empty() || !values.len().is_multiple_of(features) {
            return Err(ServeError::Config(format!(
                "{source}: expected whole rows of {features} features, got {} values",
                values.len()
            )));
        }
        Ok(Self {
            source,
            features,
            rows: values.len() / features,
            values,
            next: AtomicUsize::new(0),
        })
    }

    /// The next `n` rows (wrapping to the first row after the last).
    pub fn take(&self, n: usize) -> Vec<f32> {
        let start = self.next.fetch_add(n, Ordering::Relaxed);
        let mut out = Vec::with_capacity(n * self.features);
        for i in 0..n {
            let row = (start + i) % self.rows;
            out.extend_from_slice(&self.values[row * self.features..(row + 1) * self.features]);
        }
        out
    }
}

/// A duration as a number of milliseconds (fractional), the unit every
/// JSON duration of `joust bench` is in (`_ms`), never serde's
/// `{"secs":…,"nanos":…}`.
fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub config: LoadConfig,
    pub requests: u64,
    pub ok: u64,
    /// Failed requests by gRPC code.
    pub errors: BTreeMap<String, u64>,
    pub elapsed_s: f64,
    pub throughput_rps: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    /// Model versions that answered, with counts.
    pub versions: BTreeMap<String, u64>,
}

#[derive(Debug)]
struct Tally {
    hist: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
    versions: BTreeMap<String, u64>,
}

impl Tally {
    fn new() -> Result<Self, ServeError> {
        Ok(Self {
            hist: Histogram::new_with_bounds(1, 120_000_000, 3)
                .map_err(|e| ServeError::Internal(format!("histogram: {e}")))?,
            ok: 0,
            errors: BTreeMap::new(),
            versions: BTreeMap::new(),
        })
    }

    fn record(&mut self, latency: Duration, outcome: Result<String, tonic::Code>) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.hist.saturating_record(us);
        match outcome {
            Ok(v) => {
                self.ok += 1;
                *self.versions.entry(v).or_default() += 1;
            }
            Err(code) => *self.errors.entry(format!("{code:?}")).or_default() += 1,
        }
    }

    fn merge(&mut self, other: &Tally) {
        let _ = self.hist.add(&other.hist);
        self.ok += other.ok;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.versions {
            *self.versions.entry(k.clone()).or_default() += v;
        }
    }
}

/// A client and its request: one reusable request (the fixed payload),
/// or one built from the next replayed rows on every call.
#[derive(Debug, Clone)]
struct Caller {
    api: ApiCaller,
    replay: Option<Arc<Replay>>,
    rows: usize,
}

#[derive(Debug, Clone)]
enum ApiCaller {
    Oip(GrpcInferenceServiceClient<Channel>, ModelInferRequest),
    Native(InferenceClient<Channel>, PredictRequest),
}

impl Caller {
    fn new(api: Api, channel: Channel, config: &LoadConfig) -> Self {
        let values: Vec<f32> = (0..config.rows * config.features)
            .map(|i| ((i * 37) % 101) as f32 / 50.0)
            .collect();
        let api = match api {
            Api::Oip => ApiCaller::Oip(
                GrpcInferenceServiceClient::new(channel),
                InferRequest::new(config.model.clone(), config.features, values).build(),
            ),
            Api::Native => ApiCaller::Native(
                InferenceClient::new(channel),
                native_request(config.model.clone(), config.features, &values),
            ),
        };
        let replay = match &config.payload {
            Payload::Fixed => None,
            Payload::Replay(replay) => Some(replay.clone()),
        };
        Self {
            api,
            replay,
            rows: config.rows,
        }
    }

    async fn call(&mut self) -> Result<String, tonic::Code> {
        let replayed = self
            .replay
            .as_ref()
            .map(|r| (r.features, r.take(self.rows)));
        match &mut self.api {
            ApiCaller::Oip(c, fixed) => {
                let req = match replayed {
                    Some((features, values)) => {
                        InferRequest::new(fixed.model_name.clone(), features, values).build()
                    }
                    None => fixed.clone(),
                };
                c.model_infer(req)
                    .await
                    .map(|r| r.into_inner().model_version)
                    .map_err(|s| s.code())
            }
            ApiCaller::Native(c, fixed) => {
                let req = match replayed {
                    Some((features, values)) => {
                        native_request(fixed.model.clone(), features, &values)
                    }
                    None => fixed.clone(),
                };
                c.predict(req)
                    .await
                    .map(|r| r.into_inner().version.to_string())
                    .map_err(|s| s.code())
            }
        }
    }
}

async fn channels(config: &LoadConfig) -> Result<Vec<Channel>, ServeError> {
    let mut out = Vec::new();
    for _ in 0..config.connections.max(1) {
        let ch = config
            .client
            .endpoint(&config.target)
            .map_err(|e| ServeError::Config(format!("target: {e}")))?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| ServeError::Config(format!("cannot connect to {}: {e}", config.target)))?;
        out.push(config.client.wrap(ch));
    }
    Ok(out)
}

/// Runs the load described by `config` and reports latencies, throughput
/// and errors of the measured window.
pub async fn run_load(config: LoadConfig) -> Result<LoadReport, ServeError> {
    let channels = channels(&config).await?;
    let warm_end = Instant::now() + config.warmup;
    let end = warm_end + config.duration;
    let total = Arc::new(Mutex::new(Tally::new()?));
    match config.mode {
        Mode::Closed { concurrency } => {
            let mut tasks = Vec::new();
            for i in 0..concurrency.max(1) {
                let mut caller =
                    Caller::new(config.api, channels[i % channels.len()].clone(), &config);
                let total = total.clone();
                tasks.push(tokio::spawn(async move {
                    let mut tally = Tally::new()?;
                    while Instant::now() < end {
                        let sent = Instant::now();
                        let outcome = caller.call().await;
                        if sent >= warm_end {
                            tally.record(sent.elapsed(), outcome);
                        }
                    }
                    total.lock().await.merge(&tally);
                    Ok::<_, ServeError>(())
                }));
            }
            for t in tasks {
                t.await
                    .map_err(|e| ServeError::Internal(format!("load task: {e}")))??;
            }
        }
        Mode::Open { rate_per_sec } => {
            if rate_per_sec.is_nan() || rate_per_sec <= 0.0 {
                return Err(ServeError::Config(format!(
                    "rate: expected more than 0 requests per second, got {rate_per_sec}"
                )));
            }
            let period = Duration::from_secs_f64(1.0 / rate_per_sec);
            let callers: Vec<Caller> = channels
                .iter()
                .map(|c| Caller::new(config.api, c.clone(), &config))
                .collect();
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut in_flight = tokio::task::JoinSet::new();
            let mut n = 0usize;
            loop {
                let intended = tick.tick().await;
                if intended >= end {
                    break;
                }
                let mut caller = callers[n % callers.len()].clone();
                n += 1;
                let total = total.clone();
                in_flight.spawn(async move {
                    let outcome = caller.call().await;
                    if intended >= warm_end {
                        // From the intended send time: no coordinated omission.
                        total.lock().await.record(intended.elapsed(), outcome);
                    }
                });
                while in_flight.try_join_next().is_some() {}
            }
            while in_flight.join_next().await.is_some() {}
        }
    }
    let t = total.lock().await;
    let elapsed = config.duration.as_secs_f64();
    let requests = t.hist.len();
    Ok(LoadReport {
        requests,
        ok: t.ok,
        errors: t.errors.clone(),
        elapsed_s: elapsed,
        throughput_rps: requests as f64 / elapsed.max(1e-9),
        p50_us: t.hist.value_at_quantile(0.50),
        p90_us: t.hist.value_at_quantile(0.90),
        p99_us: t.hist.value_at_quantile(0.99),
        p999_us: t.hist.value_at_quantile(0.999),
        max_us: t.hist.max(),
        mean_us: t.hist.mean(),
        versions: t.versions.clone(),
        config: config.clone(),
    })
}

/// `joust bench` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Node or router URL.
    #[arg(
        long,
        env = "JOUST_BENCH_TARGET",
        default_value = "http://127.0.0.1:7071"
    )]
    pub target: String,
    /// API to drive.
    #[arg(long, env = "JOUST_BENCH_API", value_enum, default_value = "oip")]
    pub api: Api,
    /// Model name.
    #[arg(long, env = "JOUST_BENCH_MODEL")]
    pub model: String,
    /// Features per row.
    #[arg(long, env = "JOUST_BENCH_FEATURES", default_value_t = 14)]
    pub features: usize,
    /// Rows per request (`--batch` is the same flag).
    #[arg(
        long,
        visible_alias = "batch",
        env = "JOUST_BENCH_ROWS",
        default_value_t = 1
    )]
    pub rows: usize,
    /// Closed loop with this many concurrent callers (ignored with --rate).
    #[arg(long, env = "JOUST_BENCH_CONCURRENCY", default_value_t = 32)]
    pub concurrency: usize,
    /// Open loop at this many requests per second.
    #[arg(long, env = "JOUST_BENCH_RATE")]
    pub rate: Option<f64>,
    /// Measured seconds.
    #[arg(long, env = "JOUST_BENCH_SECONDS", default_value_t = 10.0)]
    pub seconds: f64,
    /// Unmeasured warm-up seconds.
    #[arg(long, env = "JOUST_BENCH_WARMUP_SECONDS", default_value_t = 1.0)]
    pub warmup_seconds: f64,
    /// HTTP/2 connections.
    #[arg(long, env = "JOUST_BENCH_CONNECTIONS", default_value_t = 4)]
    pub connections: usize,
}

impl BenchArgs {
    pub fn into_config(self) -> Result<LoadConfig, ServeError> {
        let secs = |name: &str, v: f64| {
            Duration::try_from_secs_f64(v)
                .map_err(|_| ServeError::Config(format!("{name}: expected seconds ≥ 0, got {v}")))
        };
        Ok(LoadConfig {
            target: self.target,
            api: self.api,
            model: self.model,
            features: self.features,
            rows: self.rows.max(1),
            mode: match self.rate {
                Some(rate_per_sec) => Mode::Open { rate_per_sec },
                None => Mode::Closed {
                    concurrency: self.concurrency,
                },
            },
            duration: secs("seconds", self.seconds)?,
            warmup: secs("warmup-seconds", self.warmup_seconds)?,
            connections: self.connections,
            client: ClientSecurity::default(),
            payload: Payload::Fixed,
        })
    }
}

/// `joust bench`: runs the load (with `client`'s TLS and token) and
/// prints the JSON report on stdout. A `payload` other than
/// [`Payload::Fixed`] replaces the fixed rows (`--dataset`, `--csv`).
pub async fn bench(
    args: BenchArgs,
    client: ClientSecurity,
    payload: Payload,
) -> Result<LoadReport, ServeError> {
    let mut config = args.into_config()?;
    if let Payload::Replay(replay) = &payload {
        config.features = replay.features;
    }
    let report = run_load(LoadConfig {
        client,
        payload,
        ..config
    })
    .await?;
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| ServeError::Internal(format!("report: {e}")))?;
    println!("{json}");
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Replay;

    #[test]
    fn replayed_rows_go_out_in_order_and_loop() {
        let r = Replay::new("t".into(), 2, vec![1.0, 1.5, 2.0, 2.5, 3.0, 3.5]).unwrap();
        assert_eq!(r.take(1), [1.0, 1.5]);
        assert_eq!(r.take(3), [2.0, 2.5, 3.0, 3.5, 1.0, 1.5]);
        assert_eq!(r.take(1), [2.0, 2.5]);
    }

    #[test]
    fn partial_or_empty_rows_are_refused() {
        let e = Replay::new("csv x".into(), 2, vec![1.0, 2.0, 3.0]).unwrap_err();
        assert!(
            e.to_string()
                .contains("csv x: expected whole rows of 2 features, got 3 values"),
            "{e}"
        );
        assert!(Replay::new("t".into(), 2, vec![]).is_err());
        assert!(Replay::new("t".into(), 0, vec![1.0]).is_err());
    }
}
