//! `joust detect rules|whitelist|evidence`: the detection service's noise
//! controls (thresholds per anomaly type, whitelisted series) and the
//! evidence artifact of a run.

use anyhow::Context;
use joust_proto::v1 as pb;

use super::target::{Target, client};

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Every rule (enabled or not) and every anomaly type.
    List,
    /// Create or replace the rule of an anomaly type: a bar is an anomaly
    /// when `measured OPERATOR threshold` for an enabled rule.
    Set(RuleSetArgs),
    /// Delete the rule of an anomaly type (the type then never fires).
    Delete(RuleDeleteArgs),
}

#[derive(Debug, clap::Args)]
pub struct RuleSetArgs {
    /// Anomaly type: model_label, model_score, price_spike, volume_spike or
    /// volatility.
    pub anomaly_type: String,
    /// Operator: gt, gte, lt, lte or eq.
    pub operator: String,
    /// Threshold the measured value is compared with.
    #[arg(allow_negative_numbers = true)]
    pub threshold: f64,
    /// Store the rule disabled (kept, not applied).
    #[arg(long, env = "JOUST_DETECT_RULE_DISABLED")]
    pub disabled: bool,
    /// Why the threshold is what it is.
    #[arg(long, env = "JOUST_DETECT_RULE_DESCRIPTION", default_value = "")]
    pub description: String,
}

#[derive(Debug, clap::Args)]
pub struct RuleDeleteArgs {
    /// Anomaly type whose rule goes.
    pub anomaly_type: String,
}

#[derive(Debug, clap::Args)]
pub struct WhitelistArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    pub command: WhitelistCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum WhitelistCommand {
    /// Whitelisted series.
    List(WhitelistListArgs),
    /// Whitelist a ticker (one interval or all): its anomalies are still
    /// stored, flagged `whitelisted`.
    Add(WhitelistAddArgs),
    /// Remove a whitelist entry.
    Remove(WhitelistRemoveArgs),
}

#[derive(Debug, clap::Args)]
pub struct WhitelistListArgs {
    /// Only entries of this ticker.
    #[arg(long, env = "JOUST_DETECT_TICKER")]
    pub ticker: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct WhitelistAddArgs {
    /// Ticker to whitelist.
    pub ticker: String,
    /// Only this bar interval (default: every interval of the ticker).
    #[arg(long, env = "JOUST_DETECT_INTERVAL", default_value = "")]
    pub interval: String,
    /// Why the ticker is whitelisted.
    #[arg(long, env = "JOUST_DETECT_WHITELIST_REASON", default_value = "")]
    pub reason: String,
    /// The actor recorded with the entry.
    #[arg(long, env = "JOUST_ACTOR", default_value_t = default_actor())]
    pub actor: String,
}

#[derive(Debug, clap::Args)]
pub struct WhitelistRemoveArgs {
    /// Ticker of the entry.
    pub ticker: String,
    /// Interval of the entry (default: the every-interval entry).
    #[arg(long, env = "JOUST_DETECT_INTERVAL", default_value = "")]
    pub interval: String,
}

#[derive(Debug, clap::Args)]
pub struct EvidenceArgs {
    #[command(flatten)]
    pub target: Target,
    /// Id of the detection run.
    pub run_id: u64,
    /// Write the artifact to this file instead of standard output.
    #[arg(long, env = "JOUST_DETECT_EVIDENCE_OUTPUT")]
    pub output: Option<std::path::PathBuf>,
}

fn default_actor() -> String {
    std::env::var("USER").unwrap_or_else(|_| "cli".to_owned())
}

fn rule_json(r: &pb::Rule) -> serde_json::Value {
    serde_json::json!({
        "anomaly_type": r.anomaly_type, "operator": r.operator, "threshold": r.threshold,
        "enabled": r.enabled, "description": r.description, "updated_at_ms": r.updated_at_ms,
    })
}

fn print_rule(r: &pb::Rule, json: bool) {
    if json {
        outln!("{}", rule_json(r));
    } else {
        outln!(
            "{:<13} {} {:<4} {}{}",
            r.anomaly_type,
            if r.enabled { "on " } else { "off" },
            r.operator,
            r.threshold,
            if r.description.is_empty() {
                String::new()
            } else {
                format!("  ({})", r.description)
            }
        );
    }
}

/// A whitelist entry as one JSON object.
fn entry_json(e: &pb::WhitelistEntry) -> serde_json::Value {
    serde_json::json!({
        "ticker": e.ticker, "interval": e.interval, "reason": e.reason,
        "created_by": e.created_by, "created_at_ms": e.created_at_ms,
    })
}

fn print_entry(e: &pb::WhitelistEntry, json: bool) {
    if json {
        outln!("{}", entry_json(e));
    } else {
        let interval = if e.interval.is_empty() {
            "every interval"
        } else {
            &e.interval
        };
        outln!(
            "{} ({interval}) by {}{}",
            e.ticker,
            e.created_by,
            if e.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", e.reason)
            }
        );
    }
}

