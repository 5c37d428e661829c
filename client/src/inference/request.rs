//! Building requests: an OIP `ModelInferRequest` of FP32 rows (typed or
//! raw contents), and the native `PredictRequest` of the same rows.

use joust_proto::inference as oip;
use joust_proto::inference::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use joust_proto::v1 as pb;

use super::{FP32, INPUT};

/// An OIP request of FP32 rows, row-major: `values.len() / features` rows
/// of `features` values, sent as the one input tensor `input` of shape
/// `[N, F]`.
///
/// ```
/// use joust_client::inference::{InferRequest, SCORE};
/// let req = InferRequest::new("fraud", 2, vec![0.1, 0.2, 0.3, 0.4])
///     .version(Some(7))
///     .outputs(&[SCORE])
///     .build();
/// assert_eq!(req.inputs[0].shape, [2, 2]);
/// assert_eq!(req.model_version, "7");
/// ```
#[derive(Debug, Clone)]
pub struct InferRequest {
    model: String,
    version: Option<u64>,
    id: String,
    features: usize,
    values: Vec<f32>,
    raw: bool,
    outputs: Vec<String>,
}

impl InferRequest {
    pub fn new(model: impl Into<String>, features: usize, values: Vec<f32>) -> Self {
        Self {
            model: model.into(),
            version: None,
            id: String::new(),
            features,
            values,
            raw: false,
            outputs: Vec::new(),
        }
    }

    /// Pins a version (`None`: the server's pick, `model_version = ""`).
    pub fn version(mut self, version: Option<u64>) -> Self {
        self.version = version;
        self
    }

    /// The request id, echoed in the answer.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sends the rows as `raw_input_contents` (little-endian bytes)
    /// instead of `fp32_contents`; the node then answers raw too.
    pub fn raw(mut self) -> Self {
        self.raw = true;
        self
    }

    /// Asks for these outputs only (default: every output).
    pub fn outputs(mut self, names: &[&str]) -> Self {
        self.outputs = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    pub fn build(self) -> oip::ModelInferRequest {
        let rows = self.values.len().checked_div(self.features).unwrap_or(0);
        let shape = vec![rows as i64, self.features as i64];
        let (contents, raw_input_contents) = if self.raw {
            let bytes = self.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (None, vec![bytes])
        } else {
            let typed = oip::InferTensorContents {
                fp32_contents: self.values,
                ..Default::default()
            };
            (Some(typed), Vec::new())
        };
        oip::ModelInferRequest {
            model_name: self.model,
            model_version: self.version.map(|v| v.to_string()).unwrap_or_default(),
            id: self.id,
            parameters: Default::default(),
            inputs: vec![InferInputTensor {
                name: INPUT.to_owned(),
                datatype: FP32.to_owned(),
                shape,
                parameters: Default::default(),
                contents,
            }],
            outputs: self
                .outputs
                .into_iter()
                .map(|name| InferRequestedOutputTensor {
                    name,
                    parameters: Default::default(),
                })
                .collect(),
            raw_input_contents,
        }
    }
}

/// A native request of the same rows, positional (`values`), no version
/// pinned, no routing key.
pub fn native_request(
    model: impl Into<String>,
    features: usize,
    values: &[f32],
) -> pb::PredictRequest {
    pb::PredictRequest {
        model: model.into(),
        version: 0,
        request_id: String::new(),
        routing_key: String::new(),
        rows: values
            .chunks(features.max(1))
            .map(|c| pb::FeatureRow {
                values: c.to_vec(),
                features: Default::default(),
            })
            .collect(),
    }
}
