//! `joust bench`: the load generator (joust-server's `loadgen`) with the
//! rows it sends: the fixed payload by default, or real feature rows
//! replayed in order from a registry dataset (`--dataset`) or a local CSV
//! of feature columns (`--csv`), checked against the inputs of the model
//! the target serves before any load is sent.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use joust_client::RegistryClient;
use joust_models::Model;
use joust_models::dataset::feature_matrix;
use joust_models::features::FEATURE_NAMES;
use joust_proto::inference::ModelMetadataRequest;
use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_server::loadgen::{BenchArgs, Payload, Replay};

/// `joust bench` flags: the load's, and where its rows come from.
#[derive(Debug, clap::Args)]
pub struct BenchCmd {
    #[command(flatten)]
    pub load: BenchArgs,
    /// Replay the feature rows of this registry dataset (NAME, NAME:N or
    /// NAME@latest) in order, looping when exhausted; one row (or
    /// `--batch N` rows) per request.
    #[arg(long, env = "JOUST_BENCH_DATASET", conflicts_with = "csv")]
    pub dataset: Option<String>,
    /// Replay the rows of a local CSV of feature columns (a header row
    /// naming the model's inputs, in any order, then one row per line).
    #[arg(long, env = "JOUST_BENCH_CSV", value_name = "PATH")]
    pub csv: Option<PathBuf>,
    /// Registry address (for `--dataset`, and the input names `--csv` is
    /// checked against).
    #[arg(long, env = "JOUST_REGISTRY", default_value = "http://127.0.0.1:7070")]
    pub registry: String,
}

pub async fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    let client = crate::security::client();
    let payload = if let Some(reference) = &cmd.dataset {
        let inputs = Inputs::of(&cmd).await?;
        Payload::Replay(Arc::new(
            dataset_rows(&cmd.registry, reference, &inputs).await?,
        ))
    } else if let Some(path) = &cmd.csv {
        let inputs = Inputs::of(&cmd).await?;
        Payload::Replay(Arc::new(csv_rows(path, &inputs)?))
    } else {
        Payload::Fixed
    };
    joust_server::loadgen::bench(cmd.load, client, payload).await?;
    Ok(())
}

/// What the served model takes: its width (from the target's model
/// metadata) and, when the registry knows the champion, its input names.
#[derive(Debug, Clone, PartialEq)]
struct Inputs {
    model: String,
    width: usize,
    names: Option<Vec<String>>,
}

impl Inputs {
    async fn of(cmd: &BenchCmd) -> anyhow::Result<Self> {
        let model = cmd.load.model.clone();
        let target = &cmd.load.target;
        let security = crate::security::client();
        let channel = security
            .endpoint(target)
            .with_context(|| format!("--target {target}"))?
            .connect()
            .await
            .with_context(|| format!("cannot connect to --target {target}"))?;
        let meta = GrpcInferenceServiceClient::new(security.wrap(channel))
            .model_metadata(ModelMetadataRequest {
                name: model.clone(),
                version: String::new(),
            })
            .await
            .with_context(|| format!("model {model} on {target}: cannot read its inputs"))?
            .into_inner();
        let width = meta
            .inputs
            .first()
            .and_then(|t| t.shape.last())
            .and_then(|w| usize::try_from(*w).ok())
            .with_context(|| {
                format!("model {model} on {target}: metadata has no input of shape [-1, N]")
            })?;
        // The names are a check on top of the width: without a registry
        // or a champion, the width alone is checked.
        let names = match RegistryClient::connect_with(&cmd.registry, &security).await {
            Ok(registry) => match registry
                .download_artifact(&format!("{model}@champion"))
                .await
            {
                Ok((_, bytes)) => Model::from_bytes(&bytes)
                    .ok()
                    .map(|m| m.schema().to_vec())
                    .filter(|s| s.len() == width),
                Err(_) => None,
            },
            Err(_) => None,
        };
        Ok(Self {
            model,
            width,
            names,
        })
    }

    fn expected(&self) -> String {
        match &self.names {
            Some(names) => format!("{} inputs ({})", self.width, names.join(",")),
            None => format!("{} inputs", self.width),
        }
    }
}

/// The feature rows of a registry dataset (the model features of its
/// OHLCV bars, each ticker's warm-up dropped), in dataset order.
async fn dataset_rows(registry: &str, reference: &str, inputs: &Inputs) -> anyhow::Result<Replay> {
    let client = RegistryClient::connect_with(registry, &crate::security::client())
        .await
        .with_context(|| {
            format!("--dataset {reference}: is the registry at {registry} running?")
        })?;
    let (dataset, blob) = client
        .download_dataset(reference)
        .await
        .with_context(|| format!("--dataset {reference}"))?;
    let at = format!("{}:{}", dataset.name, dataset.version);
    let series = joust_models::csv_io::read_csv(&blob[..])
        .with_context(|| format!("dataset {at} is not valid OHLCV CSV"))?;
    let data = feature_matrix(&series);
    let width = FEATURE_NAMES.len();
    let names_match = inputs
        .names
        .as_ref()
        .is_none_or(|n| n.iter().map(String::as_str).eq(FEATURE_NAMES));
    if width != inputs.width || !names_match {
        bail!(
            "--dataset {at}: its rows have {width} features ({}); model {} expects {}",
            FEATURE_NAMES.join(","),
            inputs.model,
            inputs.expected()
        );
    }
    if data.x.nrows() == 0 {
        bail!("--dataset {at}: no feature rows after each ticker's warm-up bars");
    }
    let values: Vec<f32> = data.x.iter().copied().collect();
    Ok(Replay::new(format!("dataset {at}"), width, values)?)
}

