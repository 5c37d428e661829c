//! The inference codec: Open Inference Protocol v2 (`inference.*`)
//! messages as joust uses them, built and read in one place. Requests
//! carry one FP32 `[N, F]` tensor named `input` (typed `fp32_contents` or
//! raw little-endian bytes); answers carry `score` (FP32 `[N]`, higher =
//! more anomalous) and `label` (BOOL `[N]`), typed or raw. The node
//! encodes answers with [`encode_outputs`]; the router, detection, the
//! demo, the load generator, the benchmarks and the tests build requests
//! with [`InferRequest`] and read answers with [`decode`] or the borrowing
//! [`fp32_output`] / [`bool_output`]. `model_version` strings are parsed
//! by [`parse_version`]. Pure functions over prost messages: no transport.

mod error;
mod outputs;
mod request;
#[cfg(test)]
mod tests;

pub use error::CodecError;
pub use joust_proto::inference as oip;
pub use outputs::{
    BoolValues, Fp32Values, Requested, Scored, bool_output, decode, encode_outputs, fp32_output,
};
pub use request::{InferRequest, native_request};

/// Name of the request's input tensor.
pub const INPUT: &str = "input";
/// Name of the per-row anomaly score output (FP32).
pub const SCORE: &str = "score";
/// Name of the per-row label output (BOOL).
pub const LABEL: &str = "label";
/// OIP datatype of the input and of `score`.
pub const FP32: &str = "FP32";
/// OIP datatype of `label`.
pub const BOOL: &str = "BOOL";

/// A request's `model_version`: `""` → none (the server's pick),
/// otherwise a version number ≥ 1 in decimal digits (the ref grammar's
/// rule: `+5` is refused).
pub fn parse_version(text: &str) -> Result<Option<u64>, CodecError> {
    if text.is_empty() {
        return Ok(None);
    }
    joust_refs::parse_version("model_version", text)
        .map(Some)
        .map_err(|_| CodecError::BadVersion(text.to_owned()))
}
