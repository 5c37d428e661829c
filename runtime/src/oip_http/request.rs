//! The REST inference request (KServe v2 JSON, optionally followed by
//! binary tensor data) → the gRPC `ModelInferRequest` the service takes,
//! and which outputs the answer must carry as binary data.

use std::collections::{BTreeMap, HashMap};

use joust_proto::inference as pb;
use joust_proto::inference::infer_parameter::ParameterChoice;
use joust_proto::inference::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use serde_json::{Map, Value};

use super::error::RestError;
use super::tensor::{self, DATATYPES, DataType};

/// Request parameter: every output as binary data.
pub const BINARY_DATA_OUTPUT: &str = "binary_data_output";
/// Output parameter: this output as binary data.
pub const BINARY_DATA: &str = "binary_data";
/// Input (and answer output) parameter: the tensor's bytes follow the JSON.
pub const BINARY_DATA_SIZE: &str = "binary_data_size";
/// The header giving the JSON part's length when binary data follows.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// Which outputs the answer carries as binary data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinaryOutputs {
    /// `parameters.binary_data_output` of the request.
    pub all: bool,
    /// `outputs[i].parameters.binary_data`, by output name.
    pub by_name: HashMap<String, bool>,
}

impl BinaryOutputs {
    pub fn binary(&self, name: &str) -> bool {
        self.by_name.get(name).copied().unwrap_or(self.all)
    }
}

/// Splits the body at the `Inference-Header-Content-Length` header value:
/// the JSON part and the binary part (empty without the header).
pub fn split_body<'a>(
    header: Option<&str>,
    body: &'a [u8],
) -> Result<(&'a [u8], &'a [u8]), RestError> {
    let Some(text) = header else {
        return Ok((body, &[]));
    };
    let field = "Inference-Header-Content-Length";
    let len: usize = text.trim().parse().map_err(|_| {
        RestError::field(
            field,
            format!("expected the JSON part's length in bytes, got {text:?}"),
        )
    })?;
    if len > body.len() {
        return Err(RestError::field(
            field,
            format!("{len} is longer than the body ({} bytes)", body.len()),
        ));
    }
    Ok(body.split_at(len))
}

fn parse_parameters(
    value: Option<&Value>,
    field: &str,
    skip: &[&str],
) -> Result<HashMap<String, pb::InferParameter>, RestError> {
    let Some(value) = value else {
        return Ok(HashMap::new());
    };
    let Value::Object(map) = value else {
        return Err(RestError::field(
            field,
            format!("expected an object of parameters, got {value}"),
        ));
    };
    let mut out = HashMap::new();
    for (key, v) in map {
        if skip.contains(&key.as_str()) {
            continue;
        }
        let choice = match v {
            Value::Bool(b) => ParameterChoice::BoolParam(*b),
            Value::String(s) => ParameterChoice::StringParam(s.clone()),
            Value::Number(n) if n.as_i64().is_some() => {
                ParameterChoice::Int64Param(n.as_i64().unwrap_or_default())
            }
            other => {
                return Err(RestError::field(
                    format!("{field}.{key}"),
                    format!("expected a boolean, a 64-bit integer or a string, got {other}"),
                ));
            }
        };
        out.insert(
            key.clone(),
            pb::InferParameter {
                parameter_choice: Some(choice),
            },
        );
    }
    Ok(out)
}

fn bool_param(map: Option<&Value>, key: &str, field: &str) -> Result<Option<bool>, RestError> {
    match map.and_then(|m| m.get(key)) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(RestError::field(
            format!("{field}.{key}"),
            format!("expected true or false, got {other}"),
        )),
    }
}

fn string<'a>(obj: &'a Map<String, Value>, key: &str, field: &str) -> Result<&'a str, RestError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(RestError::field(
            format!("{field}.{key}"),
            format!("expected a string, got {other}"),
        )),
        None => Err(RestError::field(
            format!("{field}.{key}"),
            "expected a string, got nothing",
        )),
    }
}

fn shape(obj: &Map<String, Value>, field: &str) -> Result<Vec<i64>, RestError> {
    let field = format!("{field}.shape");
    let bad = |got: &Value| {
        RestError::field(
            &field,
            format!("expected an array of integers ≥ 0, got {got}"),
        )
    };
    match obj.get("shape") {
        Some(Value::Array(dims)) => dims
            .iter()
            .map(|d| d.as_i64().filter(|d| *d >= 0).ok_or_else(|| bad(d)))
            .collect(),
        Some(other) => Err(bad(other)),
        None => Err(RestError::field(
            &field,
            "expected an array of integers ≥ 0, got nothing",
        )),
    }
}

