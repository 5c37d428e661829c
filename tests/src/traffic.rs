//! Client traffic for the production drills: concurrent clients with
//! routing keys that send predictions through two routers and check every
//! answer — its status, and the arm and version it came from — against
//! what should serve at the moment the request was sent.
//!
//! **What a client does** — what a production gRPC client does behind a
//! Kubernetes Service (or with gRPC client-side health checking): it sends
//! only to routers that are *ready*. A shared endpoint list asks each
//! router's `grpc.health.v1` readiness (service `""`) every 100 ms, as a
//! readiness probe does, and a client prefers one ready router (client `i`
//! router `i % 2`) and else takes another ready one. When a request could
//! not be sent at all — the connection was refused (the router is down or
//! restarting) or the HTTP/2 client dropped it from its queue unsent
//! because the connection was closing (`Cancelled: operation was
//! canceled`, which no drill client ever does itself), or a draining
//! router's GOAWAY refused the stream unprocessed — it goes to the
//! other router: gRPC's transparent retry, counted as `rerouted`. Every
//! request a router received counts: an error status from it, or a
//! connection that broke after the request was sent, is a **failed**
//! request; an answer from an arm or version that should not serve is a
//! **wrong** answer. Neither is ever retried.
//!
//! **What should serve.** The drill tells the traffic what serves now
//! ([`Serving`]). Before it changes anything it calls
//! [`Traffic::changing`]: from then until it calls [`Traffic::settled`]
//! either state's answers are accepted. `settled` is called once the
//! registry and every router report the new state; a request sent after
//! that must be answered by the new state alone. In a sticky split, a
//! routing key keeps its arm while the state is settled.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use joust_proto::inference::ModelInferRequest;
use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_proto::inference::model_infer_request::InferInputTensor;
use joust_proto::v1 as pb;
use joust_proto::v1::inference_client::InferenceClient;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::node::FIXTURE_FEATURES;

/// What answers requests for the drill's model: the champion, and the
/// challenger when a split trial sends it traffic (a shadow trial answers
/// with the champion only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Serving {
    pub champion: u64,
    /// 0: the challenger answers no request (no trial, or shadow).
    pub split_challenger: u64,
}

impl Serving {
    pub fn champion(v: u64) -> Self {
        Self {
            champion: v,
            split_challenger: 0,
        }
    }

    pub fn split(champion: u64, challenger: u64) -> Self {
        Self {
            champion,
            split_challenger: challenger,
        }
    }

    fn answers(&self) -> Vec<(String, u64)> {
        let mut a = vec![("champion".to_owned(), self.champion)];
        if self.split_challenger != 0 {
            a.push(("challenger".to_owned(), self.split_challenger));
        }
        a
    }
}

impl fmt::Display for Serving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.split_challenger {
            0 => write!(f, "champion v{}", self.champion),
            c => write!(f, "champion v{} / challenger v{c}", self.champion),
        }
    }
}

#[derive(Debug, Clone)]
struct Expectation {
    epoch: u64,
    allowed: Vec<(String, u64)>,
    /// Settled: a routing key must keep its arm.
    settled: bool,
    what: String,
}

/// Counters of one drill (or of the traffic so far).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests a router received (each counted once).
    pub requests: u64,
    /// Of those, answered with an error or lost after being sent.
    pub errors: u64,
    /// Of those, answered by an arm or version that should not serve.
    pub wrong: u64,
    /// Sent to the other router because the preferred one refused the
    /// connection (not received, so not failed).
    pub rerouted: u64,
}

impl Counts {
    /// Failed requests: errors and wrong answers.
    pub fn failed(&self) -> u64 {
        self.errors + self.wrong
    }
}

#[derive(Debug)]
struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
    wrong: AtomicU64,
    rerouted: AtomicU64,
    /// Answers received for requests sent in the current epoch.
    answered_in_epoch: AtomicU64,
    /// Per client, the epoch of the expectation its current request was
    /// sent under (so earlier requests are done).
    client_epochs: Vec<AtomicU64>,
    samples: Mutex<Vec<String>>,
}

impl Counters {
    fn sample(&self, what: String) {
        let mut s = self.samples.lock().unwrap();
        if s.len() < 20 {
            s.push(what);
        }
    }
}

/// Which routers are ready, as a readiness probe sees them.
#[derive(Debug)]
struct Endpoints {
    ready: Vec<std::sync::atomic::AtomicBool>,
}

