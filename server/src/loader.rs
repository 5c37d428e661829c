//! Loading a version: resolve the ref in the registry, download the
//! artifact, verify its SHA-256, decode it and warm it by scoring a probe
//! row. The registry is reached through `joust_client::RegistryClient` on
//! a lazy channel, which reconnects by itself after the registry comes
//! back. The download is joust-client's `read_artifact` (an opaque version
//! is refused on its header, before its bytes); the SHA-256 is checked
//! before decoding, on a blocking thread.

use std::time::{Duration, Instant};

use joust_client::{ArtifactRead, ClientError, RegistryClient};
use joust_models::onnx::OnnxMapping;
use joust_models::{Model, ModelError, ModelKind};
use joust_proto::v1::ModelVersion;
use joust_proto::v1::registry_client::RegistryClient as RawRegistryClient;
use joust_security::{ClientSecurity, SecureChannel};
use ndarray::Array2;
use sha2::{Digest, Sha256};

use crate::error::ServeError;
use crate::table::LoadedModel;

/// The node's view of the registry.
#[derive(Debug, Clone)]
pub struct Loader {
    client: RegistryClient,
}

impl Loader {
    /// A client for `url`; nothing is connected until the first call.
    pub fn new(
        url: &str,
        max_message_bytes: usize,
        security: &ClientSecurity,
    ) -> Result<Self, ServeError> {
        let endpoint = security
            .endpoint(url)
            .map_err(|e| ServeError::Config(format!("registry: {e}")))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        let client = RegistryClient::new(security.wrap(endpoint.connect_lazy()))
            .with_max_message_bytes(max_message_bytes);
        Ok(Self { client })
    }

    fn registry_error(call: &'static str, reference: &str, e: ClientError) -> ServeError {
        match e {
            ClientError::Status(s) => ServeError::Registry {
                call,
                reference: reference.to_owned(),
                code: s.code(),
                message: s.message().to_owned(),
            },
            ClientError::Connect(message) => ServeError::Registry {
                call,
                reference: reference.to_owned(),
                code: tonic::Code::Unavailable,
                message,
            },
            ClientError::Integrity {
                declared, actual, ..
            } => ServeError::ChecksumMismatch {
                reference: reference.to_owned(),
                declared,
                actual,
            },
            ClientError::Protocol(message) => ServeError::Protocol(message),
        }
    }

    /// What `reference` points at now.
    pub async fn resolve(&self, reference: &str) -> Result<ModelVersion, ServeError> {
        self.client
            .get_version(reference)
            .await
            .map_err(|e| Self::registry_error("GetVersion", reference, e))
    }

    /// Downloads `model:version` and returns the
    /// registry's record and the bytes.
    pub async fn download(
        &self,
        model: &str,
        version: u64,
    ) -> Result<(ModelVersion, Vec<u8>), ServeError> {
        let reference = format!("{model}:{version}");
        // Opaque blobs are stored, never served: refused on the version's
        // header, before its bytes are read. The digest is checked by
        // `verify_decode_warm`, off the async threads.
        let read = self
            .client
            .read_artifact(&reference, |v| v.kind != joust_models::artifact::OPAQUE)
            .await
            .map_err(|e| Self::registry_error("DownloadArtifact", &reference, e))?;
        match read {
            ArtifactRead::Bytes(meta, bytes) => Ok((meta, bytes)),
            ArtifactRead::NotAdmitted(v) => Err(ServeError::NotServable {
                reference,
                kind: v.kind,
            }),
        }
    }

    /// Every model in the registry (all pages), as follow-all mode needs
    /// it: the name and whether a champion and a challenger exist.
    pub async fn list_models(&self) -> Result<Vec<crate::discovery::Listed>, ServeError> {
        let models = self
            .client
            .list_models()
            .await
            .map_err(|e| Self::registry_error("ListModels", "*", e))?;
        Ok(models
            .into_iter()
            .map(|m| crate::discovery::Listed {
                name: m.name,
                champion: m.champion_version != 0,
                challenger: m.challenger_version != 0,
            })
            .collect())
    }

    /// One model as follow-all mode needs it (`GetModel`: one row, not
    /// the whole listing); `None` when the registry has no such model.
    pub async fn get_listed(
        &self,
        model: &str,
    ) -> Result<Option<crate::discovery::Listed>, ServeError> {
        match self.client.get_model(model).await {
            Ok(m) => Ok(Some(crate::discovery::Listed {
                name: m.name,
                champion: m.champion_version != 0,
                challenger: m.challenger_version != 0,
            })),
            Err(ClientError::Status(s)) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(e) => Err(Self::registry_error("GetModel", model, e)),
        }
    }

