//! Tensor data in the three forms the Open Inference Protocol knows: JSON
//! arrays (the REST body), typed `InferTensorContents` (gRPC) and raw
//! little-endian bytes (gRPC `raw_*_contents` and the REST binary-data
//! extension), with the conversions between them for every datatype.

use joust_proto::inference::InferTensorContents;
use serde_json::Value;

use super::error::RestError;

/// An OIP tensor datatype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Fp16,
    Bf16,
    Fp32,
    Fp64,
    Bytes,
}

/// The datatypes, as the protocol spells them.
pub const DATATYPES: &str = "BOOL, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64, FP16, BF16, FP32, FP64 or BYTES";

impl DataType {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "BOOL" => Self::Bool,
            "INT8" => Self::Int8,
            "INT16" => Self::Int16,
            "INT32" => Self::Int32,
            "INT64" => Self::Int64,
            "UINT8" => Self::Uint8,
            "UINT16" => Self::Uint16,
            "UINT32" => Self::Uint32,
            "UINT64" => Self::Uint64,
            "FP16" => Self::Fp16,
            "BF16" => Self::Bf16,
            "FP32" => Self::Fp32,
            "FP64" => Self::Fp64,
            "BYTES" => Self::Bytes,
            _ => return None,
        })
    }

    /// Bytes per element in raw form (`None`: BYTES, length-prefixed).
    pub fn width(self) -> Option<usize> {
        Some(match self {
            Self::Bool | Self::Int8 | Self::Uint8 => 1,
            Self::Int16 | Self::Uint16 | Self::Fp16 | Self::Bf16 => 2,
            Self::Int32 | Self::Uint32 | Self::Fp32 => 4,
            Self::Int64 | Self::Uint64 | Self::Fp64 => 8,
            Self::Bytes => return None,
        })
    }

    /// Half floats have no typed contents and no JSON form here: binary only.
    fn binary_only(self) -> bool {
        matches!(self, Self::Fp16 | Self::Bf16)
    }
}

/// Number of elements a shape describes (`None`: a negative dimension or
/// an overflow).
pub fn element_count(shape: &[i64]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, d| {
        usize::try_from(*d).ok().and_then(|d| acc.checked_mul(d))
    })
}

/// The elements of a JSON `data` value, flattened in row-major order
/// (nested arrays are accepted, as the protocol allows).
pub fn flatten(data: &Value) -> Vec<&Value> {
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            other => out.push(other),
        }
    }
    let mut out = Vec::new();
    walk(data, &mut out);
    out
}

fn int_in(v: &Value, min: i64, max: i64) -> Option<i64> {
    v.as_i64().filter(|x| (min..=max).contains(x))
}

fn uint_in(v: &Value, max: u64) -> Option<u64> {
    v.as_u64().filter(|x| *x <= max)
}