impl Endpoints {
    /// Probes every router's readiness every 100 ms until `stop`.
    fn start(routers: &[String], mut stop: watch::Receiver<bool>) -> (Arc<Self>, JoinHandle<()>) {
        let endpoints = Arc::new(Self {
            ready: routers
                .iter()
                .map(|_| std::sync::atomic::AtomicBool::new(true))
                .collect(),
        });
        let channels: Vec<Channel> = routers
            .iter()
            .map(|u| Channel::from_shared(u.clone()).unwrap().connect_lazy())
            .collect();
        let e = endpoints.clone();
        let task = tokio::spawn(async move {
            use tonic_health::pb::health_check_response::ServingStatus;
            loop {
                for (i, c) in channels.iter().enumerate() {
                    let mut req = tonic::Request::new(tonic_health::pb::HealthCheckRequest {
                        service: String::new(),
                    });
                    req.set_timeout(Duration::from_secs(1));
                    let ready = tonic_health::pb::health_client::HealthClient::new(c.clone())
                        .check(req)
                        .await
                        .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32);
                    e.ready[i].store(ready, Ordering::Relaxed);
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stop.changed() => return,
                }
            }
        });
        (endpoints, task)
    }

    fn is_ready(&self, i: usize) -> bool {
        self.ready[i].load(Ordering::Relaxed)
    }
}

/// The clients of a drill, running until [`Traffic::stop`].
#[derive(Debug)]
pub struct Traffic {
    expect: Arc<RwLock<Expectation>>,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    serving: Mutex<Serving>,
}

impl Traffic {
    /// Starts `clients` clients (≥ 2) over `routers` (`http://…` URLs) for
    /// model `model`, with `serving` answering. Even clients use the
    /// native API (the answer carries arm and version), odd ones the Open
    /// Inference Protocol (`x-joust-arm` and `x-joust-model-version`
    /// response metadata); client `i` prefers router `i % routers.len()`.
    pub fn start(routers: &[String], model: &str, clients: usize, serving: Serving) -> Self {
        let expect = Arc::new(RwLock::new(Expectation {
            epoch: 1,
            allowed: serving.answers(),
            settled: true,
            what: serving.to_string(),
        }));
        let counters = Arc::new(Counters {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            wrong: AtomicU64::new(0),
            rerouted: AtomicU64::new(0),
            answered_in_epoch: AtomicU64::new(0),
            client_epochs: (0..clients).map(|_| AtomicU64::new(0)).collect(),
            samples: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = watch::channel(false);
        let (endpoints, probe) = Endpoints::start(routers, stopped.clone());
        let mut tasks: Vec<JoinHandle<()>> = (0..clients)
            .map(|id| {
                let client = Client {
                    id,
                    model: model.to_owned(),
                    channels: routers
                        .iter()
                        .map(|u| Channel::from_shared(u.clone()).unwrap().connect_lazy())
                        .collect(),
                    expect: expect.clone(),
                    counters: counters.clone(),
                    endpoints: endpoints.clone(),
                };
                tokio::spawn(client.run(stopped.clone()))
            })
            .collect();
        tasks.push(probe);
        Self {
            expect,
            counters,
            stop,
            tasks,
            serving: Mutex::new(serving),
        }
    }

    /// What serves now (as last told).
    pub fn serving(&self) -> Serving {
        *self.serving.lock().unwrap()
    }

    /// A change to `to` is about to be made: until [`Traffic::settled`],
    /// answers of what served before and of `to` are both accepted.
    /// Returns once every client's request sent under the old expectation
    /// has been answered, so none of them can meet the change.
    pub async fn changing(&self, to: Serving) -> anyhow::Result<()> {
        self.changing_to_any(&[to]).await
    }

    /// [`Traffic::changing`] to one of `targets` (concurrent changes whose
    /// order is not known in advance).
    pub async fn changing_to_any(&self, targets: &[Serving]) -> anyhow::Result<()> {
        let from = self.serving();
        let mut allowed = from.answers();
        for a in targets.iter().flat_map(Serving::answers) {
            if !allowed.contains(&a) {
                allowed.push(a);
            }
        }
        let to: Vec<String> = targets.iter().map(ToString::to_string).collect();
        self.set(Expectation {
            epoch: 0,
            allowed,
            settled: false,
            what: format!("{from} → {}", to.join(" or ")),
        });
        let epoch = self.expect.read().unwrap().epoch;
        crate::node::eventually(Duration::from_secs(30), || async {
            self.counters
                .client_epochs
                .iter()
                .all(|e| e.load(Ordering::Relaxed) >= epoch)
        })
        .await
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("traffic: clients still busy before a change ({e})"))
    }

    /// The change settled (registry and routers report `to`): from now on
    /// only `to` answers.
    pub fn settled(&self, to: Serving) {
        *self.serving.lock().unwrap() = to;
        self.set(Expectation {
            epoch: 0,
            allowed: to.answers(),
            settled: true,
            what: to.to_string(),
        });
    }

    fn set(&self, mut e: Expectation) {
        let mut cur = self.expect.write().unwrap();
        e.epoch = cur.epoch + 1;
        *cur = e;
        self.counters.answered_in_epoch.store(0, Ordering::Relaxed);
    }

    /// Waits until `n` requests sent since the last change (or settle) have
    /// been answered, whatever the answer (`timeout` turns a stall into an
    /// error).
    pub async fn wait_answers(&self, n: u64, timeout: Duration) -> anyhow::Result<()> {
        crate::node::eventually(timeout, || async {
            self.counters.answered_in_epoch.load(Ordering::Relaxed) >= n
        })
        .await
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("traffic: {n} answers not reached ({e})"))
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        let c = &self.counters;
        Counts {
            requests: c.requests.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            wrong: c.wrong.load(Ordering::Relaxed),
            rerouted: c.rerouted.load(Ordering::Relaxed),
        }
    }

