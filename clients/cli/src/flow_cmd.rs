//! The flags and printing of `joust model train` and `joust model evaluate`;
//! the work is in `crate::flows`.

use joust_client::RegistryClient;
use joust_models::{ModelKind, TrainConfig};

use crate::client_opts::parse_kv;
use crate::flows::Progress;
use crate::flows::evaluate::{self, EvaluateArgs, EvaluateReport, Gates};
use crate::flows::train::{self, TrainArgs, TrainReport};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct TrainCmd {
    /// Dataset to train on: NAME, NAME:N or NAME@latest.
    #[arg(long)]
    pub dataset: String,
    /// Model kind: isolation_forest, one_class_svm, gaussian_mixture or noop.
    #[arg(long, default_value = "isolation_forest")]
    pub kind: ModelKind,
    /// Kind parameter KEY=VALUE (repeatable; see docs/models.md).
    #[arg(long = "param", value_parser = parse_kv)]
    pub params: Vec<(String, String)>,
    /// Expected share of anomalies, in (0, 0.5]; sets the threshold.
    #[arg(long, default_value_t = TrainConfig::DEFAULT_CONTAMINATION)]
    pub contamination: f64,
    /// Seed for every random choice in training.
    #[arg(long, default_value_t = TrainConfig::DEFAULT_SEED)]
    pub seed: u64,
    /// Model to register the candidate under (created if missing).
    #[arg(long)]
    pub model: String,
}

impl TrainCmd {
    pub async fn run(self, client: &RegistryClient, json: bool) -> anyhow::Result<()> {
        let args = TrainArgs {
            dataset: self.dataset,
            kind: self.kind,
            params: self.params,
            contamination: self.contamination,
            seed: self.seed,
            model: self.model,
        };
        let report = train::train(client, &args, &Progress::for_stderr()).await?;
        if json {
            output::json(&report)
        } else {
            print_trained(&report);
            Ok(())
        }
    }
}

fn print_trained(r: &TrainReport) {
    outln!(
        "trained {} on {}:{} (sha256 {}): {} rows, anomaly rate {:.4}, {} ms",
        r.kind,
        r.dataset.name,
        r.dataset.version,
        &r.dataset.sha256[..r.dataset.sha256.len().min(12)],
        r.metrics.rows,
        r.metrics.anomaly_rate,
        r.metrics.duration_ms
    );
    let params: Vec<String> = r.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    outln!(
        "  params {}  contamination={}  seed={}",
        params.join(" "),
        r.contamination,
        r.seed
    );
    outln!(
        "registered {}:{} as {} (training run {})",
        r.model,
        r.version,
        r.status,
        r.training_run_id
    );
}

#[derive(Debug, clap::Args)]
pub struct EvaluateCmd {
    /// Version to evaluate: NAME:N, NAME@ALIAS or NAME.
    pub reference: String,
    /// Dataset to score: NAME, NAME:N or NAME@latest.
    #[arg(long)]
    pub dataset: String,
    /// Gate: share of rows flagged anomalous must be at most this.
    #[arg(long, default_value_t = 0.20)]
    pub max_anomaly_rate: f64,
    /// Gate: precision against labels must be at least this.
    #[arg(long)]
    pub min_precision: Option<f64>,
    /// Gate: recall against labels must be at least this.
    #[arg(long)]
    pub min_recall: Option<f64>,
    /// Gate: ROC-AUC against labels must be at least this.
    #[arg(long)]
    pub min_auc: Option<f64>,
}

impl EvaluateCmd {
    /// Prints the report; a failed gate is an error (non-zero exit) after
    /// the report is printed.
    pub async fn run(self, client: &RegistryClient, json: bool) -> anyhow::Result<()> {
        let args = EvaluateArgs {
            reference: self.reference,
            dataset: self.dataset,
            gates: Gates {
                max_anomaly_rate: Some(self.max_anomaly_rate),
                min_precision: self.min_precision,
                min_recall: self.min_recall,
                min_auc: self.min_auc,
            },
        };
        let report = evaluate::evaluate(client, &args, &Progress::for_stderr()).await?;
        if json {
            output::json(&report)?;
        } else {
            print_evaluated(&report);
        }
        if !report.passed {
            anyhow::bail!(
                "evaluation failed: {} of {} gates failed ({}); {}:{} stays {}",
                report.failed_gates.len(),
                report.gates.len(),
                report.failed_gates.join("; "),
                report.model,
                report.version,
                report.status
            );
        }
        Ok(())
    }
}

fn print_evaluated(r: &EvaluateReport) {
    let m = &r.metrics;
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"));
    outln!(
        "evaluated {}:{} on {}:{} (run {})",
        r.model,
        r.version,
        r.dataset.name,
        r.dataset.version,
        r.eval_run_id
    );
    outln!(
        "  rows={}  anomaly_rate={:.4}  precision={}  recall={}  f1={}  roc_auc={}",
        m.rows,
        m.anomaly_rate,
        opt(m.precision),
        opt(m.recall),
        opt(m.f1),
        opt(m.roc_auc)
    );
    outln!(
        "  scoring: {:.0} rows/s ({:.2} ms){}",
        m.rows_per_sec,
        m.scoring_ms,
        if r.labelled {
            ""
        } else {
            "  (dataset has no labels)"
        }
    );
    for g in &r.gates {
        outln!(
            "  {} {}",
            if g.passed { "pass" } else { "FAIL" },
            g.describe()
        );
    }
    if r.passed {
        outln!("passed: {}:{} is {}", r.model, r.version, r.status);
    }
}
