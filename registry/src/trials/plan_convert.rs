//! Plans: domain ↔ proto conversions (`joust.v1.TrialPlan`,
//! `TrialPlanState`). Requests destructure every field so a new proto
//! field breaks the build until it is handled.

use joust_proto::v1 as pb;
use tonic::Status;

use crate::grpc::convert::timestamp;
use crate::trials::convert::{mode_from_pb, mode_to_pb};
use crate::trials::domain::Mode;
use crate::trials::rollout::{Plan, PlanState, Step, StepAction};

fn action_to_pb(a: StepAction) -> pb::TrialStepAction {
    match a {
        StepAction::Advance => pb::TrialStepAction::Advance,
        StepAction::AwaitApproval => pb::TrialStepAction::AwaitApproval,
        StepAction::Promote => pb::TrialStepAction::Promote,
    }
}

fn action_from_pb(field: &str, raw: i32) -> Result<StepAction, Status> {
    match pb::TrialStepAction::try_from(raw) {
        Ok(pb::TrialStepAction::Advance) => Ok(StepAction::Advance),
        Ok(pb::TrialStepAction::AwaitApproval) => Ok(StepAction::AwaitApproval),
        Ok(pb::TrialStepAction::Promote) => Ok(StepAction::Promote),
        Ok(pb::TrialStepAction::Unspecified) | Err(_) => Err(Status::invalid_argument(format!(
            "{field}: expected advance, await_approval or promote (1 to 3), got {raw}"
        ))),
    }
}

/// A plan from the wire; the domain's [`Plan::validate`] checks the values.
impl TryFrom<pb::TrialPlan> for Plan {
    type Error = Status;
    fn try_from(p: pb::TrialPlan) -> Result<Self, Status> {
        let pb::TrialPlan { steps, watch } = p;
        let steps = steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let pb::TrialPlanStep {
                    mode,
                    weight,
                    sampling,
                    min_duration_ms,
                    min_samples,
                    action,
                } = s;
                let mode =
                    mode_from_pb(&format!("plan.steps[{i}].mode"), mode)?.ok_or_else(|| {
                        Status::invalid_argument(format!(
                            "plan.steps[{i}].mode: expected shadow or split, got unspecified"
                        ))
                    })?;
                Ok(Step {
                    mode,
                    weight,
                    sampling: if mode == Mode::Shadow && sampling == 0.0 {
                        1.0
                    } else {
                        sampling
                    },
                    min_duration_ms,
                    min_samples,
                    action: action_from_pb(&format!("plan.steps[{i}].action"), action)?,
                })
            })
            .collect::<Result<Vec<_>, Status>>()?;
        Ok(Plan { steps, watch })
    }
}

impl From<&Plan> for pb::TrialPlan {
    fn from(p: &Plan) -> Self {
        pb::TrialPlan {
            steps: p
                .steps
                .iter()
                .map(|s| pb::TrialPlanStep {
                    mode: mode_to_pb(s.mode).into(),
                    weight: s.weight,
                    sampling: s.sampling,
                    min_duration_ms: s.min_duration_ms,
                    min_samples: s.min_samples,
                    action: action_to_pb(s.action).into(),
                })
                .collect(),
            watch: p.watch,
        }
    }
}

impl From<&PlanState> for pb::TrialPlanState {
    fn from(s: &PlanState) -> Self {
        pb::TrialPlanState {
            plan: Some((&s.plan).into()),
            step: u32::try_from(s.step).unwrap_or(u32::MAX),
            step_started_at: Some(timestamp(s.step_started_at)),
            paused: s.paused,
            approval: s.approval.as_str().to_owned(),
            note: s.note.clone(),
        }
    }
}