/// One input as given: its tensor and its data (JSON elements, or the
/// bytes it takes from the binary part).
struct Input {
    tensor: InferInputTensor,
    dtype: DataType,
    data: InputData,
}

enum InputData {
    Typed(pb::InferTensorContents),
    Raw(Vec<u8>),
}

/// Parses the JSON part and takes the binary inputs' bytes from `binary`
/// in order; `model` and `version` come from the path.
pub fn parse(
    json: &[u8],
    mut binary: &[u8],
    model: &str,
    version: &str,
) -> Result<(pb::ModelInferRequest, BinaryOutputs), RestError> {
    let root: Value = serde_json::from_slice(json)
        .map_err(|e| RestError::field("request body", format!("expected a JSON object: {e}")))?;
    let Value::Object(root) = root else {
        return Err(RestError::field(
            "request body",
            format!("expected a JSON object, got {root}"),
        ));
    };
    let id = match root.get("id") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(RestError::field(
                "id",
                format!("expected a string, got {other}"),
            ));
        }
    };
    let request_parameters = root.get("parameters");
    let mut wanted = BinaryOutputs {
        all: bool_param(request_parameters, BINARY_DATA_OUTPUT, "parameters")?.unwrap_or(false),
        by_name: HashMap::new(),
    };
    let parameters = parse_parameters(request_parameters, "parameters", &[BINARY_DATA_OUTPUT])?;

    let inputs_json = match root.get("inputs") {
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(RestError::field(
                "inputs",
                format!("expected an array of input tensors, got {other}"),
            ));
        }
        None => {
            return Err(RestError::field(
                "inputs",
                "expected an array of input tensors, got nothing",
            ));
        }
    };
    let mut inputs = Vec::with_capacity(inputs_json.len());
    for (i, item) in inputs_json.iter().enumerate() {
        let field = format!("inputs[{i}]");
        let Value::Object(obj) = item else {
            return Err(RestError::field(
                &field,
                format!("expected an input tensor object, got {item}"),
            ));
        };
        let name = string(obj, "name", &field)?.to_owned();
        let datatype = string(obj, "datatype", &field)?.to_owned();
        let dtype = DataType::parse(&datatype).ok_or_else(|| {
            RestError::field(
                format!("{field}.datatype"),
                format!("expected {DATATYPES}, got {datatype:?}"),
            )
        })?;
        let shape = shape(obj, &field)?;
        let params_json = obj.get("parameters");
        let params_field = format!("{field}.parameters");
        let binary_size = match params_json.and_then(|p| p.get(BINARY_DATA_SIZE)) {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| {
                        RestError::field(
                            format!("{params_field}.{BINARY_DATA_SIZE}"),
                            format!("expected a byte count ≥ 0, got {v}"),
                        )
                    })?,
            ),
        };
        let tensor_parameters = parse_parameters(params_json, &params_field, &[BINARY_DATA_SIZE])?;
        let data = match (binary_size, obj.get("data")) {
            (Some(_), Some(_)) => {
                return Err(RestError::field(
                    format!("{field}.data"),
                    format!("expected no data when {params_field}.{BINARY_DATA_SIZE} is set"),
                ));
            }
            (Some(size), None) => {
                if size > binary.len() {
                    return Err(RestError::field(
                        format!("{params_field}.{BINARY_DATA_SIZE}"),
                        format!(
                            "{size} bytes, but only {} bytes of binary data are left after the JSON (Inference-Header-Content-Length)",
                            binary.len()
                        ),
                    ));
                }
                let (mine, rest) = binary.split_at(size);
                binary = rest;
                let data_field = format!("{params_field}.{BINARY_DATA_SIZE}");
                tensor::check_count(dtype, &shape, None, Some(mine), &data_field)?;
                if dtype == DataType::Bytes {
                    let parsed = tensor::raw_to_contents(dtype, mine, &data_field)?;
                    tensor::check_count(
                        dtype,
                        &shape,
                        Some(parsed.bytes_contents.len()),
                        None,
                        &data_field,
                    )?;
                }
                InputData::Raw(mine.to_vec())
            }
            (None, Some(data)) => {
                let data_field = format!("{field}.data");
                let flat = tensor::flatten(data);
                tensor::check_count(dtype, &shape, Some(flat.len()), None, &data_field)?;
                InputData::Typed(tensor::json_to_contents(dtype, &flat, &data_field)?)
            }
            (None, None) => {
                return Err(RestError::field(
                    format!("{field}.data"),
                    format!(
                        "expected the tensor's values (or {params_field}.{BINARY_DATA_SIZE} and binary data), got nothing"
                    ),
                ));
            }
        };
        inputs.push(Input {
            tensor: InferInputTensor {
                name,
                datatype,
                shape,
                parameters: tensor_parameters,
                contents: None,
            },
            dtype,
            data,
        });
    }
    if !binary.is_empty() {
        return Err(RestError::field(
            "request body",
            format!(
                "{} bytes of binary data left over after the inputs' binary_data_size; expected none",
                binary.len()
            ),
        ));
    }

    let mut outputs = Vec::new();
    match root.get("outputs") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let field = format!("outputs[{i}]");
                let Value::Object(obj) = item else {
                    return Err(RestError::field(
                        &field,
                        format!("expected a requested-output object, got {item}"),
                    ));
                };
                let name = string(obj, "name", &field)?.to_owned();
                let params_field = format!("{field}.parameters");
                if let Some(binary) = bool_param(obj.get("parameters"), BINARY_DATA, &params_field)?
                {
                    wanted.by_name.insert(name.clone(), binary);
                }
                outputs.push(InferRequestedOutputTensor {
                    name,
                    parameters: parse_parameters(
                        obj.get("parameters"),
                        &params_field,
                        &[BINARY_DATA],
                    )?,
                });
            }
        }
        Some(other) => {
            return Err(RestError::field(
                "outputs",
                format!("expected an array of requested outputs, got {other}"),
            ));
        }
    }

    // gRPC takes either typed contents for every input or raw bytes for
    // every input: any binary input turns them all raw.
    let raw = inputs.iter().any(|i| matches!(i.data, InputData::Raw(_)));
    let mut raw_input_contents = Vec::new();
    let mut tensors = Vec::with_capacity(inputs.len());
    for input in inputs {
        let Input {
            mut tensor,
            dtype,
            data,
        } = input;
        match (data, raw) {
            (InputData::Raw(bytes), _) => raw_input_contents.push(bytes),
            (InputData::Typed(c), true) => {
                raw_input_contents.push(tensor::contents_to_raw(dtype, &c))
            }
            (InputData::Typed(c), false) => tensor.contents = Some(c),
        }
        tensors.push(tensor);
    }
    Ok((
        pb::ModelInferRequest {
            model_name: model.to_owned(),
            model_version: version.to_owned(),
            id,
            parameters,
            inputs: tensors,
            outputs,
            raw_input_contents,
        },
        wanted,
    ))
}