/// JSON elements → typed contents; `field` names the `data` array.
pub fn json_to_contents(
    dtype: DataType,
    values: &[&Value],
    field: &str,
) -> Result<InferTensorContents, RestError> {
    let mut c = InferTensorContents::default();
    let bad = |i: usize, what: &str| {
        RestError::field(
            format!("{field}[{i}]"),
            format!("expected {what}, got {}", values[i]),
        )
    };
    macro_rules! each {
        ($out:expr, $what:expr, $conv:expr) => {{
            for (i, v) in values.iter().enumerate() {
                let conv: fn(&Value) -> Option<_> = $conv;
                $out.push(conv(v).ok_or_else(|| bad(i, $what))?);
            }
        }};
    }
    match dtype {
        DataType::Bool => each!(c.bool_contents, "true or false", Value::as_bool),
        DataType::Int8 => each!(c.int_contents, "an integer in -128..=127", |v| {
            int_in(v, i8::MIN.into(), i8::MAX.into()).map(|x| x as i32)
        }),
        DataType::Int16 => each!(c.int_contents, "an integer in -32768..=32767", |v| {
            int_in(v, i16::MIN.into(), i16::MAX.into()).map(|x| x as i32)
        }),
        DataType::Int32 => each!(c.int_contents, "a 32-bit integer", |v| {
            int_in(v, i32::MIN.into(), i32::MAX.into()).map(|x| x as i32)
        }),
        DataType::Int64 => each!(c.int64_contents, "a 64-bit integer", Value::as_i64),
        DataType::Uint8 => each!(c.uint_contents, "an integer in 0..=255", |v| {
            uint_in(v, u8::MAX.into()).map(|x| x as u32)
        }),
        DataType::Uint16 => each!(c.uint_contents, "an integer in 0..=65535", |v| {
            uint_in(v, u16::MAX.into()).map(|x| x as u32)
        }),
        DataType::Uint32 => each!(c.uint_contents, "an unsigned 32-bit integer", |v| {
            uint_in(v, u32::MAX.into()).map(|x| x as u32)
        }),
        DataType::Uint64 => each!(
            c.uint64_contents,
            "an unsigned 64-bit integer",
            Value::as_u64
        ),
        DataType::Fp32 => each!(c.fp32_contents, "a number", |v| v
            .as_f64()
            .map(|x| x as f32)),
        DataType::Fp64 => each!(c.fp64_contents, "a number", Value::as_f64),
        DataType::Bytes => each!(c.bytes_contents, "a string", |v| v
            .as_str()
            .map(|s| s.as_bytes().to_vec())),
        DataType::Fp16 | DataType::Bf16 => {
            return Err(RestError::field(
                field,
                "FP16 and BF16 tensors travel only as binary data: set parameters.binary_data_size and append the bytes",
            ));
        }
    }
    Ok(c)
}

/// Typed contents → raw little-endian bytes.
pub fn contents_to_raw(dtype: DataType, c: &InferTensorContents) -> Vec<u8> {
    match dtype {
        DataType::Bool => c.bool_contents.iter().map(|b| u8::from(*b)).collect(),
        DataType::Int8 => c.int_contents.iter().map(|x| *x as i8 as u8).collect(),
        DataType::Int16 => c
            .int_contents
            .iter()
            .flat_map(|x| (*x as i16).to_le_bytes())
            .collect(),
        DataType::Int32 => c
            .int_contents
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DataType::Int64 => c
            .int64_contents
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DataType::Uint8 => c.uint_contents.iter().map(|x| *x as u8).collect(),
        DataType::Uint16 => c
            .uint_contents
            .iter()
            .flat_map(|x| (*x as u16).to_le_bytes())
            .collect(),
        DataType::Uint32 => c
            .uint_contents
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DataType::Uint64 => c
            .uint64_contents
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DataType::Fp32 => c
            .fp32_contents
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DataType::Fp64 => c
            .fp64_contents
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DataType::Bytes => c
            .bytes_contents
            .iter()
            .flat_map(|b| {
                (b.len() as u32)
                    .to_le_bytes()
                    .into_iter()
                    .chain(b.iter().copied())
            })
            .collect(),
        DataType::Fp16 | DataType::Bf16 => Vec::new(),
    }
}

