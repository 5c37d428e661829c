//! One POST of one payload to one endpoint: the registry's side of the
//! shared delivery code (crate joust-webhooks, also used by the detection
//! service). No retries here: the worker decides.

use std::time::Duration;

pub use joust_webhooks::deliver::{
    ATTEMPT_HEADER, DELIVERY_HEADER, EVENT_HEADER, Message, Outcome,
};

use super::config::Endpoint;
use super::signer::Signer;

/// Sends signed webhook messages to configured endpoints; cheap to clone
/// (one connection pool).
#[derive(Debug, Clone)]
pub struct Deliverer(joust_webhooks::Deliverer);

impl Deliverer {
    /// A client whose every POST takes at most `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, String> {
        joust_webhooks::Deliverer::new(timeout).map(Self)
    }

    /// POSTs `message` to `endpoint`, signed with `signer`; returns the
    /// outcome and how long the attempt took.
    pub async fn deliver(
        &self,
        endpoint: &Endpoint,
        signer: &Signer,
        message: &Message<'_>,
    ) -> (Outcome, Duration) {
        self.0.deliver(&endpoint.url, signer, message).await
    }
}
