//! Forwarding one request to the node pool with its version pinned: pick a
//! node where that version is ready (power of two choices), call it, eject
//! it on a connect error or UNAVAILABLE and retry once on another node; a
//! NOT_FOUND (the version is not loaded there, whatever its stream said a
//! moment ago) is retried once on another node that has it ready. Any
//! other answer of a node (including its errors) is returned unchanged. The client's deadline
//! goes along: each node call gets what remains of it as `grpc-timeout`,
//! and once it has passed the node is not called (DEADLINE_EXCEEDED).

use bytes::{BufMut, Bytes};
use joust_proto::inference as oip;
use joust_proto::v1 as pb;
use std::marker::PhantomData;
use std::time::Duration;

use joust_security::Deadline;
use joust_security::SecureChannel as Channel;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, GrpcMethod, Request, Status};
use tonic_prost::ProstDecoder;

use crate::error::RouterError;
use crate::pool::Pool;

/// Metadata passed through to the node (trace context); the deadline is
/// set per call from what remains of it.
pub const PASS_THROUGH: [&str; 2] = ["traceparent", "tracestate"];

/// A request the router can forward: OIP `ModelInferRequest` and native
/// `PredictRequest`. It is encoded once (after its version is pinned)
/// and the same bytes go to the first node and, on a retry, the second.
pub trait Forwardable: prost::Message + Default + Clone + Send + Sync + 'static {
    type Response: prost::Message + Default + Send + 'static;
    /// The node's method: (service, method, path).
    const METHOD: (&'static str, &'static str, &'static str);
    /// Pins the version the node must answer with.
    fn pin_version(&mut self, version: u64);
    /// The per-row scores and labels of an answer (for records).
    fn outcome(response: &Self::Response) -> (Vec<f64>, Vec<bool>);
}

impl Forwardable for oip::ModelInferRequest {
    type Response = oip::ModelInferResponse;
    const METHOD: (&'static str, &'static str, &'static str) = (
        "inference.GRPCInferenceService",
        "ModelInfer",
        "/inference.GRPCInferenceService/ModelInfer",
    );

    fn pin_version(&mut self, version: u64) {
        self.model_version = version.to_string();
    }

    /// Through the inference codec; an output that is absent or
    /// malformed records no values (the answer itself goes back as is).
    fn outcome(r: &Self::Response) -> (Vec<f64>, Vec<bool>) {
        use joust_client::inference::{LABEL, SCORE, bool_output, fp32_output};
        let scores = match fp32_output(r, SCORE) {
            Ok(Some(values)) => values.map(f64::from).collect(),
            _ => Vec::new(),
        };
        let labels = match bool_output(r, LABEL) {
            Ok(Some(values)) => values.collect(),
            _ => Vec::new(),
        };
        (scores, labels)
    }
}

impl Forwardable for pb::PredictRequest {
    type Response = pb::PredictResponse;
    const METHOD: (&'static str, &'static str, &'static str) = (
        "joust.v1.Inference",
        "Predict",
        "/joust.v1.Inference/Predict",
    );

    fn pin_version(&mut self, version: u64) {
        self.version = version;
    }

    fn outcome(r: &Self::Response) -> (Vec<f64>, Vec<bool>) {
        (
            r.scores.iter().map(|s| f64::from(*s)).collect(),
            r.labels.clone(),
        )
    }
}

/// Sends an already encoded request message; decodes the answer with
/// prost (as the generated clients do).
struct EncodedCodec<U>(PhantomData<U>);

struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl<U: prost::Message + Default + Send + 'static> Codec for EncodedCodec<U> {
    type Encode = Bytes;
    type Decode = U;
    type Encoder = BytesEncoder;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> ProstDecoder<U> {
        ProstDecoder::default()
    }
}