/// Raw little-endian bytes → typed contents; `field` names where the bytes
/// came from. Fails when the length is not a whole number of elements.
pub fn raw_to_contents(
    dtype: DataType,
    raw: &[u8],
    field: &str,
) -> Result<InferTensorContents, RestError> {
    let mut c = InferTensorContents::default();
    if dtype == DataType::Bytes {
        let mut rest = raw;
        while !rest.is_empty() {
            let (len, tail) = rest
                .split_first_chunk::<4>()
                .map(|(l, t)| (u32::from_le_bytes(*l) as usize, t))
                .ok_or_else(|| {
                    RestError::field(field, "BYTES: expected a 4-byte length before each element")
                })?;
            if tail.len() < len {
                return Err(RestError::field(
                    field,
                    format!("BYTES: an element of {len} bytes runs past the end of the data"),
                ));
            }
            c.bytes_contents.push(tail[..len].to_vec());
            rest = &tail[len..];
        }
        return Ok(c);
    }
    let width = dtype.width().unwrap_or(1);
    if !raw.len().is_multiple_of(width) {
        return Err(RestError::field(
            field,
            format!(
                "{} bytes is not a whole number of {width}-byte elements",
                raw.len()
            ),
        ));
    }
    macro_rules! le {
        ($out:expr, $ty:ty, $to:ty) => {
            $out.extend(
                raw.chunks_exact(std::mem::size_of::<$ty>())
                    .map(|b| <$ty>::from_le_bytes(b.try_into().unwrap_or_default()) as $to),
            )
        };
    }
    match dtype {
        DataType::Bool => c.bool_contents.extend(raw.iter().map(|b| *b != 0)),
        DataType::Int8 => c
            .int_contents
            .extend(raw.iter().map(|b| i32::from(*b as i8))),
        DataType::Int16 => le!(c.int_contents, i16, i32),
        DataType::Int32 => le!(c.int_contents, i32, i32),
        DataType::Int64 => le!(c.int64_contents, i64, i64),
        DataType::Uint8 => c.uint_contents.extend(raw.iter().map(|b| u32::from(*b))),
        DataType::Uint16 => le!(c.uint_contents, u16, u32),
        DataType::Uint32 => le!(c.uint_contents, u32, u32),
        DataType::Uint64 => le!(c.uint64_contents, u64, u64),
        DataType::Fp32 => le!(c.fp32_contents, f32, f32),
        DataType::Fp64 => le!(c.fp64_contents, f64, f64),
        DataType::Fp16 | DataType::Bf16 => {
            return Err(RestError::field(
                field,
                "FP16 and BF16 tensors travel only as binary data: request the output with parameters.binary_data true",
            ));
        }
        DataType::Bytes => {}
    }
    Ok(c)
}

/// Typed contents → JSON elements (flat). A non-finite float has no JSON
/// form and becomes `null`.
pub fn contents_to_json(dtype: DataType, c: &InferTensorContents) -> Vec<Value> {
    match dtype {
        DataType::Bool => c.bool_contents.iter().map(|b| Value::Bool(*b)).collect(),
        DataType::Int8 | DataType::Int16 | DataType::Int32 => {
            c.int_contents.iter().map(|x| Value::from(*x)).collect()
        }
        DataType::Int64 => c.int64_contents.iter().map(|x| Value::from(*x)).collect(),
        DataType::Uint8 | DataType::Uint16 | DataType::Uint32 => {
            c.uint_contents.iter().map(|x| Value::from(*x)).collect()
        }
        DataType::Uint64 => c.uint64_contents.iter().map(|x| Value::from(*x)).collect(),
        DataType::Fp32 => c.fp32_contents.iter().map(|x| Value::from(*x)).collect(),
        DataType::Fp64 => c.fp64_contents.iter().map(|x| Value::from(*x)).collect(),
        DataType::Bytes => c
            .bytes_contents
            .iter()
            .map(|b| Value::String(String::from_utf8_lossy(b).into_owned()))
            .collect(),
        DataType::Fp16 | DataType::Bf16 => Vec::new(),
    }
}

