//! JWT verification (the `jsonwebtoken` crate): HS256 with a shared
//! secret, or RS256 / ES256 with the issuer's public key, with issuer,
//! audience and expiry checks. The subject is the `sub` claim; the roles
//! come from a claim (`roles` by default) holding an array of role names
//! or one string of names separated by spaces or commas. Unknown role
//! names are ignored (identity providers add their own).

use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::error::{SecurityError, read_file};
use crate::identity::Identity;
use crate::roles::Role;

/// Where the JWT settings come from (flags).
#[derive(Debug, Clone, Default)]
pub struct JwtSettings {
    /// HS256 shared secret (file).
    pub secret_file: Option<PathBuf>,
    /// RS256 or ES256 public key, PEM (file).
    pub public_key_file: Option<PathBuf>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub roles_claim: String,
}

impl JwtSettings {
    pub fn enabled(&self) -> bool {
        self.secret_file.is_some() || self.public_key_file.is_some()
    }
}

/// Verifies tokens against one key.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    algorithm: Algorithm,
    roles_claim: String,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("roles_claim", &self.roles_claim)
            .finish_non_exhaustive()
    }
}

/// Shortest HS256 secret accepted (RFC 7518 §3.2: at least the hash size).
pub const MIN_HS256_SECRET: usize = 32;

fn public_key(path: &Path) -> Result<(DecodingKey, Algorithm), SecurityError> {
    const FLAG: &str = "--auth-jwt-public-key-file";
    let pem = read_file(FLAG, path)?;
    if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
        return Ok((key, Algorithm::RS256));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
        return Ok((key, Algorithm::ES256));
    }
    Err(SecurityError::bad_file(
        FLAG,
        path,
        "expected an RSA (RS256) or P-256 EC (ES256) public key in PEM (-----BEGIN PUBLIC KEY-----)",
    ))
}

