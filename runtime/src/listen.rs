//! The one form of every listen-address flag: `HOST:PORT` or `off` (an
//! empty value is `off` too), and the bound listeners a role runs on.

use std::net::SocketAddr;
use std::str::FromStr;

use tokio::net::TcpListener;

/// A listen address that may be turned off. Parses from flags (clap uses
/// [`FromStr`]); [`parse_listen`] names the flag in its error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Listen(pub Option<SocketAddr>);

/// A listen flag's value was neither `HOST:PORT` nor `off`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{flag}expected HOST:PORT (an IP address and port, e.g. 127.0.0.1:9091), '' or 'off', got {value:?}"
)]
pub struct ListenError {
    /// `--flag: ` when known, else empty.
    flag: String,
    value: String,
}

impl FromStr for Listen {
    type Err = ListenError;

    fn from_str(s: &str) -> Result<Self, ListenError> {
        match s.trim() {
            "" | "off" => Ok(Self(None)),
            addr => addr
                .parse()
                .map(|a| Self(Some(a)))
                .map_err(|_| ListenError {
                    flag: String::new(),
                    value: s.to_owned(),
                }),
        }
    }
}

/// Parses the value of listen flag `flag` (named without dashes, as in
/// `metrics-listen`): the address, or `None` for `off` or ''.
pub fn parse_listen(flag: &str, value: &str) -> Result<Option<SocketAddr>, ListenError> {
    value
        .parse::<Listen>()
        .map(|l| l.0)
        .map_err(|e| ListenError {
            flag: format!("--{}: ", flag.trim_start_matches('-')),
            ..e
        })
}

impl Listen {
    /// Binds the address (none when off).
    pub async fn bind(self) -> std::io::Result<Option<TcpListener>> {
        match self.0 {
            Some(addr) => TcpListener::bind(addr).await.map(Some),
            None => Ok(None),
        }
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{addr}"),
            None => f.write_str("off"),
        }
    }
}

/// The bound listeners of one role: gRPC, and optionally the HTTP
/// `/metrics` endpoint and the HTTP API (the OIP REST endpoints of nodes
/// and routers).
#[derive(Debug)]
pub struct Listeners {
    pub grpc: TcpListener,
    pub metrics: Option<TcpListener>,
    pub http: Option<TcpListener>,
}

impl Listeners {
    pub fn new(grpc: TcpListener) -> Self {
        Self {
            grpc,
            metrics: None,
            http: None,
        }
    }

    /// Also serve the role's HTTP API on `http` (none: no HTTP API).
    pub fn with_http(mut self, http: Option<TcpListener>) -> Self {
        self.http = http;
        self
    }

    /// Also serve `/metrics` on `metrics` (none: no endpoint).
    pub fn with_metrics(mut self, metrics: Option<TcpListener>) -> Self {
        self.metrics = metrics;
        self
    }
}

impl From<TcpListener> for Listeners {
    fn from(grpc: TcpListener) -> Self {
        Self::new(grpc)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_address_or_off() {
        assert_eq!("".parse::<Listen>().unwrap(), Listen(None));
        assert_eq!("off".parse::<Listen>().unwrap(), Listen(None));
        assert_eq!(" off ".parse::<Listen>().unwrap(), Listen(None));
        let addr: SocketAddr = "127.0.0.1:7080".parse().unwrap();
        assert_eq!(
            "127.0.0.1:7080".parse::<Listen>().unwrap(),
            Listen(Some(addr))
        );
        assert_eq!("[::1]:0".parse::<Listen>().unwrap().to_string(), "[::1]:0");
        assert_eq!(Listen(None).to_string(), "off");
        for bad in [
            "localhost",
            "localhost:9091",
            "127.0.0.1",
            ":9091",
            "Off",
            "none",
            "1.2.3.4:99999",
        ] {
            let e = bad.parse::<Listen>().unwrap_err().to_string();
            assert!(e.starts_with("expected HOST:PORT"), "{bad}: {e}");
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn the_error_names_the_flag() {
        assert_eq!(parse_listen("metrics-listen", "off").unwrap(), None);
        let e = parse_listen("metrics-listen", "9091")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--metrics-listen: expected HOST:PORT"), "{e}");
        assert!(e.ends_with("got \"9091\""), "{e}");
        let e = parse_listen("--detect-listen", "x")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--detect-listen: expected"), "{e}");
    }
}
