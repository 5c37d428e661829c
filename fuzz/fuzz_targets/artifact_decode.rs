//! Model artifact decoding (`Model::from_bytes`) on hostile bytes.
//!
//! The first input byte picks the mode: even → the rest is a whole
//! artifact (exercises magic, version, length and checksum checks); odd →
//! the rest is an artifact *body* that this target seals with a correct
//! header and SHA-256, as an attacker who knows the format would, so the
//! fuzzer reaches the postcard decoder and the consistency checks instead
//! of stopping at the checksum. A model that decodes must score a small
//! batch without panicking and re-encode to an artifact that decodes to the
//! same bytes again.

#![no_main]

use joust_models::Model;
use joust_models::artifact::{FORMAT_VERSION, MAGIC};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fn seal(body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        let _ = Model::from_bytes(data);
        return;
    };
    let bytes = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        seal(rest)
    };
    let Ok(model) = Model::from_bytes(&bytes) else {
        return;
    };
    // Scoring rows of the right width: finite, zero and extreme values.
    let f = model.n_features();
    for v in [0.0f32, 1.0, -1.0e30, 3.0e38] {
        let x = ndarray::Array2::<f32>::from_elem((2, f), v);
        let _ = model.score(x.view());
        let _ = model.predict(x.view());
    }
    // Re-encoding is deterministic and decodes again.
    let again = model.to_bytes().expect("a decoded model encodes");
    let decoded = Model::from_bytes(&again).expect("a re-encoded model decodes");
    assert_eq!(decoded.to_bytes().expect("encodes"), again);
});
