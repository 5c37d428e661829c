//! Health that checks: a background task probes what detection depends on
//! every [`HealthConfig::interval`] (each probe bounded by
//! [`HealthConfig::timeout`]) and keeps one `grpc.health.v1` entry per
//! dependency:
//!
//! | service name | probe |
//! |---|---|
//! | [`DATABASE`] | `SELECT 1` on the detection store |
//! | [`OBJECT_STORE`] | `HEAD` of a key in the evidence store (only when evidence is on) |
//! | [`SCORING`] | OIP `ModelReady` of the scoring model at the router (ready only while a node has it loaded) |
//!
//! The server-wide `""` entry and `joust.v1.Detection` are `SERVING` only
//! while every dependency is; the liveness entry (`grpc.health.v1.Health`)
//! stays `SERVING` while the process answers. Only changes are written
//! (and logged).

use std::time::Duration;

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{info, warn};

use crate::detector::Detector;

/// The detection store's health entry.
pub const DATABASE: &str = "joust.detect.database";
/// The evidence object store's health entry.
pub const OBJECT_STORE: &str = "joust.detect.object_store";
/// The scoring endpoint's health entry.
pub const SCORING: &str = "joust.detect.scoring";

/// How often and how patiently dependencies are probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    pub interval: Duration,
    pub timeout: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            timeout: Duration::from_millis(1500),
        }
    }
}

/// The dependency entries this detector reports.
pub fn dependency_names(detector: &Detector) -> Vec<&'static str> {
    let mut names = vec![DATABASE];
    if detector.evidence.is_some() {
        names.push(OBJECT_STORE);
    }
    names.push(SCORING);
    names
}

/// One probe of every dependency, run concurrently: `(name, Err(why))`
/// for those down.
pub async fn probe(
    detector: &Detector,
    timeout: Duration,
) -> Vec<(&'static str, Result<(), String>)> {
    let database = bounded(DATABASE, timeout, async {
        detector.store().ping().await.map_err(|e| e.to_string())
    });
    let scoring = bounded(SCORING, timeout, detector.scorer().ready());
    let object_store = async {
        match &detector.evidence {
            Some(evidence) => Some(bounded(OBJECT_STORE, timeout, evidence.probe()).await),
            None => None,
        }
    };
    let (database, object_store, scoring) = tokio::join!(database, object_store, scoring);
    let mut out = vec![database];
    out.extend(object_store);
    out.push(scoring);
    out
}

async fn bounded(
    name: &'static str,
    timeout: Duration,
    probe: impl Future<Output = Result<(), String>>,
) -> (&'static str, Result<(), String>) {
    let result = match tokio::time::timeout(timeout, probe).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    };
    (name, result)
}

/// Runs until aborted: keeps the dependency entries, `""` and `services`
/// in step with the probes. The first probe runs at once.
pub async fn follow_dependencies(
    detector: Detector,
    reporter: HealthReporter,
    services: Vec<&'static str>,
    config: HealthConfig,
) {
    let mut last: Vec<(&'static str, bool)> = Vec::new();
    let mut overall: Option<bool> = None;
    let mut tick = tokio::time::interval(config.interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let probed = probe(&detector, config.timeout).await;
        let mut all_up = true;
        for (name, result) in &probed {
            let up = result.is_ok();
            all_up &= up;
            let before = last.iter().find(|(n, _)| n == name).map(|(_, u)| *u);
            if before == Some(up) {
                continue;
            }
            match result {
                Ok(()) => info!(service = name, "dependency answers: SERVING"),
                Err(why) => warn!(service = name, reason = %why, "dependency down: NOT_SERVING"),
            }
            reporter.set_service_status(*name, status(up)).await;
        }
        last = probed.iter().map(|(n, r)| (*n, r.is_ok())).collect();
        detector.metrics().set_dependencies(&last);
        if overall != Some(all_up) {
            for service in std::iter::once("").chain(services.iter().copied()) {
                reporter.set_service_status(service, status(all_up)).await;
            }
            overall = Some(all_up);
        }
    }
}

fn status(up: bool) -> ServingStatus {
    if up {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}
