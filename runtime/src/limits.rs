//! Explicit message size limits on every service a role serves: the
//! generated servers each have their own `max_*_message_size` methods, so
//! this trait gives them one name.

use joust_proto::inference::grpc_inference_service_server::{
    GrpcInferenceService, GrpcInferenceServiceServer,
};
use joust_proto::v1::detection_server::{Detection, DetectionServer};
use joust_proto::v1::inference_server::{Inference, InferenceServer};
use joust_proto::v1::registry_server::{Registry, RegistryServer};
use joust_proto::v1::router_admin_server::{RouterAdmin, RouterAdminServer};
use joust_proto::v1::serving_admin_server::{ServingAdmin, ServingAdminServer};
use joust_proto::v1::trials_server::{Trials, TrialsServer};

/// A generated gRPC server whose message sizes can be capped.
pub trait MessageLimits {
    /// The server accepting and sending messages of at most `max` bytes.
    fn limited(self, max: usize) -> Self;
}

macro_rules! limits {
    ($($server:ident<$service:ident>),* $(,)?) => {$(
        impl<T: $service> MessageLimits for $server<T> {
            fn limited(self, max: usize) -> Self {
                self.max_decoding_message_size(max)
                    .max_encoding_message_size(max)
            }
        }
    )*};
}

limits!(
    RegistryServer<Registry>,
    TrialsServer<Trials>,
    DetectionServer<Detection>,
    InferenceServer<Inference>,
    GrpcInferenceServiceServer<GrpcInferenceService>,
    ServingAdminServer<ServingAdmin>,
    RouterAdminServer<RouterAdmin>,
);
