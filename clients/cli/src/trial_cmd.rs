//! `joust trial …`: start, change, watch and stop champion/challenger
//! trials through the registry's `joust.v1.Trials` API.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use joust_client::{TrialsClient, pb};

use crate::client_opts::ClientOpts;
use crate::output;
use crate::trial_output::{ReportView, TrialView, print_report, print_trial, print_trial_row};

#[derive(Debug, clap::Args)]
pub struct TrialArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub command: TrialCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Every request goes to the champion; a sampled copy to the challenger.
    Shadow,
    /// A `--weight` share of requests is served by the challenger.
    Split,
    /// The challenger gets no traffic (pause).
    Off,
}

impl From<ModeArg> for pb::TrialMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Shadow => pb::TrialMode::Shadow,
            ModeArg::Split => pb::TrialMode::Split,
            ModeArg::Off => pb::TrialMode::Off,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutcomeArg {
    /// The challenger becomes champion; the old champion is retired.
    Promote,
    /// The challenger goes back to `evaluated`.
    Reject,
    /// Stop without a decision; the challenger goes back to `evaluated`.
    Abort,
}

impl From<OutcomeArg> for pb::TrialOutcome {
    fn from(o: OutcomeArg) -> Self {
        match o {
            OutcomeArg::Promote => pb::TrialOutcome::Promote,
            OutcomeArg::Reject => pb::TrialOutcome::Reject,
            OutcomeArg::Abort => pb::TrialOutcome::Abort,
        }
    }
}

/// One `--gate KEY=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    MinSamples(u64),
    MaxAnomalyRateDelta(f64),
    MinAgreement(f64),
    MaxP99LatencyRatio(f64),
    MaxErrorRate(f64),
    MaxErrorRateDelta(f64),
    MaxPsi(f64),
    MinDurationSecs(u64),
}

/// The gate keys `--gate` accepts.
pub const GATE_KEYS: [&str; 8] = [
    "min_samples",
    "max_anomaly_rate_delta",
    "min_agreement",
    "max_p99_latency_ratio",
    "max_error_rate",
    "max_error_rate_delta",
    "max_psi",
    "min_duration_secs",
];

pub fn parse_gate(s: &str) -> Result<Gate, String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    let number = || {
        value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{key}: expected a number, got {value:?}"))
    };
    Ok(match key {
        "min_samples" => Gate::MinSamples(
            value
                .parse()
                .map_err(|_| format!("min_samples: expected a whole number, got {value:?}"))?,
        ),
        "max_anomaly_rate_delta" => Gate::MaxAnomalyRateDelta(number()?),
        "min_agreement" => Gate::MinAgreement(number()?),
        "max_p99_latency_ratio" => Gate::MaxP99LatencyRatio(number()?),
        "max_error_rate" => Gate::MaxErrorRate(number()?),
        "max_error_rate_delta" => Gate::MaxErrorRateDelta(number()?),
        "max_psi" => Gate::MaxPsi(number()?),
        "min_duration_secs" => Gate::MinDurationSecs(value.parse().map_err(|_| {
            format!("min_duration_secs: expected a whole number of seconds, got {value:?}")
        })?),
        other => {
            return Err(format!(
                "unknown gate {other:?}: expected one of {}",
                GATE_KEYS.join(", ")
            ));
        }
    })
}

/// Applies `--gate` overrides on top of `base`.
pub fn apply_gates(mut base: pb::TrialGates, gates: &[Gate]) -> pb::TrialGates {
    for g in gates {
        match *g {
            Gate::MinSamples(v) => base.min_samples = v,
            Gate::MaxAnomalyRateDelta(v) => base.max_anomaly_rate_delta = Some(v),
            Gate::MinAgreement(v) => base.min_agreement = Some(v),
            Gate::MaxP99LatencyRatio(v) => base.max_p99_latency_ratio = Some(v),
            Gate::MaxErrorRate(v) => base.max_error_rate = Some(v),
            Gate::MaxErrorRateDelta(v) => base.max_error_rate_delta = Some(v),
            Gate::MaxPsi(v) => base.max_psi = Some(v),
            Gate::MinDurationSecs(v) => base.min_duration_secs = Some(v),
        }
    }
    base
}

