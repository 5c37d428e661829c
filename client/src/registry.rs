//! The registry client.

use std::collections::HashMap;

use bytes::Bytes;
use joust_proto::v1 as pb;
use joust_proto::v1::registry_client::RegistryClient as Raw;
use joust_security::{ClientSecurity, SecureChannel as Channel};
use sha2::{Digest, Sha256};
use tonic::{Request, Streaming};

use crate::error::ClientError;

/// Upload chunk size.
const CHUNK: usize = 1 << 20;
/// Largest message this client accepts.
const MAX_MESSAGE: usize = 16 << 20;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `bytes` hash to `declared` (hex, either case), else an integrity error
/// naming `what`.
fn check_digest(
    what: impl FnOnce() -> String,
    declared: &str,
    bytes: &[u8],
) -> Result<(), ClientError> {
    let actual = sha256_hex(bytes);
    if actual.eq_ignore_ascii_case(declared) {
        Ok(())
    } else {
        Err(ClientError::Integrity {
            what: what(),
            declared: declared.to_owned(),
            actual,
        })
    }
}

/// What [`RegistryClient::read_artifact`] read.
#[derive(Debug)]
pub enum ArtifactRead {
    /// The version and its bytes (digest not checked).
    Bytes(pb::ModelVersion, Vec<u8>),
    /// `admit` refused the version on its header: no bytes were read.
    NotAdmitted(pb::ModelVersion),
}

#[derive(Debug, Clone)]
pub struct RegistryClient {
    raw: Raw<Channel>,
    actor: Option<String>,
}

impl RegistryClient {
    pub async fn connect(url: &str) -> Result<Self, ClientError> {
        Ok(Self::new(crate::channel(url).await?))
    }

    /// Connects to `url` with `security`'s TLS and token.
    pub async fn connect_with(url: &str, security: &ClientSecurity) -> Result<Self, ClientError> {
        Ok(Self::new(crate::connect(url, security).await?))
    }

    /// A client on `channel`: a tonic `Channel` (no token) or a
    /// [`joust_security::SecureChannel`].
    pub fn new(channel: impl Into<Channel>) -> Self {
        Self {
            raw: Raw::new(channel.into())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            actor: None,
        }
    }

    /// Largest message sent or accepted (default 16 MiB).
    pub fn with_max_message_bytes(mut self, max: usize) -> Self {
        self.raw = self
            .raw
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        self
    }

    /// Names the acting user in audit events (`x-joust-actor`).
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// The generated client, for calls this wrapper does not cover.
    pub fn raw(&self) -> Raw<Channel> {
        self.raw.clone()
    }

    fn req<T>(&self, msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        if let Some(a) = self.actor.as_deref().and_then(|a| a.parse().ok()) {
            r.metadata_mut()
                .insert(joust_proto::wire::metadata::ACTOR, a);
        }
        r
    }

    pub async fn create_model(
        &self,
        name: &str,
        description: &str,
    ) -> Result<pb::Model, ClientError> {
        let r = self.req(pb::CreateModelRequest {
            name: name.into(),
            description: description.into(),
        });
        Ok(self.raw.clone().create_model(r).await?.into_inner())
    }

    pub async fn get_model(&self, name: &str) -> Result<pb::Model, ClientError> {
        let r = self.req(pb::GetModelRequest { name: name.into() });
        Ok(self.raw.clone().get_model(r).await?.into_inner())
    }