    /// A client of the registry on the node's channel (for the Watch
    /// follower).
    pub fn registry(&self) -> RawRegistryClient<SecureChannel> {
        self.client.raw()
    }

    /// Downloads, verifies, decodes and warms `model:version`. Decoding
    /// and warm-up run on the blocking pool.
    pub async fn load(&self, model: &str, version: u64) -> Result<LoadedModel, ServeError> {
        let started = Instant::now();
        let (meta, bytes) = self.download(model, version).await?;
        let reference = format!("{model}:{version}");
        let decoded = tokio::task::spawn_blocking(move || {
            let annotations = meta
                .annotations
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()));
            verify_decode_warm_annotated(&reference, &meta.kind, &meta.sha256, &bytes, annotations)
                .map(|m| (m, meta))
        })
        .await
        .map_err(|e| ServeError::Internal(format!("decode task: {e}")))?;
        let (decoded, meta) = decoded?;
        Ok(LoadedModel::new(
            meta.model,
            meta.version,
            meta.sha256,
            decoded,
            started.elapsed(),
        ))
    }
}

/// Checks `bytes` against the declared SHA-256, decodes them (a joust
/// artifact, or an `.onnx` file for kind `onnx`) and scores one probe row
/// of zeros.
pub fn verify_decode_warm(
    reference: &str,
    kind: &str,
    declared: &str,
    bytes: &[u8],
) -> Result<Model, ServeError> {
    verify_decode_warm_annotated(reference, kind, declared, bytes, std::iter::empty())
}

/// `verify_decode_warm` for a version with annotations: an onnx version's
/// output mapping is read from its `onnx.*` entries.
pub fn verify_decode_warm_annotated<'a>(
    reference: &str,
    kind: &str,
    declared: &str,
    bytes: &[u8],
    annotations: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Model, ServeError> {
    let actual = hex::encode(Sha256::digest(bytes));
    if !actual.eq_ignore_ascii_case(declared) {
        return Err(ServeError::ChecksumMismatch {
            reference: reference.to_owned(),
            declared: declared.to_owned(),
            actual,
        });
    }
    if kind == ModelKind::Onnx.as_str() {
        let warm_error = |source| ServeError::Warm {
            reference: reference.to_owned(),
            source,
        };
        let mapping = OnnxMapping::from_annotations(annotations)
            .map_err(|m| warm_error(ModelError::OnnxMapping(m)))?;
        let model = Model::from_onnx_mapped(bytes, &mapping).map_err(warm_error)?;
        return warm(reference, model);
    }
    decode_warm(reference, bytes)
}

/// Decodes `bytes` and scores one probe row of zeros.
fn decode_warm(reference: &str, bytes: &[u8]) -> Result<Model, ServeError> {
    let model = Model::from_bytes(bytes).map_err(|source| ServeError::Corrupt {
        reference: reference.to_owned(),
        source,
    })?;
    warm(reference, model)
}

fn warm(reference: &str, model: Model) -> Result<Model, ServeError> {
    let probe = Array2::<f32>::zeros((1, model.n_features()));
    model
        .predict(probe.view())
        .map_err(|source| ServeError::Warm {
            reference: reference.to_owned(),
            source,
        })?;
    Ok(model)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use joust_models::TrainConfig;

    use super::*;

    fn artifact() -> Vec<u8> {
        let x = Array2::from_shape_fn((32, 2), |(i, j)| (i * 2 + j) as f32);
        let model = Model::train(
            &TrainConfig::new(ModelKind::Noop),
            vec!["a".into(), "b".into()],
            x.view(),
        )
        .unwrap();
        model.to_bytes().unwrap()
    }

    #[test]
    fn verifies_decodes_and_warms() {
        let bytes = artifact();
        let sha = hex::encode(Sha256::digest(&bytes));
        let model = verify_decode_warm("m:1", "noop", &sha, &bytes).unwrap();
        assert_eq!(model.schema(), ["a", "b"]);
    }

    #[test]
    fn refuses_a_checksum_mismatch_naming_both_hashes() {
        let bytes = artifact();
        let err = verify_decode_warm("m:1", "noop", &"0".repeat(64), &bytes).unwrap_err();
        assert_eq!(err.code(), tonic::Code::FailedPrecondition);
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
    }

    #[test]
    fn refuses_corrupt_bytes() {
        let bytes = b"not a model".to_vec();
        let sha = hex::encode(Sha256::digest(&bytes));
        let err = verify_decode_warm("m:1", "noop", &sha, &bytes).unwrap_err();
        assert_eq!(err.code(), tonic::Code::FailedPrecondition);
        assert!(err.to_string().contains("corrupt artifact"), "{err}");
    }
}
