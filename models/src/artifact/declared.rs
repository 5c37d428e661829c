//! The kind a registered version declares for its bytes, and the check the
//! registry runs before recording it: a model kind's artifact must decode
//! (magic, version, checksum, body, internal consistency) and hold a model
//! of that kind; `opaque` bytes are stored unchecked and never served.

use std::fmt;
use std::str::FromStr;

use crate::artifact::ArtifactError;
use crate::kind::ModelKind;
use crate::kinds::onnx::{OnnxLoadError, OnnxMapping, OnnxModel};
use crate::model::Model;

/// The name of the kind for blobs that are stored but never served.
pub const OPAQUE: &str = "opaque";

/// What a registered version says its artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    /// A joust model artifact of this kind (servable).
    Model(ModelKind),
    /// Any bytes (reports, exported weights, notes); never decoded and
    /// never served.
    Opaque,
}

impl ArtifactKind {
    /// Every kind a version may declare, model kinds first.
    pub fn all() -> impl Iterator<Item = ArtifactKind> {
        ModelKind::ALL
            .into_iter()
            .chain([ModelKind::Onnx])
            .map(ArtifactKind::Model)
            .chain([ArtifactKind::Opaque])
    }

    /// The stable name stored in the registry.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Model(k) => k.as_str(),
            ArtifactKind::Opaque => OPAQUE,
        }
    }

    /// The known names, comma-separated (for error messages).
    pub fn known() -> String {
        Self::all().map(Self::as_str).collect::<Vec<_>>().join(", ")
    }

    /// Whether nodes may serve versions of this kind.
    pub fn servable(self) -> bool {
        matches!(self, ArtifactKind::Model(_))
    }

    /// Checks that `bytes` hold what this kind says: for a model kind, an
    /// artifact that decodes and holds a model of that kind. Opaque bytes
    /// always pass. Never panics on any input.
    pub fn check(self, bytes: &[u8]) -> Result<(), ArtifactCheckError> {
        self.check_annotated(bytes, std::iter::empty())
    }

    /// `check`, reading an onnx version's output mapping from its
    /// annotations (`onnx.*`, see `onnx::OnnxMapping`): the mapping must
    /// parse and fit the graph's outputs. Other kinds ignore annotations.
    pub fn check_annotated<'a>(
        self,
        bytes: &[u8],
        annotations: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), ArtifactCheckError> {
        let ArtifactKind::Model(declared) = self else {
            return Ok(());
        };
        if declared == ModelKind::Onnx {
            let mapping = OnnxMapping::from_annotations(annotations)
                .map_err(ArtifactCheckError::OnnxMapping)?;
            // One session: the check runs the model once and drops it.
            return match OnnxModel::load_with_sessions(bytes.to_vec(), &mapping, 1) {
                Ok(_) => Ok(()),
                Err(OnnxLoadError::Mapping(m)) => Err(ArtifactCheckError::OnnxMapping(m)),
                Err(OnnxLoadError::Model(m)) => Err(ArtifactCheckError::Onnx(m)),
            };
        }
        let model = Model::from_bytes(bytes)
            .map_err(|source| ArtifactCheckError::Artifact { declared, source })?;
        if model.kind() != declared {
            return Err(ArtifactCheckError::KindMismatch {
                declared,
                found: model.kind(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A declared kind that is neither a model kind nor `opaque`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected one of {known}, got `{found}`", known = ArtifactKind::known())]
pub struct UnknownArtifactKind {
    /// The name that was given.
    pub found: String,
}

impl FromStr for ArtifactKind {
    type Err = UnknownArtifactKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::all()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownArtifactKind {
                found: s.to_owned(),
            })
    }
}

/// Why bytes do not hold what their declared kind says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactCheckError {
    /// The bytes are not a valid artifact.
    #[error("expected an artifact of kind {declared}: {source}")]
    Artifact {
        /// The declared kind.
        declared: ModelKind,
        /// What decoding found.
        source: ArtifactError,
    },
    /// An `onnx` version whose bytes do not load in ONNX Runtime (not
    /// ONNX, truncated, an unsupported operator, a wrong input type, no
    /// usable output, or no runtime installed).
    #[error("expected an ONNX model: {0}")]
    Onnx(String),
    /// An `onnx` version whose output mapping (`onnx.*` annotations) does
    /// not parse or does not fit the graph's outputs.
    #[error("ONNX output mapping: {0}")]
    OnnxMapping(String),
    /// A valid artifact of another kind.
    #[error("declared {declared}, but the artifact holds a model of kind {found}")]
    KindMismatch {
        /// The declared kind.
        declared: ModelKind,
        /// The kind inside the artifact.
        found: ModelKind,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::TrainConfig;
    use ndarray::Array2;

    fn noop_artifact() -> Vec<u8> {
        let x = Array2::from_shape_fn((8, 2), |(i, j)| (i + j) as f32);
        Model::train(
            &TrainConfig::new(ModelKind::Noop),
            vec!["a".into(), "b".into()],
            x.view(),
        )
        .unwrap()
        .to_bytes()
        .unwrap()
    }

    #[test]
    fn every_kind_round_trips_through_its_name_and_unknown_ones_list_them() {
        for k in ArtifactKind::all() {
            assert_eq!(k.as_str().parse::<ArtifactKind>(), Ok(k));
        }
        let err = "no_such_kind".parse::<ArtifactKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected one of isolation_forest, one_class_svm, gaussian_mixture, noop, onnx, opaque, got `no_such_kind`"
        );
        assert!(!ArtifactKind::Opaque.servable());
        assert!(ArtifactKind::Model(ModelKind::Noop).servable());
    }

    #[test]
    fn a_model_kind_needs_a_decodable_artifact_of_that_kind() {
        let good = noop_artifact();
        assert_eq!(ArtifactKind::Model(ModelKind::Noop).check(&good), Ok(()));
        let err = ArtifactKind::Model(ModelKind::IsolationForest)
            .check(&good)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "declared isolation_forest, but the artifact holds a model of kind noop"
        );
        let err = ArtifactKind::Model(ModelKind::IsolationForest)
            .check(b"random bytes")
            .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "expected an artifact of kind isolation_forest: not a joust model artifact"
            ),
            "{err}"
        );
        let mut flipped = good.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 1;
        assert!(matches!(
            ArtifactKind::Model(ModelKind::Noop).check(&flipped),
            Err(ArtifactCheckError::Artifact { .. })
        ));
    }

    #[test]
    fn opaque_bytes_always_pass() {
        assert_eq!(ArtifactKind::Opaque.check(b""), Ok(()));
        assert_eq!(ArtifactKind::Opaque.check(b"anything at all"), Ok(()));
    }
}
