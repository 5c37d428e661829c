//! The one follower of the registry's change feed (`Registry.Watch`):
//! subscribes from a cursor, hands the role bursts of events as one batch,
//! and after any failure reconnects with jittered exponential backoff and
//! resumes after the last event it handed out. The role owns its loop and
//! calls [`WatchFollower::next`] in it (cancel-safe, so it sits in a
//! `select!` beside the role's own timers); what an event means for the
//! role stays in the role.

use std::time::Duration;

use futures::FutureExt;
use joust_proto::v1::registry_client::RegistryClient;
use joust_proto::v1::{Event, WatchRequest};
use joust_security::SecureChannel;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info, warn};

use crate::backoff::Retry;

/// A stream that stayed up this long was healthy: its end starts the
/// backoff afresh (the first reconnect is immediate).
const STABLE: Duration = Duration::from_secs(1);

/// What happened on the feed since the last call to [`WatchFollower::next`].
#[derive(Debug, Clone, PartialEq)]
pub enum WatchUpdate {
    /// The stream is open. `first` is true only when the very first attempt
    /// succeeded; otherwise something may have happened that the event log
    /// cannot replay and the role should re-read everything.
    Connected { first: bool },
    /// One or more events (a burst coalesced), in id order; the cursor is
    /// past the last one.
    Events(Vec<Event>),
    /// The stream failed, closed or could not be opened; the next attempt
    /// is in `retry_in`.
    Disconnected { reason: String, retry_in: Duration },
}

enum State {
    /// Open the stream on the next call.
    Connect,
    /// Open it at this instant.
    WaitUntil(Instant),
    Open {
        stream: Box<tonic::Streaming<Event>>,
        since: Instant,
        /// The stream ended inside a burst: report it after the burst.
        ended: Option<String>,
    },
}

/// Follows `Registry.Watch`. One per role process.
pub struct WatchFollower {
    client: RegistryClient<SecureChannel>,
    models: Vec<String>,
    retry: Retry,
    cursor: u64,
    failures: u32,
    attempts: u64,
    state: State,
}

impl std::fmt::Debug for WatchFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchFollower")
            .field("cursor", &self.cursor)
            .field("failures", &self.failures)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl WatchFollower {
    /// Follows every model's events after `after_id` (0: the whole log).
    /// Nothing is connected until the first [`next`](Self::next).
    pub fn new(client: RegistryClient<SecureChannel>, after_id: u64, retry: Retry) -> Self {
        Self {
            client,
            models: Vec::new(),
            retry,
            cursor: after_id,
            failures: 0,
            attempts: 0,
            state: State::Connect,
        }
    }

    /// Only these models' events (empty: every model).
    pub fn models(mut self, models: Vec<String>) -> Self {
        self.models = models;
        self
    }

    /// The id of the last event handed out (where a reconnect resumes).
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// True while the stream is open.
    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// Waits for the next update. Cancel-safe: dropping the future loses
    /// no event and keeps the backoff.
    pub async fn next(&mut self) -> WatchUpdate {
        loop {
            match &mut self.state {
                State::WaitUntil(at) => {
                    sleep_until(*at).await;
                    self.state = State::Connect;
                }
                State::Connect => return self.connect().await,
                State::Open {
                    stream,
                    since,
                    ended,
                } => {
                    if let Some(reason) = ended.take() {
                        let lived = since.elapsed();
                        return self.disconnected(reason, lived);
                    }
                    let first = match stream.message().await {
                        Ok(Some(event)) => event,
                        Ok(None) => {
                            let lived = since.elapsed();
                            return self
                                .disconnected("registry closed the Watch stream".into(), lived);
                        }
                        Err(status) => {
                            let lived = since.elapsed();
                            return self.disconnected(describe(&status), lived);
                        }
                    };
                    let mut batch = vec![first];
                    // Coalesce what has already arrived into the same batch.
                    while let Some(next) = stream.message().now_or_never() {
                        match next {
                            Ok(Some(event)) => batch.push(event),
                            Ok(None) => {
                                *ended = Some("registry closed the Watch stream".into());
                                break;
                            }
                            Err(status) => {
                                *ended = Some(describe(&status));
                                break;
                            }
                        }
                    }
                    if let Some(last) = batch.iter().map(|e| e.id).max() {
                        self.cursor = self.cursor.max(last);
                    }
                    return WatchUpdate::Events(batch);
                }
            }
        }
    }

    async fn connect(&mut self) -> WatchUpdate {
        let request = WatchRequest {
            after_id: self.cursor,
            models: self.models.clone(),
        };
        let opened = self.client.clone().watch(request).await;
        self.attempts += 1;
        match opened {
            Ok(response) => {
                let first = self.attempts == 1;
                if !first {
                    info!(cursor = self.cursor, "registry Watch resumed");
                }
                self.state = State::Open {
                    stream: Box::new(response.into_inner()),
                    since: Instant::now(),
                    ended: None,
                };
                WatchUpdate::Connected { first }
            }
            Err(status) => {
                self.failures = self.failures.saturating_add(1);
                let retry_in = self.retry.after(self.failures);
                debug!(code = ?status.code(), message = status.message(), ?retry_in, "registry Watch unavailable; retrying");
                self.state = State::WaitUntil(Instant::now() + retry_in);
                WatchUpdate::Disconnected {
                    reason: describe(&status),
                    retry_in,
                }
            }
        }
    }

    fn disconnected(&mut self, reason: String, lived: Duration) -> WatchUpdate {
        let retry_in = if lived >= STABLE {
            self.failures = 0;
            self.state = State::Connect;
            Duration::ZERO
        } else {
            self.failures = self.failures.saturating_add(1);
            let delay = self.retry.after(self.failures);
            self.state = State::WaitUntil(Instant::now() + delay);
            delay
        };
        warn!(%reason, ?retry_in, cursor = self.cursor, "registry Watch ended; reconnecting");
        WatchUpdate::Disconnected { reason, retry_in }
    }
}

fn describe(status: &tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}
