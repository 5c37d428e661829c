//! The signature of a webhook body: `X-Joust-Signature: sha256=<hex>`, the
//! HMAC-SHA256 of the exact body bytes under the endpoint's secret.

use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-joust-signature";

/// Signs and verifies bodies under one secret.
#[derive(Clone)]
pub struct Signer {
    mac: HmacSha256,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(redacted)")
    }
}

impl Signer {
    pub fn new(secret: &[u8]) -> Self {
        // HMAC takes keys of any length.
        let mac = match HmacSha256::new_from_slice(secret) {
            Ok(m) => m,
            Err(_) => unreachable_key(),
        };
        Self { mac }
    }

    /// `sha256=<lowercase hex>` of `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// True when `header` is the signature of `body` (constant time).
    pub fn verify(&self, body: &[u8], header: &str) -> bool {
        let Some(Ok(given)) = header.strip_prefix("sha256=").map(hex::decode) else {
            return false;
        };
        let mut mac = self.mac.clone();
        mac.update(body);
        mac.verify_slice(&given).is_ok()
    }
}

#[cold]
fn unreachable_key() -> HmacSha256 {
    // `Hmac` accepts every key length; keep a defined value anyway.
    #[allow(clippy::expect_used)]
    HmacSha256::new_from_slice(&[0u8; 32]).expect("a 32-byte HMAC key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231, test case 2 (key "Jefe").
        let s = Signer::new(b"Jefe");
        let sig = s.sign(b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(s.verify(b"what do ya want for nothing?", &sig));
        assert!(!s.verify(b"what do ya want for nothing!", &sig));
        assert!(!Signer::new(b"other").verify(b"what do ya want for nothing?", &sig));
        assert!(!s.verify(b"x", "md5=00"));
    }
}