/// One unary call of `R::METHOD` with the encoded `body`: what the
/// generated client does (readiness, method extension, limits), minus
/// the encoding.
async fn call<R: Forwardable>(
    body: Bytes,
    channel: Channel,
    metadata: MetadataMap,
    max: usize,
) -> Result<R::Response, Status> {
    let (service, method, path) = R::METHOD;
    let mut grpc = tonic::client::Grpc::new(channel)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    grpc.ready().await.map_err(|e| {
        let e: Box<dyn std::error::Error + Send + Sync> = e.into();
        Status::unknown(format!("Service was not ready: {e}"))
    })?;
    let mut req = Request::new(body);
    *req.metadata_mut() = metadata;
    req.extensions_mut()
        .insert(GrpcMethod::new(service, method));
    let codec = EncodedCodec::<R::Response>(PhantomData);
    Ok(grpc
        .unary(req, PathAndQuery::from_static(path), codec)
        .await?
        .into_inner())
}

/// True for failures of the node or the connection to it (not answers of
/// a node's service): the node is ejected and the request retried.
pub fn node_failed(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable => true,
        // A broken connection surfaces as UNKNOWN or CANCELLED with a
        // transport error as source; nodes never answer these themselves.
        Code::Unknown | Code::Cancelled => std::error::Error::source(status).is_some(),
        _ => false,
    }
}

/// Copies the pass-through keys of `incoming`, then puts the router's own
/// span (the per-RPC span of the trace layer) in `traceparent` when
/// tracing is on, so the node's span is the router span's child: one
/// trace from client through router to node. With tracing off the
/// client's `traceparent` goes through unchanged.
pub fn pass_through(incoming: &MetadataMap) -> MetadataMap {
    let mut out = MetadataMap::new();
    for key in PASS_THROUGH {
        if let Some(v) = incoming.get(key) {
            out.insert(key, v.clone());
        }
    }
    joust_telemetry::inject_current(&mut out);
    out
}

/// What remains of `deadline` (`None`: no deadline), or
/// DEADLINE_EXCEEDED when nothing does.
pub fn remaining(deadline: Option<Deadline>) -> Result<Option<Duration>, RouterError> {
    match deadline {
        None => Ok(None),
        Some(d) => {
            let left = d.remaining();
            if left.is_zero() {
                Err(RouterError::DeadlineExceeded)
            } else {
                Ok(Some(left))
            }
        }
    }
}

/// Puts `left` in `metadata` as the node call's `grpc-timeout`.
pub fn set_timeout(metadata: &mut MetadataMap, left: Duration) {
    if let Ok(v) = MetadataValue::try_from(joust_security::deadline::encode(left)) {
        metadata.insert(joust_security::deadline::GRPC_TIMEOUT, v);
    }
}

/// One node call bounded by what remains of `deadline`, which the node
/// gets as `grpc-timeout`. Not made when the deadline has passed.
async fn call_within<R: Forwardable>(
    body: Bytes,
    channel: Channel,
    mut metadata: MetadataMap,
    max: usize,
    deadline: Option<Deadline>,
) -> Result<R::Response, RouterError> {
    let Some(left) = remaining(deadline)? else {
        return call::<R>(body, channel, metadata, max)
            .await
            .map_err(RouterError::Node);
    };
    set_timeout(&mut metadata, left);
    match tokio::time::timeout(left, call::<R>(body, channel, metadata, max)).await {
        Ok(Ok(r)) => Ok(r),
        // tonic's channel enforces the grpc-timeout it sends and answers
        // CANCELLED when it passes: that is the client's deadline, not a
        // failing node.
        Ok(Err(status))
            if status.code() == Code::Cancelled && deadline.is_some_and(Deadline::expired) =>
        {
            Err(RouterError::DeadlineExceeded)
        }
        Ok(Err(status)) => Err(RouterError::Node(status)),
        Err(_) => Err(RouterError::DeadlineExceeded),
    }
}

/// The (model, version) a request pins.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub model: &'a str,
    pub version: u64,
}