    /// The first failures (errors and wrong answers), for the report.
    pub fn samples(&self) -> Vec<String> {
        self.counters.samples.lock().unwrap().clone()
    }

    /// Stops the clients (each finishes its request in flight) and returns
    /// the final counts.
    pub async fn stop(&mut self) -> Counts {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        self.counts()
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Client {
    id: usize,
    model: String,
    channels: Vec<Channel>,
    expect: Arc<RwLock<Expectation>>,
    counters: Arc<Counters>,
    endpoints: Arc<Endpoints>,
}

/// An answer's arm and version.
type Answer = (String, u64);

impl Client {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let keys: Vec<String> = (0..8)
            .map(|k| format!("client{}-key{k}", self.id))
            .collect();
        let preferred = self.id % self.channels.len();
        // A router that refused a connection is tried again after this.
        let mut down_until: Vec<Option<Instant>> = vec![None; self.channels.len()];
        let mut sticky: (u64, HashMap<String, String>) = (0, HashMap::new());
        let mut n = 0usize;
        while !*stop.borrow_and_update() {
            let key = &keys[n % keys.len()];
            let rows = 1 + n % 3;
            n += 1;
            let expect = self.expect.read().unwrap().clone();
            self.counters.client_epochs[self.id].store(expect.epoch, Ordering::Relaxed);
            let now = Instant::now();
            let mut order: Vec<usize> = (0..self.channels.len())
                .map(|i| (preferred + i) % self.channels.len())
                .collect();
            // Ready routers first; unready ones and those that just refused
            // a connection last (still tried: all may be).
            order.sort_by_key(|&r| {
                !self.endpoints.is_ready(r) || down_until[r].is_some_and(|t| t > now)
            });
            let mut outcome = None;
            for &r in &order {
                match self.call(r, key, rows).await {
                    Err(status) if not_sent(&status) => {
                        down_until[r] = Some(Instant::now() + Duration::from_millis(100));
                        self.counters.rerouted.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        if other.is_ok() {
                            down_until[r] = None;
                        }
                        outcome = Some((r, other));
                        break;
                    }
                }
            }
            let Some((router, outcome)) = outcome else {
                // No router took the connection: wait a little (nothing
                // was sent, nothing is counted) and try again.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            };
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let current = self.expect.read().unwrap().epoch == expect.epoch;
            match outcome {
                Ok((arm, version)) => {
                    if current {
                        self.counters
                            .answered_in_epoch
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    if !expect.allowed.contains(&(arm.clone(), version)) {
                        self.counters.wrong.fetch_add(1, Ordering::Relaxed);
                        self.counters.sample(format!(
                            "client {} via router {router}: answered by {arm} v{version}, expected {} ({:?})",
                            self.id, expect.what, expect.allowed
                        ));
                    } else if expect.settled && expect.allowed.len() > 1 {
                        if sticky.0 != expect.epoch {
                            sticky = (expect.epoch, HashMap::new());
                        }
                        let was = sticky.1.entry(key.clone()).or_insert_with(|| arm.clone());
                        if *was != arm {
                            self.counters.wrong.fetch_add(1, Ordering::Relaxed);
                            self.counters.sample(format!(
                                "client {} key {key}: sticky key moved from {was} to {arm} within {}",
                                self.id, expect.what
                            ));
                        }
                    }
                }
                Err(status) => {
                    if current {
                        self.counters
                            .answered_in_epoch
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                    self.counters.sample(format!(
                        "{} client {} via router {router} ({}): {:?} {}",
                        utc_time_of_day(),
                        self.id,
                        expect.what,
                        status.code(),
                        status.message()
                    ));
                }
            }
        }
    }

    /// One prediction through router `r`: native for even clients, OIP for
    /// odd ones.
    async fn call(&self, r: usize, key: &str, rows: usize) -> Result<Answer, tonic::Status> {
        let channel = self.channels[r].clone();
        let values = |row: usize| -> Vec<f32> {
            (0..FIXTURE_FEATURES)
                .map(|f| (row + f + self.id) as f32 * 0.1)
                .collect()
        };
        if self.id.is_multiple_of(2) {
            let mut req = tonic::Request::new(pb::PredictRequest {
                model: self.model.clone(),
                version: 0,
                request_id: String::new(),
                routing_key: key.to_owned(),
                rows: (0..rows)
                    .map(|row| pb::FeatureRow {
                        values: values(row),
                        features: Default::default(),
                    })
                    .collect(),
            });
            req.set_timeout(Duration::from_secs(30));
            let answer = InferenceClient::new(channel)
                .predict(req)
                .await?
                .into_inner();
            if answer.scores.len() != rows {
                return Err(tonic::Status::internal(format!(
                    "drill client: {} scores for {rows} rows",
                    answer.scores.len()
                )));
            }
            Ok((answer.arm, answer.version))
        } else {
            let mut req = tonic::Request::new(ModelInferRequest {
                model_name: self.model.clone(),
                inputs: vec![InferInputTensor {
                    name: "input".into(),
                    datatype: "FP32".into(),
                    shape: vec![rows as i64, FIXTURE_FEATURES as i64],
                    contents: Some(joust_proto::inference::InferTensorContents {
                        fp32_contents: (0..rows).flat_map(values).collect(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            });
            req.metadata_mut()
                .insert("x-joust-routing-key", key.parse().unwrap());
            req.set_timeout(Duration::from_secs(30));
            let response = GrpcInferenceServiceClient::new(channel)
                .model_infer(req)
                .await?;
            let meta = |name: &str| {
                response
                    .metadata()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let arm = meta("x-joust-arm").unwrap_or_default();
            let version = meta("x-joust-model-version")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let body = response.into_inner();
            if body.model_version != version.to_string() {
                return Err(tonic::Status::internal(format!(
                    "drill client: x-joust-model-version {version} but model_version {:?}",
                    body.model_version
                )));
            }
            Ok((arm, version))
        }
    }
}

/// True when `status` says the request never reached a router: the
/// connection was refused (nothing listens: the router is down or
/// restarting), or the HTTP/2 client cancelled it unsent from its queue
/// because the connection was closing (hyper's "operation was canceled";
/// drill clients never cancel a request). Any other error counts as a
/// failed request.
pub fn not_sent(status: &tonic::Status) -> bool {
    if status.code() == tonic::Code::Cancelled
        && status.message().starts_with("operation was canceled")
    {
        return true;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(status);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
            && status.code() == tonic::Code::Unavailable
        {
            return true;
        }
        // A draining router's GOAWAY (NO_ERROR) refuses the streams above
        // its last accepted one: never processed (h2 fails exactly those;
        // the ones it took are finished before the connection closes).
        // tonic reports them as INTERNAL "h2 protocol error"; gRPC
        // clients that retry transparently send them again.
        if let Some(h2) = e.downcast_ref::<h2::Error>()
            && h2.is_go_away()
            && h2.is_remote()
            && h2.reason() == Some(h2::Reason::NO_ERROR)
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// Now as `HH:MM:SS.micros` UTC (to match a failure with the roles' logs).
fn utc_time_of_day() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let s = d.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_micros()
    )
}