fn csv_rows(path: &std::path::Path, inputs: &Inputs) -> anyhow::Result<Replay> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--csv {}: cannot read", path.display()))?;
    let values =
        parse_feature_csv(&text, inputs).with_context(|| format!("--csv {}", path.display()))?;
    Ok(Replay::new(
        format!("csv {}", path.display()),
        inputs.width,
        values,
    )?)
}

/// Parses a CSV of feature columns into row-major values in the model's
/// input order. With known input names the header must name each input
/// once (any order); otherwise it must have as many columns as inputs.
fn parse_feature_csv(text: &str, inputs: &Inputs) -> anyhow::Result<Vec<f32>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        bail!(
            "empty file: expected a header row naming {}",
            inputs.expected()
        );
    };
    let header: Vec<String> = header
        .split(',')
        .map(|c| c.trim().trim_matches('"').to_owned())
        .collect();
    // For each input, the CSV column that holds it.
    let order: Vec<usize> = match &inputs.names {
        Some(names) => {
            for (i, column) in header.iter().enumerate() {
                if !names.contains(column) {
                    bail!(
                        "column {} {column:?} is not an input of model {}: expected {}",
                        i + 1,
                        inputs.model,
                        inputs.expected()
                    );
                }
                if header[..i].contains(column) {
                    bail!("column {column:?} appears twice in the header");
                }
            }
            names
                .iter()
                .map(|name| {
                    header.iter().position(|c| c == name).with_context(|| {
                        format!(
                            "no column {name:?}: model {} expects {}",
                            inputs.model,
                            inputs.expected()
                        )
                    })
                })
                .collect::<anyhow::Result<_>>()?
        }
        None if header.len() == inputs.width => (0..inputs.width).collect(),
        None => bail!(
            "the header has {} columns ({}); model {} expects {}",
            header.len(),
            header.join(","),
            inputs.model,
            inputs.expected()
        ),
    };
    let mut values = Vec::new();
    for (n, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != header.len() {
            bail!(
                "line {}: expected {} values (one per header column), got {}",
                n + 1,
                header.len(),
                cells.len()
            );
        }
        for &c in &order {
            let v: f32 = cells[c].parse().map_err(|_| {
                anyhow::anyhow!(
                    "line {} column {:?}: expected a number, got {:?}",
                    n + 1,
                    header[c],
                    cells[c]
                )
            })?;
            values.push(v);
        }
    }
    if values.is_empty() {
        bail!("no rows after the header");
    }
    Ok(values)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Inputs, parse_feature_csv};

    fn inputs(names: Option<&[&str]>) -> Inputs {
        Inputs {
            model: "m".to_owned(),
            width: 3,
            names: names.map(|n| n.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    #[test]
    fn columns_are_reordered_into_input_order() {
        let named = inputs(Some(&["a", "b", "c"]));
        let v = parse_feature_csv("c,a,b\n3,1,2\n\n6,4,5\n", &named).unwrap();
        assert_eq!(v, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let positional = inputs(None);
        let v = parse_feature_csv("x,y,z\n1,2,3\n", &positional).unwrap();
        assert_eq!(v, [1.0, 2.0, 3.0]);
    }

    #[test]
    fn a_bad_header_or_row_names_the_column_and_what_was_expected() {
        let named = inputs(Some(&["a", "b", "c"]));
        let err = |text: &str, i: &Inputs| format!("{:#}", parse_feature_csv(text, i).unwrap_err());
        let e = err("a,bogus,c\n1,2,3\n", &named);
        assert!(
            e.contains("column 2 \"bogus\" is not an input of model m"),
            "{e}"
        );
        assert!(e.contains("expected 3 inputs (a,b,c)"), "{e}");
        let e = err("a,b\n1,2\n", &named);
        assert!(e.contains("no column \"c\""), "{e}");
        let e = err("a,b,a\n1,2,3\n", &named);
        assert!(e.contains("\"a\" appears twice"), "{e}");
        let e = err("a,b,c\n1,x,3\n", &named);
        assert!(
            e.contains("line 2 column \"b\": expected a number, got \"x\""),
            "{e}"
        );
        let e = err("a,b,c\n1,2\n", &named);
        assert!(e.contains("line 2: expected 3 values"), "{e}");
        let e = err("a,b,c\n", &named);
        assert!(e.contains("no rows"), "{e}");
        let e = err("a,b\n1,2\n", &inputs(None));
        assert!(
            e.contains("the header has 2 columns (a,b); model m expects 3 inputs"),
            "{e}"
        );
    }
}
