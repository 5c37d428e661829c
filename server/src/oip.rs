//! `inference.GRPCInferenceService` (Open Inference Protocol v2): thin
//! handlers that decode tensors (see `input`), score through the node and
//! encode `score` (FP32 [N]) and `label` (BOOL [N]) with the one inference
//! codec (`joust_client::inference`, where the decoding side lives too).

use std::sync::Arc;
use std::time::Instant;

use joust_client::inference::{self as codec, Requested};
use joust_proto::inference as pb;
use joust_proto::inference::grpc_inference_service_server::GrpcInferenceService;
use joust_proto::inference::model_metadata_response::TensorMetadata;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::error::ServeError;
use crate::input::{check_batch, decode_input};
use crate::node::Node;

pub use codec::{LABEL, SCORE};

#[derive(Debug, Clone)]
pub struct OipService {
    node: Arc<Node>,
}

impl OipService {
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }

    async fn infer(
        &self,
        req: pb::ModelInferRequest,
    ) -> Result<pb::ModelInferResponse, ServeError> {
        let version = parse_version(&req.model_version)?;
        let loaded = self
            .node
            .table
            .snapshot()
            .resolve(&req.model_name, version)?;
        let requested = requested_outputs(&req)?;
        let x = decode_input(&req)?;
        check_batch(
            &x,
            "inputs[0]",
            &loaded.name,
            loaded.model.schema(),
            self.node.config.max_rows,
        )?;
        let raw = !req.raw_input_contents.is_empty();
        let prediction = self.node.scorer.predict(loaded.clone(), x).await?;
        loaded.record_request();
        Ok(codec::encode_outputs(
            req.model_name,
            loaded.version,
            req.id,
            prediction.scores,
            prediction.labels,
            requested,
            raw,
        ))
    }
}

/// `""` → the node's pick; otherwise a version number ≥ 1.
pub fn parse_version(text: &str) -> Result<Option<u64>, ServeError> {
    codec::parse_version(text).map_err(|_| ServeError::BadVersion(text.to_owned()))
}

/// Which of `score` and `label` the request wants (both when unspecified).
pub fn requested_outputs(req: &pb::ModelInferRequest) -> Result<Requested, ServeError> {
    if req.outputs.is_empty() {
        return Ok(Requested::ALL);
    }
    let mut wanted = Requested {
        score: false,
        label: false,
    };
    for (i, o) in req.outputs.iter().enumerate() {
        match o.name.as_str() {
            SCORE => wanted.score = true,
            LABEL => wanted.label = true,
            other => {
                return Err(ServeError::Input(crate::input::InputError::UnknownOutput {
                    index: i,
                    name: other.to_owned(),
                }));
            }
        }
    }
    Ok(wanted)
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
        let ready = self.node.ready();
        Ok(Response::new(pb::ServerReadyResponse { ready }))
    }

    async fn model_ready(
        &self,
        request: Request<pb::ModelReadyRequest>,
    ) -> Result<Response<pb::ModelReadyResponse>, Status> {
        let req = request.into_inner();
        let version = parse_version(&req.version)?;
        let ready = self
            .node
            .table
            .snapshot()
            .resolve(&req.name, version)
            .is_ok();
        Ok(Response::new(pb::ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _: Request<pb::ServerMetadataRequest>,
    ) -> Result<Response<pb::ServerMetadataResponse>, Status> {
        Ok(Response::new(pb::ServerMetadataResponse {
            name: self.node.config.server_name.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            extensions: Vec::new(),
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<pb::ModelMetadataRequest>,
    ) -> Result<Response<pb::ModelMetadataResponse>, Status> {
        let req = request.into_inner();
        let version = parse_version(&req.version)?;
        let snapshot = self.node.table.snapshot();
        let loaded = snapshot.resolve(&req.name, version)?;
        let tensor = |name: &str, datatype: &str, shape: Vec<i64>| TensorMetadata {
            name: name.to_owned(),
            datatype: datatype.to_owned(),
            shape,
        };
        Ok(Response::new(pb::ModelMetadataResponse {
            name: req.name.clone(),
            versions: snapshot
                .versions(&req.name)
                .iter()
                .map(u64::to_string)
                .collect(),
            platform: format!("joust_{}", loaded.model.kind().as_str()),
            inputs: vec![tensor(
                "input",
                "FP32",
                vec![-1, loaded.model.n_features() as i64],
            )],
            outputs: vec![
                tensor(SCORE, "FP32", vec![-1]),
                tensor(LABEL, "BOOL", vec![-1]),
            ],
        }))
    }

    #[instrument(skip_all, fields(model = %request.get_ref().model_name, version))]
    async fn model_infer(
        &self,
        request: Request<pb::ModelInferRequest>,
    ) -> Result<Response<pb::ModelInferResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let model = req.model_name.clone();
        let result = self.infer(req).await;
        let code = result
            .as_ref()
            .map_or_else(ServeError::code, |_| tonic::Code::Ok);
        if let Ok(r) = &result {
            tracing::Span::current().record("version", r.model_version.as_str());
        }
        self.node
            .observe_request("oip", &model, code, started.elapsed());
        Ok(Response::new(result?))
    }
}
