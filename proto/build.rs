//! Compiles every .proto under proto/ with protox (pure Rust: no system
//! `protoc` needed) and generates prost messages and tonic services.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "joust/v1/registry.proto",
    "joust/v1/inference.proto",
    "joust/v1/serving_admin.proto",
    "joust/v1/trials.proto",
    "joust/v1/router_admin.proto",
    "joust/v1/detection.proto",
    "joust/v1/detection_rules.proto",
    "inference/grpc_predict_v2.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from("proto");
    // Without this line a new entry in PROTOS would not rerun the script.
    println!("cargo:rerun-if-changed=build.rs");
    for file in PROTOS {
        println!("cargo:rerun-if-changed=proto/{file}");
    }
    let files: Vec<PathBuf> = PROTOS.iter().map(|f| root.join(f)).collect();
    let descriptors = protox::compile(&files, [&root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("joust_descriptor.bin");
    std::fs::write(
        &descriptor_path,
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor_path)
        .skip_protoc_run()
        .compile_fds(descriptors)?;
    Ok(())
}
