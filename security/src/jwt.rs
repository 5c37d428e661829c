//! JWT verification (the `jsonwebtoken` crate): HS256 with a shared
//! secret, or RS256 / ES256 with the issuer's public key, with issuer,
//! audience and expiry checks. The subject is the `sub` claim; the roles
//! come from a claim (`roles` by default) holding an array of role names
//! or one string of names separated by spaces or commas. Unknown role
//! names are ignored (identity providers add their own).

use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::auth::Identity;
use crate::error::{SecurityError, read_file};
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