/// Why no node was picked for `target`.
fn no_node(pool: &Pool, target: Target<'_>) -> RouterError {
    let members = pool.members();
    if members.is_empty() {
        return RouterError::NoNodes("no member resolved; check --nodes".to_owned());
    }
    let up = members.iter().filter(|n| n.is_up()).count();
    // What each node holds of the model: the reader sees why.
    let held: Vec<String> = members
        .iter()
        .map(|n| format!("{} {}", n.address, n.serving().describe_model(target.model)))
        .collect();
    RouterError::NoNodes(format!(
        "{} nodes, {up} reporting; none has {:?} version {} ready; {}",
        members.len(),
        target.model,
        target.version,
        held.join("; ")
    ))
}

/// Sends `req` to a node of `pool` where `target` is ready; on a node
/// failure or a NOT_FOUND, once more to another such node (if the
/// deadline leaves time for it).
pub async fn forward<R: Forwardable>(
    pool: &Pool,
    target: Target<'_>,
    req: R,
    metadata: MetadataMap,
    max: usize,
    deadline: Option<Deadline>,
) -> Result<R::Response, RouterError> {
    remaining(deadline)?;
    let first = pool
        .pick_for(target.model, target.version, None)
        .ok_or_else(|| no_node(pool, target))?;
    // Encoded once: a retry sends the same bytes.
    let body = Bytes::from(req.encode_to_vec());
    drop(req);
    let result = {
        let _g = first.start();
        call_within::<R>(
            body.clone(),
            first.channel.clone(),
            metadata.clone(),
            max,
            deadline,
        )
        .await
    };
    match result {
        Ok(r) => {
            pool.success(&first);
            Ok(r)
        }
        Err(RouterError::Node(status))
            if node_failed(&status) || status.code() == Code::NotFound =>
        {
            if status.code() == Code::NotFound {
                // The node answered: it is well, it just lacks the version.
                pool.success(&first);
            } else {
                pool.failure(&first);
            }
            let Some(second) = pool.pick_for(target.model, target.version, Some(first.address))
            else {
                return Err(RouterError::Node(status));
            };
            let _g = second.start();
            match call_within::<R>(body, second.channel.clone(), metadata, max, deadline).await {
                Ok(r) => {
                    pool.success(&second);
                    Ok(r)
                }
                Err(RouterError::Node(status)) => {
                    if node_failed(&status) {
                        pool.failure(&second);
                    }
                    Err(RouterError::Node(status))
                }
                Err(other) => Err(other),
            }
        }
        // The node answered (an error of its own) or the deadline passed:
        // nothing says the node is unwell.
        Err(other) => {
            if matches!(other, RouterError::Node(_)) {
                pool.success(&first);
            }
            Err(other)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_passed_deadline_leaves_nothing_to_forward() {
        assert!(remaining(None).unwrap().is_none());
        let now = tokio::time::Instant::now();
        let past = Deadline(now.checked_sub(Duration::from_millis(1)).unwrap_or(now));
        assert!(matches!(
            remaining(Some(past)),
            Err(RouterError::DeadlineExceeded)
        ));
        let left = remaining(Some(Deadline(now + Duration::from_secs(5))))
            .unwrap()
            .unwrap();
        assert!(left <= Duration::from_secs(5) && left > Duration::from_secs(4));
        assert_eq!(RouterError::DeadlineExceeded.code(), Code::DeadlineExceeded);
        // The node is told what remains (never more).
        let mut md = MetadataMap::new();
        set_timeout(&mut md, left);
        let sent = md
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(joust_security::deadline::parse)
            .unwrap();
        assert!(sent <= left && sent > Duration::from_secs(4), "{sent:?}");
    }

    #[test]
    fn neither_the_callers_deadline_nor_its_token_is_copied() {
        let mut incoming = MetadataMap::new();
        incoming.insert("grpc-timeout", "5S".parse().unwrap());
        incoming.insert("authorization", "Bearer caller".parse().unwrap());
        incoming.insert("tracestate", "a=b".parse().unwrap());
        let out = pass_through(&incoming);
        assert!(out.get("grpc-timeout").is_none());
        assert!(out.get("authorization").is_none());
        assert_eq!(out.get("tracestate").unwrap(), "a=b");
    }
}