/// A confidence in (0, 1) (`--confidence`).
pub fn parse_confidence(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| *v > 0.0 && *v < 1.0)
        .ok_or_else(|| format!("expected a number in (0, 1), e.g. 0.95, got {s:?}"))
}

/// A share in [0, 1] (`--weight`, `--sampling`).
pub fn parse_share(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| (0.0..=1.0).contains(v))
        .ok_or_else(|| format!("expected a number in [0, 1], got {s:?}"))
}

/// `500ms`, `2s`, `1m`.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let err = || format!("expected a duration like 500ms, 2s or 1m, got {s:?}");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| err())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(err()),
    };
    if d.is_zero() {
        return Err(err());
    }
    Ok(d)
}

/// `MODEL:VERSION`.
pub fn parse_challenger(s: &str) -> Result<(String, u64), String> {
    let err = || format!("expected MODEL:VERSION (e.g. anomaly_detector:2), got {s:?}");
    let r = joust_client::refs::VersionRef::parse("challenger", s)
        .map_err(|e| format!("{}: {e}", err()))?;
    match r.pinned() {
        Some(version) => Ok((r.name, version)),
        None => Err(err()),
    }
}

#[derive(Debug, Subcommand)]
pub enum TrialCommand {
    /// Open a trial: MODEL:VERSION (an `evaluated` version) becomes the
    /// challenger against the model's champion.
    Start {
        /// The challenger, MODEL:VERSION.
        #[arg(value_parser = parse_challenger)]
        challenger: (String, u64),
        /// shadow (copy requests to the challenger) or split (serve a share
        /// with it). With --plan or --step: the plan's first step's.
        #[arg(long, env = "JOUST_TRIAL_MODE", value_enum, required_unless_present_any = ["plan", "step"])]
        mode: Option<ModeArg>,
        /// Challenger share of requests in split mode, in [0, 1].
        #[arg(long, env = "JOUST_TRIAL_WEIGHT", value_parser = parse_share, allow_negative_numbers = true, default_value = "0")]
        weight: f64,
        /// Share of requests copied to the challenger in shadow mode, in
        /// [0, 1].
        #[arg(long, env = "JOUST_TRIAL_SAMPLING", value_parser = parse_share, allow_negative_numbers = true, default_value = "1")]
        sampling: f64,
        /// Keep requests with a routing key on the same arm.
        #[arg(long, env = "JOUST_TRIAL_STICKY")]
        sticky: bool,
        /// A verdict gate, KEY=VALUE (repeatable): min_samples,
        /// max_anomaly_rate_delta, min_agreement, max_p99_latency_ratio,
        /// max_error_rate, max_error_rate_delta, max_psi, min_duration_secs
        /// (docs/trials.md, "Gates").
        #[arg(long = "gate", env = "JOUST_TRIAL_GATES", value_delimiter = ',', value_parser = parse_gate)]
        gates: Vec<Gate>,
        /// Probability that every gate's statement holds at once, at every
        /// report (the verdict's confidence), in (0, 1).
        #[arg(long, env = "JOUST_TRIAL_CONFIDENCE", value_parser = parse_confidence, default_value = "0.95")]
        confidence: f64,
        /// Why (recorded in the audit log).
        #[arg(long, env = "JOUST_TRIAL_REASON", default_value = "")]
        reason: String,
        /// A plan the registry's controller runs the trial through: a TOML
        /// file of [[steps]] (docs/trials.md, "Plans").
        #[arg(long, env = "JOUST_TRIAL_PLAN", conflicts_with = "step")]
        plan: Option<std::path::PathBuf>,
        /// A plan step, MODE:SHARE:MIN_DURATION:MIN_SAMPLES[:ACTION]
        /// (repeatable, in order), e.g. `--step shadow:1:10m:5000 --step
        /// split:0.05:10m:1000 --step split:0.5:10m:1000:await_approval`;
        /// ACTION is advance (default), await_approval or promote.
        #[arg(long, value_parser = crate::trial_plan::parse_step)]
        step: Vec<pb::TrialPlanStep>,
    },
    /// Grant the pending approval of the model's open trial: its plan goes
    /// on (role operator).
    Approve {
        /// The model.
        name: String,
        /// Why (recorded in the audit log).
        #[arg(long, env = "JOUST_TRIAL_REASON", default_value = "")]
        reason: String,
    },
    /// Deny the pending approval: the trial stops, the challenger goes
    /// back to `evaluated` (role operator).
    Deny {
        /// The model.
        name: String,
        /// Why (recorded in the audit log).
        #[arg(long, env = "JOUST_TRIAL_REASON", default_value = "")]
        reason: String,
    },
    /// Change the model's open trial; gates given are merged into the
    /// trial's current gates. Pauses the trial's plan, if it has one.
    Update {
        /// The model.
        name: String,
        #[arg(long, env = "JOUST_TRIAL_MODE", value_enum)]
        mode: Option<ModeArg>,
        /// Challenger share in split mode, in [0, 1].
        #[arg(long, env = "JOUST_TRIAL_WEIGHT", value_parser = parse_share, allow_negative_numbers = true)]
        weight: Option<f64>,
        /// Shadow sampling share, in [0, 1].
        #[arg(long, env = "JOUST_TRIAL_SAMPLING", value_parser = parse_share, allow_negative_numbers = true)]
        sampling: Option<f64>,
        /// A verdict gate, KEY=VALUE (repeatable).
        #[arg(long = "gate", env = "JOUST_TRIAL_GATES", value_delimiter = ',', value_parser = parse_gate)]
        gates: Vec<Gate>,
        /// Why (recorded in the audit log).
        #[arg(long, env = "JOUST_TRIAL_REASON", default_value = "")]
        reason: String,
    },
    /// The trial report: per-arm figures, tests, PSI, sample-ratio
    /// mismatch, gates and verdict.
    Report {
        /// The model (its open trial, else its latest).
        name: Option<String>,
        /// The trial id instead of a model.
        #[arg(long, env = "JOUST_TRIAL_ID", conflicts_with = "name")]
        id: Option<u64>,
        /// Print the report again every `--interval` until the trial
        /// stops, Ctrl-C or SIGTERM; off a terminal, only when it changed.
        /// With `--json-lines`, one report per line.
        #[arg(long, env = "JOUST_TRIAL_WATCH")]
        watch: bool,
        /// Refresh interval with --watch (500ms, 2s, 1m).
        #[arg(long, env = "JOUST_TRIAL_INTERVAL", value_parser = parse_interval, default_value = "2s")]
        interval: Duration,
    },
    /// Stop the model's open trial.
    Stop {
        /// The model.
        name: String,
        /// promote, reject or abort.
        #[arg(long, env = "JOUST_TRIAL_OUTCOME", value_enum)]
        outcome: OutcomeArg,
        /// Why (recorded in the audit log).
        #[arg(long, env = "JOUST_TRIAL_REASON", default_value = "")]
        reason: String,
    },
    /// List trials, oldest first.
    List {
        /// Only open trials.
        #[arg(long, env = "JOUST_TRIAL_OPEN")]
        open: bool,
        /// Only this model's trials.
        #[arg(long, env = "JOUST_TRIAL_MODEL")]
        model: Option<String>,
    },
    /// Show a trial: the model's open (else latest) trial, or --id.
    Show {
        /// The model.
        name: Option<String>,
        /// The trial id instead of a model.
        #[arg(long, env = "JOUST_TRIAL_ID", conflicts_with = "name")]
        id: Option<u64>,
    },
}

