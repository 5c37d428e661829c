//! The flags (clap derive, `long` + `env` on each). [`CredentialArgs`]
//! are global flags of the `joust` command (this process's certificate,
//! the CA it trusts, its token); [`ServerArgs`] are flattened into every
//! role (`registry`, `serve`, `route`, `detect serve`, `up`).

use std::path::PathBuf;
use std::str::FromStr;

use crate::client::ClientSecurityConfig;
use crate::jwt::JwtSettings;
use crate::redact::Secret;
use crate::server::{DEFAULT_MAX_CONCURRENT_STREAMS, ServerSecurityConfig};

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret::new(s))
    }
}

/// This process's TLS files and token, for its listeners and its calls.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CredentialArgs {
    /// Certificate chain (PEM) of this process. Roles serve TLS with it on
    /// their gRPC listener; every command presents it to servers that
    /// require mutual TLS (issue it for server and client auth).
    #[arg(long, env = "JOUST_TLS_CERT", global = true)]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, env = "JOUST_TLS_KEY", global = true)]
    pub tls_key: Option<PathBuf>,
    /// CA certificate(s) (PEM) that signed the servers this process calls;
    /// needed for every https:// address.
    #[arg(long, env = "JOUST_TLS_CA", global = true)]
    pub tls_ca: Option<PathBuf>,
    /// File holding the bearer token sent on every call (to a registry,
    /// router, node or detection service with authentication on).
    #[arg(long, env = "JOUST_TOKEN_FILE", global = true)]
    pub token_file: Option<PathBuf>,
    /// Bearer token sent on every call. Prefer the JOUST_TOKEN variable
    /// or --token-file: a flag shows in the process list.
    #[arg(long, env = "JOUST_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<Secret>,
}

impl CredentialArgs {
    /// Outgoing settings.
    pub fn client(&self) -> ClientSecurityConfig {
        ClientSecurityConfig {
            tls_ca: self.tls_ca.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            token_file: self.token_file.clone(),
            token: self.token.clone(),
        }
    }
}

/// Listener security of a role.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// CA certificate(s) (PEM) of clients: clients must present a
    /// certificate it signed (mutual TLS). Needs --tls-cert and --tls-key.
    #[arg(long, env = "JOUST_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Static bearer tokens, one per line: `TOKEN SUBJECT ROLE[,ROLE]`
    /// (roles: reader, predictor, operator, admin), or a JSON array of
    /// {"token", "subject", "roles"}. Turns authentication on.
    #[arg(long, env = "JOUST_AUTH_TOKENS_FILE")]
    pub auth_tokens_file: Option<PathBuf>,
    /// HS256 shared secret for JWTs (file, at least 32 bytes). Turns
    /// authentication on.
    #[arg(long, env = "JOUST_AUTH_JWT_SECRET_FILE")]
    pub auth_jwt_secret_file: Option<PathBuf>,
    /// RS256 (RSA) or ES256 (P-256) public key for JWTs (PEM file). Turns
    /// authentication on.
    #[arg(long, env = "JOUST_AUTH_JWT_PUBLIC_KEY_FILE")]
    pub auth_jwt_public_key_file: Option<PathBuf>,
    /// Required `iss` of JWTs (required with a JWT key).
    #[arg(long, env = "JOUST_AUTH_JWT_ISSUER")]
    pub auth_jwt_issuer: Option<String>,
    /// Required `aud` of JWTs (required with a JWT key).
    #[arg(long, env = "JOUST_AUTH_JWT_AUDIENCE")]
    pub auth_jwt_audience: Option<String>,
    /// JWT claim holding the roles (an array, or names separated by spaces
    /// or commas).
    #[arg(long, env = "JOUST_AUTH_JWT_ROLES_CLAIM", default_value = "roles")]
    pub auth_jwt_roles_claim: String,
    /// Health and reflection need a token too (they are open by default,
    /// for probes).
    #[arg(long, env = "JOUST_AUTH_PROTECT_HEALTH")]
    pub auth_protect_health: bool,
    /// Calls per second per caller (token subject, or peer IP address when
    /// anonymous); beyond it RESOURCE_EXHAUSTED. 0: no limit.
    #[arg(long, env = "JOUST_RATE_LIMIT_PER_SECOND", default_value_t = 0)]
    pub rate_limit_per_second: u32,
    /// Calls at once per caller before the rate applies (default: the
    /// per-second rate).
    #[arg(long, env = "JOUST_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,
    /// Token subjects never rate limited (comma-separated), e.g. the
    /// router's subject on the nodes behind it.
    #[arg(long, env = "JOUST_RATE_LIMIT_EXEMPT", value_delimiter = ',')]
    pub rate_limit_exempt: Vec<String>,
    /// HTTP/2 streams (calls) in flight per client connection; clients
    /// queue beyond it.
    #[arg(long, env = "JOUST_MAX_CONCURRENT_STREAMS", default_value_t = DEFAULT_MAX_CONCURRENT_STREAMS)]
    pub max_concurrent_streams: u32,
}

impl Default for ServerArgs {
    /// The flags' defaults: plaintext, authentication off, no rate limit.
    fn default() -> Self {
        Self {
            tls_client_ca: None,
            auth_tokens_file: None,
            auth_jwt_secret_file: None,
            auth_jwt_public_key_file: None,
            auth_jwt_issuer: None,
            auth_jwt_audience: None,
            auth_jwt_roles_claim: "roles".to_owned(),
            auth_protect_health: false,
            rate_limit_per_second: 0,
            rate_limit_burst: None,
            rate_limit_exempt: Vec::new(),
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
        }
    }
}

impl ServerArgs {
    /// Listener settings, with this process's certificate.
    pub fn config(&self, credentials: &CredentialArgs) -> ServerSecurityConfig {
        ServerSecurityConfig {
            tls_cert: credentials.tls_cert.clone(),
            tls_key: credentials.tls_key.clone(),
            tls_client_ca: self.tls_client_ca.clone(),
            auth_tokens_file: self.auth_tokens_file.clone(),
            jwt: JwtSettings {
                secret_file: self.auth_jwt_secret_file.clone(),
                public_key_file: self.auth_jwt_public_key_file.clone(),
                issuer: self.auth_jwt_issuer.clone(),
                audience: self.auth_jwt_audience.clone(),
                roles_claim: self.auth_jwt_roles_claim.clone(),
            },
            protect_health: self.auth_protect_health,
            rate_limit_per_second: self.rate_limit_per_second,
            rate_limit_burst: self.rate_limit_burst,
            rate_limit_exempt: self.rate_limit_exempt.clone(),
            max_concurrent_streams: self.max_concurrent_streams,
        }
    }
}
