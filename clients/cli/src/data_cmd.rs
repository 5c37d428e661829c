//! `joust data …`: datasets in the registry (ingest, list, show).

use std::path::PathBuf;

use clap::Subcommand;

use crate::client_opts::ClientOpts;
use crate::client_opts::connect;
use crate::flows::{self, Progress, ingest};
use crate::output::{self, DatasetView};

#[derive(Debug, clap::Args)]
pub struct DataArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Register a dataset version from a synthetic market or an OHLCV CSV
    /// file (stored as normalised CSV with a label column).
    Ingest(IngestCmd),
    /// List the versions of a dataset (or of every dataset).
    List {
        /// Dataset name; all datasets when omitted.
        #[arg(default_value = "")]
        name: String,
    },
    /// Show a dataset version: NAME, NAME:N or NAME@latest.
    Show { reference: String },
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["synthetic", "csv"])))]
pub struct IngestCmd {
    /// Generate a seeded synthetic market with labelled anomalies.
    #[arg(long)]
    pub synthetic: bool,
    /// Synthetic: number of tickers.
    #[arg(long, default_value_t = 10, requires = "synthetic")]
    pub tickers: usize,
    /// Synthetic: bars per ticker.
    #[arg(long, default_value_t = 1000, requires = "synthetic")]
    pub rows: usize,
    /// Synthetic: seed.
    #[arg(long, default_value_t = 42, requires = "synthetic")]
    pub seed: u64,
    /// Read an OHLCV CSV file: ticker,timestamp,open,high,low,close,volume[,label].
    #[arg(long, value_name = "PATH")]
    pub csv: Option<PathBuf>,
    /// Dataset name in the registry.
    #[arg(long)]
    pub name: String,
}

impl IngestCmd {
    fn into_args(self) -> ingest::IngestArgs {
        let source = match self.csv {
            Some(path) => ingest::Source::Csv(path),
            None => ingest::Source::Synthetic {
                tickers: self.tickers,
                rows: self.rows,
                seed: self.seed,
            },
        };
        ingest::IngestArgs {
            name: self.name,
            source,
        }
    }
}

pub async fn run(args: DataArgs) -> anyhow::Result<()> {
    let opts = args.opts;
    let client = connect(&opts).await?;
    let json = opts.json;
    match args.command {
        DataCommand::Ingest(cmd) => {
            let progress = Progress::for_stderr();
            let d = flows::ingest::ingest(&client, &cmd.into_args(), &progress).await?;
            if json {
                output::json(&d)?;
            } else {
                print_ingested(&d);
            }
        }
        DataCommand::List { name } => {
            let datasets: Vec<DatasetView> = client
                .list_datasets(&name)
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
            if json {
                output::json(&datasets)?;
            } else {
                for d in &datasets {
                    outln!(
                        "{:<32} {:>4}  rows={:<9} sha256={}  {}",
                        d.name,
                        d.version,
                        d.rows,
                        &d.sha256[..d.sha256.len().min(12)],
                        d.created_at
                    );
                }
            }
        }
        DataCommand::Show { reference } => {
            let d = DatasetView::from(client.get_dataset(&reference).await?);
            if json {
                output::json(&d)?;
            } else {
                print_dataset(&d);
            }
        }
    }
    Ok(())
}

fn print_ingested(d: &DatasetView) {
    let a = |k: &str| d.annotations.get(k).map(String::as_str).unwrap_or("?");
    outln!(
        "registered dataset {}:{}  rows={}  sha256={}",
        d.name,
        d.version,
        d.rows,
        d.sha256
    );
    outln!(
        "  source {}  tickers={}  {} → {}  labelled={}{}",
        a("source"),
        a("tickers"),
        a("time.start"),
        a("time.end"),
        a(flows::LABELLED_KEY),
        d.annotations
            .get("anomalies")
            .map(|n| format!(" ({n} anomalous bars)"))
            .unwrap_or_default()
    );
}

fn print_dataset(d: &DatasetView) {
    outln!(
        "{}:{}  rows={}  sha256={}  size={}B",
        d.name,
        d.version,
        d.rows,
        d.sha256,
        d.size_bytes
    );
    outln!("  schema: {}", d.schema.join(","));
    outln!("  created {} by {}", d.created_at, d.created_by);
    for (k, v) in &d.annotations {
        outln!("  {k} = {v}");
    }
}