async fn connect(opts: &ClientOpts) -> anyhow::Result<TrialsClient> {
    Ok(
        TrialsClient::connect_with(&opts.registry, &crate::security::client())
            .await
            .context("is the registry running? (joust registry, or joust up)")?
            .with_actor(opts.actor.clone()),
    )
}

/// (id, model) for GetTrial / GetTrialReport.
fn target(name: Option<String>, id: Option<u64>) -> anyhow::Result<(u64, String)> {
    match (name, id) {
        (_, Some(0)) => anyhow::bail!("--id: expected a trial id ≥ 1, got 0"),
        (_, Some(id)) => Ok((id, String::new())),
        (Some(name), None) => Ok((0, name)),
        (None, None) => anyhow::bail!("expected a model NAME or --id N"),
    }
}

fn show_trial(json: bool, t: pb::Trial) -> anyhow::Result<()> {
    let view = TrialView::from(t);
    if json {
        output::json(&view)
    } else {
        print_trial(&view);
        Ok(())
    }
}

pub async fn run(args: TrialArgs) -> anyhow::Result<()> {
    let opts = args.opts;
    let json = opts.json;
    let client = connect(&opts).await?;
    match args.command {
        TrialCommand::Start {
            challenger: (model, version),
            mode,
            weight,
            sampling,
            sticky,
            gates,
            confidence,
            reason,
            plan,
            step,
        } => {
            let plan = match (plan, step) {
                (Some(path), _) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("--plan {}", path.display()))?;
                    Some(
                        crate::trial_plan::parse_plan(&text)
                            .map_err(|e| anyhow::anyhow!("--plan {}: {e}", path.display()))?,
                    )
                }
                (None, steps) if !steps.is_empty() => Some(pb::TrialPlan {
                    steps,
                    watch: false,
                }),
                (None, _) => None,
            };
            // With a plan the trial runs its first step's settings.
            let mode = match (mode, &plan) {
                (Some(m), _) => m,
                (None, Some(p)) => match p.steps.first().map(|s| s.mode) {
                    Some(m) if m == pb::TrialMode::Split as i32 => ModeArg::Split,
                    _ => ModeArg::Shadow,
                },
                (None, None) => anyhow::bail!("--mode: expected shadow or split"),
            };
            if plan.is_none() && mode == ModeArg::Split && weight == 0.0 {
                anyhow::bail!("--weight: split mode needs a challenger share in (0, 1]");
            }
            let t = client
                .start(pb::StartTrialRequest {
                    model,
                    challenger_version: version,
                    mode: pb::TrialMode::from(mode).into(),
                    weight,
                    sampling,
                    sticky,
                    gates: Some(apply_gates(
                        pb::TrialGates {
                            confidence,
                            ..pb::TrialGates::default()
                        },
                        &gates,
                    )),
                    reason,
                    plan,
                })
                .await?;
            show_trial(json, t)?;
        }
        TrialCommand::Approve { name, reason } => {
            show_trial(json, client.decide_approval(&name, true, &reason).await?)?;
        }
        TrialCommand::Deny { name, reason } => {
            show_trial(json, client.decide_approval(&name, false, &reason).await?)?;
        }
        TrialCommand::Update {
            name,
            mode,
            weight,
            sampling,
            gates,
            reason,
        } => {
            // UpdateTrial replaces the gates; merge the overrides into the
            // trial's current ones.
            let gates = if gates.is_empty() {
                None
            } else {
                let current = client.get(0, &name).await?.gates.unwrap_or_default();
                Some(apply_gates(current, &gates))
            };
            let t = client
                .update(pb::UpdateTrialRequest {
                    model: name,
                    mode: mode.map_or(pb::TrialMode::Unspecified, Into::into).into(),
                    weight,
                    sampling,
                    gates,
                    reason,
                })
                .await?;
            show_trial(json, t)?;
        }
        TrialCommand::Report {
            name,
            id,
            watch,
            interval,
        } => {
            let (id, model) = target(name, id)?;
            if !watch {
                let view = ReportView::from(client.report(id, &model).await?);
                if json {
                    output::json(&view)?;
                } else {
                    print_report(&view);
                }
                return Ok(());
            }
            if json {
                anyhow::bail!(
                    "--json prints one document; with --watch use --json-lines (one report per line)"
                );
            }
            // Ctrl-C or SIGTERM ends the watch at once, whether it is
            // waiting for the registry or for the next refresh (one
            // handler for the whole watch: a signal is never lost between
            // two waits).
            let stop = crate::shutdown::signal();
            tokio::pin!(stop);
            // Pin the trial so a new trial of the model does not take over.
            let id = if id == 0 {
                tokio::select! {
                    t = client.get(0, &model) => t?.id,
                    () = &mut stop => return Ok(()),
                }
            } else {
                id
            };
            let terminal = std::io::stdout().is_terminal();
            let mut last: Option<serde_json::Value> = None;
            loop {
                let report = tokio::select! {
                    r = client.report(id, "") => r?,
                    () = &mut stop => return Ok(()),
                };
                let view = ReportView::from(report);
                // Off a terminal (a file, a pipe) a report is printed only
                // when it differs from the last one printed.
                let value = serde_json::to_value(&view)?;
                if terminal || last.as_ref() != Some(&value) {
                    if opts.json_lines {
                        outln!("{}", serde_json::to_string(&view)?);
                    } else {
                        outln!("── {} ──", chrono::Utc::now().format("%H:%M:%S"));
                        print_report(&view);
                        outln!();
                    }
                    last = Some(value);
                }
                if view.trial.state != "open" {
                    return Ok(());
                }
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    () = &mut stop => return Ok(()),
                }
            }
        }
        TrialCommand::Stop {
            name,
            outcome,
            reason,
        } => {
            let t = client.stop(&name, outcome.into(), &reason).await?;
            show_trial(json, t)?;
        }
        TrialCommand::List { open, model } => {
            let trials: Vec<TrialView> = client
                .list(model.as_deref(), open)
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
            if json {
                output::json(&trials)?;
            } else {
                outln!(
                    "{:>5}  {:<24} {:>8} {:>10}  {:<6} {:>6} {:>8}  {:<7} {:<8} STARTED",
                    "ID",
                    "MODEL",
                    "CHAMPION",
                    "CHALLENGER",
                    "MODE",
                    "WEIGHT",
                    "SAMPLING",
                    "STATE",
                    "OUTCOME"
                );
                for t in &trials {
                    print_trial_row(t);
                }
            }
        }
        TrialCommand::Show { name, id } => {
            let (id, model) = target(name, id)?;
            show_trial(json, client.get(id, &model).await?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn gates_parse_and_merge() {
        let gates: Vec<Gate> = [
            "min_samples=500",
            "min_agreement=0.97",
            "max_error_rate=1e-3",
        ]
        .iter()
        .map(|g| parse_gate(g).unwrap())
        .collect();
        let base = pb::TrialGates {
            max_p99_latency_ratio: Some(1.5),
            ..Default::default()
        };
        let merged = apply_gates(base, &gates);
        assert_eq!(merged.min_samples, 500);
        assert_eq!(merged.min_agreement, Some(0.97));
        assert_eq!(merged.max_error_rate, Some(0.001));
        assert_eq!(merged.max_p99_latency_ratio, Some(1.5));
        assert_eq!(merged.max_anomaly_rate_delta, None);
        let more: Vec<Gate> = [
            "max_error_rate_delta=0.002",
            "max_psi=0.25",
            "min_duration_secs=3600",
        ]
        .iter()
        .map(|g| parse_gate(g).unwrap())
        .collect();
        let merged = apply_gates(merged, &more);
        assert_eq!(merged.max_error_rate_delta, Some(0.002));
        assert_eq!(merged.max_psi, Some(0.25));
        assert_eq!(merged.min_duration_secs, Some(3600));
        assert!(parse_gate("min_duration_secs=1h").is_err());
    }

    #[test]
    fn confidence_is_a_probability_strictly_between_0_and_1() {
        assert_eq!(parse_confidence("0.99"), Ok(0.99));
        for bad in ["0", "1", "95", "-0.5", "x"] {
            let e = parse_confidence(bad).unwrap_err();
            assert!(e.contains("expected a number in (0, 1)"), "{e}");
        }
    }

    #[test]
    fn bad_gates_say_what_is_expected() {
        let e = parse_gate("max_latency=2").unwrap_err();
        assert!(e.contains("unknown gate \"max_latency\""), "{e}");
        for key in GATE_KEYS {
            assert!(e.contains(key), "{e}");
        }
        assert!(
            parse_gate("min_samples=1.5")
                .unwrap_err()
                .contains("whole number")
        );
        assert!(
            parse_gate("min_agreement=NaN")
                .unwrap_err()
                .contains("number")
        );
        assert!(
            parse_gate("min_agreement")
                .unwrap_err()
                .contains("KEY=VALUE")
        );
    }

    #[test]
    fn shares_intervals_and_challengers() {
        assert_eq!(parse_share("0.25"), Ok(0.25));
        assert!(parse_share("1.5").unwrap_err().contains("[0, 1]"));
        assert!(parse_share("-0.1").is_err());
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_interval("2h").is_err());
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("s").is_err());
        assert_eq!(
            parse_challenger("anomaly_detector:3"),
            Ok(("anomaly_detector".to_owned(), 3))
        );
        assert!(parse_challenger("anomaly_detector").is_err());
        assert!(parse_challenger("anomaly_detector:0").is_err());
        assert!(parse_challenger("anomaly_detector:+3").is_err());
        assert!(parse_challenger("anomaly_detector@champion").is_err());
    }
}
