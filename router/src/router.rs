//! The router's shared state (route tables, arm chooser, node pool,
//! recorder, metrics) and the request path both inference APIs share:
//! decide (on the served routes, which move make-before-break), forward
//! with the version pinned to a node where it is ready, spawn the shadow
//! copy, write the comparison record.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant, SystemTime};

use joust_proto::v1 as pb;
use joust_security::Deadline;
use tokio::sync::oneshot;
use tonic::metadata::{MetadataMap, MetadataValue};

use crate::arm::{Arm, Chooser};
use crate::config::RouterConfig;
use crate::decision::{Asked, Compared, Decision, decide};
use crate::error::RouterError;
use crate::forward::{Forwardable, Target, forward, pass_through};
use crate::metrics::Metrics;
use crate::pool::Pool;
use crate::served::Rollouts;
use crate::shipper::Recorder;
use crate::table::RouteTable;

pub use joust_proto::wire::metadata::{ARM, MODEL_VERSION, ROUTING_KEY};

#[derive(Debug)]
pub struct Router {
    pub config: RouterConfig,
    /// The routes the registry wants (champions and open trials).
    pub table: RouteTable,
    /// The routes the router answers with: `table` once each version is
    /// ready on enough nodes (make-before-break; `served`).
    pub served: RouteTable,
    /// Champions held back and rollouts blocked (the last plan).
    pub rollouts: Rollouts,
    pub chooser: Chooser,
    pub pool: Pool,
    pub recorder: Arc<Recorder>,
    pub metrics: Arc<Metrics>,
    /// True once the first reconcile succeeded.
    pub routes_loaded: AtomicBool,
    pub registry_connected: AtomicBool,
    pub watch_cursor: AtomicU64,
}

/// An answer and how it came about.
#[derive(Debug)]
pub struct Answered<T> {
    pub response: T,
    pub arm: Option<Arm>,
    pub version: u64,
}

impl<T> Answered<T> {
    /// The response metadata `x-joust-arm` / `x-joust-model-version`.
    pub fn into_response(self) -> tonic::Response<T> {
        let mut r = tonic::Response::new(self.response);
        if let Some(arm) = self.arm {
            r.metadata_mut()
                .insert(ARM, MetadataValue::from_static(arm.as_str()));
        }
        if let Ok(v) = MetadataValue::try_from(self.version.to_string()) {
            r.metadata_mut().insert(MODEL_VERSION, v);
        }
        r
    }
}

impl Router {
    /// The debug pin of `metadata`, if any.
    pub fn pin(metadata: &MetadataMap) -> Result<Option<Arm>, RouterError> {
        let Some(v) = metadata.get(ARM) else {
            return Ok(None);
        };
        let text = v.to_str().unwrap_or_default();
        Arm::parse_pin(text).map(Some).ok_or(RouterError::BadField {
            field: ARM,
            expected: "expected \"champion\" or \"challenger\"",
            found: text.to_owned(),
        })
    }

    /// The routing key of `metadata`, if any and not empty.
    pub fn metadata_key(metadata: &MetadataMap) -> Option<String> {
        metadata
            .get(ROUTING_KEY)
            .and_then(|v| v.to_str().ok())
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
    }

    fn known_models(&self) -> String {
        let snap = self.served.snapshot();
        let names: Vec<&str> = snap.keys().map(String::as_str).collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    }

