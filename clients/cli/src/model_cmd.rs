//! `joust model …`: registry client commands for models and versions.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use joust_client::pb;

use crate::client_opts::{ClientOpts, connect, parse_kv};
use crate::output::{self, EventView, ModelView, VersionView};

#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub command: ModelCommand,
}

/// How an onnx model's outputs give joust's score and label (kind onnx
/// only; stored as the version's `onnx.*` annotations and checked against
/// the graph at registration). Without them the defaults recognise
/// skl2onnx's IsolationForest and classifiers (docs/models.md).
#[derive(Debug, Default, clap::Args)]
pub struct OnnxMappingArgs {
    /// The graph output read as the score (an FP32 tensor, [N] or [N, k]).
    #[arg(long)]
    onnx_score: Option<String>,
    /// The column of --onnx-score to read (default: the last).
    #[arg(long)]
    onnx_score_column: Option<usize>,
    /// 1 or -1: the score is this times the output (joust's score is
    /// higher = more anomalous).
    #[arg(long, allow_hyphen_values = true)]
    onnx_score_sign: Option<String>,
    /// The graph output giving the label (an INT64 tensor).
    #[arg(long)]
    onnx_label: Option<String>,
    /// The --onnx-label value meaning anomalous (default 1).
    #[arg(long, allow_hyphen_values = true)]
    onnx_label_anomaly: Option<i64>,
    /// Label = score > this, instead of --onnx-label.
    #[arg(long, allow_hyphen_values = true)]
    onnx_threshold: Option<f32>,
}

impl OnnxMappingArgs {
    /// The flags as `onnx.*` annotations.
    fn annotations(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                out.push((k, v));
            }
        };
        put("onnx.score", self.onnx_score.clone());
        put(
            "onnx.score_column",
            self.onnx_score_column.map(|c| c.to_string()),
        );
        put("onnx.score_sign", self.onnx_score_sign.clone());
        put("onnx.label", self.onnx_label.clone());
        put(
            "onnx.label_anomaly",
            self.onnx_label_anomaly.map(|v| v.to_string()),
        );
        put("onnx.threshold", self.onnx_threshold.map(|t| t.to_string()));
        out
    }
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Create a model (a named series of versions).
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List models with their latest, champion and challenger versions.
    List,
    /// Show the version a ref names: NAME, NAME:N or NAME@ALIAS.
    Show { reference: String },
    /// List a model's versions.
    Versions {
        name: String,
        /// Only versions with this status.
        #[arg(long)]
        status: Option<String>,
    },
    /// Upload an artifact file as a new candidate version.
    Register {
        name: String,
        file: PathBuf,
        /// Artifact kind: isolation_forest, one_class_svm, gaussian_mixture, onnx (an .onnx file),
        /// noop (checked: the bytes must be a joust artifact of that kind) or
        /// opaque (any bytes, stored but never served).
        #[arg(long)]
        kind: String,
        /// Lineage annotation KEY=VALUE (repeatable).
        #[arg(long = "annotate", value_parser = parse_kv)]
        annotate: Vec<(String, String)>,
        /// Metrics as a JSON object.
        #[arg(long, default_value = "")]
        metrics: String,
        /// Create the model first if it does not exist.
        #[arg(long)]
        create: bool,
        #[command(flatten)]
        onnx: OnnxMappingArgs,
    },
    /// Move a version to another status (see docs/registry.md for the rules).
    Transition {
        reference: String,
        status: String,
        #[arg(long, default_value = "")]
        reason: String,
        /// Move a candidate to `evaluated` without a passing evaluation
        /// recorded on it (`joust model evaluate` records one). Needs
        /// `--reason`; written to the audit log.
        #[arg(long)]
        force_evaluated: bool,
    },
    /// Make a version the champion (the previous champion is retired).
    Promote {
        reference: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Set or delete a custom alias.
    Alias {
        #[command(subcommand)]
        command: AliasCommand,
    },
    /// Retire the champion and make the champion it replaced champion again
    /// (rollbacks walk back the chain of promotions), or `--to N`: a named
    /// retired former champion.
    Rollback {
        name: String,
        #[arg(long, default_value = "")]
        reason: String,
        /// The retired former champion to bring back (default: the champion
        /// the current one replaced).
        #[arg(long, value_name = "N")]
        to: Option<u64>,
    },
    /// The audit log of a model.
    History { name: String },
    /// Download a version's artifact (its SHA-256 is verified).
    Download { reference: String, out: PathBuf },
    /// Train a model on a dataset and register it as a candidate with its
    /// lineage (see docs/flows.md).
    Train(crate::flow_cmd::TrainCmd),
    /// Score a version on a dataset against quality gates: pass → evaluated,
    /// fail → stays candidate and the command exits non-zero.
    Evaluate(crate::flow_cmd::EvaluateCmd),
}

