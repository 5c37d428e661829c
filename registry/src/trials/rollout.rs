//! Progressive rollouts (pure): a trial's plan (ordered steps, each with a
//! mode, a weight or sampling, minimums and an action at its end), its
//! validation, and `decide(plan, state, report, now) → action`, the one
//! place the controller's rules live (docs/trials.md, "Plans"). No I/O, no
//! clock: the controller (`crate::trials::controller`) loads, decides and
//! applies through the store with a compare-and-set on the step index.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::trials::domain::Mode;
use crate::trials::report::{Report, Verdict};

/// The actor of every controller action in the audit log.
pub const CONTROLLER_ACTOR: &str = "controller";
/// Most steps in one plan.
pub const MAX_STEPS: usize = 32;

/// What happens when a step's minimums are met and its gates allow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    /// Go on to the next step.
    Advance,
    /// Ask for approval (`approval_requested`), wait; once granted, go on
    /// to the next step (or promote after the last).
    AwaitApproval,
    /// Promote the challenger (the last step only).
    Promote,
}

impl StepAction {
    pub fn as_str(self) -> &'static str {
        match self {
            StepAction::Advance => "advance",
            StepAction::AwaitApproval => "await_approval",
            StepAction::Promote => "promote",
        }
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// `shadow` or `split`.
    pub mode: Mode,
    /// Challenger share of requests (split steps), in (0, 1].
    pub weight: f64,
    /// Share of requests copied to the challenger (shadow steps), in (0, 1].
    pub sampling: f64,
    /// The step runs at least this long.
    pub min_duration_ms: u64,
    /// Successful requests each arm needs in this step (its period).
    pub min_samples: u64,
    pub action: StepAction,
}

/// An ordered list of steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// A post-promotion watch (written by the registry, never by a user):
    /// the trial's champion is the newly promoted version, its challenger
    /// the champion it replaced, in shadow; one step whose minimum duration
    /// is the watch period. See [`decide_watch`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub watch: bool,
}

impl Plan {
    /// The plan of the docs: shadow (sampling 1, ≥ 10 min, ≥ 5,000 pairs)
    /// → split 5 % → 25 % → 50 %, await approval, promote.
    pub fn default_shaped(min_duration_ms: u64, shadow_samples: u64, split_samples: u64) -> Self {
        let split = |weight, action| Step {
            mode: Mode::Split,
            weight,
            sampling: 1.0,
            min_duration_ms,
            min_samples: split_samples,
            action,
        };
        Plan {
            steps: vec![
                Step {
                    mode: Mode::Shadow,
                    weight: 0.0,
                    sampling: 1.0,
                    min_duration_ms,
                    min_samples: shadow_samples,
                    action: StepAction::Advance,
                },
                split(0.05, StepAction::Advance),
                split(0.25, StepAction::Advance),
                split(0.5, StepAction::AwaitApproval),
            ],
            watch: false,
        }
    }

    /// The plan of a post-promotion watch of `period`: the old champion in
    /// shadow (sampling 1) for that long.
    pub fn watch(period_ms: u64) -> Self {
        Plan {
            steps: vec![Step {
                mode: Mode::Shadow,
                weight: 0.0,
                sampling: 1.0,
                min_duration_ms: period_ms,
                min_samples: 0,
                action: StepAction::Promote,
            }],
            watch: true,
        }
    }

    /// Checks the plan; errors name the field (`steps[2].weight: …`).
    pub fn validate(&self) -> Result<(), String> {
        if self.watch {
            return Err(
                "plan.watch: expected false (a rollback watch is started by the registry, after a promotion)"
                    .to_owned(),
            );
        }
        if self.steps.is_empty() {
            return Err("plan.steps: expected at least one step, got none".to_owned());
        }
        if self.steps.len() > MAX_STEPS {
            return Err(format!(
                "plan.steps: expected at most {MAX_STEPS} steps, got {}",
                self.steps.len()
            ));
        }
        let last = self.steps.len() - 1;
        for (i, s) in self.steps.iter().enumerate() {
            let share = |name: &str, v: f64| {
                if v.is_finite() && v > 0.0 && v <= 1.0 {
                    Ok(())
                } else {
                    Err(format!(
                        "steps[{i}].{name}: expected 0 < {name} ≤ 1, got {v}"
                    ))
                }
            };
            match s.mode {
                Mode::Split => share("weight", s.weight)?,
                Mode::Shadow => share("sampling", s.sampling)?,
                Mode::Off => {
                    return Err(format!(
                        "steps[{i}].mode: expected shadow or split, got off"
                    ));
                }
            }
            if s.action == StepAction::Promote && i != last {
                return Err(format!(
                    "steps[{i}].action: promote ends the plan, so only the last step (steps[{last}]) can have it"
                ));
            }
            if i == last && s.action == StepAction::Advance {
                return Err(format!(
                    "steps[{i}].action: the last step must end in promote or await_approval, got advance"
                ));
            }
        }
        Ok(())
    }

    /// The mode, weight and sampling of step `i`, as the trial runs it.
    pub fn settings(&self, i: usize) -> Option<(Mode, f64, f64)> {
        self.steps.get(i).map(|s| match s.mode {
            Mode::Split => (Mode::Split, s.weight, 1.0),
            m => (m, 0.0, s.sampling),
        })
    }
}

/// Where a trial is in its plan (stored beside the trial).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanState {
    pub plan: Plan,
    /// The running step (= steps done).
    pub step: usize,
    pub step_started_at: DateTime<Utc>,
    /// A manual `trial update` paused the plan; the controller does nothing.
    pub paused: bool,
    pub approval: Approval,
    /// The controller's last explanation (why it waits), for `trial show`.
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    None,
    Pending,
    Granted,
}

