//! A role's listener security: TLS (optionally mutual), the HTTP/2 stream
//! cap, and the [`SecurityLayer`] policy (authentication, roles, rate
//! limit, deadlines). Roles build their tonic server from it:
//!
//! ```ignore
//! security.server()?
//!     .layer(joust_telemetry::GrpcTraceLayer)
//!     .layer(security.layer())
//!     .add_service(…)
//! ```

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::path::PathBuf;

use tonic::transport::{Certificate, Server, ServerTlsConfig};

use crate::auth::Authenticator;
use crate::error::SecurityError;
use crate::jwt::JwtSettings;
use crate::layer::{Policy, SecurityLayer};
use crate::limit::RateLimit;
use crate::tls::{TlsIdentity, load_ca};

/// Default HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per connection.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 1024;

/// Listener security settings as given (paths, not yet read).
#[derive(Debug, Clone)]
pub struct ServerSecurityConfig {
    /// This server's certificate chain and key (PEM): TLS on the listener.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// CA of client certificates: clients must present one (mutual TLS).
    pub tls_client_ca: Option<PathBuf>,
    /// Static bearer tokens (see [`crate::tokens`]).
    pub auth_tokens_file: Option<PathBuf>,
    pub jwt: JwtSettings,
    /// Health and reflection need a token too.
    pub protect_health: bool,
    /// Calls per second per caller; 0: no limit.
    pub rate_limit_per_second: u32,
    /// Calls at once per caller (default: the per-second rate).
    pub rate_limit_burst: Option<u32>,
    /// Subjects never rate limited.
    pub rate_limit_exempt: Vec<String>,
    /// HTTP/2 streams in flight per connection (clients queue beyond).
    pub max_concurrent_streams: u32,
}

impl Default for ServerSecurityConfig {
    fn default() -> Self {
        Self {
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            auth_tokens_file: None,
            jwt: JwtSettings {
                roles_claim: "roles".to_owned(),
                ..JwtSettings::default()
            },
            protect_health: false,
            rate_limit_per_second: 0,
            rate_limit_burst: None,
            rate_limit_exempt: Vec::new(),
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
        }
    }
}

#[derive(Clone)]
struct ServerTls {
    identity: TlsIdentity,
    client_ca: Option<(PathBuf, Certificate)>,
}

impl ServerTls {
    fn config(&self) -> ServerTlsConfig {
        let mut c = ServerTlsConfig::new().identity(self.identity.identity());
        if let Some((_, ca)) = &self.client_ca {
            c = c.client_ca_root(ca.clone());
        }
        c
    }
}

/// Loaded listener security; cheap to clone. The default is plaintext
/// with authentication off (deadlines are still enforced).
#[derive(Clone)]
pub struct ServerSecurity {
    tls: Option<ServerTls>,
    layer: SecurityLayer,
    max_concurrent_streams: u32,
}

impl Default for ServerSecurity {
    fn default() -> Self {
        Self {
            tls: None,
            layer: SecurityLayer::default(),
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
        }
    }
}

