//! An onnx model's own graph outputs in OIP answers: by their ONNX names
//! and types, as Triton serves them, beside joust's `score` and `label`.
//! A graph output named `score` or `label` (skl2onnx's IsolationForest has
//! an INT64 `label`) would collide with joust's, so it is served as
//! `onnx.score` / `onnx.label`.

use joust_models::onnx::{OutputData, OutputTensor};
use joust_proto::inference as pb;
use joust_proto::inference::model_infer_response::InferOutputTensor;

use super::{LABEL, SCORE};

/// The prefix of a graph output whose name is one of joust's own.
const PREFIX: &str = "onnx.";

/// The name a graph output is served (and requested) under.
pub fn served_name(graph_name: &str) -> String {
    if graph_name == SCORE || graph_name == LABEL {
        format!("{PREFIX}{graph_name}")
    } else {
        graph_name.to_owned()
    }
}

/// Appends `tensors[i]` for each `i` of `wanted` to `response`, typed or
/// (when the request was raw) as little-endian `raw_output_contents`.
pub fn append(
    response: &mut pb::ModelInferResponse,
    mut tensors: Vec<OutputTensor>,
    wanted: &[usize],
    raw: bool,
) {
    for &i in wanted {
        let Some(t) = tensors.get_mut(i) else {
            continue;
        };
        let data = std::mem::replace(&mut t.data, OutputData::Bool(Vec::new()));
        let datatype = data.datatype().to_owned();
        let contents = if raw {
            response.raw_output_contents.push(le_bytes(&data));
            None
        } else {
            Some(typed(data))
        };
        response.outputs.push(InferOutputTensor {
            name: served_name(&t.name),
            datatype,
            shape: std::mem::take(&mut t.shape),
            parameters: Default::default(),
            contents,
        });
    }
}

fn typed(data: OutputData) -> pb::InferTensorContents {
    let mut c = pb::InferTensorContents::default();
    match data {
        OutputData::Fp32(v) => c.fp32_contents = v,
        OutputData::Fp64(v) => c.fp64_contents = v,
        OutputData::Int32(v) => c.int_contents = v,
        OutputData::Int64(v) => c.int64_contents = v,
        OutputData::Bool(v) => c.bool_contents = v,
    }
    c
}

fn le_bytes(data: &OutputData) -> Vec<u8> {
    match data {
        OutputData::Fp32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        OutputData::Fp64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        OutputData::Int32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        OutputData::Int64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        OutputData::Bool(v) => v.iter().map(|b| u8::from(*b)).collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn colliding_names_are_prefixed_and_others_kept() {
        assert_eq!(served_name("label"), "onnx.label");
        assert_eq!(served_name("score"), "onnx.score");
        assert_eq!(served_name("scores"), "scores");
    }

    #[test]
    fn appends_typed_and_raw_in_the_order_asked() {
        let tensors = || {
            vec![
                OutputTensor {
                    name: "label".into(),
                    shape: vec![2, 1],
                    data: OutputData::Int64(vec![-1, 1]),
                },
                OutputTensor {
                    name: "scores".into(),
                    shape: vec![2, 1],
                    data: OutputData::Fp32(vec![0.5, -0.25]),
                },
            ]
        };
        let mut r = pb::ModelInferResponse::default();
        append(&mut r, tensors(), &[1, 0], false);
        assert_eq!(r.outputs[0].name, "scores");
        assert_eq!(r.outputs[0].datatype, "FP32");
        assert_eq!(
            r.outputs[0].contents.as_ref().unwrap().fp32_contents,
            [0.5, -0.25]
        );
        assert_eq!(r.outputs[1].name, "onnx.label");
        assert_eq!(r.outputs[1].datatype, "INT64");
        assert_eq!(r.outputs[1].shape, [2, 1]);
        assert_eq!(
            r.outputs[1].contents.as_ref().unwrap().int64_contents,
            [-1, 1]
        );

        let mut r = pb::ModelInferResponse::default();
        append(&mut r, tensors(), &[0], true);
        assert!(r.outputs[0].contents.is_none());
        assert_eq!(r.raw_output_contents[0].len(), 16);
    }
}
