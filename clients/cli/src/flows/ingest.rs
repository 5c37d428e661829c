//! `joust data ingest`: turns a synthetic market or an OHLCV CSV file into a
//! registered dataset version. The blob is always the normalised CSV that
//! `joust_models::csv_io::write_csv` writes (with a `label` column), so
//! training and evaluation read one format whatever the source was.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use joust_client::{RegistryClient, pb, sha256_hex};
use joust_models::csv_io;
use joust_models::synthetic::{self, Series, SyntheticConfig};

use super::{LABELLED_KEY, Progress, blocking};
use crate::output::DatasetView;

/// Where the bars come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A seeded synthetic market with labelled anomalies.
    Synthetic {
        tickers: usize,
        rows: usize,
        seed: u64,
    },
    /// An OHLCV CSV file (`ticker,timestamp,open,high,low,close,volume[,label]`).
    Csv(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct IngestArgs {
    /// Dataset name in the registry.
    pub name: String,
    pub source: Source,
}

/// Reads or generates the series, registers them, and returns the new
/// dataset version.
pub async fn ingest(
    client: &RegistryClient,
    args: &IngestArgs,
    progress: &Progress,
) -> anyhow::Result<DatasetView> {
    let mut annotations = HashMap::new();
    let series = match &args.source {
        Source::Synthetic {
            tickers,
            rows,
            seed,
        } => {
            progress.stage(format!("generating {tickers} tickers × {rows} bars"));
            let config = SyntheticConfig {
                tickers: *tickers,
                rows: *rows,
                seed: *seed,
                ..SyntheticConfig::default()
            };
            annotations.extend([
                ("source".to_owned(), "synthetic".to_owned()),
                ("source.tickers".to_owned(), tickers.to_string()),
                ("source.rows".to_owned(), rows.to_string()),
                ("source.seed".to_owned(), seed.to_string()),
                (
                    "source.anomaly_rate".to_owned(),
                    config.anomaly_rate.to_string(),
                ),
            ]);
            blocking(move || Ok(synthetic::generate(&config))).await?
        }
        Source::Csv(path) => {
            progress.stage(format!("reading {}", path.display()));
            let raw = std::fs::read(path)
                .with_context(|| format!("--csv: cannot read {}", path.display()))?;
            annotations.extend([
                ("source".to_owned(), "csv".to_owned()),
                ("source.path".to_owned(), path.display().to_string()),
                ("source.sha256".to_owned(), sha256_hex(&raw)),
            ]);
            let shown = path.display().to_string();
            blocking(move || csv_io::read_csv(&raw).map_err(|e| anyhow::anyhow!("{shown}: {e}")))
                .await?
        }
    };
    let rows: usize = series.iter().map(|s| s.bars.len()).sum();
    if rows == 0 {
        anyhow::bail!("dataset {}: expected at least one bar, got none", args.name);
    }
    annotations.extend(describe(&series));
    annotations.insert("flow".into(), "ingest".into());
    annotations.insert("joust.version".into(), env!("CARGO_PKG_VERSION").into());

    progress.stage("encoding CSV");
    let blob = blocking(move || Ok(csv_io::write_csv(&series))).await?;
    let schema = csv_io::REQUIRED_COLUMNS
        .iter()
        .map(|c| (*c).to_owned())
        .chain(std::iter::once("label".to_owned()))
        .collect();
    progress.stage(format!("uploading {} bytes", blob.len()));
    let meta = pb::DatasetMetadata {
        name: args.name.clone(),
        sha256: String::new(), // the client computes it from the bytes
        rows: rows as u64,
        schema,
        annotations,
    };
    let dataset = client
        .register_dataset(meta, bytes::Bytes::from(blob))
        .await
        .with_context(|| format!("registering dataset {}", args.name))?;
    progress.finish();
    Ok(DatasetView::from(dataset))
}

/// Ticker count, time range, and whether (and how many) rows are labelled.
fn describe(series: &[Series]) -> Vec<(String, String)> {
    let mut out = vec![("tickers".to_owned(), series.len().to_string())];
    let times = series
        .iter()
        .flat_map(|s| s.bars.iter().map(|b| b.timestamp));
    let (min, max) = times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    if min <= max {
        out.push(("time.start".into(), rfc3339(min)));
        out.push(("time.end".into(), rfc3339(max)));
    }
    let labelled = series.iter().all(|s| s.labels.len() == s.bars.len());
    out.push((LABELLED_KEY.into(), labelled.to_string()));
    if labelled {
        let anomalies: usize = series
            .iter()
            .map(|s| s.labels.iter().filter(|l| **l).count())
            .sum();
        out.push(("anomalies".into(), anomalies.to_string()));
    }
    out
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| unix.to_string())
}
