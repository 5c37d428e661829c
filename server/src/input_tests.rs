#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use joust_proto::inference::model_infer_request::InferInputTensor;
use joust_proto::inference::{InferTensorContents, ModelInferRequest};
use joust_proto::v1::FeatureRow;

use super::*;

fn tensor(datatype: &str, shape: Vec<i64>, fp32: Option<Vec<f32>>) -> ModelInferRequest {
    ModelInferRequest {
        model_name: "m".into(),
        inputs: vec![InferInputTensor {
            name: "input".into(),
            datatype: datatype.into(),
            shape,
            parameters: Default::default(),
            contents: fp32.map(|v| InferTensorContents {
                fp32_contents: v,
                ..Default::default()
            }),
        }],
        ..Default::default()
    }
}

fn schema() -> Vec<String> {
    vec!["a".into(), "b".into()]
}

#[test]
fn decodes_typed_contents_row_major() {
    let x = decode_input(&tensor(
        "FP32",
        vec![2, 3],
        Some(vec![1., 2., 3., 4., 5., 6.]),
    ))
    .unwrap();
    assert_eq!(x.shape(), [2, 3]);
    assert_eq!(x[[1, 0]], 4.0);
}

#[test]
fn decodes_raw_little_endian_contents() {
    let mut req = tensor("FP32", vec![1, 2], None);
    req.raw_input_contents = vec![
        [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
    ];
    let x = decode_input(&req).unwrap();
    assert_eq!(x.as_slice().unwrap(), [1.5, -2.0]);
}

#[test]
fn refuses_malformed_tensors_naming_the_field() {
    let cases: Vec<(ModelInferRequest, &str)> = vec![
        (
            ModelInferRequest {
                inputs: vec![],
                ..Default::default()
            },
            "inputs: expected exactly one",
        ),
        (
            tensor("FP64", vec![1, 2], Some(vec![1., 2.])),
            "inputs[0].datatype",
        ),
        (
            tensor("FP32", vec![2], Some(vec![1., 2.])),
            "inputs[0].shape",
        ),
        (
            tensor("FP32", vec![1, 2, 1], Some(vec![1., 2.])),
            "inputs[0].shape",
        ),
        (
            tensor("FP32", vec![-1, 2], Some(vec![1., 2.])),
            "inputs[0].shape",
        ),
        (tensor("FP32", vec![0, 2], Some(vec![])), "empty batch"),
        (
            tensor("FP32", vec![2, 2], Some(vec![1., 2., 3.])),
            "needs 4 values, got 3",
        ),
        (tensor("FP32", vec![1, 2], None), "needs 2 values, got 0"),
    ];
    for (req, needle) in cases {
        let err = decode_input(&req).unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} should contain {needle:?}");
    }
}

#[test]
fn refuses_wrong_typed_contents_and_raw_mismatches() {
    let mut req = tensor("FP32", vec![1, 1], None);
    req.inputs[0].contents = Some(InferTensorContents {
        fp64_contents: vec![1.0],
        ..Default::default()
    });
    assert!(
        decode_input(&req)
            .unwrap_err()
            .to_string()
            .contains("fp64_contents")
    );

    let mut req = tensor("FP32", vec![1, 2], None);
    req.raw_input_contents = vec![vec![0; 7]];
    let err = decode_input(&req).unwrap_err().to_string();
    assert!(
        err.contains("needs 8 bytes") && err.contains("got 7"),
        "{err}"
    );

    let mut req = tensor("FP32", vec![1, 1], Some(vec![1.0]));
    req.raw_input_contents = vec![vec![0; 4]];
    assert_eq!(decode_input(&req).unwrap_err(), InputError::RawAndContents);

    let mut req = tensor("FP32", vec![1, 1], None);
    req.raw_input_contents = vec![vec![0; 4], vec![0; 4]];
    assert_eq!(decode_input(&req).unwrap_err(), InputError::RawCount(2));
}

#[test]
fn check_batch_names_schema_limits_and_non_finite_values() {
    let x = Array2::from_shape_vec((1, 3), vec![1., 2., 3.]).unwrap();
    let err = check_batch(&x, "inputs[0]", "m", &schema(), 10)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expects 2 features [\"a\", \"b\"], got 3"),
        "{err}"
    );

    let x = Array2::from_shape_vec((3, 2), vec![0.; 6]).unwrap();
    let err = check_batch(&x, "inputs[0]", "m", &schema(), 2).unwrap_err();
    assert!(matches!(
        err,
        InputError::TooManyRows {
            max: 2,
            found: 3,
            ..
        }
    ));

    let x = Array2::from_shape_vec((1, 2), vec![0., f32::NAN]).unwrap();
    let err = check_batch(&x, "rows", "m", &schema(), 2)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 0, feature \"b\": expected a finite number"),
        "{err}"
    );
    let x = Array2::from_shape_vec((1, 2), vec![f32::INFINITY, 0.]).unwrap();
    assert!(check_batch(&x, "rows", "m", &schema(), 2).is_err());
}

#[test]
fn named_rows_follow_schema_order() {
    let row = FeatureRow {
        values: vec![],
        features: HashMap::from([("b".to_owned(), 2.0), ("a".to_owned(), 1.0)]),
    };
    let x = decode_rows(&[row], "m", &schema()).unwrap();
    assert_eq!(x.as_slice().unwrap(), [1.0, 2.0]);
}

