//! `joust.v1.ServingAdmin`: Reload, Unload, ListLoaded (model-stats) and
//! WatchServingState (the node's serving state as a stream).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use joust_proto::v1 as pb;
use joust_proto::v1::serving_admin_server::ServingAdmin;
use tonic::{Request, Response, Status};
use tracing::instrument;

use futures::StreamExt;

use crate::node::Node;
use crate::serving_state::ServingState;
use crate::table::Snapshot;

#[derive(Debug, Clone)]
pub struct AdminService {
    node: Arc<Node>,
}

impl AdminService {
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

/// The model-stats table of a snapshot.
pub fn list_loaded(snapshot: &Snapshot) -> Vec<pb::LoadedModel> {
    snapshot
        .models()
        .map(|m| {
            let refs: Vec<_> = snapshot
                .bindings()
                .iter()
                .filter(|b| b.reference.model == m.name && b.version == Some(m.version))
                .collect();
            let serving = snapshot.default_version(&m.name) == Some(m.version);
            pb::LoadedModel {
                model: m.name.clone(),
                version: m.version,
                sha256: m.sha256.clone(),
                state: if serving { "serving" } else { "loaded" }.to_owned(),
                loaded_at: Some(prost_types::Timestamp::from(m.loaded_at)),
                load_ms: m.load_duration.as_millis() as u64,
                requests: m.requests(),
                last_error: refs
                    .iter()
                    .find_map(|b| b.last_error.clone())
                    .unwrap_or_default(),
                refs: refs.iter().map(|b| b.reference.text.clone()).collect(),
                kind: m.model.kind().as_str().to_owned(),
            }
        })
        .collect()
}

/// The wire form of a serving state (every message is a full state).
pub fn serving_state(state: &ServingState) -> pb::ServingState {
    pb::ServingState {
        node_id: state.node_id.clone(),
        generation: state.generation,
        full: true,
        versions: state
            .versions
            .iter()
            .map(|v| pb::VersionState {
                model: v.model.clone(),
                version: v.version,
                phase: v.phase.to_proto() as i32,
                reason: v.reason.clone(),
                refs: v.refs.clone(),
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl ServingAdmin for AdminService {
    type WatchServingStateStream =
        futures::stream::BoxStream<'static, Result<pb::ServingState, Status>>;

    async fn watch_serving_state(
        &self,
        request: Request<pb::WatchServingStateRequest>,
    ) -> Result<Response<Self::WatchServingStateStream>, Status> {
        let pb::WatchServingStateRequest {} = request.into_inner();
        // The current state first, then the latest state after every change
        // (a slow reader skips generations, never sees a stale one); ends
        // when the node shuts down so the drain is not held up.
        let states =
            tokio_stream::wrappers::WatchStream::new(self.node.table.serving_state().subscribe())
                .map(|state| Ok(serving_state(&state)))
                .take_until(self.node.closed());
        Ok(Response::new(states.boxed()))
    }

    #[instrument(skip_all, fields(reference = %request.get_ref().r#ref))]
    async fn reload(
        &self,
        request: Request<pb::ReloadRequest>,
    ) -> Result<Response<pb::ReloadResponse>, Status> {
        let pb::ReloadRequest { r#ref } = request.into_inner();
        let o = self.node.reload(&r#ref).await?;
        Ok(Response::new(pb::ReloadResponse {
            r#ref: o.reference,
            model: o.model,
            old_version: o.old_version.unwrap_or(0),
            new_version: o.new_version,
            sha256: o.sha256,
            load_ms: o.load_ms,
        }))
    }

    #[instrument(skip_all, fields(reference = %request.get_ref().r#ref))]
    async fn unload(
        &self,
        request: Request<pb::UnloadRequest>,
    ) -> Result<Response<pb::UnloadResponse>, Status> {
        let pb::UnloadRequest { r#ref } = request.into_inner();
        let (model, version) = self.node.unload(&r#ref).await?;
        Ok(Response::new(pb::UnloadResponse {
            r#ref,
            model,
            version: version.unwrap_or(0),
        }))
    }

    async fn list_loaded(
        &self,
        _: Request<pb::ListLoadedRequest>,
    ) -> Result<Response<pb::ListLoadedResponse>, Status> {
        let snapshot = self.node.table.snapshot();
        let refs = snapshot
            .bindings()
            .iter()
            .map(|b| pb::FollowedRef {
                r#ref: b.reference.text.clone(),
                model: b.reference.model.clone(),
                version: b.version.unwrap_or(0),
                state: b.state.as_str().to_owned(),
                last_error: b.last_error.clone().unwrap_or_default(),
                failures: b.failures,
            })
            .collect();
        Ok(Response::new(pb::ListLoadedResponse {
            models: list_loaded(&snapshot),
            refs,
            watch_cursor: self.node.watch_cursor.load(Ordering::Relaxed),
            registry_connected: self.node.registry_connected.load(Ordering::Relaxed),
        }))
    }
}