#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Point ALIAS at VERSION.
    Set {
        name: String,
        alias: String,
        version: u64,
    },
    /// Remove ALIAS.
    Delete { name: String, alias: String },
}

fn show_version(json: bool, v: pb::ModelVersion, model: Option<pb::Model>) -> anyhow::Result<()> {
    let version = v.version;
    let mut view = VersionView::from(v);
    view.rollout_blocked = model
        .filter(|m| m.rollout_blocked_version == version && version > 0)
        .map(|m| m.rollout_blocked_reason);
    if json {
        output::json(&view)
    } else {
        output::print_version(&view);
        Ok(())
    }
}

pub async fn run(args: ModelArgs) -> anyhow::Result<()> {
    let opts = args.opts;
    let client = connect(&opts).await?;
    let json = opts.json;
    match args.command {
        ModelCommand::Create { name, description } => {
            let m = ModelView::from(client.create_model(&name, &description).await?);
            if json {
                output::json(&m)?;
            } else {
                outln!("created model {}", m.name);
            }
        }
        ModelCommand::List => {
            let models: Vec<ModelView> = client
                .list_models()
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
            if json {
                output::json(&models)?;
            } else {
                outln!(
                    "{:<32} {:>7} {:>9} {:>11}",
                    "MODEL",
                    "LATEST",
                    "CHAMPION",
                    "CHALLENGER"
                );
                for m in models {
                    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or("-".into());
                    outln!(
                        "{:<32} {:>7} {:>9} {:>11}",
                        m.name,
                        m.latest_version,
                        opt(m.champion_version),
                        opt(m.challenger_version)
                    );
                }
            }
        }
        ModelCommand::Show { reference } => {
            let v = client.get_version(&reference).await?;
            // A champion's blocked rollout is on the model.
            let model = if v.status == pb::VersionStatus::Champion as i32 {
                client.get_model(&v.model).await.ok()
            } else {
                None
            };
            show_version(json, v, model)?;
        }
        ModelCommand::Versions { name, status } => {
            let status = match status {
                Some(s) => output::parse_status(&s)?,
                None => pb::VersionStatus::Unspecified,
            };
            let versions: Vec<VersionView> = client
                .list_versions(&name, status)
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
            if json {
                output::json(&versions)?;
            } else {
                for v in &versions {
                    outln!(
                        "{:>4}  {:<10}  {:<18} {}  {}",
                        v.version,
                        v.status,
                        v.kind,
                        &v.sha256[..v.sha256.len().min(12)],
                        v.aliases.join(",")
                    );
                }
            }
        }
        ModelCommand::Register {
            name,
            file,
            kind,
            annotate,
            metrics,
            create,
            onnx,
        } => {
            let mapping = onnx.annotations();
            if !mapping.is_empty() && kind != "onnx" {
                anyhow::bail!("--onnx-* options apply to --kind onnx only, got --kind {kind}");
            }
            let bytes = std::fs::read(&file)
                .with_context(|| format!("FILE: cannot read {}", file.display()))?;
            if create {
                match client.create_model(&name, "").await {
                    Ok(_) => {}
                    Err(e) if e.code() == Some(tonic::Code::AlreadyExists) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let mut annotations: HashMap<String, String> = annotate.into_iter().collect();
            annotations.extend(mapping.into_iter().map(|(k, v)| (k.to_owned(), v)));
            let v = client
                .register_version(&name, &kind, bytes.into(), annotations, &metrics)
                .await?;
            if json {
                output::json(&VersionView::from(v))?;
            } else {
                outln!(
                    "registered {}:{} ({}) as {}",
                    v.model,
                    v.version,
                    v.sha256,
                    output::status_name(v.status)
                );
            }
        }
        ModelCommand::Transition {
            reference,
            status,
            reason,
            force_evaluated,
        } => {
            let to = output::parse_status(&status)?;
            let v = if force_evaluated {
                if to != pb::VersionStatus::Evaluated {
                    anyhow::bail!("--force-evaluated: applies only to a transition to evaluated");
                }
                client.force_evaluated(&reference, &reason).await?
            } else {
                client.transition(&reference, to, &reason).await?
            };
            show_version(json, v, None)?;
        }
        ModelCommand::Promote { reference, reason } => {
            let v = client
                .transition(&reference, pb::VersionStatus::Champion, &reason)
                .await?;
            if json {
                output::json(&VersionView::from(v))?;
            } else {
                outln!("{}:{} is now the champion", v.model, v.version);
            }
        }
        ModelCommand::Alias { command } => match command {
            AliasCommand::Set {
                name,
                alias,
                version,
            } => {
                let a = client.set_alias(&name, &alias, version).await?;
                if json {
                    output::json(
                        &serde_json::json!({"model": a.model, "alias": a.alias, "version": a.version}),
                    )?;
                } else {
                    outln!("{}@{} → version {}", a.model, a.alias, a.version);
                }
            }
            AliasCommand::Delete { name, alias } => {
                client.delete_alias(&name, &alias).await?;
                if json {
                    output::json(
                        &serde_json::json!({"model": name, "alias": alias, "deleted": true}),
                    )?;
                } else {
                    outln!("deleted {name}@{alias}");
                }
            }
        },
        ModelCommand::Rollback { name, reason, to } => {
            let r = client.rollback_to(&name, to, &reason).await?;
            let retired = r.retired.map(VersionView::from);
            let champion = r.champion.map(VersionView::from);
            if json {
                output::json(&serde_json::json!({"retired": retired, "champion": champion}))?;
            } else if let (Some(old), Some(new)) = (retired, champion) {
                outln!(
                    "rolled back {name}: version {} retired, version {} is the champion again",
                    old.version,
                    new.version
                );
            }
        }
        ModelCommand::History { name } => {
            let events: Vec<EventView> = client
                .list_events(&name, 0)
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
            if json {
                output::json(&events)?;
            } else {
                events.iter().for_each(output::print_event);
            }
        }
        ModelCommand::Train(cmd) => cmd.run(&client, json).await?,
        ModelCommand::Evaluate(cmd) => cmd.run(&client, json).await?,
        ModelCommand::Download { reference, out } => {
            let (v, bytes) = client.download_artifact(&reference).await?;
            std::fs::write(&out, &bytes)
                .with_context(|| format!("OUT: cannot write {}", out.display()))?;
            if json {
                output::json(
                    &serde_json::json!({"model": v.model, "version": v.version, "sha256": v.sha256, "bytes": bytes.len(), "path": out}),
                )?;
            } else {
                outln!(
                    "wrote {}:{} ({} bytes, sha256 {} verified) to {}",
                    v.model,
                    v.version,
                    bytes.len(),
                    v.sha256,
                    out.display()
                );
            }
        }
    }
    Ok(())
}
