//! `inference.GRPCInferenceService` on the router: `ModelInfer` is routed
//! (routing key from metadata `x-joust-routing-key` or the request
//! parameter `routing_key`); metadata RPCs go to a node with the
//! champion's version pinned.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use joust_proto::inference as pb;
use joust_proto::inference::grpc_inference_service_server::GrpcInferenceService;
use joust_proto::inference::infer_parameter::ParameterChoice;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::decision::Asked;
use crate::error::RouterError;
use crate::forward::pass_through;
use crate::router::Router;

/// OIP request parameter carrying the routing key.
pub const ROUTING_KEY_PARAM: &str = "routing_key";

#[derive(Debug, Clone)]
pub struct OipService {
    router: Arc<Router>,
}

impl OipService {
    pub fn new(router: Arc<Router>) -> Self {
        Self { router }
    }

    /// `""` → none; otherwise a version number ≥ 1 (the codec's rule, as
    /// on the node).
    fn parse_version(text: &str) -> Result<Option<u64>, RouterError> {
        joust_client::inference::parse_version(text).map_err(|_| RouterError::BadField {
            field: "model_version",
            expected: "expected a version number ≥ 1 or empty",
            found: text.to_owned(),
        })
    }

    /// The version a metadata RPC is answered for: the pinned one, else
    /// the champion.
    fn version_for(&self, model: &str, version: &str) -> Result<String, RouterError> {
        if let Some(v) = Self::parse_version(version)? {
            return Ok(v.to_string());
        }
        self.router
            .served
            .route(model)
            .map(|r| r.champion_version.to_string())
            .ok_or_else(|| RouterError::NoRoute {
                model: model.to_owned(),
                known: self
                    .router
                    .served
                    .snapshot()
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// A client of a node where `model` `version` is ready.
    async fn node_client(
        &self,
        model: &str,
        version: &str,
    ) -> Result<
        joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient<
            joust_security::SecureChannel,
        >,
        RouterError,
    > {
        let node = self
            .router
            .pool
            .pick_for(model, version.parse().unwrap_or(0), None)
            .ok_or_else(|| {
                RouterError::NoNodes(format!("no node has {model:?} version {version} ready"))
            })?;
        Ok(
            joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient::new(
                node.channel.clone(),
            ),
        )
    }
}

#[tonic::async_trait]
impl GrpcInferenceService for OipService {
    async fn server_live(
        &self,
        _: Request<pb::ServerLiveRequest>,
    ) -> Result<Response<pb::ServerLiveResponse>, Status> {
        Ok(Response::new(pb::ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<pb::ServerReadyRequest>,
    ) -> Result<Response<pb::ServerReadyResponse>, Status> {
        let ready = self.router.routes_loaded.load(Ordering::Relaxed)
            && self.router.pool.members().iter().any(|n| n.is_up());
        Ok(Response::new(pb::ServerReadyResponse { ready }))
    }

    async fn model_ready(
        &self,
        request: Request<pb::ModelReadyRequest>,
    ) -> Result<Response<pb::ModelReadyResponse>, Status> {
        let meta = pass_through(request.metadata());
        let mut req = request.into_inner();
        req.version = match self.version_for(&req.name, &req.version) {
            Ok(v) => v,
            Err(RouterError::NoRoute { .. }) => {
                return Ok(Response::new(pb::ModelReadyResponse { ready: false }));
            }
            Err(e) => return Err(e.into()),
        };
        // No node has it ready: not ready (not an error).
        let Ok(mut client) = self.node_client(&req.name, &req.version).await else {
            return Ok(Response::new(pb::ModelReadyResponse { ready: false }));
        };
        let mut r = Request::new(req);
        *r.metadata_mut() = meta;
        client.model_ready(r).await
    }

    async fn server_metadata(
        &self,
        _: Request<pb::ServerMetadataRequest>,
    ) -> Result<Response<pb::ServerMetadataResponse>, Status> {
        Ok(Response::new(pb::ServerMetadataResponse {
            name: "joust-router".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            extensions: Vec::new(),
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<pb::ModelMetadataRequest>,
    ) -> Result<Response<pb::ModelMetadataResponse>, Status> {
        let meta = pass_through(request.metadata());
        let mut req = request.into_inner();
        req.version = self.version_for(&req.name, &req.version)?;
        let mut client = self.node_client(&req.name, &req.version).await?;
        let mut r = Request::new(req);
        *r.metadata_mut() = meta;
        client.model_metadata(r).await
    }

    #[instrument(skip_all, fields(model = %request.get_ref().model_name))]
    async fn model_infer(
        &self,
        request: Request<pb::ModelInferRequest>,
    ) -> Result<Response<pb::ModelInferResponse>, Status> {
        let deadline = joust_security::Deadline::of(&request);
        let (metadata, _, req) = request.into_parts();
        let pin = Router::pin(&metadata)?;
        let version = Self::parse_version(&req.model_version)?;
        let key = Router::metadata_key(&metadata).or_else(|| {
            match req
                .parameters
                .get(ROUTING_KEY_PARAM)
                .and_then(|p| p.parameter_choice.as_ref())
            {
                Some(ParameterChoice::StringParam(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            }
        });
        let model = req.model_name.clone();
        let id = req.id.clone();
        let asked = Asked {
            version,
            key: key.as_deref(),
            arm: pin,
        };
        let answered = self
            .router
            .handle(&model, &id, req, asked, &metadata, deadline)
            .await?;
        Ok(answered.into_response())
    }
}
