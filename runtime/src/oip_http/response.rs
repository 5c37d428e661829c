//! gRPC answers → KServe v2 JSON: the inference response (each output as
//! JSON `data` or, when asked, as binary data after the JSON part) and the
//! metadata responses.

use joust_proto::inference as pb;
use serde_json::{Map, Value, json};

use super::error::RestError;
use super::request::{BINARY_DATA_SIZE, BinaryOutputs, parameters_json};
use super::tensor::{self, DataType};

/// An inference answer ready to send: the JSON part and the binary part
/// (empty when no output is binary).
#[derive(Debug)]
pub struct Rendered {
    pub json: Vec<u8>,
    pub binary: Vec<u8>,
    /// Some output went as binary data (even an empty one): the answer
    /// carries `Inference-Header-Content-Length`.
    pub has_binary: bool,
}

fn internal(message: String) -> RestError {
    RestError::Status(tonic::Status::internal(message))
}

/// Renders `r`; outputs in `binary` go after the JSON part.
pub fn infer(r: pb::ModelInferResponse, binary: &BinaryOutputs) -> Result<Rendered, RestError> {
    let pb::ModelInferResponse {
        model_name,
        model_version,
        id,
        parameters,
        outputs,
        raw_output_contents,
    } = r;
    let raw = !raw_output_contents.is_empty();
    if raw && raw_output_contents.len() != outputs.len() {
        return Err(internal(format!(
            "answer: {} raw_output_contents for {} outputs",
            raw_output_contents.len(),
            outputs.len()
        )));
    }
    let mut bytes = Vec::new();
    let mut has_binary = false;
    let mut rendered = Vec::with_capacity(outputs.len());
    for (i, out) in outputs.into_iter().enumerate() {
        let field = format!("answer outputs[{i}]");
        let dtype = DataType::parse(&out.datatype)
            .ok_or_else(|| internal(format!("{field}: unknown datatype {:?}", out.datatype)))?;
        let mut params = parameters_json(&out.parameters);
        let mut tensor = Map::new();
        tensor.insert("name".into(), Value::String(out.name.clone()));
        tensor.insert("datatype".into(), Value::String(out.datatype.clone()));
        tensor.insert("shape".into(), json!(out.shape));
        let raw_bytes = raw_output_contents.get(i);
        if binary.binary(&out.name) {
            let data = match (raw_bytes, &out.contents) {
                (Some(b), _) => b.clone(),
                (None, Some(c)) => tensor::contents_to_raw(dtype, c),
                (None, None) => Vec::new(),
            };
            params.insert(BINARY_DATA_SIZE.into(), Value::from(data.len()));
            has_binary = true;
            bytes.extend_from_slice(&data);
        } else {
            let contents = match (raw_bytes, out.contents) {
                (Some(b), _) => tensor::raw_to_contents(dtype, b, &field)
                    .map_err(|e| internal(e.to_string()))?,
                (None, Some(c)) => c,
                (None, None) => pb::InferTensorContents::default(),
            };
            if matches!(dtype, DataType::Fp16 | DataType::Bf16) {
                return Err(RestError::field(
                    format!("outputs {:?}", out.name),
                    "FP16 and BF16 outputs travel only as binary data: request them with parameters.binary_data true",
                ));
            }
            tensor.insert(
                "data".into(),
                Value::Array(tensor::contents_to_json(dtype, &contents)),
            );
        }
        if !params.is_empty() {
            tensor.insert("parameters".into(), Value::Object(params));
        }
        rendered.push(Value::Object(tensor));
    }
    let mut body = Map::new();
    body.insert("model_name".into(), Value::String(model_name));
    body.insert("model_version".into(), Value::String(model_version));
    if !id.is_empty() {
        body.insert("id".into(), Value::String(id));
    }
    let parameters = parameters_json(&parameters);
    if !parameters.is_empty() {
        body.insert("parameters".into(), Value::Object(parameters));
    }
    body.insert("outputs".into(), Value::Array(rendered));
    Ok(Rendered {
        json: Value::Object(body).to_string().into_bytes(),
        binary: bytes,
        has_binary,
    })
}

/// `GET /v2`.
pub fn server_metadata(r: pb::ServerMetadataResponse) -> Value {
    let pb::ServerMetadataResponse {
        name,
        version,
        extensions,
    } = r;
    json!({ "name": name, "version": version, "extensions": extensions })
}

/// `GET /v2/models/{name}[/versions/{v}]`.
pub fn model_metadata(r: pb::ModelMetadataResponse) -> Value {
    let pb::ModelMetadataResponse {
        name,
        versions,
        platform,
        inputs,
        outputs,
    } = r;
    let tensors = |ts: Vec<pb::model_metadata_response::TensorMetadata>| -> Vec<Value> {
        ts.into_iter()
            .map(|t| json!({ "name": t.name, "datatype": t.datatype, "shape": t.shape }))
            .collect()
    };
    json!({
        "name": name,
        "versions": versions,
        "platform": platform,
        "inputs": tensors(inputs),
        "outputs": tensors(outputs),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use joust_proto::inference::model_infer_response::InferOutputTensor;

    use super::*;

    fn answer(raw: bool) -> pb::ModelInferResponse {
        let typed = |c: pb::InferTensorContents| (!raw).then_some(c);
        pb::ModelInferResponse {
            model_name: "m".into(),
            model_version: "2".into(),
            id: "r".into(),
            parameters: Default::default(),
            outputs: vec![
                InferOutputTensor {
                    name: "score".into(),
                    datatype: "FP32".into(),
                    shape: vec![2],
                    parameters: Default::default(),
                    contents: typed(pb::InferTensorContents {
                        fp32_contents: vec![0.5, 0.25],
                        ..Default::default()
                    }),
                },
                InferOutputTensor {
                    name: "label".into(),
                    datatype: "BOOL".into(),
                    shape: vec![2],
                    parameters: Default::default(),
                    contents: typed(pb::InferTensorContents {
                        bool_contents: vec![true, false],
                        ..Default::default()
                    }),
                },
            ],
            raw_output_contents: if raw {
                vec![
                    [0.5f32, 0.25]
                        .iter()
                        .flat_map(|x| x.to_le_bytes())
                        .collect(),
                    vec![1, 0],
                ]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn typed_or_raw_answers_render_the_same_json() {
        for raw in [false, true] {
            let r = infer(answer(raw), &BinaryOutputs::default()).unwrap();
            assert!(r.binary.is_empty() && !r.has_binary);
            let v: Value = serde_json::from_slice(&r.json).unwrap();
            assert_eq!(v["model_version"], "2");
            assert_eq!(v["id"], "r");
            assert_eq!(v["outputs"][0]["data"], json!([0.5, 0.25]), "raw {raw}");
            assert_eq!(v["outputs"][1]["data"], json!([true, false]), "raw {raw}");
        }
    }

    #[test]
    fn binary_outputs_follow_the_json_with_their_sizes() {
        let wanted = BinaryOutputs {
            all: false,
            by_name: [("score".to_owned(), true)].into(),
        };
        for raw in [false, true] {
            let r = infer(answer(raw), &wanted).unwrap();
            let v: Value = serde_json::from_slice(&r.json).unwrap();
            assert_eq!(v["outputs"][0]["parameters"]["binary_data_size"], 8);
            assert!(v["outputs"][0].get("data").is_none());
            assert_eq!(v["outputs"][1]["data"], json!([true, false]));
            let expected: Vec<u8> = [0.5f32, 0.25]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect();
            assert_eq!(r.binary, expected);
            assert!(r.has_binary);
        }
    }
}
