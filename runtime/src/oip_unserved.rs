//! The Open Inference Protocol methods a role does not serve, and what to
//! use instead. Triton's clients (`tritonclient.grpc`, `tritonclient.http`)
//! call methods beyond the KServe v2 service joust vendors (`ModelConfig`,
//! `ModelStatistics`, `RepositoryIndex`, shared memory, …); without this
//! table tonic answers them UNIMPLEMENTED with an empty message. Here is
//! the one table of those methods, the gRPC layer that answers them
//! ([`OipUnservedLayer`], on every role serving
//! `inference.GRPCInferenceService`) and the REST paths
//! ([`rest_instead`], the HTTP API's 404 body).

use std::task::{Context, Poll};

use tower::{Layer, Service};

/// The vendored OIP service's name.
pub const SERVICE: &str = "inference.GRPCInferenceService";

/// The methods of `inference.GRPCInferenceService` joust serves (the
/// vendored KServe v2 proto; a unit test checks this against it).
pub const SERVED: [&str; 6] = [
    "ServerLive",
    "ServerReady",
    "ModelReady",
    "ServerMetadata",
    "ModelMetadata",
    "ModelInfer",
];

const SHARED_MEMORY: &str = "shared memory is not supported: send the tensors in the request (ModelInfer's typed contents or raw_input_contents; over REST, JSON data or the binary-data extension)";

/// What to use instead of an OIP gRPC method joust does not serve.
pub fn instead(method: &str) -> String {
    let advice = match method {
        "ModelConfig" => "use ModelMetadata for the inputs and outputs (names, datatypes, shapes)",
        "ModelStatistics" => {
            "use the node's /metrics (Prometheus, --metrics-listen) for request counts and latencies, or joust.v1.ServingAdmin/ListLoaded for the loaded versions"
        }
        "RepositoryIndex" => {
            "use joust.v1.ServingAdmin/ListLoaded on the serving node (the loaded models) or the registry (`joust model list`)"
        }
        "RepositoryModelLoad" => {
            "use joust.v1.ServingAdmin/Reload on the serving node (nodes load what the registry's stages and aliases say)"
        }
        "RepositoryModelUnload" => "use joust.v1.ServingAdmin/Unload on the serving node",
        "ModelStreamInfer" => "use unary ModelInfer (one call per request)",
        "SystemSharedMemoryStatus"
        | "SystemSharedMemoryRegister"
        | "SystemSharedMemoryUnregister"
        | "CudaSharedMemoryStatus"
        | "CudaSharedMemoryRegister"
        | "CudaSharedMemoryUnregister" => SHARED_MEMORY,
        "TraceSetting" => {
            "tracing is set when the process starts: W3C traceparent metadata is always continued; spans are exported over OTLP with --otlp-endpoint (OTEL_EXPORTER_OTLP_ENDPOINT)"
        }
        "LogSettings" => {
            "logging is set when the process starts: JOUST_LOG (EnvFilter syntax) and --log-json"
        }
        _ => {
            return format!(
                "{SERVICE}/{method}: not a method joust serves; served: {}",
                SERVED.join(", ")
            );
        }
    };
    format!("{SERVICE}/{method}: not served by joust; {advice}")
}

/// The unserved OIP method a gRPC path names, if it names one.
fn unserved(path: &str) -> Option<&str> {
    let method = path
        .strip_prefix('/')?
        .strip_prefix(SERVICE)?
        .strip_prefix('/')?;
    (!SERVED.contains(&method)).then_some(method)
}

/// What to use instead of a Triton REST endpoint joust does not serve
/// (`/v2/models/NAME/config`, `/v2/repository/index`, …); `None` for a
/// path that is no Triton endpoint. (Triton's `/v2/models/stats`, every
/// model's statistics, is the metadata path of a model named `stats`
/// here, as KServe's paths say; it is answered as that.)
pub fn rest_instead(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = match segments.as_slice() {
        ["v2", "models", _, "config"] | ["v2", "models", _, "versions", _, "config"] => {
            "ModelConfig"
        }
        ["v2", "models", _, "stats"] | ["v2", "models", _, "versions", _, "stats"] => {
            "ModelStatistics"
        }
        ["v2", "models", _, "generate" | "generate_stream"]
        | [
            "v2",
            "models",
            _,
            "versions",
            _,
            "generate" | "generate_stream",
        ] => {
            return Some(format!(
                "{path}: not served by joust; the generate extension is not supported: use POST /v2/models/NAME/infer"
            ));
        }
        ["v2", "repository", "index"] => "RepositoryIndex",
        ["v2", "repository", "models", _, "load"] => "RepositoryModelLoad",
        ["v2", "repository", "models", _, "unload"] => "RepositoryModelUnload",
        ["v2", "systemsharedmemory" | "cudasharedmemory", ..] => "SystemSharedMemoryStatus",
        ["v2", "trace", "setting"] | ["v2", "models", _, "trace", "setting"] => "TraceSetting",
        ["v2", "logging"] => "LogSettings",
        _ => return None,
    };
    let full = instead(method);
    let advice = full.split_once("; ").map_or(full.as_str(), |(_, a)| a);
    Some(format!("{path}: not served by joust; {advice}"))
}

