//! `joust.v1.RouterAdmin`: the routes the router holds and its counters.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use joust_proto::v1 as pb;
use joust_proto::v1::router_admin_server::RouterAdmin;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

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
        let routes = self
            .router
            .table
            .snapshot()
            .iter()
            .map(|(model, r)| {
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
}
