//! Open Inference Protocol request decoding on a serving node:
//! `decode_input` (typed `fp32_contents` and `raw_input_contents`),
//! `requested_outputs`, `parse_version`, `check_batch`, and the native
//! rows of `joust.v1.Inference` (`decode_rows`).
//!
//! Inputs come either as protobuf wire bytes (what a hostile client
//! sends) or as a structured request built with `arbitrary`, which reaches
//! the shape and length arithmetic much faster. A request that decodes
//! must give back exactly the values it carried, in row-major order.

#![no_main]

use std::collections::HashMap;

use joust_proto::inference::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use joust_proto::inference::{InferTensorContents, ModelInferRequest};
use joust_proto::v1::FeatureRow;
use joust_server::input::{check_batch, decode_input, decode_rows};
use joust_server::oip::{parse_version, requested_outputs};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use prost::Message;

#[derive(Arbitrary, Debug)]
enum Shape {
    Small(u8, u8),
    Any(Vec<i64>),
}

#[derive(Arbitrary, Debug)]
enum Payload {
    Typed(Vec<f32>),
    Raw(Vec<u8>),
    RawMany(Vec<Vec<u8>>),
    RawAndTyped(Vec<u8>, Vec<f32>),
    OtherContents(Vec<i32>, Vec<f64>),
    Nothing,
}

#[derive(Arbitrary, Debug)]
struct Structured {
    fp32: bool,
    datatype: String,
    extra_inputs: u8,
    shape: Shape,
    payload: Payload,
    outputs: Vec<String>,
    version: String,
    max_rows: u16,
}

/// One native row: positional values and named features.
type Row = (Vec<f32>, Vec<(String, f32)>);

#[derive(Arbitrary, Debug)]
struct Rows {
    schema: Vec<String>,
    rows: Vec<Row>,
}

#[derive(Arbitrary, Debug)]
enum Case {
    Wire(Vec<u8>),
    Structured(Structured),
    Rows(Rows),
}

fn build(s: &Structured) -> ModelInferRequest {
    let shape = match &s.shape {
        Shape::Small(n, f) => vec![i64::from(*n), i64::from(*f)],
        Shape::Any(v) => v.clone(),
    };
    let (contents, raw) = match &s.payload {
        Payload::Typed(v) => (
            Some(InferTensorContents {
                fp32_contents: v.clone(),
                ..Default::default()
            }),
            vec![],
        ),
        Payload::Raw(b) => (None, vec![b.clone()]),
        Payload::RawMany(v) => (None, v.clone()),
        Payload::RawAndTyped(b, v) => (
            Some(InferTensorContents {
                fp32_contents: v.clone(),
                ..Default::default()
            }),
            vec![b.clone()],
        ),
        Payload::OtherContents(i, f) => (
            Some(InferTensorContents {
                int_contents: i.clone(),
                fp64_contents: f.clone(),
                ..Default::default()
            }),
            vec![],
        ),
        Payload::Nothing => (None, vec![]),
    };
    let tensor = InferInputTensor {
        name: "input".into(),
        datatype: if s.fp32 {
            "FP32".into()
        } else {
            s.datatype.clone()
        },
        shape,
        parameters: HashMap::new(),
        contents,
    };
    let mut inputs = vec![tensor.clone()];
    for _ in 0..s.extra_inputs % 3 {
        inputs.push(tensor.clone());
    }
    ModelInferRequest {
        model_name: "m".into(),
        model_version: s.version.clone(),
        id: String::new(),
        parameters: HashMap::new(),
        inputs,
        outputs: s
            .outputs
            .iter()
            .map(|name| InferRequestedOutputTensor {
                name: name.clone(),
                parameters: HashMap::new(),
            })
            .collect(),
        raw_input_contents: raw,
    }
}

fn oip(req: &ModelInferRequest, max_rows: usize) {
    let _ = parse_version(&req.model_version);
    let _ = requested_outputs(req);
    let Ok(x) = decode_input(req) else {
        return;
    };
    // Shape and values are exactly what the request carried.
    let input = &req.inputs[0];
    assert_eq!(input.shape.len(), 2);
    assert_eq!(x.nrows() as i64, input.shape[0]);
    assert_eq!(x.ncols() as i64, input.shape[1]);
    let got: Vec<u32> = x.iter().map(|v| v.to_bits()).collect();
    let sent: Vec<u32> = match req.raw_input_contents.first() {
        Some(raw) => raw
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        None => input
            .contents
            .as_ref()
            .map(|c| c.fp32_contents.iter().map(|v| v.to_bits()).collect())
            .unwrap_or_default(),
    };
    assert_eq!(got, sent);
    let schema: Vec<String> = (0..x.ncols()).map(|i| format!("f{i}")).collect();
    if check_batch(&x, "inputs[0]", "m", &schema, max_rows.max(1)).is_ok() {
        assert!(x.nrows() <= max_rows.max(1));
        assert!(x.iter().all(|v| v.is_finite()));
    }
}

fuzz_target!(|case: Case| match case {
    Case::Wire(bytes) => {
        if let Ok(req) = ModelInferRequest::decode(bytes.as_slice()) {
            oip(&req, 10_000);
        }
    }
    Case::Structured(s) => oip(&build(&s), usize::from(s.max_rows)),
    Case::Rows(r) => {
        let rows: Vec<FeatureRow> = r
            .rows
            .iter()
            .map(|(values, named)| FeatureRow {
                values: values.clone(),
                features: named.iter().cloned().collect(),
            })
            .collect();
        if let Ok(x) = decode_rows(&rows, "m", &r.schema) {
            assert_eq!(x.nrows(), rows.len());
            assert_eq!(x.ncols(), r.schema.len());
            let _ = check_batch(&x, "rows", "m", &r.schema, 10_000);
        }
    }
});