impl std::fmt::Debug for ServerSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl ServerSecurityConfig {
    /// Reads every file and checks every setting.
    pub fn load(&self) -> Result<ServerSecurity, SecurityError> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                let identity = TlsIdentity::load(cert, key)?;
                let client_ca = match &self.tls_client_ca {
                    Some(p) => Some((p.clone(), load_ca("--tls-client-ca", p)?)),
                    None => None,
                };
                let tls = ServerTls {
                    identity,
                    client_ca,
                };
                // The key must fit the certificate: find out now.
                Server::builder().tls_config(tls.config()).map_err(|e| {
                    SecurityError::Config(format!(
                        "--tls-cert {} / --tls-key {}: cannot serve TLS with them: {}",
                        cert.display(),
                        key.display(),
                        error_chain(&e)
                    ))
                })?;
                Some(tls)
            }
            (None, None) => {
                if let Some(p) = &self.tls_client_ca {
                    return Err(SecurityError::Config(format!(
                        "--tls-client-ca {}: mutual TLS needs TLS: give --tls-cert and --tls-key too",
                        p.display()
                    )));
                }
                None
            }
            _ => {
                return Err(SecurityError::Config(
                    "--tls-cert and --tls-key: expected both or neither".into(),
                ));
            }
        };
        let auth = Authenticator::load(self.auth_tokens_file.as_deref(), &self.jwt)?;
        if auth.is_none() && self.protect_health {
            return Err(SecurityError::Config(
                "--auth-protect-health: needs authentication on (--auth-tokens-file or a JWT key)"
                    .into(),
            ));
        }
        let rate_limit = match NonZeroU32::new(self.rate_limit_per_second) {
            Some(rate) => {
                let burst = match self.rate_limit_burst {
                    None => rate,
                    Some(b) => NonZeroU32::new(b).ok_or_else(|| {
                        SecurityError::Config(
                            "--rate-limit-burst: expected at least 1, got 0".into(),
                        )
                    })?,
                };
                let exempt: HashSet<String> = self
                    .rate_limit_exempt
                    .iter()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                Some(RateLimit::new(rate, burst, exempt))
            }
            None => None,
        };
        if self.max_concurrent_streams == 0 {
            return Err(SecurityError::Config(
                "--max-concurrent-streams: expected at least 1, got 0".into(),
            ));
        }
        Ok(ServerSecurity {
            tls,
            layer: SecurityLayer::new(Policy {
                auth,
                protect_health: self.protect_health,
                rate_limit,
            }),
            max_concurrent_streams: self.max_concurrent_streams,
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl ServerSecurity {
    /// A tonic server builder with TLS and the stream cap applied; add
    /// the trace layer, then [`ServerSecurity::layer`], then services.
    pub fn server(&self) -> Result<Server, SecurityError> {
        let builder = Server::builder().max_concurrent_streams(self.max_concurrent_streams);
        match &self.tls {
            Some(tls) => builder
                .tls_config(tls.config())
                .map_err(|e| SecurityError::Config(format!("TLS: {}", error_chain(&e)))),
            None => Ok(builder),
        }
    }

    /// The authentication, roles, rate-limit and deadline layer.
    pub fn layer(&self) -> SecurityLayer {
        self.layer.clone()
    }

    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn mutual_tls(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.client_ca.is_some())
    }

    pub fn auth(&self) -> bool {
        self.layer.policy().auth.is_some()
    }

    /// The token checker, when authentication is on (for HTTP endpoints
    /// such as the dashboard that admit the same tokens).
    pub fn authenticator(&self) -> Option<crate::Authenticator> {
        self.layer.policy().auth.clone()
    }

    /// Logs a warning when authentication is off: anyone who reaches the
    /// listener may call every RPC, promotions and reloads included.
    pub fn warn_if_open(&self, role: &str, addr: Option<std::net::SocketAddr>) {
        if !self.auth() {
            tracing::warn!(
                role,
                ?addr,
                "authentication is OFF: anyone who can reach this port may call every RPC (register, promote, reload, ...); turn it on with --auth-tokens-file or a JWT key (see SECURITY.md)"
            );
        }
    }

    /// The effective settings for the start-up log: paths and counts,
    /// never a secret.
    pub fn describe(&self) -> String {
        let tls = match &self.tls {
            None => "tls off (plaintext)".to_owned(),
            Some(t) => format!(
                "tls on (cert {}, key {}){}",
                t.identity.cert_path.display(),
                t.identity.key_path.display(),
                match &t.client_ca {
                    Some((p, _)) => format!(", mutual TLS (client CA {})", p.display()),
                    None => String::new(),
                }
            ),
        };
        let policy = self.layer.policy();
        let auth = match &policy.auth {
            None => "auth OFF: every caller may call every RPC".to_owned(),
            Some(a) => format!(
                "auth on ({}){}",
                a.describe(),
                if policy.protect_health {
                    ", health and reflection protected"
                } else {
                    ", health and reflection open"
                }
            ),
        };
        let limit = match &policy.rate_limit {
            None => "rate limit off".to_owned(),
            Some(l) => format!("rate limit {}", l.describe()),
        };
        format!(
            "{tls}; {auth}; {limit}; max {} concurrent streams per connection",
            self.max_concurrent_streams
        )
    }
}

/// The accepted connections of `listener`, with TCP_NODELAY. tonic sets
/// it only on listeners it binds itself; without it, a connection that
/// carries several concurrent streams meets Nagle's algorithm and delayed
/// ACKs (40 ms stalls: the router's p99 at concurrency 64 went from ~41 ms
/// to under 10 ms with it). Every joust role serves through this.
pub fn incoming(listener: tokio::net::TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}