/// Parameters of a gRPC message as JSON (the answer's and its outputs').
pub fn parameters_json(parameters: &HashMap<String, pb::InferParameter>) -> Map<String, Value> {
    let sorted: BTreeMap<&String, &pb::InferParameter> = parameters.iter().collect();
    sorted
        .into_iter()
        .filter_map(|(k, p)| {
            let v = match p.parameter_choice.as_ref()? {
                ParameterChoice::BoolParam(b) => Value::Bool(*b),
                ParameterChoice::Int64Param(n) => Value::from(*n),
                ParameterChoice::StringParam(s) => Value::String(s.clone()),
            };
            Some((k.clone(), v))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        parse(json.as_bytes(), &[], "m", "")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn json_inputs_become_typed_contents() {
        let (req, wanted) = parse(
            br#"{"id":"r1","parameters":{"routing_key":"k"},"inputs":[{"name":"input","shape":[1,2],"datatype":"FP32","data":[[0.5,1.5]]}],"outputs":[{"name":"score","parameters":{"binary_data":true}}]}"#,
            &[],
            "m",
            "3",
        )
        .unwrap();
        assert_eq!(
            (req.model_name.as_str(), req.model_version.as_str()),
            ("m", "3")
        );
        assert_eq!(req.id, "r1");
        assert_eq!(
            req.inputs[0].contents.as_ref().unwrap().fp32_contents,
            [0.5, 1.5]
        );
        assert!(req.raw_input_contents.is_empty());
        assert!(req.parameters.contains_key("routing_key"));
        assert_eq!(req.outputs[0].name, "score");
        assert!(
            req.outputs[0].parameters.is_empty(),
            "binary_data is HTTP-only"
        );
        assert!(wanted.binary("score") && !wanted.binary("label"));
    }

    #[test]
    fn binary_inputs_take_their_bytes_and_turn_every_input_raw() {
        let json = br#"{"parameters":{"binary_data_output":true},"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},{"name":"b","shape":[1],"datatype":"INT64","data":[7]}]}"#;
        let bin: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let (req, wanted) = parse(json, &bin, "m", "").unwrap();
        assert_eq!(req.raw_input_contents.len(), 2);
        assert_eq!(req.raw_input_contents[0], bin);
        assert_eq!(req.raw_input_contents[1], 7i64.to_le_bytes());
        assert!(req.inputs.iter().all(|i| i.contents.is_none()));
        assert!(!req.parameters.contains_key(BINARY_DATA_OUTPUT));
        assert!(wanted.binary("anything"));
        let e = parse(json, &bin[..4], "m", "").unwrap_err().to_string();
        assert!(
            e.starts_with("inputs[0].parameters.binary_data_size: 8 bytes, but only 4"),
            "{e}"
        );
        let mut long = bin.clone();
        long.push(0);
        let e = parse(json, &long, "m", "").unwrap_err().to_string();
        assert!(e.contains("1 bytes of binary data left over"), "{e}");
    }

    #[test]
    fn bad_json_is_refused_naming_the_field() {
        assert!(err("{").starts_with("request body: expected a JSON object"));
        assert_eq!(err("[]"), "request body: expected a JSON object, got []");
        assert_eq!(
            err("{}"),
            "inputs: expected an array of input tensors, got nothing"
        );
        assert_eq!(
            err(r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP33","data":[1]}]}"#),
            format!("inputs[0].datatype: expected {DATATYPES}, got \"FP33\"")
        );
        assert_eq!(
            err(r#"{"inputs":[{"name":"x","shape":[1,-2],"datatype":"FP32","data":[1]}]}"#),
            "inputs[0].shape: expected an array of integers ≥ 0, got -2"
        );
        assert_eq!(
            err(r#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1]}]}"#),
            "inputs[0].data: shape [2] needs 2 values, got 1"
        );
        assert_eq!(
            err(r#"{"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]}"#),
            "inputs[0].name: expected a string, got nothing"
        );
        assert_eq!(
            err(r#"{"inputs":[{"name":"x","shape":[1],"datatype":"BOOL","data":[1]}]}"#),
            "inputs[0].data[0]: expected true or false, got 1"
        );
        assert_eq!(
            err(r#"{"inputs":[],"outputs":[{"name":"score","parameters":{"binary_data":"yes"}}]}"#),
            "outputs[0].parameters.binary_data: expected true or false, got \"yes\""
        );
        assert_eq!(
            err(r#"{"inputs":[],"parameters":{"x":1.5}}"#),
            "parameters.x: expected a boolean, a 64-bit integer or a string, got 1.5"
        );
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop::sample::select(vec![
                "input", "FP32", "FP64", "INT64", "BOOL", "BYTES", "FP16", "x", ""
            ])
            .prop_map(|s| Value::String(s.to_owned())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let keys = prop::sample::select(vec![
                "inputs",
                "outputs",
                "name",
                "shape",
                "datatype",
                "data",
                "parameters",
                "binary_data_size",
                "binary_data",
                "binary_data_output",
                "id",
            ]);
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(keys, inner, 0..6).prop_map(|m| {
                    Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    proptest::proptest! {
        // Whatever the body, parsing answers Ok or a refusal naming a
        // field; it never panics (no unwrap on the request path).
        #[test]
        fn any_body_parses_or_is_refused_without_panic(
            root in json_value(),
            binary in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let text = root.to_string();
            if let Err(e) = parse(text.as_bytes(), &binary, "m", "") {
                proptest::prop_assert!(!e.to_string().is_empty());
            }
        }

        #[test]
        fn any_bytes_split_or_are_refused_without_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128),
            header in "[0-9]{0,4}",
        ) {
            if let Ok((json, binary)) = split_body(Some(&header), &body) {
                let _ = parse(json, binary, "m", "1");
            }
        }
    }

    #[test]
    fn the_header_length_splits_the_body() {
        let (j, b) = split_body(Some("2"), b"{}xyz").unwrap();
        assert_eq!((j, b), (&b"{}"[..], &b"xyz"[..]));
        assert!(split_body(Some("9"), b"{}").is_err());
        let e = split_body(Some("x"), b"{}").unwrap_err().to_string();
        assert!(
            e.starts_with("Inference-Header-Content-Length: expected"),
            "{e}"
        );
        assert_eq!(split_body(None, b"{}").unwrap().1.len(), 0);
    }
}
