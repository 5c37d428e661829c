//! The model artifact: versioned, self-describing, checksummed bytes.
//!
//! Layout (all integers little-endian):
//!
//! | bytes        | content                                                  |
//! |--------------|----------------------------------------------------------|
//! | 0..8         | magic `JOUSTMDL`                                         |
//! | 8..10        | format version, u16 (currently 1)                        |
//! | 10..14       | body length n, u32                                       |
//! | 14..14+n     | postcard body: kind, schema, params, threshold, trained  |
//! |              | state, training metadata                                 |
//! | 14+n..46+n   | SHA-256 of bytes 0..14+n                                 |
//!
//! Decoding checks, in order: magic, version, length, checksum, postcard,
//! then internal consistency (header kind matches the state, finite
//! threshold, unique schema, every index in the trained state in range), so
//! a crafted artifact cannot make scoring panic. Encoding is deterministic:
//! the wall-clock `duration_ms` is not stored.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::kind::ModelKind;
use crate::kinds::KindState;

mod declared;
use crate::model::{Model, TrainingMetadata};
pub use declared::{ArtifactCheckError, ArtifactKind, OPAQUE, UnknownArtifactKind};

/// First eight bytes of every artifact.
pub const MAGIC: [u8; 8] = *b"JOUSTMDL";
/// The format version this crate writes and the newest it reads.
pub const FORMAT_VERSION: u16 = 1;

const HEADER_LEN: usize = 14;
const CHECKSUM_LEN: usize = 32;

/// Why bytes could not be turned into a model (or a model into bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    /// Fewer bytes than the header announces.
    #[error("artifact truncated: expected at least {expected} bytes, got {found}")]
    Truncated {
        /// Bytes needed.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// Not a joust model artifact.
    #[error("not a joust model artifact: expected magic {expected:?}, got {found:?}")]
    BadMagic {
        /// The magic bytes.
        expected: String,
        /// What the input starts with (lossy UTF-8).
        found: String,
    },
    /// Written by a newer (or unknown) format version.
    #[error(
        "unsupported artifact format version {found}: this build reads versions 1..={supported}"
    )]
    UnsupportedVersion {
        /// Version in the header.
        found: u16,
        /// Newest version this build reads.
        supported: u16,
    },
    /// The SHA-256 does not match the content.
    #[error("artifact checksum mismatch: expected {expected}, computed {found}")]
    Checksum {
        /// Checksum stored in the artifact (hex).
        expected: String,
        /// Checksum of the bytes present (hex).
        found: String,
    },
    /// The body is not valid postcard for this version.
    #[error("artifact body does not decode: {0}")]
    Decode(String),
    /// The body decodes but is internally inconsistent.
    #[error("artifact is inconsistent: {0}")]
    Invalid(String),
    /// The model could not be encoded.
    #[error("model does not encode: {0}")]
    Encode(String),
}

#[derive(Serialize)]
struct BodyRef<'a> {
    kind: ModelKind,
    schema: &'a [String],
    params: &'a BTreeMap<String, String>,
    threshold: f32,
    state: &'a KindState,
    training: &'a TrainingMetadata,
}

#[derive(Deserialize)]
struct Body {
    kind: ModelKind,
    schema: Vec<String>,
    params: BTreeMap<String, String>,
    threshold: f32,
    state: KindState,
    training: TrainingMetadata,
}

impl Model {
    /// Encodes the model as an artifact. Same model → same bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ArtifactError> {
        let body = postcard::to_allocvec(&BodyRef {
            kind: self.kind(),
            schema: &self.schema,
            params: &self.params,
            threshold: self.threshold,
            state: &self.state,
            training: &self.training,
        })
        .map_err(|e| ArtifactError::Encode(e.to_string()))?;
        let len = u32::try_from(body.len()).map_err(|_| {
            ArtifactError::Encode(format!("body of {} bytes exceeds 4 GiB", body.len()))
        })?;
        let mut out = Vec::with_capacity(HEADER_LEN + body.len() + CHECKSUM_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&body);
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        Ok(out)
    }

    /// Decodes and validates an artifact. Never panics on any input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ArtifactError> {
        let magic_len = bytes.len().min(MAGIC.len());
        if bytes[..magic_len] != MAGIC[..magic_len] {
            return Err(ArtifactError::BadMagic {
                expected: String::from_utf8_lossy(&MAGIC).into_owned(),
                found: String::from_utf8_lossy(&bytes[..magic_len]).into_owned(),
            });
        }
        if bytes.len() < HEADER_LEN {
            return Err(ArtifactError::Truncated {
                expected: HEADER_LEN + CHECKSUM_LEN,
                found: bytes.len(),
            });
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version == 0 || version > FORMAT_VERSION {
            return Err(ArtifactError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let body_len = u32::from_le_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]) as usize;
        let total = HEADER_LEN + body_len + CHECKSUM_LEN;
        if bytes.len() < total {
            return Err(ArtifactError::Truncated {
                expected: total,
                found: bytes.len(),
            });
        }
        if bytes.len() > total {
            return Err(ArtifactError::Invalid(format!(
                "{} trailing bytes after the checksum",
                bytes.len() - total
            )));
        }
        let (content, stored) = bytes.split_at(HEADER_LEN + body_len);
        let computed = Sha256::digest(content);
        if computed[..] != *stored {
            return Err(ArtifactError::Checksum {
                expected: hex(stored),
                found: hex(&computed),
            });
        }
        let (body, rest): (Body, _) = postcard::take_from_bytes(&content[HEADER_LEN..])
            .map_err(|e| ArtifactError::Decode(e.to_string()))?;
        if !rest.is_empty() {
            return Err(ArtifactError::Decode(format!(
                "{} unread bytes at the end of the body",
                rest.len()
            )));
        }
        validate(body)
    }
}

fn validate(body: Body) -> Result<Model, ArtifactError> {
    let Body {
        kind,
        schema,
        params,
        threshold,
        mut state,
        training,
    } = body;
    if state.kind() != kind {
        return Err(ArtifactError::Invalid(format!(
            "header says kind {kind} but the trained state is {}",
            state.kind()
        )));
    }
    if !threshold.is_finite() {
        return Err(ArtifactError::Invalid(format!(
            "threshold must be finite, got {threshold}"
        )));
    }
    let mut seen = HashSet::new();
    if let Some(dup) = schema.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(ArtifactError::Invalid(format!(
            "schema names must be unique: `{dup}` repeats"
        )));
    }
    state
        .prepare(schema.len())
        .map_err(ArtifactError::Invalid)?;
    Ok(Model {
        schema,
        params,
        threshold,
        state,
        training,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
