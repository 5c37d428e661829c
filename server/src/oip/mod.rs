//! `inference.GRPCInferenceService` (Open Inference Protocol v2): thin
//! handlers that decode tensors (see `input`), score through the node and
//! encode `score` (FP32 [N]) and `label` (BOOL [N]) with the one inference
//! codec (`joust_client::inference`, where the decoding side lives too);
//! an onnx model's answers also carry its graph's own outputs by their
//! ONNX names and types (`graph_outputs`), as Triton's do.

use std::sync::Arc;
use std::time::Instant;

use joust_client::inference::{self as codec, Requested};
use joust_proto::inference as pb;
use joust_proto::inference::grpc_inference_service_server::GrpcInferenceService;
use joust_proto::inference::model_metadata_response::TensorMetadata;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::error::ServeError;
use crate::input::{InputError, check_batch, decode_input};
use crate::node::Node;
use joust_models::onnx::OutputSpec;

mod graph_outputs;

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
        let wanted = requested_for(&req, loaded.model.onnx_outputs())?;
        let x = decode_input(&req)?;
        check_batch(
            &x,
            "inputs[0]",
            &loaded.name,
            loaded.model.schema(),
            self.node.config.max_rows,
        )?;
        let raw = !req.raw_input_contents.is_empty();
        let (prediction, graph) = if wanted.graph.is_empty() {
            let p = self.node.scorer.predict(loaded.clone(), x).await?;
            (p, Vec::new())
        } else {
            self.node
                .scorer
                .predict_with_outputs(loaded.clone(), x)
                .await?
        };
        loaded.record_request();
        let mut response = codec::encode_outputs(
            req.model_name,
            loaded.version,
            req.id,
            prediction.scores,
            prediction.labels,
            wanted.joust,
            raw,
        );
        graph_outputs::append(&mut response, graph, &wanted.graph, raw);
        Ok(response)
    }
}

/// `""` → the node's pick; otherwise a version number ≥ 1.
pub fn parse_version(text: &str) -> Result<Option<u64>, ServeError> {
    codec::parse_version(text).map_err(|_| ServeError::BadVersion(text.to_owned()))
}

/// Which of `score` and `label` the request wants (both when unspecified).
pub fn requested_outputs(req: &pb::ModelInferRequest) -> Result<Requested, ServeError> {
    requested_for(req, &[]).map(|w| w.joust)
}

/// What a request wants of a model whose graph has `graph` outputs (an
/// onnx model; empty otherwise): joust's `score`/`label` and the graph's
/// outputs by their served names (`graph_outputs::served_name`). A request
/// that names none gets all of them.
pub fn requested_for(
    req: &pb::ModelInferRequest,
    graph: &[OutputSpec],
) -> Result<Wanted, ServeError> {
    if req.outputs.is_empty() {
        return Ok(Wanted {
            joust: Requested::ALL,
            graph: (0..graph.len()).collect(),
        });
    }
    let mut wanted = Wanted {
        joust: Requested {
            score: false,
            label: false,
        },
        graph: Vec::new(),
    };
    for (i, o) in req.outputs.iter().enumerate() {
        match o.name.as_str() {
            SCORE => wanted.joust.score = true,
            LABEL => wanted.joust.label = true,
            other => match graph
                .iter()
                .position(|g| graph_outputs::served_name(&g.name) == other)
            {
                Some(g) if !wanted.graph.contains(&g) => wanted.graph.push(g),
                Some(_) => {}
                None if graph.is_empty() => {
                    return Err(ServeError::Input(InputError::UnknownOutput {
                        index: i,
                        name: other.to_owned(),
                    }));
                }
                None => {
                    let expected = [SCORE.to_owned(), LABEL.to_owned()]
                        .into_iter()
                        .chain(graph.iter().map(|g| graph_outputs::served_name(&g.name)))
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(ServeError::Input(InputError::UnknownModelOutput {
                        index: i,
                        name: other.to_owned(),
                        expected,
                    }));
                }
            },
        }
    }
    Ok(wanted)
}

/// The outputs a request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// joust's `score` and `label`.
    pub joust: Requested,
    /// Indices into the model's graph outputs, in the order asked.
    pub graph: Vec<usize>,
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
            outputs: [
                tensor(SCORE, "FP32", vec![-1]),
                tensor(LABEL, "BOOL", vec![-1]),
            ]
            .into_iter()
            .chain(loaded.model.onnx_outputs().iter().map(|o| {
                tensor(
                    &graph_outputs::served_name(&o.name),
                    o.datatype,
                    o.shape.clone(),
                )
            }))
            .collect(),
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