#[test]
fn refuses_bad_rows_with_the_expected_schema() {
    let named = |pairs: &[(&str, f32)]| FeatureRow {
        values: vec![],
        features: pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
    };
    let positional = |v: Vec<f32>| FeatureRow {
        values: v,
        features: HashMap::new(),
    };
    let err = decode_rows(&[], "m", &schema()).unwrap_err();
    assert_eq!(err, InputError::Empty { field: "rows" });
    let err = decode_rows(&[positional(vec![1.0])], "m", &schema())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rows[0].values") && err.contains("[\"a\", \"b\"]"),
        "{err}"
    );
    let err = decode_rows(&[named(&[("a", 1.0), ("c", 1.0)])], "m", &schema()).unwrap_err();
    assert!(err.to_string().contains("unknown feature \"c\""), "{err}");
    let err = decode_rows(&[named(&[("a", 1.0)])], "m", &schema()).unwrap_err();
    assert!(err.to_string().contains("missing feature \"b\""), "{err}");
    let mut mixed = named(&[("a", 1.0), ("b", 1.0)]);
    mixed.values = vec![1.0, 2.0];
    assert_eq!(
        decode_rows(&[mixed], "m", &schema()).unwrap_err(),
        InputError::MixedRow { row: 0 }
    );
}

mod properties {
    //! The OIP and native decoders on arbitrary input (the `oip_decode`
    //! fuzz target runs the same properties for longer; docs/fuzzing.md).

    use proptest::prelude::*;

    use super::*;

    fn bits(x: &Array2<f32>) -> Vec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    proptest! {
        #[test]
        fn raw_contents_round_trip_bit_for_bit(
            (rows, cols, values) in (1usize..8, 1usize..8)
                .prop_flat_map(|(r, c)| (Just(r), Just(c), prop::collection::vec(any::<u32>(), r * c)))
        ) {
            let mut req = tensor("FP32", vec![rows as i64, cols as i64], None);
            req.raw_input_contents = vec![values.iter().flat_map(|v| v.to_le_bytes()).collect()];
            let x = decode_input(&req).unwrap();
            prop_assert_eq!(x.shape(), [rows, cols]);
            prop_assert_eq!(bits(&x), values);
        }

        #[test]
        fn typed_contents_round_trip_bit_for_bit(
            (rows, cols, values) in (1usize..8, 1usize..8)
                .prop_flat_map(|(r, c)| (Just(r), Just(c), prop::collection::vec(any::<u32>(), r * c)))
        ) {
            let fp32: Vec<f32> = values.iter().map(|b| f32::from_bits(*b)).collect();
            let x = decode_input(&tensor("FP32", vec![rows as i64, cols as i64], Some(fp32))).unwrap();
            prop_assert_eq!(bits(&x), values);
        }

        #[test]
        fn arbitrary_tensors_decode_or_are_refused_without_panic(
            datatype in prop_oneof![Just("FP32".to_owned()), ".{0,6}"],
            shape in prop_oneof![
                prop::collection::vec(any::<i64>(), 0..4),
                prop::collection::vec(-2i64..6, 0..4),
            ],
            fp32 in prop::option::of(prop::collection::vec(any::<f32>(), 0..40)),
            raw in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 0..3),
            max_rows in 1usize..8,
        ) {
            let mut req = tensor(&datatype, shape.clone(), fp32);
            req.raw_input_contents = raw;
            if let Ok(x) = decode_input(&req) {
                prop_assert_eq!(vec![x.nrows() as i64, x.ncols() as i64], shape);
                let schema: Vec<String> = (0..x.ncols()).map(|i| format!("f{i}")).collect();
                if check_batch(&x, "inputs[0]", "m", &schema, max_rows).is_ok() {
                    prop_assert!(x.nrows() <= max_rows);
                    prop_assert!(x.iter().all(|v| v.is_finite()));
                }
            }
        }

        #[test]
        fn raw_length_other_than_four_bytes_per_value_is_refused(
            rows in 1i64..50, cols in 1i64..50, len in 0usize..10_000,
        ) {
            prop_assume!(len != (rows * cols * 4) as usize);
            let mut req = tensor("FP32", vec![rows, cols], None);
            req.raw_input_contents = vec![vec![0; len]];
            let refused = matches!(decode_input(&req), Err(InputError::RawLength { .. }));
            prop_assert!(refused);
        }

        #[test]
        fn arbitrary_native_rows_decode_or_are_refused_without_panic(
            schema in prop::collection::vec("[a-c]{1,2}", 0..4),
            rows in prop::collection::vec(
                (
                    prop::collection::vec(any::<f32>(), 0..4),
                    prop::collection::hash_map("[a-c]{1,2}", any::<f32>(), 0..4),
                ),
                0..5,
            ),
        ) {
            let rows: Vec<FeatureRow> = rows
                .into_iter()
                .map(|(values, features)| FeatureRow { values, features })
                .collect();
            if let Ok(x) = decode_rows(&rows, "m", &schema) {
                prop_assert_eq!(x.shape(), [rows.len(), schema.len()]);
            }
        }
    }
}

#[test]
fn a_wrong_input_name_is_refused_naming_the_field() {
    let mut req = tensor("FP32", vec![1, 2], Some(vec![0.1, 0.2]));
    req.inputs[0].name = "features".into();
    let e = decode_input(&req).unwrap_err();
    assert_eq!(
        e.to_string(),
        "inputs[0].name: expected \"input\" (the one input ModelMetadata lists), got \"features\""
    );
    req.inputs[0].name = "input".into();
    assert!(decode_input(&req).is_ok());
}