/// Checks that `data` (JSON elements) or `raw` (binary) hold what `shape`
/// describes; `field` names the data.
pub fn check_count(
    dtype: DataType,
    shape: &[i64],
    elements: Option<usize>,
    raw: Option<&[u8]>,
    field: &str,
) -> Result<(), RestError> {
    let Some(expected) = element_count(shape) else {
        return Err(RestError::field(
            field,
            format!("shape {shape:?}: expected dimensions ≥ 0"),
        ));
    };
    if let Some(found) = elements
        && found != expected
    {
        return Err(RestError::field(
            field,
            format!("shape {shape:?} needs {expected} values, got {found}"),
        ));
    }
    if let (Some(raw), Some(width)) = (raw, dtype.width()) {
        let needed = expected.saturating_mul(width);
        if raw.len() != needed {
            return Err(RestError::field(
                field,
                format!(
                    "shape {shape:?} needs {needed} bytes ({width} per value), got {}",
                    raw.len()
                ),
            ));
        }
    }
    if dtype.binary_only() && raw.is_none() {
        return Err(RestError::field(
            field,
            "FP16 and BF16 tensors travel only as binary data",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn roundtrip(dtype: DataType, data: Value) -> Vec<Value> {
        let flat = flatten(&data);
        let typed = json_to_contents(dtype, &flat, "data").unwrap();
        let raw = contents_to_raw(dtype, &typed);
        let back = raw_to_contents(dtype, &raw, "raw").unwrap();
        assert_eq!(back, typed, "{dtype:?}");
        contents_to_json(dtype, &back)
    }

    #[test]
    fn every_json_datatype_survives_raw_and_back() {
        use serde_json::json;
        let cases = [
            (DataType::Bool, json!([true, false, true])),
            (DataType::Int8, json!([-128, 0, 127])),
            (DataType::Int16, json!([-32768, 5, 32767])),
            (DataType::Int32, json!([-1, 2147483647])),
            (DataType::Int64, json!([-9007199254740993i64, 7])),
            (DataType::Uint8, json!([0, 255])),
            (DataType::Uint16, json!([65535])),
            (DataType::Uint32, json!([4294967295u64])),
            (DataType::Uint64, json!([18446744073709551615u64])),
            (DataType::Fp32, json!([0.5, -1.25, 3.0])),
            (DataType::Fp64, json!([0.1, 1e300])),
            (DataType::Bytes, json!(["a", "", "héllo"])),
        ];
        for (dtype, data) in cases {
            let flat: Vec<Value> = flatten(&data).into_iter().cloned().collect();
            assert_eq!(roundtrip(dtype, data), flat, "{dtype:?}");
        }
    }

    #[test]
    fn nested_data_is_flattened_row_major() {
        let data = serde_json::json!([[1, 2], [3, 4]]);
        let flat: Vec<i64> = flatten(&data).iter().filter_map(|v| v.as_i64()).collect();
        assert_eq!(flat, [1, 2, 3, 4]);
    }

    #[test]
    fn a_wrong_element_is_named_with_its_index_and_expectation() {
        let data = serde_json::json!([1.0, "x"]);
        let e = json_to_contents(DataType::Fp32, &flatten(&data), "inputs[0].data").unwrap_err();
        assert_eq!(
            e.to_string(),
            "inputs[0].data[1]: expected a number, got \"x\""
        );
        let data = serde_json::json!([300]);
        let e = json_to_contents(DataType::Uint8, &flatten(&data), "d").unwrap_err();
        assert!(e.to_string().contains("0..=255"), "{e}");
    }

    #[test]
    fn counts_and_byte_lengths_are_checked_against_the_shape() {
        check_count(DataType::Fp32, &[2, 3], Some(6), None, "d").unwrap();
        let e = check_count(DataType::Fp32, &[2, 3], Some(5), None, "d").unwrap_err();
        assert_eq!(e.to_string(), "d: shape [2, 3] needs 6 values, got 5");
        let e = check_count(DataType::Fp64, &[2], None, Some(&[0; 12]), "d").unwrap_err();
        assert_eq!(
            e.to_string(),
            "d: shape [2] needs 16 bytes (8 per value), got 12"
        );
        assert!(check_count(DataType::Fp32, &[-1], Some(0), None, "d").is_err());
        assert!(raw_to_contents(DataType::Fp32, &[0; 5], "r").is_err());
        assert!(raw_to_contents(DataType::Bytes, &[9, 0, 0, 0, 1], "r").is_err());
    }
}
