//! The `joust.v1.Trials` gRPC service: handlers convert and delegate to
//! [`Trials`].

use joust_proto::v1 as pb;
use joust_proto::v1::trials_server::{Trials as TrialsApi, TrialsServer};
use tonic::{Request, Response, Status, Streaming};

use crate::grpc::actor_of;
use crate::trials::Trials;
use crate::trials::convert::{
    dropped_from_pb, mode_from_pb, outcome_from_pb, record_from_pb, report_to_pb,
};
use crate::trials::domain::{Mode, NewTrial, Trial, TrialUpdate};
use crate::trials::rollout::Plan;

#[derive(Debug, Clone)]
pub struct TrialsService {
    trials: Trials,
}

impl TrialsService {
    pub fn new(trials: Trials) -> Self {
        Self { trials }
    }

    /// The trial on the wire with its plan, if it has one.
    async fn with_plan(&self, trial: Trial) -> Result<pb::Trial, Status> {
        let plan = self.trials.plan(trial.id).await?;
        let mut t = pb::Trial::from(trial);
        t.plan = plan.as_ref().map(Into::into);
        Ok(t)
    }

    async fn decide(
        &self,
        request: Request<pb::DecideApprovalRequest>,
        grant: bool,
    ) -> Result<Response<pb::Trial>, Status> {
        let actor = actor_of(&request);
        let pb::DecideApprovalRequest { model, reason } = request.into_inner();
        let trial = self
            .trials
            .decide_approval(&model, grant, &reason, &actor)
            .await?;
        Ok(Response::new(self.with_plan(trial).await?))
    }
}

/// The trials service with the configured message limits.
pub fn service(trials: Trials, max_message_bytes: usize) -> TrialsServer<TrialsService> {
    TrialsServer::new(TrialsService::new(trials))
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes)
}

#[tonic::async_trait]
impl TrialsApi for TrialsService {
    async fn start_trial(
        &self,
        request: Request<pb::StartTrialRequest>,
    ) -> Result<Response<pb::Trial>, Status> {
        let actor = actor_of(&request);
        let pb::StartTrialRequest {
            model,
            challenger_version,
            mode,
            weight,
            sampling,
            sticky,
            gates,
            reason,
            plan,
        } = request.into_inner();
        let mode = mode_from_pb("mode", mode)?.unwrap_or(Mode::Shadow);
        let plan = plan.map(Plan::try_from).transpose()?;
        let new = NewTrial {
            model,
            challenger_version,
            mode,
            weight,
            sampling: if sampling == 0.0 { 1.0 } else { sampling },
            sticky,
            gates: gates.map(Into::into).unwrap_or_default(),
            reason,
            plan,
        };
        let trial = self.trials.start(new, &actor).await?;
        Ok(Response::new(self.with_plan(trial).await?))
    }

    async fn update_trial(
        &self,
        request: Request<pb::UpdateTrialRequest>,
    ) -> Result<Response<pb::Trial>, Status> {
        let actor = actor_of(&request);
        let pb::UpdateTrialRequest {
            model,
            mode,
            weight,
            sampling,
            gates,
            reason,
        } = request.into_inner();
        let update = TrialUpdate {
            mode: mode_from_pb("mode", mode)?,
            weight,
            sampling,
            gates: gates.map(Into::into),
            reason,
        };
        let t = self.trials.update(&model, update, &actor).await?;
        Ok(Response::new(t.into()))
    }

    async fn stop_trial(
        &self,
        request: Request<pb::StopTrialRequest>,
    ) -> Result<Response<pb::Trial>, Status> {
        let actor = actor_of(&request);
        let pb::StopTrialRequest {
            model,
            outcome,
            reason,
        } = request.into_inner();
        let outcome = outcome_from_pb(outcome)?;
        let t = self.trials.stop(&model, outcome, &reason, &actor).await?;
        Ok(Response::new(t.into()))
    }

    async fn get_trial(
        &self,
        request: Request<pb::GetTrialRequest>,
    ) -> Result<Response<pb::Trial>, Status> {
        let pb::GetTrialRequest { id, model } = request.into_inner();
        let trial = self.trials.find(id, &model).await?;
        Ok(Response::new(self.with_plan(trial).await?))
    }

    async fn list_trials(
        &self,
        request: Request<pb::ListTrialsRequest>,
    ) -> Result<Response<pb::ListTrialsResponse>, Status> {
        let pb::ListTrialsRequest {
            model,
            open_only,
            after_id,
            limit,
        } = request.into_inner();
        let model = (!model.is_empty()).then_some(model.as_str());
        let trials = self.trials.list(model, open_only, after_id, limit).await?;
        Ok(Response::new(pb::ListTrialsResponse {
            trials: trials.into_iter().map(Into::into).collect(),
        }))
    }

    async fn record_comparisons(
        &self,
        request: Request<Streaming<pb::RecordComparisonsRequest>>,
    ) -> Result<Response<pb::RecordComparisonsResponse>, Status> {
        let mut stream = request.into_inner();
        let mut out = pb::RecordComparisonsResponse::default();
        // Index of the next record in the call, across messages.
        let mut index = 0u64;
        while let Some(msg) = stream.message().await? {
            let pb::RecordComparisonsRequest { records, dropped } = msg;
            let n = records.len() as u64;
            let incoming = records
                .into_iter()
                .zip(index..)
                .map(|(r, i)| record_from_pb(i, r))
                .collect();
            let dropped = dropped
                .into_iter()
                .enumerate()
                .map(|(i, d)| dropped_from_pb(i, d))
                .collect::<Result<Vec<_>, Status>>()?;
            let done = self.trials.record(incoming, dropped, index).await?;
            index += n;
            out.accepted += done.accepted;
            out.duplicates += done.duplicates;
            out.refusals
                .extend(done.refusals.into_iter().map(pb::RecordRefusal::from));
        }
        Ok(Response::new(out))
    }

    async fn get_trial_report(
        &self,
        request: Request<pb::GetTrialReportRequest>,
    ) -> Result<Response<pb::TrialReport>, Status> {
        let pb::GetTrialReportRequest { id, model } = request.into_inner();
        let (trial, report) = self.trials.report(id, &model).await?;
        Ok(Response::new(report_to_pb(trial, report)))
    }

    async fn approve_trial(
        &self,
        request: Request<pb::DecideApprovalRequest>,
    ) -> Result<Response<pb::Trial>, Status> {
        self.decide(request, true).await
    }

    async fn deny_trial(
        &self,
        request: Request<pb::DecideApprovalRequest>,
    ) -> Result<Response<pb::Trial>, Status> {
        self.decide(request, false).await
    }
}
