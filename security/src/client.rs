//! Outgoing calls: TLS to `https://` servers (verified against
//! `--tls-ca`, presenting `--tls-cert`/`--tls-key` to servers that ask
//! for a client certificate) and the bearer token on every call, through
//! [`SecureChannel`], a tonic channel every generated client accepts.

use std::path::PathBuf;
use std::task::{Context, Poll};
use std::time::Duration;

use http::HeaderValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tower::Service;

use crate::error::{SecurityError, read_secret};
use crate::redact::Secret;
use crate::tls::{TlsIdentity, install_crypto_provider, load_ca};

/// Outgoing security settings as given.
#[derive(Debug, Clone, Default)]
pub struct ClientSecurityConfig {
    /// CA bundle (PEM) that signed the servers called over `https://`.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key (PEM) for servers that require mutual TLS.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// File holding the bearer token.
    pub token_file: Option<PathBuf>,
    /// The bearer token itself (`JOUST_TOKEN`).
    pub token: Option<Secret>,
}

/// Loaded outgoing security; cheap to clone. The default calls
/// `http://` servers without a token.
#[derive(Clone, Default)]
pub struct ClientSecurity {
    ca: Option<(PathBuf, Certificate)>,
    identity: Option<TlsIdentity>,
    authorization: Option<HeaderValue>,
}

impl std::fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl ClientSecurityConfig {
    /// Reads every file and checks every setting.
    pub fn load(&self) -> Result<ClientSecurity, SecurityError> {
        let ca = match &self.tls_ca {
            Some(p) => {
                install_crypto_provider();
                Some((p.clone(), load_ca("--tls-ca", p)?))
            }
            None => None,
        };
        let identity = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some(TlsIdentity::load(c, k)?),
            (None, None) => None,
            _ => {
                return Err(SecurityError::Config(
                    "--tls-cert and --tls-key: expected both or neither".into(),
                ));
            }
        };
        let token = match (&self.token_file, &self.token) {
            (Some(_), Some(_)) => {
                return Err(SecurityError::Config(
                    "--token-file and JOUST_TOKEN: expected one of them, got both".into(),
                ));
            }
            (Some(p), None) => Some(read_secret("--token-file", p)?),
            (None, Some(t)) => Some(t.expose().trim().to_owned()),
            (None, None) => None,
        };
        let authorization = match token.filter(|t| !t.is_empty()) {
            Some(t) => {
                let mut v = HeaderValue::try_from(format!("Bearer {t}")).map_err(|_| {
                    SecurityError::Config(
                        "token: expected visible ASCII characters (--token-file or JOUST_TOKEN)"
                            .into(),
                    )
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        Ok(ClientSecurity {
            ca,
            identity,
            authorization,
        })
    }
}

impl ClientSecurity {
    /// True when a token is sent.
    pub fn has_token(&self) -> bool {
        self.authorization.is_some()
    }

    /// True when `https://` servers can be verified.
    pub fn tls(&self) -> bool {
        self.ca.is_some()
    }

    /// For the start-up log: paths, never the token.
    pub fn describe(&self) -> String {
        format!(
            "outgoing: {}{}, token {}",
            match &self.ca {
                Some((p, _)) => format!("https verified with CA {}", p.display()),
                None => "no CA (http:// only)".to_owned(),
            },
            match &self.identity {
                Some(i) => format!(", client certificate {}", i.cert_path.display()),
                None => String::new(),
            },
            if self.has_token() {
                "set (redacted)"
            } else {
                "unset"
            }
        )
    }

    fn tls_config(&self, domain: Option<&str>) -> Option<ClientTlsConfig> {
        let (_, ca) = self.ca.as_ref()?;
        let mut c = ClientTlsConfig::new().ca_certificate(ca.clone());
        if let Some(i) = &self.identity {
            c = c.identity(i.identity());
        }
        if let Some(d) = domain {
            c = c.domain_name(d);
        }
        Some(c)
    }

    /// An endpoint for `url` (`http://` or `https://host:port`), with TLS
    /// for `https://`. Connection options (timeouts) are the caller's.
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, SecurityError> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| SecurityError::Config(format!("{url:?}: not a valid URL ({e})")))?;
        if !url.starts_with("https://") {
            return Ok(endpoint);
        }
        let tls = self.tls_config(None).ok_or_else(|| {
            SecurityError::Config(format!(
                "{url}: an https:// server needs --tls-ca (the CA that signed its certificate)"
            ))
        })?;
        endpoint
            .tls_config(tls)
            .map_err(|e| SecurityError::Config(format!("{url}: TLS: {e}")))
    }

    /// An endpoint for a resolved address of `host` (the router's node
    /// pool): `https://` with the certificate checked for `host` when a CA
    /// is configured, else `http://`.
    pub fn endpoint_for(
        &self,
        host: &str,
        address: std::net::SocketAddr,
    ) -> Result<Endpoint, SecurityError> {
        let scheme = if self.tls() { "https" } else { "http" };
        let endpoint = Endpoint::from_shared(format!("{scheme}://{address}"))
            .map_err(|e| SecurityError::Config(format!("{address}: {e}")))?;
        match self.tls_config(Some(host)) {
            Some(tls) => endpoint
                .tls_config(tls)
                .map_err(|e| SecurityError::Config(format!("{host} ({address}): TLS: {e}"))),
            None => Ok(endpoint),
        }
    }

    /// Wraps a connected channel so every call carries the token.
    pub fn wrap(&self, channel: Channel) -> SecureChannel {
        SecureChannel {
            inner: channel,
            authorization: self.authorization.clone(),
        }
    }

    /// A lazily connected channel to `url` (reconnects by itself).
    pub fn connect_lazy(&self, url: &str) -> Result<SecureChannel, SecurityError> {
        Ok(self.wrap(
            self.endpoint(url)?
                .connect_timeout(Duration::from_secs(5))
                .tcp_nodelay(true)
                .connect_lazy(),
        ))
    }

    /// A channel to `url`, connected now.
    pub async fn connect(&self, url: &str) -> Result<SecureChannel, ConnectError> {
        let channel = self
            .endpoint(url)
            .map_err(ConnectError::Config)?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| ConnectError::Connect(format!("{url}: {}", connect_reason(&e))))?;
        Ok(self.wrap(channel))
    }
}

/// The innermost cause of a transport error (tonic's own message is only
/// "transport error").
pub fn connect_reason(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// Why [`ClientSecurity::connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Config(SecurityError),
    #[error("cannot connect to {0}")]
    Connect(String),
}

/// A tonic [`Channel`] that adds `authorization: Bearer …` to every call
/// that does not carry one already. Generated clients take it like a
/// channel: `RegistryClient::new(channel)`.
#[derive(Clone, Debug)]
pub struct SecureChannel {
    inner: Channel,
    authorization: Option<HeaderValue>,
}

impl From<Channel> for SecureChannel {
    /// No token.
    fn from(inner: Channel) -> Self {
        Self {
            inner,
            authorization: None,
        }
    }
}

impl Service<http::Request<tonic::body::Body>> for SecureChannel {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = tonic::transport::channel::ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut request: http::Request<tonic::body::Body>) -> Self::Future {
        if let Some(v) = &self.authorization {
            request
                .headers_mut()
                .entry(http::header::AUTHORIZATION)
                .or_insert_with(|| v.clone());
        }
        Service::call(&mut self.inner, request)
    }
}