    /// Every model, following pages.
    pub async fn list_models(&self) -> Result<Vec<pb::Model>, ClientError> {
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let r = self.req(pb::ListModelsRequest {
                page_size: 500,
                page_token: page_token.clone(),
            });
            let resp = self.raw.clone().list_models(r).await?.into_inner();
            out.extend(resp.models);
            if resp.next_page_token.is_empty() {
                return Ok(out);
            }
            page_token = resp.next_page_token;
        }
    }

    /// Uploads an artifact with its client-side SHA-256.
    pub async fn register_version(
        &self,
        model: &str,
        kind: &str,
        bytes: Bytes,
        annotations: HashMap<String, String>,
        metrics_json: &str,
    ) -> Result<pb::ModelVersion, ClientError> {
        use pb::register_version_request::Part;
        let meta = pb::VersionMetadata {
            model: model.into(),
            kind: kind.into(),
            sha256: sha256_hex(&bytes),
            annotations,
            metrics_json: metrics_json.into(),
        };
        let mut msgs = vec![pb::RegisterVersionRequest {
            part: Some(Part::Metadata(meta)),
        }];
        msgs.extend(bytes.chunks(CHUNK).map(|c| pb::RegisterVersionRequest {
            part: Some(Part::Chunk(c.to_vec())),
        }));
        let r = self.req(futures::stream::iter(msgs));
        Ok(self.raw.clone().register_version(r).await?.into_inner())
    }

    pub async fn get_version(&self, reference: &str) -> Result<pb::ModelVersion, ClientError> {
        let r = self.req(pb::GetVersionRequest {
            r#ref: reference.into(),
        });
        Ok(self.raw.clone().get_version(r).await?.into_inner())
    }

    /// Every version of a model (optionally of one status), following pages.
    pub async fn list_versions(
        &self,
        model: &str,
        status: pb::VersionStatus,
    ) -> Result<Vec<pb::ModelVersion>, ClientError> {
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let r = self.req(pb::ListVersionsRequest {
                model: model.into(),
                status: status.into(),
                page_size: 500,
                page_token: page_token.clone(),
            });
            let resp = self.raw.clone().list_versions(r).await?.into_inner();
            out.extend(resp.versions);
            if resp.next_page_token.is_empty() {
                return Ok(out);
            }
            page_token = resp.next_page_token;
        }
    }

    /// Downloads an artifact and checks its SHA-256 against the version's:
    /// the version first, then chunks; anything else is a protocol error.
    pub async fn download_artifact(
        &self,
        reference: &str,
    ) -> Result<(pb::ModelVersion, Bytes), ClientError> {
        match self.read_artifact(reference, |_| true).await? {
            ArtifactRead::Bytes(version, buf) => {
                check_digest(
                    || format!("{}:{}", version.model, version.version),
                    &version.sha256,
                    &buf,
                )?;
                Ok((version, buf.into()))
            }
            ArtifactRead::NotAdmitted(v) => Err(ClientError::Protocol(format!(
                "DownloadArtifact {reference}: version {} not admitted",
                v.version
            ))),
        }
    }

    /// Reads an artifact's stream as the registry frames it (the version
    /// first, then chunks; anything else is a protocol error) *without*
    /// checking the digest, for callers that verify it elsewhere (the node
    /// hashes off its async threads). `admit` sees the version before any
    /// chunk is read; when it says no, nothing more is read.
    pub async fn read_artifact(
        &self,
        reference: &str,
        admit: impl FnOnce(&pb::ModelVersion) -> bool,
    ) -> Result<ArtifactRead, ClientError> {
        use pb::download_artifact_response::Part;
        let r = self.req(pb::DownloadArtifactRequest {
            r#ref: reference.into(),
        });
        let mut stream = self.raw.clone().download_artifact(r).await?.into_inner();
        let version = match stream.message().await? {
            Some(pb::DownloadArtifactResponse {
                part: Some(Part::Version(v)),
            }) => v,
            None => {
                return Err(ClientError::Protocol(format!(
                    "DownloadArtifact {reference}: empty stream"
                )));
            }
            other => {
                return Err(ClientError::Protocol(format!(
                    "DownloadArtifact {reference}: expected the version first, got {other:?}"
                )));
            }
        };
        if !admit(&version) {
            return Ok(ArtifactRead::NotAdmitted(version));
        }
        let mut buf = Vec::with_capacity(usize::try_from(version.size_bytes).unwrap_or(0));
        while let Some(msg) = stream.message().await? {
            match msg.part {
                Some(Part::Chunk(c)) => buf.extend_from_slice(&c),
                other => {
                    return Err(ClientError::Protocol(format!(
                        "DownloadArtifact {reference}: expected chunks after the version, got {other:?}"
                    )));
                }
            }
        }
        Ok(ArtifactRead::Bytes(version, buf))
    }

    pub async fn transition(
        &self,
        reference: &str,
        to: pb::VersionStatus,
        reason: &str,
    ) -> Result<pb::ModelVersion, ClientError> {
        let r = self.req(pb::TransitionRequest {
            r#ref: reference.into(),
            to: to.into(),
            reason: reason.into(),
            force_evaluated: false,
        });
        Ok(self.raw.clone().transition(r).await?.into_inner())
    }

    /// Moves a candidate to `evaluated` without a recorded passing
    /// evaluation: an override that needs a reason and is audited
    /// (`evaluation_overridden`).
    pub async fn force_evaluated(
        &self,
        reference: &str,
        reason: &str,
    ) -> Result<pb::ModelVersion, ClientError> {
        let r = self.req(pb::TransitionRequest {
            r#ref: reference.into(),
            to: pb::VersionStatus::Evaluated.into(),
            reason: reason.into(),
            force_evaluated: true,
        });
        Ok(self.raw.clone().transition(r).await?.into_inner())
    }

    pub async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: u64,
    ) -> Result<pb::Alias, ClientError> {
        let r = self.req(pb::SetAliasRequest {
            model: model.into(),
            alias: alias.into(),
            version,
        });
        Ok(self.raw.clone().set_alias(r).await?.into_inner())
    }

    pub async fn delete_alias(&self, model: &str, alias: &str) -> Result<(), ClientError> {
        let r = self.req(pb::DeleteAliasRequest {
            model: model.into(),
            alias: alias.into(),
        });
        self.raw.clone().delete_alias(r).await?;
        Ok(())
    }

    pub async fn annotate(
        &self,
        reference: &str,
        annotations: HashMap<String, String>,
        metrics_json: &str,
    ) -> Result<pb::ModelVersion, ClientError> {
        let r = self.req(pb::AnnotateRequest {
            r#ref: reference.into(),
            annotations,
            metrics_json: metrics_json.into(),
        });
        Ok(self.raw.clone().annotate(r).await?.into_inner())
    }

    /// Rolls back to the champion the current one replaced.
    pub async fn rollback(
        &self,
        model: &str,
        reason: &str,
    ) -> Result<pb::RollbackResponse, ClientError> {
        self.rollback_to(model, None, reason).await
    }

    /// Rolls back to the previous champion (`to: None`) or to the named
    /// retired former champion.
    pub async fn rollback_to(
        &self,
        model: &str,
        to: Option<u64>,
        reason: &str,
    ) -> Result<pb::RollbackResponse, ClientError> {
        let r = self.req(pb::RollbackRequest {
            model: model.into(),
            reason: reason.into(),
            to_version: to.unwrap_or(0),
        });
        Ok(self.raw.clone().rollback(r).await?.into_inner())
    }

    /// Every event (of one model, or all when `model` is empty) after
    /// `after_id`, following pages.
    pub async fn list_events(
        &self,
        model: &str,
        after_id: u64,
    ) -> Result<Vec<pb::Event>, ClientError> {
        let mut out = Vec::new();
        let mut after = after_id;
        loop {
            let r = self.req(pb::ListEventsRequest {
                model: model.into(),
                after_id: after,
                page_size: 1000,
            });
            let resp = self.raw.clone().list_events(r).await?.into_inner();
            out.extend(resp.events);
            if resp.next_after_id == 0 {
                return Ok(out);
            }
            after = resp.next_after_id;
        }
    }

    /// Events after `after_id`, then live ones.
    pub async fn watch(
        &self,
        after_id: u64,
        models: Vec<String>,
    ) -> Result<Streaming<pb::Event>, ClientError> {
        let r = self.req(pb::WatchRequest { after_id, models });
        Ok(self.raw.clone().watch(r).await?.into_inner())
    }

    /// Uploads a dataset with its client-side SHA-256.
    pub async fn register_dataset(
        &self,
        meta: pb::DatasetMetadata,
        bytes: Bytes,
    ) -> Result<pb::Dataset, ClientError> {
        use pb::register_dataset_request::Part;
        let meta = pb::DatasetMetadata {
            sha256: sha256_hex(&bytes),
            ..meta
        };
        let mut msgs = vec![pb::RegisterDatasetRequest {
            part: Some(Part::Metadata(meta)),
        }];
        msgs.extend(bytes.chunks(CHUNK).map(|c| pb::RegisterDatasetRequest {
            part: Some(Part::Chunk(c.to_vec())),
        }));
        let r = self.req(futures::stream::iter(msgs));
        Ok(self.raw.clone().register_dataset(r).await?.into_inner())
    }

    pub async fn get_dataset(&self, reference: &str) -> Result<pb::Dataset, ClientError> {
        let r = self.req(pb::GetDatasetRequest {
            r#ref: reference.into(),
        });
        Ok(self.raw.clone().get_dataset(r).await?.into_inner())
    }

    pub async fn list_datasets(&self, name: &str) -> Result<Vec<pb::Dataset>, ClientError> {
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let r = self.req(pb::ListDatasetsRequest {
                name: name.into(),
                page_size: 500,
                page_token: page_token.clone(),
            });
            let resp = self.raw.clone().list_datasets(r).await?.into_inner();
            out.extend(resp.datasets);
            if resp.next_page_token.is_empty() {
                return Ok(out);
            }
            page_token = resp.next_page_token;
        }
    }

    /// Downloads a dataset and checks its SHA-256.
    pub async fn download_dataset(
        &self,
        reference: &str,
    ) -> Result<(pb::Dataset, Bytes), ClientError> {
        use pb::download_dataset_response::Part;
        let r = self.req(pb::DownloadDatasetRequest {
            r#ref: reference.into(),
        });
        let mut stream = self.raw.clone().download_dataset(r).await?.into_inner();
        let dataset = match stream.message().await? {
            Some(pb::DownloadDatasetResponse {
                part: Some(Part::Dataset(d)),
            }) => d,
            _ => {
                return Err(ClientError::Protocol(
                    "download: expected the dataset first".into(),
                ));
            }
        };
        let mut buf = Vec::with_capacity(usize::try_from(dataset.size_bytes).unwrap_or(0));
        while let Some(msg) = stream.message().await? {
            if let Some(Part::Chunk(c)) = msg.part {
                buf.extend_from_slice(&c);
            }
        }
        check_digest(
            || format!("dataset {}:{}", dataset.name, dataset.version),
            &dataset.sha256,
            &buf,
        )?;
        Ok((dataset, buf.into()))
    }
}
