//! `joust.v1.Inference/Predict` on the router: routed like OIP; the answer
//! carries the arm (and the version) that served.

use std::sync::Arc;

use joust_proto::v1 as pb;
use joust_proto::v1::inference_server::Inference;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::decision::Asked;
use crate::router::Router;

#[derive(Debug, Clone)]
pub struct NativeService {
    router: Arc<Router>,
}

impl NativeService {
    pub fn new(router: Arc<Router>) -> Self {
        Self { router }
    }
}

#[tonic::async_trait]
impl Inference for NativeService {
    #[instrument(skip_all, fields(model = %request.get_ref().model))]
    async fn predict(
        &self,
        request: Request<pb::PredictRequest>,
    ) -> Result<Response<pb::PredictResponse>, Status> {
        let deadline = joust_security::Deadline::of(&request);
        let (metadata, _, req) = request.into_parts();
        let pin = Router::pin(&metadata)?;
        let key = Router::metadata_key(&metadata)
            .or_else(|| (!req.routing_key.is_empty()).then(|| req.routing_key.clone()));
        let model = req.model.clone();
        let id = req.request_id.clone();
        let asked = Asked {
            version: (req.version != 0).then_some(req.version),
            key: key.as_deref(),
            arm: pin,
        };
        let mut answered = self
            .router
            .handle(&model, &id, req, asked, &metadata, deadline)
            .await?;
        if let Some(arm) = answered.arm {
            answered.response.arm = arm.as_str().to_owned();
        }
        Ok(answered.into_response())
    }
}
