//! `joust.v1.Inference/Predict`: named or positional rows in, scores,
//! labels and the answering version out.

use std::sync::Arc;
use std::time::Instant;

use joust_proto::v1 as pb;
use joust_proto::v1::inference_server::Inference;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::error::ServeError;
use crate::input::{check_batch, decode_rows};
use crate::node::Node;

#[derive(Debug, Clone)]
pub struct NativeService {
    node: Arc<Node>,
}

impl NativeService {
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }

    async fn predict(&self, req: pb::PredictRequest) -> Result<pb::PredictResponse, ServeError> {
        let pb::PredictRequest {
            model,
            version,
            request_id,
            routing_key: _,
            rows,
        } = req;
        if rows.len() > self.node.config.max_rows {
            return Err(crate::input::InputError::TooManyRows {
                field: "rows",
                max: self.node.config.max_rows,
                found: rows.len(),
            }
            .into());
        }
        let pinned = (version != 0).then_some(version);
        let loaded = self.node.table.snapshot().resolve(&model, pinned)?;
        let x = decode_rows(&rows, &loaded.name, loaded.model.schema())?;
        drop(rows);
        check_batch(
            &x,
            "rows",
            &loaded.name,
            loaded.model.schema(),
            self.node.config.max_rows,
        )?;
        let prediction = self.node.scorer.predict(loaded.clone(), x).await?;
        loaded.record_request();
        Ok(pb::PredictResponse {
            model,
            version: loaded.version,
            request_id,
            scores: prediction.scores,
            labels: prediction.labels,
            arm: String::new(),
        })
    }
}

#[tonic::async_trait]
impl Inference for NativeService {
    #[instrument(skip_all, fields(model = %request.get_ref().model, request_id = %request.get_ref().request_id))]
    async fn predict(
        &self,
        request: Request<pb::PredictRequest>,
    ) -> Result<Response<pb::PredictResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let model = req.model.clone();
        let result = NativeService::predict(self, req).await;
        let code = result
            .as_ref()
            .map_or_else(ServeError::code, |_| tonic::Code::Ok);
        self.node
            .observe_request("native", &model, code, started.elapsed());
        Ok(Response::new(result?))
    }
}
