//! Trial plans on the command line: the TOML file of `joust trial start
//! --plan plan.toml`, the `--step` flag, and what `joust trial show`
//! prints of a plan (docs/trials.md, "Plans").
//!
//! ```toml
//! [[steps]]
//! mode = "shadow"        # shadow or split
//! sampling = 1.0         # shadow steps: share copied to the challenger
//! min_duration = "10m"   # 500ms, 30s, 10m, 1h
//! min_samples = 5000     # successful requests per arm in the step
//! action = "advance"     # advance (default), await_approval, promote
//!
//! [[steps]]
//! mode = "split"
//! weight = 0.05          # split steps: challenger share
//! min_duration = "10m"
//! min_samples = 1000
//! ```

use std::time::Duration;

use joust_client::pb;
use serde::{Deserialize, Serialize};

use crate::output::time;
use crate::trial_output::mode_name;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    steps: Vec<StepFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    mode: String,
    #[serde(default)]
    weight: Option<f64>,
    #[serde(default)]
    sampling: Option<f64>,
    #[serde(default)]
    min_duration: Option<String>,
    #[serde(default)]
    min_samples: u64,
    #[serde(default)]
    action: Option<String>,
}

fn mode(field: &str, s: &str) -> Result<pb::TrialMode, String> {
    match s {
        "shadow" => Ok(pb::TrialMode::Shadow),
        "split" => Ok(pb::TrialMode::Split),
        o => Err(format!("{field}: expected shadow or split, got {o:?}")),
    }
}

fn action(field: &str, s: &str) -> Result<pb::TrialStepAction, String> {
    match s {
        "advance" => Ok(pb::TrialStepAction::Advance),
        "await_approval" => Ok(pb::TrialStepAction::AwaitApproval),
        "promote" => Ok(pb::TrialStepAction::Promote),
        o => Err(format!(
            "{field}: expected advance, await_approval or promote, got {o:?}"
        )),
    }
}

fn duration(field: &str, s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| {
        format!("{field}: expected a duration like 500ms, 30s or 10m, got {s:?} ({e})")
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Parses a plan file; errors name the step and field (`steps[1].weight:
/// …`). The registry checks the values again (ranges, last step).
pub fn parse_plan(text: &str) -> Result<pb::TrialPlan, String> {
    let file: PlanFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut steps = Vec::with_capacity(file.steps.len());
    for (i, s) in file.steps.into_iter().enumerate() {
        let f = |name: &str| format!("steps[{i}].{name}");
        let m = mode(&f("mode"), &s.mode)?;
        let (weight, sampling) = match m {
            pb::TrialMode::Split => (
                s.weight.ok_or_else(|| {
                    format!("{}: a split step needs a weight in (0, 1]", f("weight"))
                })?,
                1.0,
            ),
            _ => (0.0, s.sampling.unwrap_or(1.0)),
        };
        let min_duration = match &s.min_duration {
            Some(d) => duration(&f("min_duration"), d)?,
            None => Duration::ZERO,
        };
        let act = match &s.action {
            Some(a) => action(&f("action"), a)?,
            None => pb::TrialStepAction::Advance,
        };
        steps.push(pb::TrialPlanStep {
            mode: m.into(),
            weight,
            sampling,
            min_duration_ms: millis(min_duration),
            min_samples: s.min_samples,
            action: act.into(),
        });
    }
    Ok(pb::TrialPlan {
        steps,
        watch: false,
    })
}

/// One `--step MODE:SHARE:MIN_DURATION:MIN_SAMPLES[:ACTION]`, e.g.
/// `shadow:1:10m:5000` or `split:0.5:10m:1000:await_approval`.
pub fn parse_step(s: &str) -> Result<pb::TrialPlanStep, String> {
    let parts: Vec<&str> = s.split(':').collect();
    if !(4..=5).contains(&parts.len()) {
        return Err(format!(
            "expected MODE:SHARE:MIN_DURATION:MIN_SAMPLES[:ACTION] (e.g. split:0.05:10m:1000), got {s:?}"
        ));
    }
    let m = mode("mode", parts[0])?;
    let share: f64 = parts[1]
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("share: expected a number in (0, 1], got {:?}", parts[1]))?;
    let min_duration = duration("min_duration", parts[2])?;
    let min_samples = parts[3]
        .parse()
        .map_err(|_| format!("min_samples: expected a whole number, got {:?}", parts[3]))?;
    let act = match parts.get(4) {
        Some(a) => action("action", a)?,
        None => pb::TrialStepAction::Advance,
    };
    let (weight, sampling) = match m {
        pb::TrialMode::Split => (share, 1.0),
        _ => (0.0, share),
    };
    Ok(pb::TrialPlanStep {
        mode: m.into(),
        weight,
        sampling,
        min_duration_ms: millis(min_duration),
        min_samples,
        action: act.into(),
    })
}

pub fn action_name(raw: i32) -> &'static str {
    match pb::TrialStepAction::try_from(raw) {
        Ok(pb::TrialStepAction::Advance) => "advance",
        Ok(pb::TrialStepAction::AwaitApproval) => "await_approval",
        Ok(pb::TrialStepAction::Promote) => "promote",
        _ => "unspecified",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub mode: &'static str,
    pub weight: f64,
    pub sampling: f64,
    pub min_duration_ms: u64,
    pub min_samples: u64,
    pub action: &'static str,
}

/// A trial's plan and where it is, for `--json` and the table.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    pub steps: Vec<StepView>,
    /// A post-promotion rollback watch (the challenger is the replaced
    /// champion).
    pub watch: bool,
    /// The running step (= steps done).
    pub step: u32,
    pub step_started_at: String,
    pub paused: bool,
    /// "", "pending" or "granted".
    pub approval: String,
    pub note: String,
}

