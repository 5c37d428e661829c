#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;
use crate::TrainConfig;
use crate::kinds::tests::{blob_with_outliers, schema};

fn artifact(kind: ModelKind) -> Vec<u8> {
    let (x, _) = blob_with_outliers(11);
    let cfg = TrainConfig::new(kind)
        .with_param_if(kind == ModelKind::IsolationForest, "n_trees", 10)
        .with_param_if(kind == ModelKind::OneClassSvm, "max_samples", 100)
        .with_param_if(kind == ModelKind::GaussianMixture, "n_components", 2);
    Model::train(&cfg, schema(4), x.view())
        .unwrap()
        .to_bytes()
        .unwrap()
}

trait WithParamIf {
    fn with_param_if(self, cond: bool, name: &str, value: usize) -> Self;
}

impl WithParamIf for TrainConfig {
    fn with_param_if(self, cond: bool, name: &str, value: usize) -> Self {
        if cond {
            self.with_param(name, value)
        } else {
            self
        }
    }
}

/// Replaces the body and recomputes length and checksum, as an attacker
/// who knows the format would.
fn reseal(bytes: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = bytes[..8].to_vec();
    out.extend_from_slice(&bytes[8..10]);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

fn body(bytes: &[u8]) -> &[u8] {
    &bytes[HEADER_LEN..bytes.len() - CHECKSUM_LEN]
}

#[test]
fn starts_with_magic_and_version() {
    let bytes = artifact(ModelKind::IsolationForest);
    assert_eq!(&bytes[..8], b"JOUSTMDL");
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), FORMAT_VERSION);
}

#[test]
fn typed_errors_for_damaged_input() {
    let bytes = artifact(ModelKind::IsolationForest);
    assert!(matches!(
        Model::from_bytes(&bytes[..bytes.len() - 1]),
        Err(ArtifactError::Truncated { .. })
    ));
    assert!(matches!(
        Model::from_bytes(b"JOUST"),
        Err(ArtifactError::Truncated { .. })
    ));
    assert!(matches!(
        Model::from_bytes(b""),
        Err(ArtifactError::Truncated { .. })
    ));
    assert!(matches!(
        Model::from_bytes(b"PK\x03\x04 zip file"),
        Err(ArtifactError::BadMagic { .. })
    ));
    let mut flipped = bytes.clone();
    flipped[HEADER_LEN + 5] ^= 0x10;
    assert!(matches!(
        Model::from_bytes(&flipped),
        Err(ArtifactError::Checksum { .. })
    ));
    let mut newer = bytes.clone();
    newer[8..10].copy_from_slice(&2u16.to_le_bytes());
    assert_eq!(
        Model::from_bytes(&newer),
        Err(ArtifactError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Model::from_bytes(&longer),
        Err(ArtifactError::Invalid(_))
    ));
    let garbage = reseal(&bytes, &[0xff; 40]);
    assert!(matches!(
        Model::from_bytes(&garbage),
        Err(ArtifactError::Decode(_))
    ));
}

#[test]
fn kind_that_disagrees_with_state_is_invalid() {
    let bytes = artifact(ModelKind::Noop);
    let mut b = body(&bytes).to_vec();
    // The kind is the first field: a one-byte varint enum tag.
    assert_eq!(b[0], 3);
    b[0] = 0;
    let err = Model::from_bytes(&reseal(&bytes, &b)).unwrap_err();
    assert!(
        matches!(err, ArtifactError::Invalid(ref m) if m.contains("kind")),
        "{err}"
    );
}

#[test]
fn out_of_range_tree_indices_are_rejected_before_scoring() {
    let mut model = Model::from_bytes(&artifact(ModelKind::IsolationForest)).unwrap();
    let KindState::IsolationForest(forest) = &mut model.state else {
        panic!("expected an isolation forest");
    };
    forest.corrupt_root_for_test();
    let err = Model::from_bytes(&model.to_bytes().unwrap()).unwrap_err();
    assert!(
        matches!(err, ArtifactError::Invalid(ref m) if m.contains("child")),
        "{err}"
    );
}

#[test]
fn schema_wider_than_state_is_invalid() {
    let bytes = artifact(ModelKind::OneClassSvm);
    let mut model = Model::from_bytes(&bytes).unwrap();
    model.schema.push("extra".into());
    let err = Model::from_bytes(&model.to_bytes().unwrap()).unwrap_err();
    assert!(matches!(err, ArtifactError::Invalid(_)), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Model::from_bytes(&bytes);
        let mut with_magic = MAGIC.to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = Model::from_bytes(&with_magic);
    }

    #[test]
    fn truncations_and_bit_flips_never_panic(cut in 0usize..4096, flip in 0usize..100_000, bit in 0u8..8) {
        for kind in ModelKind::ALL {
            let bytes = artifact_cached(kind);
            let cut = cut % (bytes.len() + 1);
            prop_assert!(Model::from_bytes(&bytes[..cut]).is_err() || cut == bytes.len());
            let mut flipped = bytes.to_vec();
            let i = flip % flipped.len();
            flipped[i] ^= 1 << bit;
            prop_assert!(Model::from_bytes(&flipped).is_err());
        }
    }

    #[test]
    fn resealed_random_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let bytes = artifact_cached(ModelKind::IsolationForest);
        let _ = Model::from_bytes(&reseal(bytes, &body));
    }

    #[test]
    fn resealed_mutated_bodies_never_panic(i in 0usize..100_000, v in any::<u8>()) {
        for kind in ModelKind::ALL {
            let bytes = artifact_cached(kind);
            let mut b = body(bytes).to_vec();
            let i = i % b.len();
            b[i] = v;
            if let Ok(model) = Model::from_bytes(&reseal(bytes, &b)) {
                let x = ndarray::Array2::<f32>::ones((3, model.n_features()));
                let _ = model.score(x.view());
            }
        }
    }
}

fn artifact_cached(kind: ModelKind) -> &'static [u8] {
    use std::sync::OnceLock;
    static CACHE: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let all = CACHE.get_or_init(|| ModelKind::ALL.iter().map(|k| artifact(*k)).collect());
    let i = ModelKind::ALL.iter().position(|k| *k == kind).unwrap();
    &all[i]
}
