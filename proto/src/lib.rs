//! joust-proto owns every `.proto` file of joust and the code generated
//! from them: the `joust.v1` services (registry, and those added by the
//! serving node, router and trials) and the Open Inference Protocol v2
//! (`inference`), and the names the wire carries outside them (event
//! kinds, `x-joust-*` metadata keys, in [`wire`]). It holds no logic: domain crates convert from and to
//! these types at their gRPC edges.

#![allow(clippy::all, missing_docs)]

/// `joust.v1`: joust's own services.
pub mod v1 {
    tonic::include_proto!("joust.v1");
}

/// `inference`: the Open Inference Protocol v2 (KServe v2).
pub mod inference {
    tonic::include_proto!("inference");
}

pub mod wire;

/// The encoded `FileDescriptorSet` of every service, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("joust_descriptor");