impl From<pb::TrialPlanState> for PlanView {
    fn from(s: pb::TrialPlanState) -> Self {
        let plan = s.plan.unwrap_or_default();
        PlanView {
            watch: plan.watch,
            steps: plan
                .steps
                .into_iter()
                .map(|p| StepView {
                    mode: mode_name(p.mode),
                    weight: p.weight,
                    sampling: p.sampling,
                    min_duration_ms: p.min_duration_ms,
                    min_samples: p.min_samples,
                    action: action_name(p.action),
                })
                .collect(),
            step: s.step,
            step_started_at: time(&s.step_started_at),
            paused: s.paused,
            approval: s.approval,
            note: s.note,
        }
    }
}

/// The plan's steps, the running one marked `▶`.
pub fn print_plan(p: &PlanView) {
    let state = match (p.paused, p.approval.as_str()) {
        (true, _) => "  paused (a manual change; the controller does nothing)".to_owned(),
        (false, "pending") => {
            "  awaiting approval (joust trial approve|deny NAME --reason …)".to_owned()
        }
        (false, "granted") => "  approval granted".to_owned(),
        _ => String::new(),
    };
    if p.watch {
        let period = p.steps.first().map_or(0, |s| s.min_duration_ms);
        outln!(
            "  rollback watch: the replaced champion in shadow for {:.1}s{state}",
            period as f64 / 1000.0
        );
        if !p.note.is_empty() {
            outln!("    controller: {}", p.note);
        }
        return;
    }
    outln!("  plan: step {} of {}{state}", p.step, p.steps.len());
    for (i, s) in p.steps.iter().enumerate() {
        let mark = if i == p.step as usize { "▶" } else { " " };
        let share = if s.mode == "split" {
            format!("weight {}", s.weight)
        } else {
            format!("sampling {}", s.sampling)
        };
        outln!(
            "   {mark} {i}. {} {share}  ≥ {:.1}s, ≥ {} samples, then {}",
            s.mode,
            s.min_duration_ms as f64 / 1000.0,
            s.min_samples,
            s.action
        );
    }
    if (p.step as usize) < p.steps.len() {
        outln!("    step started {}", p.step_started_at);
    }
    if !p.note.is_empty() {
        outln!("    controller: {}", p.note);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const DEFAULT_PLAN: &str = r#"
[[steps]]
mode = "shadow"
sampling = 1.0
min_duration = "10m"
min_samples = 5000

[[steps]]
mode = "split"
weight = 0.05
min_duration = "10m"
min_samples = 1000

[[steps]]
mode = "split"
weight = 0.25
min_duration = "10m"
min_samples = 1000

[[steps]]
mode = "split"
weight = 0.5
min_duration = "10m"
min_samples = 1000
action = "await_approval"
"#;

    #[test]
    fn the_documented_default_plan_parses() {
        let p = parse_plan(DEFAULT_PLAN).unwrap();
        assert_eq!(p.steps.len(), 4);
        assert_eq!(p.steps[0].mode, pb::TrialMode::Shadow as i32);
        assert_eq!(p.steps[0].min_duration_ms, 600_000);
        assert_eq!(p.steps[0].min_samples, 5000);
        assert_eq!(p.steps[1].weight, 0.05);
        assert_eq!(p.steps[3].action, pb::TrialStepAction::AwaitApproval as i32);
        assert_eq!(p.steps[2].action, pb::TrialStepAction::Advance as i32);
    }

    #[test]
    fn bad_plans_name_the_step_and_field() {
        let e = parse_plan("[[steps]]\nmode = \"split\"\n").unwrap_err();
        assert!(e.starts_with("steps[0].weight:"), "{e}");
        let e = parse_plan("[[steps]]\nmode = \"canary\"\n").unwrap_err();
        assert!(e.starts_with("steps[0].mode:"), "{e}");
        let e = parse_plan("[[steps]]\nmode = \"shadow\"\nmin_duration = \"soon\"\n").unwrap_err();
        assert!(e.starts_with("steps[0].min_duration:"), "{e}");
        let e = parse_plan("[[steps]]\nmode = \"shadow\"\nwieght = 1\n").unwrap_err();
        assert!(e.contains("wieght"), "{e}");
    }

    #[test]
    fn step_flags_parse() {
        let s = parse_step("split:0.5:2s:100:await_approval").unwrap();
        assert_eq!(
            (s.mode, s.weight, s.min_duration_ms, s.min_samples, s.action),
            (
                pb::TrialMode::Split as i32,
                0.5,
                2000,
                100,
                pb::TrialStepAction::AwaitApproval as i32
            )
        );
        let s = parse_step("shadow:1:500ms:10").unwrap();
        assert_eq!(
            (s.sampling, s.action),
            (1.0, pb::TrialStepAction::Advance as i32)
        );
        assert!(parse_step("split:0.5:2s").is_err());
        assert!(
            parse_step("split:x:2s:1")
                .unwrap_err()
                .starts_with("share:")
        );
        assert!(
            parse_step("split:0.5:2s:1:go")
                .unwrap_err()
                .starts_with("action:")
        );
    }
}
