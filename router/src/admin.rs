//! `joust.v1.RouterAdmin`: the routes the router answers with (and what
//! the registry wants), its counters, and what each node reports serving.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use joust_proto::v1 as pb;
use joust_proto::v1::router_admin_server::RouterAdmin;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use crate::readiness::NodeServing;
use crate::router::Router;
use crate::table::TrialMode;

#[derive(Debug, Clone)]
pub struct AdminService {
    router: Arc<Router>,
}

impl AdminService {
    pub fn new(router: Arc<Router>) -> Self {
        Self { router }
    }
}

pub fn mode_name(mode: TrialMode) -> &'static str {
    match mode {
        TrialMode::Off => "off",
        TrialMode::Split => "split",
        TrialMode::Shadow => "shadow",
    }
}

#[tonic::async_trait]
impl RouterAdmin for AdminService {
    async fn list_routes(
        &self,
        _: Request<pb::ListRoutesRequest>,
    ) -> Result<Response<pb::ListRoutesResponse>, Status> {
        let desired = self.router.table.snapshot();
        let routes = self
            .router
            .served
            .snapshot()
            .iter()
            .map(|(model, r)| {
                let want = desired.get(model);
                let t = r.trial.as_ref();
                pb::RouteInfo {
                    model: model.clone(),
                    champion_version: r.champion_version,
                    trial_id: t.map_or(0, |t| t.trial_id),
                    mode: t.map_or("", |t| mode_name(t.mode)).to_owned(),
                    weight: t.map_or(0.0, |t| t.weight),
                    sampling: t.map_or(0.0, |t| t.sampling),
                    sticky: t.is_some_and(|t| t.sticky),
                    challenger_version: t.map_or(0, |t| t.challenger_version),
                    registry_champion_version: want.map_or(0, |w| w.champion_version),
                    registry_challenger_version: want
                        .and_then(|w| w.trial.as_ref())
                        .map_or(0, |t| t.challenger_version),
                }
            })
            .collect();
        Ok(Response::new(pb::ListRoutesResponse {
            routes,
            registry_connected: self.router.registry_connected.load(Ordering::Relaxed),
            watch_cursor: self.router.watch_cursor.load(Ordering::Relaxed),
        }))
    }

    async fn get_stats(
        &self,
        _: Request<pb::GetStatsRequest>,
    ) -> Result<Response<pb::RouterStats>, Status> {
        let r = &self.router;
        let now = Instant::now();
        Ok(Response::new(pb::RouterStats {
            arms: r
                .metrics
                .arm_counts()
                .into_iter()
                .map(|(model, arm, requests, errors)| pb::ArmStats {
                    model,
                    arm: arm.to_owned(),
                    requests,
                    errors,
                })
                .collect(),
            records_buffered: r.recorder.buffered() as u64,
            records_capacity: r.recorder.capacity() as u64,
            records_sent: r.recorder.counters.sent.get(),
            records_dropped: r.recorder.counters.dropped.get(),
            records_refused: r.recorder.counters.refused.get(),
            nodes: r
                .pool
                .members()
                .iter()
                .map(|n| {
                    let (ejected, failures) = n.health_at(now);
                    pb::NodeStats {
                        address: n.address.to_string(),
                        source: n.source.clone(),
                        ejected,
                        consecutive_failures: failures,
                        in_flight: n.in_flight(),
                        ejections: n.ejections(),
                    }
                })
                .collect(),
        }))
    }

    async fn list_node_states(
        &self,
        _: Request<pb::ListNodeStatesRequest>,
    ) -> Result<Response<pb::ListNodeStatesResponse>, Status> {
        let r = &self.router;
        let now = Instant::now();
        let nodes = r
            .pool
            .members()
            .iter()
            .map(|n| {
                let serving = n.serving();
                let (node_id, generation, versions) = match &*serving {
                    NodeServing::Reported {
                        node_id,
                        generation,
                        versions,
                    } => (
                        node_id.clone(),
                        *generation,
                        versions
                            .iter()
                            .flat_map(|(model, vs)| {
                                vs.iter().map(move |(version, s)| pb::VersionState {
                                    model: model.clone(),
                                    version: *version,
                                    phase: s.phase.to_proto() as i32,
                                    reason: s.reason.clone(),
                                    refs: s.refs.clone(),
                                })
                            })
                            .collect(),
                    ),
                    NodeServing::Down | NodeServing::Unreported => (String::new(), 0, Vec::new()),
                };
                pb::NodeServingState {
                    address: n.address.to_string(),
                    source: n.source.clone(),
                    stream: serving.describe().to_owned(),
                    node_id,
                    generation,
                    versions,
                    ejected: n.health_at(now).0,
                }
            })
            .collect();
        Ok(Response::new(pb::ListNodeStatesResponse {
            nodes,
            held: r
                .rollouts
                .held()
                .into_iter()
                .map(|h| pb::HeldRoute {
                    model: h.model,
                    wanted_version: h.wanted,
                    answering_version: h.answering,
                })
                .collect(),
            blocked: r
                .rollouts
                .blocked()
                .into_iter()
                .map(|b| pb::BlockedRollout {
                    model: b.model,
                    version: b.version,
                    answering_version: b.answering,
                    reasons: b
                        .reasons
                        .into_iter()
                        .map(|(node, reason)| pb::NodeReason { node, reason })
                        .collect(),
                })
                .collect(),
            min_ready_nodes: u32::try_from(r.config.min_ready_nodes).unwrap_or(u32::MAX),
        }))
    }
}