/// Answers every unserved method of `inference.GRPCInferenceService`
/// UNIMPLEMENTED with [`instead`]'s message, before it reaches the
/// service (whose generated router would answer with an empty message).
/// Off for roles that do not serve the service.
#[derive(Debug, Clone, Copy, Default)]
pub struct OipUnservedLayer {
    /// The role serves `inference.GRPCInferenceService`.
    pub on: bool,
}

impl<S> Layer<S> for OipUnservedLayer {
    type Service = OipUnservedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OipUnservedService { inner, on: self.on }
    }
}

/// The service [`OipUnservedLayer`] builds.
#[derive(Debug, Clone)]
pub struct OipUnservedService<S> {
    inner: S,
    on: bool,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for OipUnservedService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::Either<
        futures::future::Ready<Result<http::Response<ResBody>, S::Error>>,
        S::Future,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        if self.on
            && let Some(method) = unserved(request.uri().path())
        {
            let status = tonic::Status::unimplemented(instead(method));
            return futures::future::Either::Left(futures::future::ready(Ok(status.into_http())));
        }
        futures::future::Either::Right(self.inner.call(request))
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn served_is_the_vendored_service() {
        let set = prost_types::FileDescriptorSet::decode(joust_proto::FILE_DESCRIPTOR_SET)
            .expect("the proto crate's descriptor set decodes");
        let methods: Vec<String> = set
            .file
            .iter()
            .filter(|f| f.package() == "inference")
            .flat_map(|f| &f.service)
            .filter(|s| s.name() == "GRPCInferenceService")
            .flat_map(|s| &s.method)
            .map(|m| m.name().to_owned())
            .collect();
        assert_eq!(methods, SERVED);
    }

    #[test]
    fn only_unserved_methods_of_the_oip_service_are_caught() {
        assert_eq!(
            unserved("/inference.GRPCInferenceService/ModelConfig"),
            Some("ModelConfig")
        );
        assert_eq!(
            unserved("/inference.GRPCInferenceService/Anything"),
            Some("Anything")
        );
        for method in SERVED {
            assert_eq!(unserved(&format!("/{SERVICE}/{method}")), None);
        }
        assert_eq!(unserved("/joust.v1.Inference/ModelConfig"), None);
        assert_eq!(
            unserved("/inference.GRPCInferenceServiceX/ModelConfig"),
            None
        );
    }

    #[test]
    fn every_triton_method_says_what_to_use() {
        for (method, says) in [
            ("ModelConfig", "ModelMetadata"),
            ("ModelStatistics", "/metrics"),
            ("RepositoryIndex", "ServingAdmin/ListLoaded"),
            ("RepositoryModelLoad", "ServingAdmin/Reload"),
            ("RepositoryModelUnload", "ServingAdmin/Unload"),
            ("ModelStreamInfer", "unary ModelInfer"),
            (
                "SystemSharedMemoryRegister",
                "send the tensors in the request",
            ),
            ("CudaSharedMemoryStatus", "send the tensors in the request"),
            ("TraceSetting", "--otlp-endpoint"),
            ("LogSettings", "JOUST_LOG"),
            ("Frobnicate", "served: ServerLive"),
        ] {
            let message = instead(method);
            assert!(message.contains(method), "{message}");
            assert!(message.contains(says), "{method}: {message}");
        }
    }

    #[test]
    fn triton_rest_paths_say_what_to_use() {
        for (path, says) in [
            ("/v2/models/m/config", "ModelMetadata"),
            ("/v2/models/m/versions/3/config", "ModelMetadata"),
            ("/v2/models/m/stats", "/metrics"),
            ("/v2/repository/index", "ListLoaded"),
            ("/v2/repository/models/m/load", "Reload"),
            ("/v2/repository/models/m/unload", "Unload"),
            ("/v2/systemsharedmemory/status", "send the tensors"),
            ("/v2/cudasharedmemory/region/r/register", "send the tensors"),
            ("/v2/trace/setting", "--otlp-endpoint"),
            ("/v2/logging", "JOUST_LOG"),
            ("/v2/models/m/generate", "/infer"),
        ] {
            let message = rest_instead(path).unwrap_or_default();
            assert!(message.starts_with(path), "{path}: {message}");
            assert!(message.contains(says), "{path}: {message}");
        }
        assert_eq!(rest_instead("/v3/nothing"), None);
        assert_eq!(rest_instead("/v2/models/m/infer/more"), None);
    }
}