pub async fn rules(args: RulesArgs) -> anyhow::Result<()> {
    let target = args.target;
    match args.command {
        RulesCommand::List => {
            let r = client(&target)
                .await?
                .list_rules(pb::ListRulesRequest {})
                .await?
                .into_inner();
            if target.any_json() {
                let types: Vec<_> = r
                    .types
                    .iter()
                    .map(|t| serde_json::json!({"name": t.name, "measure": t.measure}))
                    .collect();
                let rules: Vec<_> = r.rules.iter().map(rule_json).collect();
                outln!("{}", serde_json::json!({"rules": rules, "types": types}));
            } else {
                for rule in &r.rules {
                    print_rule(rule, false);
                }
                outln!("anomaly types:");
                for t in &r.types {
                    outln!("  {:<13} {}", t.name, t.measure);
                }
            }
        }
        RulesCommand::Set(a) => {
            let rule = client(&target)
                .await?
                .set_rule(pb::SetRuleRequest {
                    anomaly_type: a.anomaly_type,
                    operator: a.operator,
                    threshold: a.threshold,
                    enabled: !a.disabled,
                    description: a.description,
                })
                .await?
                .into_inner();
            print_rule(&rule, target.any_json());
        }
        RulesCommand::Delete(a) => {
            client(&target)
                .await?
                .delete_rule(pb::DeleteRuleRequest {
                    anomaly_type: a.anomaly_type.clone(),
                })
                .await?;
            if target.any_json() {
                outln!("{}", serde_json::json!({"deleted": a.anomaly_type}));
            } else {
                outln!("rule of {} deleted", a.anomaly_type);
            }
        }
    }
    Ok(())
}

pub async fn whitelist(args: WhitelistArgs) -> anyhow::Result<()> {
    let target = args.target;
    match args.command {
        WhitelistCommand::List(a) => {
            let r = client(&target)
                .await?
                .list_whitelist(pb::ListWhitelistRequest {
                    ticker: a.ticker.unwrap_or_default(),
                })
                .await?
                .into_inner();
            if target.json {
                let entries: Vec<_> = r.entries.iter().map(entry_json).collect();
                outln!("{}", serde_json::json!({ "entries": entries }));
            } else {
                for e in &r.entries {
                    print_entry(e, target.json_lines);
                }
            }
        }
        WhitelistCommand::Add(a) => {
            let e = client(&target)
                .await?
                .add_whitelist(pb::AddWhitelistRequest {
                    ticker: a.ticker,
                    interval: a.interval,
                    reason: a.reason,
                    created_by: a.actor,
                })
                .await?
                .into_inner();
            print_entry(&e, target.any_json());
        }
        WhitelistCommand::Remove(a) => {
            client(&target)
                .await?
                .remove_whitelist(pb::RemoveWhitelistRequest {
                    ticker: a.ticker.clone(),
                    interval: a.interval.clone(),
                })
                .await?;
            if target.any_json() {
                outln!(
                    "{}",
                    serde_json::json!({"removed": {"ticker": a.ticker, "interval": a.interval}})
                );
            } else {
                outln!("whitelist entry of {} removed", a.ticker);
            }
        }
    }
    Ok(())
}

/// Prints the artifact's bytes as stored (so `> FILE` keeps them
/// byte-identical), or writes them to `--output`.
pub async fn evidence(a: EvidenceArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let target = a.target;
    let e = client(&target)
        .await?
        .get_evidence(pb::GetEvidenceRequest { run_id: a.run_id })
        .await?
        .into_inner();
    if !e.consistent {
        eprintln!(
            "warning: the evidence of run {} differs from a rendering of the stored run",
            a.run_id
        );
    }
    if let Some(path) = &a.output {
        std::fs::write(path, &e.document)
            .with_context(|| format!("--output {}", path.display()))?;
    }
    if target.any_json() {
        let document: serde_json::Value =
            serde_json::from_slice(&e.document).context("the evidence is not JSON")?;
        outln!(
            "{}",
            serde_json::json!({
                "uri": e.uri, "sha256": e.sha256, "consistent": e.consistent,
                "document": document,
            })
        );
    } else if let Some(path) = &a.output {
        outln!("{} → {} (sha256 {})", e.uri, path.display(), e.sha256);
    } else {
        std::io::stdout().write_all(&e.document)?;
    }
    Ok(())
}
