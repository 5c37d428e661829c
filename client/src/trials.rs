//! The trials client: start, change, stop and inspect champion/challenger
//! trials, stream comparison records, fetch the report.

use joust_proto::v1 as pb;
use joust_proto::v1::trials_client::TrialsClient as Raw;
use joust_security::{ClientSecurity, SecureChannel as Channel};
use tonic::Request;

use crate::error::ClientError;

/// Largest message this client accepts or sends.
const MAX_MESSAGE: usize = 16 << 20;
/// Trials fetched per ListTrials page.
const PAGE: u32 = 500;

#[derive(Debug, Clone)]
pub struct TrialsClient {
    raw: Raw<Channel>,
    actor: Option<String>,
}

impl TrialsClient {
    pub async fn connect(url: &str) -> Result<Self, ClientError> {
        Ok(Self::new(crate::channel(url).await?))
    }

    /// Connects to `url` with `security`'s TLS and token.
    pub async fn connect_with(url: &str, security: &ClientSecurity) -> Result<Self, ClientError> {
        Ok(Self::new(crate::connect(url, security).await?))
    }

    /// A client on `channel`: a tonic `Channel` (no token) or a
    /// [`joust_security::SecureChannel`].
    pub fn new(channel: impl Into<Channel>) -> Self {
        Self {
            raw: Raw::new(channel.into())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            actor: None,
        }
    }

    /// Names the acting user in audit events (`x-joust-actor`).
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// The generated client, for calls this wrapper does not cover.
    pub fn raw(&self) -> Raw<Channel> {
        self.raw.clone()
    }

    fn req<T>(&self, msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        if let Some(a) = self.actor.as_deref().and_then(|a| a.parse().ok()) {
            r.metadata_mut()
                .insert(joust_proto::wire::metadata::ACTOR, a);
        }
        r
    }

    /// Opens a trial: the `evaluated` challenger version becomes
    /// `challenger` against the model's champion.
    pub async fn start(&self, request: pb::StartTrialRequest) -> Result<pb::Trial, ClientError> {
        Ok(self
            .raw
            .clone()
            .start_trial(self.req(request))
            .await?
            .into_inner())
    }

    /// Changes the model's open trial (mode, weight, sampling, gates).
    pub async fn update(&self, request: pb::UpdateTrialRequest) -> Result<pb::Trial, ClientError> {
        Ok(self
            .raw
            .clone()
            .update_trial(self.req(request))
            .await?
            .into_inner())
    }

    /// Stops the model's open trial with `outcome`.
    pub async fn stop(
        &self,
        model: &str,
        outcome: pb::TrialOutcome,
        reason: &str,
    ) -> Result<pb::Trial, ClientError> {
        let r = self.req(pb::StopTrialRequest {
            model: model.into(),
            outcome: outcome.into(),
            reason: reason.into(),
        });
        Ok(self.raw.clone().stop_trial(r).await?.into_inner())
    }

    /// Grants (`approve`) or denies the pending approval of `model`'s open
    /// trial (its plan waits at an `await_approval` step).
    pub async fn decide_approval(
        &self,
        model: &str,
        approve: bool,
        reason: &str,
    ) -> Result<pb::Trial, ClientError> {
        let r = self.req(pb::DecideApprovalRequest {
            model: model.into(),
            reason: reason.into(),
        });
        let mut raw = self.raw.clone();
        let t = if approve {
            raw.approve_trial(r).await?
        } else {
            raw.deny_trial(r).await?
        };
        Ok(t.into_inner())
    }

    /// Trial `id` when non-zero, else `model`'s open trial, else its latest.
    pub async fn get(&self, id: u64, model: &str) -> Result<pb::Trial, ClientError> {
        let r = self.req(pb::GetTrialRequest {
            id,
            model: model.into(),
        });
        Ok(self.raw.clone().get_trial(r).await?.into_inner())
    }

    /// Every trial (of `model` when given), by id, following pages.
    pub async fn list(
        &self,
        model: Option<&str>,
        open_only: bool,
    ) -> Result<Vec<pb::Trial>, ClientError> {
        let mut out: Vec<pb::Trial> = Vec::new();
        loop {
            let r = self.req(pb::ListTrialsRequest {
                model: model.unwrap_or_default().into(),
                open_only,
                after_id: out.last().map_or(0, |t| t.id),
                limit: PAGE,
            });
            let page = self.raw.clone().list_trials(r).await?.into_inner().trials;
            let full = page.len() >= PAGE as usize;
            out.extend(page);
            if !full {
                return Ok(out);
            }
        }
    }

    /// Every open trial of every model, following pages.
    pub async fn list_open(&self) -> Result<Vec<pb::Trial>, ClientError> {
        self.list(None, true).await
    }

    /// The report of trial `id` (or `model`'s open, else latest, trial).
    pub async fn report(&self, id: u64, model: &str) -> Result<pb::TrialReport, ClientError> {
        let r = self.req(pb::GetTrialReportRequest {
            id,
            model: model.into(),
        });
        Ok(self.raw.clone().get_trial_report(r).await?.into_inner())
    }

    /// Streams `batches` of records over one RecordComparisons call.
    /// Records are idempotent by `record_id`; the response counts new and
    /// duplicate records and names each refused one (index in the call,
    /// reason, message); the valid others are stored.
    pub async fn record<S>(&self, batches: S) -> Result<pb::RecordComparisonsResponse, ClientError>
    where
        S: futures::Stream<Item = Vec<pb::ComparisonRecord>> + Send + 'static,
    {
        use futures::StreamExt;
        let stream = batches.map(|records| pb::RecordComparisonsRequest {
            records,
            dropped: Vec::new(),
        });
        Ok(self
            .raw
            .clone()
            .record_comparisons(self.req(stream))
            .await?
            .into_inner())
    }
}