    /// Routes one request for `model`, within the client's `deadline`.
    pub async fn handle<R: Forwardable>(
        self: &Arc<Self>,
        model: &str,
        request_id: &str,
        mut req: R,
        asked: Asked<'_>,
        incoming: &MetadataMap,
        deadline: Option<Deadline>,
    ) -> Result<Answered<R::Response>, RouterError> {
        let route = self.served.route(model);
        let decision: Decision = decide(
            model,
            route.as_ref(),
            || self.known_models(),
            &asked,
            &self.chooser,
        )?;
        let metadata = pass_through(incoming);
        let max = self.config.max_message_bytes;
        let request_id = if request_id.is_empty() {
            self.recorder.next_id()
        } else {
            request_id.to_owned()
        };
        // The shadow copy starts now, concurrently; it waits for the
        // champion's result only to write the record, never the reverse.
        let champion_result = match (decision.shadow, decision.compared) {
            (Some(version), Some(compared)) => {
                let (tx, rx) = oneshot::channel();
                let mut copy = req.clone();
                copy.pin_version(version);
                self.clone().spawn_shadow(
                    model.to_owned(),
                    request_id.clone(),
                    copy,
                    metadata.clone(),
                    compared,
                    rx,
                );
                Some(tx)
            }
            _ => None,
        };
        req.pin_version(decision.version);
        let started = Instant::now();
        let target = Target {
            model,
            version: decision.version,
        };
        let result = forward(&self.pool, target, req, metadata, max, deadline).await;
        let latency = started.elapsed();
        let arm_label = decision.arm.map_or("pinned", Arm::as_str);
        // A pinned version reaches a model without a route too: only
        // routed names label the metrics (clients choose what they send).
        let model_label = if route.is_some() {
            model
        } else {
            crate::metrics::UNKNOWN_MODEL
        };
        self.metrics
            .observe(model_label, arm_label, code_of(&result), latency);
        let served = arm_result::<R>(decision.version, &result, latency);
        match (champion_result, decision.compared, decision.arm) {
            (Some(tx), _, _) => {
                let _ = tx.send(served);
            }
            (None, Some(compared), Some(arm)) => {
                self.recorder.record(record(
                    &compared,
                    request_id,
                    arm,
                    (arm == Arm::Champion).then(|| served.clone()),
                    (arm == Arm::Challenger).then_some(served),
                ));
            }
            _ => {}
        }
        Ok(Answered {
            response: result?,
            arm: decision.arm,
            version: decision.version,
        })
    }

    fn spawn_shadow<R: Forwardable>(
        self: Arc<Self>,
        model: String,
        request_id: String,
        copy: R,
        metadata: MetadataMap,
        compared: Compared,
        champion: oneshot::Receiver<pb::TrialArmResult>,
    ) {
        tokio::spawn(async move {
            let started = Instant::now();
            let max = self.config.max_message_bytes;
            // The copy has its own deadline: the client's is the champion's.
            let deadline = Deadline(tokio::time::Instant::now() + self.config.shadow_timeout);
            let result = match tokio::time::timeout(
                self.config.shadow_timeout,
                forward(
                    &self.pool,
                    Target {
                        model: &model,
                        version: compared.challenger_version,
                    },
                    copy,
                    metadata,
                    max,
                    Some(deadline),
                ),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(RouterError::Node(tonic::Status::deadline_exceeded(
                    "shadow copy timed out",
                ))),
            };
            let latency = started.elapsed();
            self.metrics
                .observe(&model, "shadow", code_of(&result), latency);
            let challenger = arm_result::<R>(compared.challenger_version, &result, latency);
            // The champion's side; absent if its handler was cancelled.
            let Ok(champion) = champion.await else {
                return;
            };
            self.recorder.record(record(
                &compared,
                request_id,
                Arm::Champion,
                Some(champion),
                Some(challenger),
            ));
        });
    }
}

fn code_of<T>(r: &Result<T, RouterError>) -> tonic::Code {
    r.as_ref()
        .map_or_else(RouterError::code, |_| tonic::Code::Ok)
}

fn arm_result<R: Forwardable>(
    version: u64,
    result: &Result<R::Response, RouterError>,
    latency: Duration,
) -> pb::TrialArmResult {
    let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    match result {
        Ok(resp) => {
            let (scores, labels) = R::outcome(resp);
            pb::TrialArmResult {
                version,
                scores,
                labels,
                latency_us,
                status_code: 0,
            }
        }
        Err(e) => pb::TrialArmResult {
            version,
            scores: Vec::new(),
            labels: Vec::new(),
            latency_us,
            status_code: e.code() as i32,
        },
    }
}

fn record(
    compared: &Compared,
    request_id: String,
    served: Arm,
    champion: Option<pb::TrialArmResult>,
    challenger: Option<pb::TrialArmResult>,
) -> pb::ComparisonRecord {
    pb::ComparisonRecord {
        record_id: String::new(),
        trial_id: compared.trial_id,
        request_id,
        time: Some(prost_types::Timestamp::from(SystemTime::now())),
        routing_key_hash: compared.key_hash,
        served: match served {
            Arm::Champion => pb::TrialArm::Champion as i32,
            Arm::Challenger => pb::TrialArm::Challenger as i32,
        },
        champion,
        challenger,
    }
}
