//! `joust model train`: downloads a dataset version, computes the market
//! features, trains a model and registers it as a `candidate` with its
//! lineage (training run id, dataset name+version+SHA-256, parameters,
//! joust version, feature schema) and training metrics.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use anyhow::Context;
use joust_client::RegistryClient;
use joust_models::dataset::feature_matrix;
use joust_models::features::{self, WARMUP_BARS};
use joust_models::{Model, ModelKind, TrainConfig};
use serde::Serialize;

use super::{Progress, blocking, parse_dataset};
use crate::output::status_name;

#[derive(Debug, Clone, PartialEq)]
pub struct TrainArgs {
    /// Dataset ref: `name`, `name:N` or `name@latest`.
    pub dataset: String,
    pub kind: ModelKind,
    /// Kind parameters as given (`--param k=v`).
    pub params: Vec<(String, String)>,
    pub contamination: f64,
    pub seed: u64,
    /// Model to register the candidate under (created if missing).
    pub model: String,
}

/// The dataset version a run read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetRef {
    pub name: String,
    pub version: u64,
    pub sha256: String,
}

/// Metrics measured while training.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingMetrics {
    /// Share of training rows above the threshold.
    pub anomaly_rate: f64,
    /// Feature rows trained on (bars after each ticker's warm-up).
    pub rows: u64,
    /// Wall-clock training time.
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    pub model: String,
    pub version: u64,
    pub status: &'static str,
    pub kind: String,
    pub training_run_id: String,
    pub dataset: DatasetRef,
    /// Resolved kind parameters (defaults included).
    pub params: BTreeMap<String, String>,
    pub contamination: f64,
    pub seed: u64,
    pub metrics: TrainingMetrics,
    pub sha256: String,
    pub size_bytes: u64,
    /// Every annotation recorded on the version.
    pub annotations: BTreeMap<String, String>,
}

pub async fn train(
    client: &RegistryClient,
    args: &TrainArgs,
    progress: &Progress,
) -> anyhow::Result<TrainReport> {
    let run_id = uuid::Uuid::new_v4().to_string();
    progress.stage(format!("downloading dataset {}", args.dataset));
    let (dataset, blob) = client
        .download_dataset(&args.dataset)
        .await
        .with_context(|| format!("--dataset {}", args.dataset))?;
    let dataset_ref = DatasetRef {
        name: dataset.name.clone(),
        version: dataset.version,
        sha256: dataset.sha256.clone(),
    };

    let mut config = TrainConfig::new(args.kind)
        .with_contamination(args.contamination)
        .with_seed(args.seed);
    config.params = args.params.iter().cloned().collect();
    let (name, version) = (dataset.name.clone(), dataset.version);
    progress.stage(format!(
        "computing features and training {} on {name}:{version}",
        args.kind
    ));
    let (model, bytes) = blocking(move || {
        let series = parse_dataset(&name, version, &blob)?;
        let data = feature_matrix(&series);
        if data.x.nrows() == 0 {
            anyhow::bail!(
                "dataset {name}:{version}: no feature rows (each ticker needs more than {WARMUP_BARS} warm-up bars)"
            );
        }
        let model = Model::train(&config, features::schema(), data.x.view())
            .with_context(|| format!("training {}", config.kind))?;
        let bytes = model.to_bytes().context("encoding the artifact")?;
        Ok((model, bytes))
    })
    .await?;

    let training = model.training();
    let metrics = TrainingMetrics {
        anomaly_rate: training.anomaly_rate,
        rows: training.rows,
        duration_ms: training.duration_ms,
    };
    let annotations = lineage(&run_id, &dataset_ref, &model);
    let metrics_json = serde_json::to_string(&metrics)?;

    progress.stage(format!("registering {}", args.model));
    match client.create_model(&args.model, "").await {
        Ok(_) => {}
        Err(e) if e.code() == Some(tonic::Code::AlreadyExists) => {}
        Err(e) => return Err(e).with_context(|| format!("creating model {}", args.model)),
    }
    let started = Instant::now();
    let v = client
        .register_version(
            &args.model,
            args.kind.as_str(),
            bytes.into(),
            annotations,
            &metrics_json,
        )
        .await
        .with_context(|| format!("registering a version of {}", args.model))?;
    tracing::debug!(
        model = %v.model,
        version = v.version,
        upload_ms = started.elapsed().as_millis() as u64,
        "candidate registered"
    );
    progress.finish();
    Ok(TrainReport {
        status: status_name(v.status),
        kind: v.kind,
        training_run_id: run_id,
        dataset: dataset_ref,
        params: model.params().clone(),
        contamination: args.contamination,
        seed: args.seed,
        metrics,
        sha256: v.sha256,
        size_bytes: v.size_bytes,
        annotations: v.annotations.into_iter().collect(),
        model: v.model,
        version: v.version,
    })
}

/// The lineage annotations of a trained version (keys in docs/flows.md).
fn lineage(run_id: &str, dataset: &DatasetRef, model: &Model) -> HashMap<String, String> {
    let training = model.training();
    let mut a: HashMap<String, String> = [
        ("training_run_id", run_id.to_owned()),
        ("flow", "train".to_owned()),
        ("dataset.name", dataset.name.clone()),
        ("dataset.version", dataset.version.to_string()),
        ("dataset.sha256", dataset.sha256.clone()),
        ("param.contamination", training.contamination.to_string()),
        ("param.seed", training.seed.to_string()),
        ("joust.version", env!("CARGO_PKG_VERSION").to_owned()),
        ("features.schema", model.schema().join(",")),
        ("features.count", model.n_features().to_string()),
        ("threshold", model.threshold().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in model.params() {
        a.insert(format!("param.{k}"), v.clone());
    }
    a
}