impl JwtVerifier {
    /// Loads the key named by the settings and checks that issuer and
    /// audience are given.
    pub fn load(settings: &JwtSettings) -> Result<Self, SecurityError> {
        let (key, algorithm) = match (&settings.secret_file, &settings.public_key_file) {
            (Some(_), Some(_)) => {
                return Err(SecurityError::Config(
                    "--auth-jwt-secret-file and --auth-jwt-public-key-file: expected one of them, got both"
                        .into(),
                ));
            }
            (Some(path), None) => {
                let secret = crate::error::read_secret("--auth-jwt-secret-file", path)?;
                if secret.len() < MIN_HS256_SECRET {
                    return Err(SecurityError::bad_file(
                        "--auth-jwt-secret-file",
                        path,
                        format!(
                            "secret too short for HS256: expected at least {MIN_HS256_SECRET} bytes, got {}",
                            secret.len()
                        ),
                    ));
                }
                (
                    DecodingKey::from_secret(secret.as_bytes()),
                    Algorithm::HS256,
                )
            }
            (None, Some(path)) => public_key(path)?,
            (None, None) => {
                return Err(SecurityError::Config(
                    "JWT: expected --auth-jwt-secret-file or --auth-jwt-public-key-file".into(),
                ));
            }
        };
        let nonempty = |v: &Option<String>, flag: &str| match v.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => Ok(s.to_owned()),
            _ => Err(SecurityError::Config(format!(
                "{flag}: required with JWT verification (tokens from another issuer or for another service must be refused)"
            ))),
        };
        let issuer = nonempty(&settings.issuer, "--auth-jwt-issuer")?;
        let audience = nonempty(&settings.audience, "--auth-jwt-audience")?;
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[&audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = 30;
        Ok(Self {
            key,
            validation,
            algorithm,
            roles_claim: settings.roles_claim.clone(),
            issuer,
            audience,
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The identity a valid token carries; the error says why it is not
    /// valid (never echoing the token).
    pub fn verify(&self, token: &str) -> Result<Identity, String> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &self.key,
            &self.validation,
        )
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => "JWT expired".to_owned(),
            ErrorKind::InvalidSignature => "JWT signature does not verify".to_owned(),
            ErrorKind::InvalidIssuer => format!("JWT issuer: expected {:?}", self.issuer),
            ErrorKind::InvalidAudience => format!("JWT audience: expected {:?}", self.audience),
            ErrorKind::InvalidAlgorithm => format!("JWT algorithm: expected {:?}", self.algorithm),
            ErrorKind::ImmatureSignature => "JWT not valid yet (nbf)".to_owned(),
            ErrorKind::MissingRequiredClaim(c) => format!("JWT: missing claim {c:?}"),
            _ => "not a valid JWT".to_owned(),
        })?;
        let claims = data.claims;
        let subject = claims
            .get("sub")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or("JWT sub: expected a string of 1 to 256 characters")?;
        let roles = match claims.get(&self.roles_claim) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str())
                .filter_map(|s| s.parse::<Role>().ok())
                .collect(),
            Some(serde_json::Value::String(s)) => s
                .split([' ', ','])
                .filter_map(|s| s.parse::<Role>().ok())
                .collect(),
            _ => Vec::new(),
        };
        Ok(Identity::new(subject.to_owned(), roles))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
    use serde_json::json;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

    fn settings(dir: &tempfile::TempDir) -> JwtSettings {
        let path = dir.path().join("secret");
        std::fs::write(&path, format!("{SECRET}\n")).unwrap();
        JwtSettings {
            secret_file: Some(path),
            public_key_file: None,
            issuer: Some("https://idp.example".into()),
            audience: Some("joust".into()),
            roles_claim: "roles".into(),
        }
    }

    fn token(claims: serde_json::Value, secret: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn claims(iss: &str, aud: &str, exp_offset: i64) -> serde_json::Value {
        let exp = get_current_timestamp() as i64 + exp_offset;
        json!({"sub": "alice", "iss": iss, "aud": aud, "exp": exp, "roles": ["reader", "operator", "root"]})
    }

    #[test]
    fn hs256_checks_signature_issuer_audience_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let v = JwtVerifier::load(&settings(&dir)).unwrap();
        let ok = v
            .verify(&token(claims("https://idp.example", "joust", 600), SECRET))
            .unwrap();
        assert_eq!(ok.subject, "alice");
        assert_eq!(ok.roles, vec![Role::Reader, Role::Operator]);

        let err = |t: String| v.verify(&t).unwrap_err();
        assert!(
            err(token(
                claims("https://idp.example", "joust", 600),
                "another-secret-another-secret-xx"
            ))
            .contains("signature")
        );
        assert!(
            err(token(claims("https://evil.example", "joust", 600), SECRET)).contains("issuer")
        );
        assert!(
            err(token(claims("https://idp.example", "other", 600), SECRET)).contains("audience")
        );
        assert!(
            err(token(claims("https://idp.example", "joust", -3600), SECRET)).contains("expired")
        );
        assert!(err("not.a.jwt".into()).contains("not a valid JWT"));
    }

    #[test]
    fn roles_may_be_a_string_and_the_claim_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let v = JwtVerifier::load(&JwtSettings {
            roles_claim: "joust_roles".into(),
            ..settings(&dir)
        })
        .unwrap();
        let exp = get_current_timestamp() + 600;
        let t = token(
            json!({"sub": "ci", "iss": "https://idp.example", "aud": "joust", "exp": exp, "joust_roles": "predictor admin"}),
            SECRET,
        );
        assert_eq!(
            v.verify(&t).unwrap().roles,
            vec![Role::Predictor, Role::Admin]
        );
    }

    #[test]
    fn es256_public_key_and_bad_settings() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let public = dir.path().join("pub.pem");
        std::fs::write(&public, key.public_key_pem()).unwrap();
        let v = JwtVerifier::load(&JwtSettings {
            secret_file: None,
            public_key_file: Some(public.clone()),
            ..settings(&dir)
        })
        .unwrap();
        assert_eq!(v.algorithm(), Algorithm::ES256);
        let t = encode(
            &Header::new(Algorithm::ES256),
            &claims("https://idp.example", "joust", 600),
            &EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(v.verify(&t).unwrap().subject, "alice");
        // An HS256 token signed with the public key's bytes (algorithm
        // confusion) is refused.
        let forged = token(
            claims("https://idp.example", "joust", 600),
            &key.public_key_pem(),
        );
        assert!(v.verify(&forged).is_err());

        let no_issuer = JwtVerifier::load(&JwtSettings {
            issuer: None,
            ..settings(&dir)
        })
        .unwrap_err();
        assert!(
            no_issuer.to_string().contains("--auth-jwt-issuer"),
            "{no_issuer}"
        );
        let short = dir.path().join("short");
        std::fs::write(&short, "tooshort").unwrap();
        let e = JwtVerifier::load(&JwtSettings {
            secret_file: Some(short),
            ..settings(&dir)
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("--auth-jwt-secret-file") && e.contains("at least 32"),
            "{e}"
        );
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "hello").unwrap();
        let e = JwtVerifier::load(&JwtSettings {
            secret_file: None,
            public_key_file: Some(garbage),
            ..settings(&dir)
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("--auth-jwt-public-key-file") && e.contains("garbage.pem"),
            "{e}"
        );
    }
}
