#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;

fn answer(scores: Vec<f32>, raw: bool) -> oip::ModelInferResponse {
    let labels = scores.iter().map(|s| *s > 0.5).collect();
    encode_outputs(
        "m".into(),
        3,
        "id".into(),
        scores,
        labels,
        Requested::ALL,
        raw,
    )
}

#[test]
fn typed_and_raw_answers_decode_to_what_was_encoded() {
    for raw in [false, true] {
        let r = answer(vec![0.25, 0.75, -1.5], raw);
        assert_eq!(r.raw_output_contents.is_empty(), !raw);
        let d = decode(r.clone(), Some(3)).unwrap();
        assert_eq!(d.scores, [0.25, 0.75, -1.5]);
        assert_eq!(d.labels, [false, true, false]);
        assert_eq!(d.model_version, "3");
        let scores: Vec<f32> = fp32_output(&r, SCORE).unwrap().unwrap().collect();
        assert_eq!(scores, d.scores);
        let labels: Vec<bool> = bool_output(&r, LABEL).unwrap().unwrap().collect();
        assert_eq!(labels, d.labels);
    }
}

#[test]
fn only_the_requested_outputs_are_encoded() {
    let only_score = Requested {
        score: true,
        label: false,
    };
    for raw in [false, true] {
        let r = encode_outputs(
            "m".into(),
            1,
            String::new(),
            vec![1.0],
            vec![true],
            only_score,
            raw,
        );
        assert_eq!(r.outputs.len(), 1);
        assert_eq!(r.outputs[0].name, SCORE);
        assert_eq!(r.outputs[0].shape, [1]);
        assert!(bool_output(&r, LABEL).unwrap().is_none());
        assert_eq!(
            decode(r, None).unwrap_err(),
            CodecError::MissingOutput {
                name: LABEL,
                found: vec!["score".into()]
            }
        );
    }
}

#[test]
fn malformed_answers_are_typed_errors_naming_the_field() {
    let typed = answer(vec![0.1, 0.9], false);
    let raw = answer(vec![0.1, 0.9], true);
    let cases: Vec<(oip::ModelInferResponse, &str)> = vec![
        (
            {
                let mut r = typed.clone();
                r.outputs[0].datatype = "INT64".into();
                r
            },
            "outputs[0].datatype: expected \"FP32\" for \"score\", got \"INT64\"",
        ),
        (
            {
                let mut r = typed.clone();
                r.outputs[1].datatype = "FP32".into();
                r
            },
            "outputs[1].datatype: expected \"BOOL\" for \"label\"",
        ),
        (
            {
                let mut r = typed.clone();
                r.outputs[0].shape = vec![3];
                r
            },
            "outputs[0].shape: [3] does not describe the 2 values sent",
        ),
        (
            {
                let mut r = typed.clone();
                r.outputs[1].shape = vec![-2];
                r
            },
            "outputs[1].shape",
        ),
        (
            {
                let mut r = raw.clone();
                r.raw_output_contents.pop();
                r
            },
            "raw_output_contents: expected one entry per output (2), got 1",
        ),
        (
            {
                let mut r = raw.clone();
                r.raw_output_contents[0].pop();
                r
            },
            "raw_output_contents[0]: expected 4 bytes per FP32 value, got 7 bytes",
        ),
        (
            {
                let mut r = raw.clone();
                r.outputs[0].contents = typed.outputs[0].contents.clone();
                r
            },
            "outputs[0].contents: must be empty when raw_output_contents is used",
        ),
        (
            {
                let mut r = typed.clone();
                r.outputs.swap(0, 1);
                r.outputs[0].name = "other".into();
                r
            },
            "outputs: expected an output named \"label\", got [\"other\", \"score\"]",
        ),
    ];
    for (r, want) in cases {
        let e = decode(r, Some(2)).unwrap_err();
        assert!(e.to_string().starts_with(want), "{e} (wanted {want})");
    }
    let e = decode(typed, Some(5)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "outputs: expected 5 rows in \"score\", got 2"
    );
}

