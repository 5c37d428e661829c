//! The one tower layer every joust gRPC server wears
//! (`Server::builder().layer(GrpcTraceLayer).layer(security.layer())`):
//!
//! 1. the client's deadline (`grpc-timeout`) becomes a [`Deadline`] in
//!    the request's extensions; a request that arrives with no time left
//!    is answered DEADLINE_EXCEEDED at once, and one still running when
//!    it passes is dropped and answered DEADLINE_EXCEEDED;
//! 2. health and reflection pass untouched (unless protected);
//! 3. the bearer token is checked → UNAUTHENTICATED, and its
//!    [`Identity`] put in the extensions;
//! 4. the caller's rate (subject, or peer IP when anonymous) is counted →
//!    RESOURCE_EXHAUSTED;
//! 5. the method's role ([`crate::roles::METHODS`]) is checked →
//!    PERMISSION_DENIED naming the method and the role it needs.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use tonic::Status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use crate::auth::Authenticator;
use crate::deadline::{self, Deadline, GRPC_TIMEOUT};
use crate::identity::Identity;
use crate::limit::RateLimit;
use crate::roles::{Access, access};

/// What the layer enforces. The default enforces deadlines only.
#[derive(Debug, Default)]
pub struct Policy {
    /// `None`: authentication off (every caller is anonymous and may call
    /// everything).
    pub auth: Option<Authenticator>,
    /// Health and reflection need a token too.
    pub protect_health: bool,
    pub rate_limit: Option<RateLimit>,
}

/// The layer; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SecurityLayer {
    policy: Arc<Policy>,
}

impl SecurityLayer {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

impl<S> Layer<S> for SecurityLayer {
    type Service = SecurityService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityService {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// The service [`SecurityLayer`] builds.
#[derive(Debug, Clone)]
pub struct SecurityService<S> {
    inner: S,
    policy: Arc<Policy>,
}

fn peer_ip<B>(request: &http::Request<B>) -> Option<IpAddr> {
    let ext = request.extensions();
    ext.get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            ext.get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|t| t.get_ref().remote_addr())
        })
        .map(|a| a.ip())
}

impl Policy {
    /// Admits or refuses a call of `path`; the identity, when there is one.
    pub fn admit(
        &self,
        path: &str,
        authorization: Option<&[u8]>,
        peer: Option<IpAddr>,
    ) -> Result<Option<Identity>, Status> {
        let needed = access(path);
        if needed == Access::Probe && !self.protect_health {
            return Ok(None);
        }
        let peer_key = || {
            format!(
                "peer:{}",
                peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string())
            )
        };
        let limit = |key: &str, subject: Option<&str>| -> Result<(), Status> {
            match &self.rate_limit {
                Some(l) => l.check(key, subject).map_err(|wait| {
                    Status::resource_exhausted(format!(
                        "rate limit of {} exceeded for {}: retry in {} ms",
                        path,
                        subject.map_or_else(|| "this peer".to_owned(), |s| format!("{s:?}")),
                        wait.as_millis().max(1)
                    ))
                }),
                None => Ok(()),
            }
        };
        let Some(auth) = &self.auth else {
            limit(&peer_key(), None)?;
            return Ok(None);
        };
        let identity = match auth.authenticate(authorization) {
            Ok(identity) => identity,
            Err(reason) => {
                // Failed attempts count against the peer: guessing tokens
                // is rate limited too.
                limit(&peer_key(), None)?;
                tracing::debug!(path, %reason, peer = ?peer, "unauthenticated call refused");
                return Err(Status::unauthenticated(format!("{path}: {reason}")));
            }
        };
        limit(
            &format!("sub:{}", identity.subject),
            Some(&identity.subject),
        )?;
        if let Access::Role(role) = needed
            && !identity.has(role)
        {
            tracing::debug!(path, subject = %identity.subject, %role, "call refused: role missing");
            return Err(Status::permission_denied(format!(
                "{path} needs role {role} (or {}); caller {:?} has {}",
                if role == crate::Role::Reader {
                    "operator or admin"
                } else {
                    "admin"
                },
                identity.subject,
                identity.roles_text()
            )));
        }
        Ok(Some(identity))
    }
}

/// Part of the deadline kept back so this server answers
/// DEADLINE_EXCEEDED itself, before the transport's own timer (which
/// answers CANCELLED) fires.
fn margin(timeout: Duration) -> Duration {
    (timeout / 2).min(Duration::from_millis(2))
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for SecurityService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = SecurityFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let arrived = Instant::now();
        let timeout = request
            .headers()
            .get(GRPC_TIMEOUT)
            .and_then(|v| v.to_str().ok())
            .and_then(deadline::parse);
        let path = request.uri().path().to_owned();
        let admitted = self.policy.admit(
            &path,
            request
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
            peer_ip(&request),
        );
        let identity = match admitted {
            Ok(identity) => identity,
            Err(status) => return SecurityFuture::answered(status),
        };
        let answer_by = match timeout {
            Some(t) => {
                let keep = t.saturating_sub(margin(t));
                if keep.is_zero() {
                    return SecurityFuture::answered(expired(&path, t));
                }
                arrived.checked_add(keep).map(|at| (at, t))
            }
            None => None,
        };
        if let Some((at, _)) = answer_by {
            request.extensions_mut().insert(Deadline(at));
        }
        if let Some(identity) = identity {
            request.extensions_mut().insert(identity);
        }
        SecurityFuture::Calling {
            inner: self.inner.call(request),
            sleep: answer_by.map(|(at, _)| tokio::time::sleep_until(at)),
            expired: answer_by.map(|(_, t)| (path, t)),
        }
    }
}

fn expired(path: &str, timeout: Duration) -> Status {
    Status::deadline_exceeded(format!(
        "{path}: the client's deadline (grpc-timeout {timeout:?}) passed before the answer"
    ))
}

pin_project_lite::pin_project! {
    /// The answer: a refusal at once, or the inner call bounded by the
    /// deadline.
    #[project = SecurityFutureProj]
    pub enum SecurityFuture<F, B> {
        Answered { response: Option<http::Response<B>> },
        Calling {
            #[pin]
            inner: F,
            #[pin]
            sleep: Option<Sleep>,
            expired: Option<(String, Duration)>,
        },
    }
}

impl<F, B> SecurityFuture<F, B>
where
    B: Default,
{
    fn answered(status: Status) -> Self {
        SecurityFuture::Answered {
            response: Some(status.into_http()),
        }
    }
}

impl<F, B, E> Future for SecurityFuture<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: Default,
{
    type Output = Result<http::Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            SecurityFutureProj::Answered { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                // Polled after completion: the contract allows anything
                // but a panic is not welcome on a request path.
                None => Poll::Pending,
            },
            SecurityFutureProj::Calling {
                inner,
                sleep,
                expired,
            } => {
                if let Poll::Ready(r) = inner.poll(cx) {
                    return Poll::Ready(r);
                }
                if let Some(sleep) = sleep.as_pin_mut()
                    && sleep.poll(cx).is_ready()
                {
                    let status = match expired.take() {
                        Some((path, timeout)) => self::expired(&path, timeout),
                        None => Status::deadline_exceeded("deadline exceeded"),
                    };
                    return Poll::Ready(Ok(status.into_http()));
                }
                Poll::Pending
            }
        }
    }
}
