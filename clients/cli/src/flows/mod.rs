//! The lifecycle flows: ingest a dataset, train a candidate from it, and
//! evaluate a candidate against quality gates. Each flow is a plain async
//! function taking a [`RegistryClient`](joust_client::RegistryClient) and an
//! args struct and returning a serde report, so tests and other commands can
//! call it without clap; the `data` and `model` commands only parse flags and
//! print reports.
//!
//! Flows do the model work with `joust-models` on a blocking thread and
//! record everything they make in the registry with lineage annotations
//! (keys in docs/flows.md). They print nothing themselves except a progress
//! spinner on stderr when it is a terminal.

pub mod evaluate;
pub mod ingest;
mod progress;
pub mod train;

use anyhow::Context;
use joust_models::csv_io;
use joust_models::synthetic::Series;

pub use progress::Progress;

/// Dataset annotation saying whether the CSV's `label` column is real
/// (`true`) or was filled with `false` because the source had none.
pub const LABELLED_KEY: &str = "labelled";

/// Parses a dataset blob downloaded from the registry (always the
/// normalised CSV that `ingest` wrote).
fn parse_dataset(name: &str, version: u64, bytes: &[u8]) -> anyhow::Result<Vec<Series>> {
    csv_io::read_csv(bytes)
        .with_context(|| format!("dataset {name}:{version} is not valid OHLCV CSV"))
}

/// Runs CPU-bound model work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("model work panicked or was cancelled")?
}
