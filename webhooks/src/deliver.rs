//! One POST of one payload to one URL: the reusable core (the registry's
//! webhook worker and the detection service's notifications call it). No
//! retries here: the caller decides.

use std::time::{Duration, Instant};

use crate::signer::{SIGNATURE_HEADER, Signer};

/// The headers besides the signature.
pub const DELIVERY_HEADER: &str = "x-joust-delivery";
pub const EVENT_HEADER: &str = "x-joust-event";
pub const ATTEMPT_HEADER: &str = "x-joust-attempt";

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered { status: u16 },
    /// A non-2xx answer.
    Refused { status: u16 },
    /// No answer: connect error, timeout, broken connection.
    Failed { error: String },
}

impl Outcome {
    pub fn is_delivered(&self) -> bool {
        matches!(self, Outcome::Delivered { .. })
    }

    /// The HTTP status, 0 without an answer.
    pub fn http_status(&self) -> u16 {
        match self {
            Outcome::Delivered { status } | Outcome::Refused { status } => *status,
            Outcome::Failed { .. } => 0,
        }
    }

    /// A sentence for the delivery log ('' when delivered).
    pub fn error(&self) -> String {
        match self {
            Outcome::Delivered { .. } => String::new(),
            Outcome::Refused { status } => format!("the receiver answered HTTP {status}"),
            Outcome::Failed { error } => error.clone(),
        }
    }
}

/// One message to send.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub delivery_id: &'a str,
    pub kind: &'a str,
    pub body: &'a str,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// Sends signed webhook messages; cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    timeout: Duration,
}

impl Deliverer {
    /// A client whose every POST takes at most `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("joust-webhooks/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("building the webhook HTTP client: {e}"))?;
        Ok(Self { client, timeout })
    }

    /// POSTs `message` to `url`, signed with `signer`; returns the outcome
    /// and how long the attempt took.
    pub async fn deliver(
        &self,
        url: &url::Url,
        signer: &Signer,
        message: &Message<'_>,
    ) -> (Outcome, Duration) {
        let started = Instant::now();
        let sent = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signer.sign(message.body.as_bytes()))
            .header(DELIVERY_HEADER, message.delivery_id)
            .header(EVENT_HEADER, message.kind)
            .header(ATTEMPT_HEADER, message.attempt.to_string())
            .body(message.body.to_owned())
            .send()
            .await;
        let outcome = match sent {
            Ok(r) if r.status().is_success() => Outcome::Delivered {
                status: r.status().as_u16(),
            },
            Ok(r) => Outcome::Refused {
                status: r.status().as_u16(),
            },
            Err(e) if e.is_timeout() => Outcome::Failed {
                error: format!("no answer within {} ms", self.timeout.as_millis()),
            },
            Err(e) => Outcome::Failed {
                error: error_chain(&e),
            },
        };
        (outcome, started.elapsed())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
