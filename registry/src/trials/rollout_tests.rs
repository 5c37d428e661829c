#![allow(clippy::unwrap_used)]

use chrono::{Duration, Utc};

use super::*;
use crate::trials::domain::Gates;
use crate::trials::report::ReportBuilder;

fn state(step: usize, started_ms_ago: i64) -> PlanState {
    PlanState {
        plan: Plan::default_shaped(1000, 10, 10),
        step,
        step_started_at: Utc::now() - Duration::milliseconds(started_ms_ago),
        paused: false,
        approval: Approval::None,
        note: String::new(),
    }
}

fn report(verdict: Verdict) -> Report {
    let mut r = ReportBuilder::new().finish(Mode::Shadow, 0.0, &Gates::default());
    r.verdict = verdict;
    r
}

#[test]
fn the_default_plan_is_valid_and_bad_plans_name_the_field() {
    assert_eq!(Plan::default_shaped(1, 1, 1).validate(), Ok(()));
    let mut p = Plan::default_shaped(1, 1, 1);
    p.steps[2].weight = 1.5;
    assert_eq!(
        p.validate().unwrap_err(),
        "steps[2].weight: expected 0 < weight ≤ 1, got 1.5"
    );
    let mut p = Plan::default_shaped(1, 1, 1);
    p.steps[3].action = StepAction::Advance;
    assert!(p.validate().unwrap_err().starts_with("steps[3].action:"));
    let mut p = Plan::default_shaped(1, 1, 1);
    p.steps[1].action = StepAction::Promote;
    assert!(p.validate().unwrap_err().starts_with("steps[1].action:"));
    assert!(
        Plan {
            steps: vec![],
            watch: false
        }
        .validate()
        .unwrap_err()
        .starts_with("plan.steps:")
    );
}

#[test]
fn a_reject_verdict_aborts_at_any_step_even_while_awaiting_approval() {
    let mut s = state(3, 0);
    s.approval = Approval::Pending;
    assert!(matches!(
        decide(&s, &report(Verdict::Reject), Utc::now()),
        Action::Abort { at: 3, .. }
    ));
    s.paused = true;
    assert!(matches!(
        decide(&s, &report(Verdict::Reject), Utc::now()),
        Action::Wait(_)
    ));
}

#[test]
fn minimums_hold_a_step_and_approval_needs_a_promote_verdict() {
    // Too early.
    assert!(matches!(
        decide(&state(0, 10), &report(Verdict::KeepRunning), Utc::now()),
        Action::Wait(_)
    ));
    // Long enough but no samples in the step's period.
    assert!(matches!(
        decide(&state(0, 5000), &report(Verdict::KeepRunning), Utc::now()),
        Action::Wait(_)
    ));
    let mut s = state(0, 5000);
    s.plan.steps[0].min_samples = 0;
    assert!(matches!(
        decide(&s, &report(Verdict::KeepRunning), Utc::now()),
        Action::Advance { from: 0, .. }
    ));
    let mut s = state(3, 5000);
    s.plan.steps[3].min_samples = 0;
    assert!(matches!(
        decide(&s, &report(Verdict::KeepRunning), Utc::now()),
        Action::Wait(_)
    ));
    assert!(matches!(
        decide(&s, &report(Verdict::Promote), Utc::now()),
        Action::RequestApproval { at: 3, .. }
    ));
    s.approval = Approval::Granted;
    assert!(matches!(
        decide(&s, &report(Verdict::KeepRunning), Utc::now()),
        Action::Promote { at: 3, .. }
    ));
}

#[test]
fn a_watch_rolls_back_on_proven_harm_and_ends_after_its_period() {
    let watch = |started_ms_ago| PlanState {
        plan: Plan::watch(1000),
        step: 0,
        step_started_at: Utc::now() - Duration::milliseconds(started_ms_ago),
        paused: false,
        approval: Approval::None,
        note: String::new(),
    };
    assert!(matches!(
        decide_watch(&watch(10), &report(Verdict::Reject), Utc::now()),
        Action::RollBack { .. }
    ));
    assert!(matches!(
        decide_watch(&watch(10), &report(Verdict::KeepRunning), Utc::now()),
        Action::Wait(_)
    ));
    assert!(matches!(
        decide_watch(&watch(5000), &report(Verdict::KeepRunning), Utc::now()),
        Action::EndWatch { .. }
    ));
    let mut w = watch(5000);
    w.step = 1;
    assert!(matches!(
        decide_watch(&w, &report(Verdict::Reject), Utc::now()),
        Action::Wait(_)
    ));
    // Users cannot start a watch.
    assert!(
        Plan::watch(1)
            .validate()
            .unwrap_err()
            .starts_with("plan.watch:")
    );
}