#[test]
fn requests_carry_the_rows_as_one_fp32_tensor() {
    let values = vec![0.5, -1.0, 2.0, 3.5, 0.0, 1.25];
    let typed = InferRequest::new("m", 3, values.clone())
        .version(Some(4))
        .id("req-1")
        .build();
    assert_eq!(typed.model_name, "m");
    assert_eq!(typed.model_version, "4");
    assert_eq!(typed.id, "req-1");
    assert_eq!(typed.inputs.len(), 1);
    let input = &typed.inputs[0];
    assert_eq!(
        (input.name.as_str(), input.datatype.as_str()),
        (INPUT, FP32)
    );
    assert_eq!(input.shape, [2, 3]);
    assert_eq!(input.contents.as_ref().unwrap().fp32_contents, values);
    assert!(typed.raw_input_contents.is_empty() && typed.outputs.is_empty());

    let raw = InferRequest::new("m", 3, values.clone())
        .raw()
        .outputs(&[SCORE])
        .build();
    assert_eq!(raw.model_version, "");
    assert!(raw.inputs[0].contents.is_none());
    let back: Vec<f32> = raw.raw_input_contents[0]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(back, values);
    assert_eq!(raw.outputs[0].name, SCORE);

    let native = native_request("m", 3, &values);
    assert_eq!(native.rows.len(), 2);
    assert_eq!(native.rows[1].values, [3.5, 0.0, 1.25]);
}

#[test]
fn versions_are_empty_or_positive_decimals() {
    assert_eq!(parse_version(""), Ok(None));
    assert_eq!(parse_version("7"), Ok(Some(7)));
    for bad in ["0", "+5", "-1", "x", " 1", "1.0"] {
        let e = parse_version(bad).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("model_version: expected a version number ≥ 1 or empty"),
            "{e}"
        );
    }
}

proptest! {
    #[test]
    fn encode_then_decode_is_the_identity(
        scores in proptest::collection::vec(proptest::num::f32::ANY, 0..64),
        raw in any::<bool>(),
        version in 1u64..,
    ) {
        let labels: Vec<bool> = scores.iter().map(|s| *s > 0.0).collect();
        let n = scores.len();
        let r = encode_outputs("m".into(), version, String::new(), scores.clone(), labels.clone(), Requested::ALL, raw);
        let d = decode(r, Some(n)).unwrap();
        // Bit for bit, NaN included.
        let bits = |v: &[f32]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&d.scores), bits(&scores));
        prop_assert_eq!(d.labels, labels);
        prop_assert_eq!(parse_version(&d.model_version), Ok(Some(version)));
    }

    #[test]
    fn any_answer_decodes_or_is_refused_without_panic(
        names in proptest::collection::vec("score|label|x", 0..4),
        types in proptest::collection::vec("FP32|BOOL|INT8", 0..4),
        shape in proptest::collection::vec(-2i64..6, 0..3),
        raw in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 0..4),
        fp32 in proptest::collection::vec(proptest::num::f32::ANY, 0..6),
    ) {
        let outputs = names.iter().zip(types.iter().chain(std::iter::repeat(&String::new()))).map(|(n, t)| {
            oip::model_infer_response::InferOutputTensor {
                name: n.clone(),
                datatype: t.clone(),
                shape: shape.clone(),
                parameters: Default::default(),
                contents: Some(oip::InferTensorContents { fp32_contents: fp32.clone(), ..Default::default() }),
            }
        }).collect();
        let r = oip::ModelInferResponse { outputs, raw_output_contents: raw, ..Default::default() };
        let _ = fp32_output(&r, SCORE).map(|v| v.map(Iterator::count));
        let _ = bool_output(&r, LABEL).map(|v| v.map(Iterator::count));
        let _ = decode(r, None);
    }
}