impl Approval {
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::None => "",
            Approval::Pending => "pending",
            Approval::Granted => "granted",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "" => Ok(Approval::None),
            "pending" => Ok(Approval::Pending),
            "granted" => Ok(Approval::Granted),
            o => Err(format!("expected '', pending or granted, got {o:?}")),
        }
    }
}

/// What the controller does now.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Nothing yet; why (kept as the plan's note).
    Wait(String),
    /// Step `from` → `from + 1`, running the next step's settings.
    Advance { from: usize, figures: String },
    /// Ask for approval at the end of step `at`.
    RequestApproval { at: usize, figures: String },
    /// Promote the challenger at the end of step `at`.
    Promote { at: usize, figures: String },
    /// A guardrail is violated: reject the challenger (back to
    /// `evaluated`, traffic back to the champion).
    Abort { at: usize, figures: String },
    /// A watch found the new champion worse than the one it replaced: the
    /// old champion serves again, the new one is retired.
    RollBack { figures: String },
    /// A watch ran its period without proof of harm: the old champion is
    /// retired again, the new one stays.
    EndWatch { figures: String },
}

/// The figures an action is justified by, for the audit event.
pub fn figures(report: &Report, step_samples: u64, elapsed_ms: u64) -> String {
    let mut out = format!(
        "verdict {}; step samples {step_samples}, step time {:.1}s; errors champion {}/{} challenger {}/{}",
        report.verdict.as_str(),
        elapsed_ms as f64 / 1000.0,
        report.champion.errors,
        report.champion.requests,
        report.challenger.errors,
        report.challenger.requests,
    );
    for r in &report.reasons {
        out.push_str("; ");
        out.push_str(r);
    }
    out
}

/// Successful requests of the arm with fewer of them in the running step
/// (the report's latest period).
pub fn step_samples(report: &Report) -> u64 {
    report
        .periods
        .last()
        .map(|p| p.champion.ok().min(p.challenger.ok()))
        .unwrap_or(0)
}

/// The controller's rules (docs/trials.md, "The controller"):
/// 1. paused → wait;
/// 2. the report's verdict is `reject` (a guardrail violated with the
///    trial's confidence) → abort, at any step, approval pending or not;
/// 3. approval pending → wait; granted → advance (promote after the last
///    step);
/// 4. the step's minimums (duration, samples in its period) not met → wait;
/// 5. `advance` needs no violated gate (rule 2); `await_approval` and
///    `promote` need the verdict `promote` (every gate satisfied).
pub fn decide(state: &PlanState, report: &Report, now: DateTime<Utc>) -> Action {
    let at = state.step;
    let Some(step) = state.plan.steps.get(at) else {
        return Action::Wait(format!("step {at} is past the plan's end"));
    };
    let samples = step_samples(report);
    let elapsed_ms = u64::try_from((now - state.step_started_at).num_milliseconds()).unwrap_or(0);
    let figures = figures(report, samples, elapsed_ms);
    if state.paused {
        return Action::Wait("paused by a manual change".to_owned());
    }
    if report.verdict == Verdict::Reject {
        return Action::Abort { at, figures };
    }
    match state.approval {
        Approval::Pending => return Action::Wait("awaiting approval".to_owned()),
        Approval::Granted => {
            return if at + 1 < state.plan.steps.len() {
                Action::Advance { from: at, figures }
            } else {
                Action::Promote { at, figures }
            };
        }
        Approval::None => {}
    }
    if elapsed_ms < step.min_duration_ms {
        return Action::Wait(format!(
            "step {at}: {:.1}s of {:.1}s",
            elapsed_ms as f64 / 1000.0,
            step.min_duration_ms as f64 / 1000.0
        ));
    }
    if samples < step.min_samples {
        return Action::Wait(format!(
            "step {at}: {samples} of {} samples",
            step.min_samples
        ));
    }
    match step.action {
        StepAction::Advance => Action::Advance { from: at, figures },
        StepAction::AwaitApproval | StepAction::Promote if report.verdict != Verdict::Promote => {
            Action::Wait(format!("step {at}: verdict {}", report.verdict.as_str()))
        }
        StepAction::AwaitApproval => Action::RequestApproval { at, figures },
        StepAction::Promote => Action::Promote { at, figures },
    }
}

/// The rules of a post-promotion watch (docs/trials.md, "The rollback
/// watch"). `reversed` is the watch trial's report with its arms swapped:
/// the new champion judged as the challenger of the old one, with the
/// promoted trial's gates.
/// 1. paused → wait;
/// 2. the reversed verdict is `reject` (the new champion violates a gate
///    against the old with the trial's confidence) → roll back;
/// 3. the watch period has passed → end the watch;
/// 4. else wait.
pub fn decide_watch(state: &PlanState, reversed: &Report, now: DateTime<Utc>) -> Action {
    let period_ms = state.plan.steps.first().map_or(0, |s| s.min_duration_ms);
    let samples = step_samples(reversed);
    let elapsed_ms = u64::try_from((now - state.step_started_at).num_milliseconds()).unwrap_or(0);
    let figures = figures(reversed, samples, elapsed_ms);
    if state.paused {
        return Action::Wait("paused by a manual change".to_owned());
    }
    if state.step != 0 {
        return Action::Wait("the watch has ended".to_owned());
    }
    if reversed.verdict == Verdict::Reject {
        return Action::RollBack { figures };
    }
    if elapsed_ms >= period_ms {
        return Action::EndWatch { figures };
    }
    Action::Wait(format!(
        "watching the new champion: {:.1}s of {:.1}s",
        elapsed_ms as f64 / 1000.0,
        period_ms as f64 / 1000.0
    ))
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
