# syntax=docker/dockerfile:1
# The joust image: one static-ish binary (`joust`) that runs every role
#   docker build -t joust:0.1.0 .
#   docker run --rm joust:0.1.0 registry --help
# Build stages: cargo-chef caches the compiled dependencies in their own
# layer, so a source change rebuilds only joust's crates.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /src

# The dependency recipe: manifests and lock file only.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# The caching layer: rebuilt only when Cargo.toml/Cargo.lock change.
RUN cargo chef cook --release --recipe-path recipe.json -p joust
COPY . .
RUN cargo build --release --locked -p joust \
 && install -D -m 0755 target/release/joust /out/joust

# ONNX Runtime for the `onnx` model kind: the shared library PyPI's
# onnxruntime wheel ships (the 1.31 line that ort 2.0.0-rc.15 targets; see
# docs/models.md, "ONNX models"). joust opens it at run time through
# ORT_DYLIB_PATH; the other kinds never touch it.
FROM python:3.11-slim-bookworm AS onnxruntime
RUN pip install --no-cache-dir --target /ort onnxruntime==1.31.1 \
 && install -D -m 0644 /ort/onnxruntime/capi/libonnxruntime.so.1.31.1 /out/libonnxruntime.so.1.31.1

# Runtime: glibc + libgcc + libstdc++ + CA certificates, no shell, uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/joust /usr/local/bin/joust
COPY --from=onnxruntime /out/libonnxruntime.so.1.31.1 /usr/local/lib/onnxruntime/libonnxruntime.so.1.31.1
ENV ORT_DYLIB_PATH=/usr/local/lib/onnxruntime/libonnxruntime.so.1.31.1
USER 65532:65532
WORKDIR /home/nonroot
EXPOSE 7070 7071 7072 9091 9092
ENTRYPOINT ["/usr/local/bin/joust"]
CMD ["--help"]
