//! `joust detect`: the detection role (`serve`, in `serve.rs`) and its
//! client commands: `ingest`, `run`, `anomalies`, `runs` (`series.rs`);
//! `verify`, `stats`, `purge` (`verify.rs`); the backfill commands
//! (`backfill.rs`); `rules`, `whitelist` and `evidence` (`rules.rs`). Every
//! client command reaches the service through [`target::client`].

mod backfill;
mod notify;
mod print;
mod rules;
mod series;
mod serve;
mod target;
mod verify;

use self::rules::{EvidenceArgs, RulesArgs, WhitelistArgs};
use self::series::{AnomaliesArgs, IngestArgs, RunArgs, RunsArgs, anomalies, detect, ingest, runs};
use self::serve::{ServeArgs, serve};
use self::verify::{PurgeArgs, StatsArgs, VerifyArgs, purge, stats, verify};

#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    #[command(subcommand)]
    pub command: DetectCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DetectCommand {
    /// Run the detection service (joust.v1.Detection).
    Serve(Box<ServeArgs>),
    /// Store OHLCV bars from a CSV file or the synthetic market.
    Ingest(IngestArgs),
    /// Detect anomalies in the bars of a series not detected yet.
    Run(RunArgs),
    /// List stored anomalies.
    Anomalies(AnomaliesArgs),
    /// Show one detection run, or list runs.
    Runs(RunsArgs),
    /// Re-score a stored anomaly with the current model.
    Verify(VerifyArgs),
    /// Counts of anomalies (per ticker, type, whitelist status, day) and
    /// runs (per status, trigger, day).
    Stats(StatsArgs),
    /// The retention purge: runs past the retention (whatever they found),
    /// anomalies past theirs, stale in-progress runs closed as failed.
    Purge(PurgeArgs),
    /// Queue a backfill of a series (`--wait` follows it with a progress bar).
    Backfill(backfill::BackfillArgs),
    /// Show one backfill job and its progress.
    Job(backfill::JobArgs),
    /// List backfill jobs, newest first.
    Jobs(backfill::JobsArgs),
    /// Start, stop or inspect the service's backfill workers.
    Workers(backfill::WorkersArgs),
    /// Thresholds per anomaly type: list, set, delete.
    Rules(RulesArgs),
    /// Whitelisted series (anomalies kept, flagged): list, add, remove.
    Whitelist(WhitelistArgs),
    /// Print the evidence artifact (JSON) of a detection run.
    Evidence(EvidenceArgs),
    /// Webhook notifications (one per run with new anomalies, queue
    /// alerts) and their delivery state.
    Notifications(notify::NotificationsArgs),
}

pub async fn run(args: DetectArgs) -> anyhow::Result<()> {
    match args.command {
        DetectCommand::Serve(a) => serve(*a).await,
        DetectCommand::Ingest(a) => ingest(a).await,
        DetectCommand::Run(a) => detect(a).await,
        DetectCommand::Anomalies(a) => anomalies(a).await,
        DetectCommand::Runs(a) => runs(a).await,
        DetectCommand::Verify(a) => verify(a).await,
        DetectCommand::Stats(a) => stats(a).await,
        DetectCommand::Purge(a) => purge(a).await,
        DetectCommand::Backfill(a) => backfill::backfill(a).await,
        DetectCommand::Job(a) => backfill::job(a).await,
        DetectCommand::Jobs(a) => backfill::jobs(a).await,
        DetectCommand::Workers(a) => backfill::workers(a).await,
        DetectCommand::Rules(a) => rules::rules(a).await,
        DetectCommand::Whitelist(a) => rules::whitelist(a).await,
        DetectCommand::Evidence(a) => rules::evidence(a).await,
        DetectCommand::Notifications(a) => notify::notifications(a).await,
    }
}
