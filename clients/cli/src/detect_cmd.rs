//! `joust detect`: the detection role (`serve`) and its client commands
//! (`ingest`, `run`, `anomalies`, `runs`, `verify`, `stats`, `purge`; the
//! backfill commands are in `backfill_cmd.rs`; `rules`, `whitelist` and
//! `evidence` in `detect_rules_cmd.rs`).

use std::net::SocketAddr;

use anyhow::Context;
use joust_detect::{DetectConfig, ScorerConfig};
use joust_proto::v1 as pb;
use joust_proto::v1::detection_client::DetectionClient;
use joust_security::SecureChannel as Channel;

use crate::backfill_cmd;
use crate::detect_rules_cmd::{self, EvidenceArgs, RulesArgs, WhitelistArgs};
use crate::registry_cmd::{S3Args, redact};

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
    /// Delete finished runs without anomalies older than the retention.
    Purge(PurgeArgs),
    /// Queue a backfill of a series (`--wait` follows it with a progress bar).
    Backfill(backfill_cmd::BackfillArgs),
    /// Show one backfill job and its progress.
    Job(backfill_cmd::JobArgs),
    /// List backfill jobs, newest first.
    Jobs(backfill_cmd::JobsArgs),
    /// Start, stop or inspect the service's backfill workers.
    Workers(backfill_cmd::WorkersArgs),
    /// Thresholds per anomaly type: list, set, delete.
    Rules(RulesArgs),
    /// Whitelisted series (anomalies kept, flagged): list, add, remove.
    Whitelist(WhitelistArgs),
    /// Print the evidence artifact (JSON) of a detection run.
    Evidence(EvidenceArgs),
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub target: Target,
    /// Id of the anomaly.
    pub anomaly_id: u64,
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub target: Target,
    /// Only this ticker.
    #[arg(long, env = "JOUST_DETECT_TICKER")]
    pub ticker: Option<String>,
    /// Anomalies of bars, and runs started, at or after this time (unix
    /// seconds).
    #[arg(long, env = "JOUST_DETECT_FROM")]
    pub from: Option<i64>,
    /// Anomalies of bars, and runs started, at or before this time (unix
    /// seconds).
    #[arg(long, env = "JOUST_DETECT_TO")]
    pub to: Option<i64>,
}

#[derive(Debug, clap::Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub target: Target,
    /// Cutoff in unix ms (default: now minus the service's retention).
    #[arg(long, env = "JOUST_DETECT_PURGE_BEFORE_MS", default_value_t = 0)]
    pub before_ms: i64,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Detection store: postgres://USER@HOST/DB or sqlite://PATH.
    #[arg(
        long,
        env = "JOUST_DETECT_DATABASE_URL",
        default_value = "sqlite://./joust-data/detect.db"
    )]
    pub database_url: String,
    /// Read the database URL from this file instead (keeps the password out
    /// of the process list and the environment).
    #[arg(
        long,
        env = "JOUST_DETECT_DATABASE_URL_FILE",
        conflicts_with = "database_url"
    )]
    pub database_url_file: Option<std::path::PathBuf>,
    /// The router's (or a serving node's) Open Inference Protocol address.
    #[arg(long, env = "JOUST_ROUTER", default_value = "http://127.0.0.1:7072")]
    pub router: String,
    /// The registry, for the SHA-256 of the scoring model.
    #[arg(long, env = "JOUST_REGISTRY", default_value = "http://127.0.0.1:7070")]
    pub registry: String,
    /// Model name to score with.
    #[arg(long, env = "JOUST_DETECT_MODEL", default_value = "anomaly_detector")]
    pub model: String,
    /// Pin a model version (default: what the router serves, the champion).
    #[arg(long, env = "JOUST_DETECT_MODEL_VERSION", default_value = "")]
    pub model_version: String,
    /// Rows per OIP request.
    #[arg(long, env = "JOUST_DETECT_BATCH_ROWS", default_value_t = 8192)]
    pub batch_rows: usize,
    /// OIP requests in flight per detection.
    #[arg(long, env = "JOUST_DETECT_SCORING_CONCURRENCY", default_value_t = 4)]
    pub scoring_concurrency: usize,
    /// gRPC listen address.
    #[arg(long, env = "JOUST_DETECT_LISTEN", default_value = "127.0.0.1:7073")]
    pub listen: SocketAddr,
    /// Largest gRPC message accepted or sent, in bytes.
    #[arg(long, env = "JOUST_DETECT_MAX_MESSAGE_BYTES", default_value_t = 64 << 20)]
    pub max_message_bytes: usize,
    /// Days to keep finished runs that stored no anomaly.
    #[arg(long, env = "JOUST_DETECT_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u64,
    /// Seconds between retention purges.
    #[arg(long, env = "JOUST_DETECT_PURGE_EVERY_SECONDS", default_value_t = 3600)]
    pub purge_every_seconds: u64,
    /// Where each run's evidence (evidence/OWNER/RUN/detection.json) goes:
    /// file://DIR, s3://BUCKET[/PREFIX], or `off`.
    #[arg(
        long,
        env = "JOUST_DETECT_EVIDENCE_STORE",
        default_value = "file://./joust-data"
    )]
    pub evidence_store: String,
    /// The OWNER segment of evidence keys (team or tenant).
    #[arg(long, env = "JOUST_DETECT_EVIDENCE_OWNER", default_value = "joust")]
    pub evidence_owner: String,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub jobs: backfill_cmd::JobsFlags,
    #[command(flatten)]
    pub security: joust_security::ServerArgs,
}

impl ServeArgs {
    /// The evidence settings (`None` for `--evidence-store off`).
    pub fn evidence(&self) -> anyhow::Result<Option<joust_detect::EvidenceConfig>> {
        if self.evidence_store == "off" {
            return Ok(None);
        }
        Ok(Some(joust_detect::EvidenceConfig {
            url: self.evidence_store.clone(),
            owner: self.evidence_owner.clone(),
            s3: self.s3.clone().into_options()?,
        }))
    }
}

/// Address of the detection service, for client commands (global: also
/// accepted before the subcommand of `rules` and `whitelist`).
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Detection service address.
    #[arg(
        long,
        env = "JOUST_DETECT",
        default_value = "http://127.0.0.1:7073",
        global = true
    )]
    pub detect: String,
    /// Print JSON instead of text.
    #[arg(long, env = "JOUST_JSON", global = true)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub target: Target,
    /// Bar interval: 1m, 5m, 15m, 30m, 1h, 4h, 1d or 1wk.
    #[arg(long, env = "JOUST_DETECT_INTERVAL", default_value = "1d")]
    pub interval: String,
    /// OHLCV CSV file (ticker,timestamp,open,high,low,close,volume).
    #[arg(long, env = "JOUST_DETECT_CSV", conflicts_with = "synthetic")]
    pub csv: Option<std::path::PathBuf>,
    /// Generate this many synthetic tickers (SYN000, …) instead.
    #[arg(long, env = "JOUST_DETECT_SYNTHETIC")]
    pub synthetic: Option<u32>,
    /// Bars per synthetic ticker.
    #[arg(long, env = "JOUST_DETECT_ROWS", default_value_t = 1000)]
    pub rows: u32,
    /// Seed of the synthetic market.
    #[arg(long, env = "JOUST_DETECT_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Unix seconds of the first synthetic bar (0 = 2024-01-01).
    #[arg(long, env = "JOUST_DETECT_START", default_value_t = 0)]
    pub start: i64,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: Target,
    /// Ticker of the series.
    pub ticker: String,
    /// Bar interval.
    #[arg(long, env = "JOUST_DETECT_INTERVAL", default_value = "1d")]
    pub interval: String,
}

#[derive(Debug, clap::Args)]
pub struct AnomaliesArgs {
    #[command(flatten)]
    pub target: Target,
    /// Only this ticker.
    #[arg(long, env = "JOUST_DETECT_TICKER")]
    pub ticker: Option<String>,
    /// Only this interval.
    #[arg(long, env = "JOUST_DETECT_INTERVAL")]
    pub interval: Option<String>,
    /// Bars at or after this time (unix seconds).
    #[arg(long, env = "JOUST_DETECT_FROM")]
    pub from: Option<i64>,
    /// Bars at or before this time (unix seconds).
    #[arg(long, env = "JOUST_DETECT_TO")]
    pub to: Option<i64>,
    /// Only anomalies scoring at least this.
    #[arg(long, env = "JOUST_DETECT_MIN_SCORE")]
    pub min_score: Option<f32>,
    /// Only anomalies found by this model version.
    #[arg(long, env = "JOUST_DETECT_MODEL_VERSION")]
    pub model_version: Option<String>,
    /// Only anomalies that matched this type (model_label, model_score,
    /// price_spike, volume_spike, volatility).
    #[arg(long = "type", env = "JOUST_DETECT_TYPE")]
    pub anomaly_type: Option<String>,
    /// Only whitelisted (true) or not whitelisted (false) anomalies.
    #[arg(long, env = "JOUST_DETECT_WHITELISTED")]
    pub whitelisted: Option<bool>,
    /// Page size (at most 1000).
    #[arg(long, env = "JOUST_DETECT_LIMIT", default_value_t = 100)]
    pub limit: u32,
    /// Token of the page to show (printed after a full page).
    #[arg(long, env = "JOUST_DETECT_PAGE_TOKEN", default_value = "")]
    pub page_token: String,
}

#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    #[command(flatten)]
    pub target: Target,
    /// Show this run only.
    pub id: Option<u64>,
    /// Only runs of this ticker.
    #[arg(long, env = "JOUST_DETECT_TICKER")]
    pub ticker: Option<String>,
    /// Page size (at most 1000).
    #[arg(long, env = "JOUST_DETECT_LIMIT", default_value_t = 20)]
    pub limit: u32,
}

pub(crate) async fn client(target: &Target) -> anyhow::Result<DetectionClient<Channel>> {
    let channel = joust_client::connect(&target.detect, &crate::security::client())
        .await
        .with_context(|| format!("connecting to the detection service at {}", target.detect))?;
    Ok(DetectionClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20))
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
        DetectCommand::Backfill(a) => backfill_cmd::backfill(a).await,
        DetectCommand::Job(a) => backfill_cmd::job(a).await,
        DetectCommand::Jobs(a) => backfill_cmd::jobs(a).await,
        DetectCommand::Workers(a) => backfill_cmd::workers(a).await,
        DetectCommand::Rules(a) => detect_rules_cmd::rules(a).await,
        DetectCommand::Whitelist(a) => detect_rules_cmd::whitelist(a).await,
        DetectCommand::Evidence(a) => detect_rules_cmd::evidence(a).await,
    }
}

async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let security = a.security.config(&crate::security::credentials()).load()?;
    let database_url = match &a.database_url_file {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("--database-url-file {}", p.display()))?
            .trim()
            .to_owned(),
        None => a.database_url.clone(),
    };
    let evidence = a.evidence()?;
    let config = DetectConfig {
        database_url,
        registry_url: Some(a.registry),
        scorer: ScorerConfig {
            router_url: a.router,
            model: a.model,
            model_version: a.model_version,
            batch_rows: a.batch_rows,
            concurrency: a.scoring_concurrency,
            client: crate::security::client(),
            ..ScorerConfig::default()
        },
        retention: joust_detect::Retention {
            keep: std::time::Duration::from_secs(a.retention_days.saturating_mul(86_400)),
            purge_every: std::time::Duration::from_secs(a.purge_every_seconds.max(1)),
        },
        max_message_bytes: a.max_message_bytes,
        jobs: a.jobs.config(),
        evidence,
        clock: joust_detect::Clock::System,
    };
    tracing::info!(
        database_url = %redact(&config.database_url),
        evidence_store = %a.evidence_store,
        evidence_owner = %a.evidence_owner,
        router = %config.scorer.router_url,
        registry = ?config.registry_url,
        model = %config.scorer.model,
        backfill = ?config.jobs,
        listen = %a.listen,
        max_message_bytes = config.max_message_bytes,
        security = %security.describe(),
        client = %config.scorer.client.describe(),
        "starting detection service"
    );
    let detector = joust_detect::server::open(&config)
        .await
        .context("opening the detection store")?;
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("binding {}", a.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "detection service listening");
    println!("joust detect listening on {addr}");
    joust_detect::server::serve_secure(
        detector,
        config.max_message_bytes,
        security,
        listener,
        crate::shutdown::signal(),
    )
    .await?;
    Ok(())
}

async fn ingest(a: IngestArgs) -> anyhow::Result<()> {
    let mut c = client(&a.target).await?;
    let response = match (a.csv, a.synthetic) {
        (Some(path), _) => {
            let csv = std::fs::read(&path).with_context(|| format!("--csv {}", path.display()))?;
            c.ingest_csv(pb::IngestCsvRequest {
                interval: a.interval,
                csv,
            })
            .await?
        }
        (None, Some(tickers)) => {
            c.ingest_synthetic(pb::IngestSyntheticRequest {
                interval: a.interval,
                tickers,
                rows: a.rows,
                seed: a.seed,
                start: a.start,
                anomaly_rate: 0.0,
            })
            .await?
        }
        (None, None) => anyhow::bail!("ingest: expected --csv FILE or --synthetic N"),
    }
    .into_inner();
    for s in response.series {
        if a.target.json {
            println!(
                "{}",
                serde_json::json!({"ticker": s.ticker, "interval": s.interval, "rows": s.rows, "inserted": s.inserted})
            );
        } else {
            println!(
                "{} {}: {} bars, {} new",
                s.ticker, s.interval, s.rows, s.inserted
            );
        }
    }
    Ok(())
}

async fn detect(a: RunArgs) -> anyhow::Result<()> {
    let mut c = client(&a.target).await?;
    let d = c
        .detect(pb::DetectRequest {
            ticker: a.ticker,
            interval: a.interval,
            trigger: pb::Trigger::Api as i32,
        })
        .await?
        .into_inner();
    if let Some(run) = &d.run {
        print_run(run, a.target.json);
    }
    for an in &d.anomalies {
        print_anomaly(an, a.target.json);
    }
    Ok(())
}

async fn anomalies(a: AnomaliesArgs) -> anyhow::Result<()> {
    let mut c = client(&a.target).await?;
    let r = c
        .list_anomalies(pb::ListAnomaliesRequest {
            ticker: a.ticker.unwrap_or_default(),
            interval: a.interval.unwrap_or_default(),
            from: a.from.unwrap_or(0),
            to: a.to.unwrap_or(0),
            min_score: a.min_score,
            model_version: a.model_version.unwrap_or_default(),
            limit: a.limit,
            page_token: a.page_token,
            anomaly_type: a.anomaly_type.unwrap_or_default(),
            whitelisted: a.whitelisted,
        })
        .await?
        .into_inner();
    for an in &r.anomalies {
        print_anomaly(an, a.target.json);
    }
    if !r.next_page_token.is_empty() && !a.target.json {
        println!("next page: --page-token {}", r.next_page_token);
    }
    Ok(())
}

async fn runs(a: RunsArgs) -> anyhow::Result<()> {
    let mut c = client(&a.target).await?;
    if let Some(id) = a.id {
        let run = c.get_run(pb::GetRunRequest { id }).await?.into_inner();
        print_run(&run, a.target.json);
        return Ok(());
    }
    let r = c
        .list_runs(pb::ListRunsRequest {
            ticker: a.ticker.unwrap_or_default(),
            interval: String::new(),
            limit: a.limit,
            page_token: String::new(),
        })
        .await?
        .into_inner();
    for run in &r.runs {
        print_run(run, a.target.json);
    }
    Ok(())
}

async fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let mut c = client(&a.target).await?;
    let v = c
        .verify(pb::VerifyRequest {
            anomaly_id: a.anomaly_id,
        })
        .await?
        .into_inner();
    let original = v.original.unwrap_or_default();
    if a.target.json {
        println!(
            "{}",
            serde_json::json!({
                "anomaly_id": original.id,
                "original": {"score": original.score, "label": original.label,
                    "features": original.features, "model_version": original.model_version},
                "current": {"score": v.current_score, "label": v.current_label,
                    "features": v.current_features, "model_version": v.current_model_version,
                    "model_sha256": v.current_model_sha256},
                "still_anomaly": v.still_anomaly,
            })
        );
    } else {
        println!(
            "anomaly #{}: original score {:.4} (v{}), current score {:.4} (v{}): {}",
            original.id,
            original.score,
            original.model_version,
            v.current_score,
            v.current_model_version,
            if v.still_anomaly {
                "still an anomaly"
            } else {
                "no longer an anomaly"
            }
        );
    }
    Ok(())
}

async fn stats(a: StatsArgs) -> anyhow::Result<()> {
    let mut c = client(&a.target).await?;
    let s = c
        .stats(pb::StatsRequest {
            ticker: a.ticker.unwrap_or_default(),
            from: a.from.unwrap_or(0),
            to: a.to.unwrap_or(0),
        })
        .await?
        .into_inner();
    let map = |v: &[pb::StatCount]| {
        v.iter()
            .map(|c| (c.key.clone(), c.count))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    if a.target.json {
        println!(
            "{}",
            serde_json::json!({
                "total_anomalies": s.total_anomalies,
                "anomalies_by_ticker": map(&s.anomalies_by_ticker),
                "anomalies_by_day": map(&s.anomalies_by_day),
                "runs_by_status": map(&s.runs_by_status),
                "anomalies_by_type": map(&s.anomalies_by_type),
                "anomalies_by_whitelist": map(&s.anomalies_by_whitelist),
                "runs_by_trigger": map(&s.runs_by_trigger),
                "runs_by_day": map(&s.runs_by_day),
            })
        );
    } else {
        println!("anomalies: {}", s.total_anomalies);
        let groups = [
            ("anomalies per ticker", &s.anomalies_by_ticker),
            ("anomalies per type", &s.anomalies_by_type),
            ("anomalies per whitelist status", &s.anomalies_by_whitelist),
            ("runs per status", &s.runs_by_status),
            ("runs per trigger", &s.runs_by_trigger),
            ("anomalies per day", &s.anomalies_by_day),
            ("runs per day", &s.runs_by_day),
        ];
        for (title, counts) in groups {
            println!("{title}:");
            for c in counts.iter() {
                println!("  {}: {}", c.key, c.count);
            }
        }
    }
    Ok(())
}

async fn purge(a: PurgeArgs) -> anyhow::Result<()> {
    let mut c = client(&a.target).await?;
    let r = c
        .purge_runs(pb::PurgeRunsRequest {
            completed_before_ms: a.before_ms,
        })
        .await?
        .into_inner();
    println!("purged {} runs", r.purged);
    Ok(())
}

fn trigger_name(raw: i32) -> &'static str {
    match pb::Trigger::try_from(raw) {
        Ok(pb::Trigger::ChartRequest) => "chart_request",
        Ok(pb::Trigger::Backfill) => "backfill",
        Ok(pb::Trigger::Scheduler) => "scheduler",
        Ok(pb::Trigger::Verification) => "verification",
        Ok(pb::Trigger::Api) => "api",
        _ => "unspecified",
    }
}

fn run_status(raw: i32) -> &'static str {
    match pb::RunStatus::try_from(raw) {
        Ok(pb::RunStatus::InProgress) => "in_progress",
        Ok(pb::RunStatus::Complete) => "complete",
        Ok(pb::RunStatus::Failed) => "failed",
        _ => "unspecified",
    }
}

fn print_run(r: &pb::DetectionRun, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "id": r.id, "ticker": r.ticker, "interval": r.interval,
                "status": run_status(r.status), "model": r.model_name,
                "model_version": r.model_version, "model_sha256": r.model_sha256,
                "started_at_ms": r.started_at_ms, "completed_at_ms": r.completed_at_ms,
                "rows_loaded": r.rows_loaded, "rows_preprocessed": r.rows_preprocessed,
                "rows_scored": r.rows_scored, "anomalies_found": r.anomalies_found,
                "error": r.error, "warnings": r.warnings,
                "trigger": trigger_name(r.trigger),
                "rules_applied": r.rules_applied.iter().map(|x| serde_json::json!({
                    "anomaly_type": x.anomaly_type, "operator": x.operator, "threshold": x.threshold,
                })).collect::<Vec<_>>(),
                "whitelist_entries": r.whitelist_entries,
                "anomalies_whitelisted": r.anomalies_whitelisted,
                "evidence_uri": r.evidence_uri,
                "verified_anomaly_id": r.verified_anomaly_id,
            })
        );
    } else {
        println!(
            "run {} {} {} {} ({}): scored {} of {} loaded, {} anomalies (model {} v{}){}",
            r.id,
            r.ticker,
            r.interval,
            run_status(r.status),
            trigger_name(r.trigger),
            r.rows_scored,
            r.rows_loaded,
            r.anomalies_found,
            r.model_name,
            r.model_version,
            if r.error.is_empty() {
                String::new()
            } else {
                format!(": {}", r.error)
            }
        );
    }
}

fn print_anomaly(a: &pb::Anomaly, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "id": a.id, "ticker": a.ticker, "interval": a.interval,
                "timestamp": a.timestamp, "close": a.close, "volume": a.volume,
                "features": a.features, "score": a.score, "label": a.label,
                "model": a.model_name, "model_version": a.model_version,
                "model_sha256": a.model_sha256, "run_id": a.run_id,
                "created_at_ms": a.created_at_ms,
                "types": a.types.iter().map(|m| serde_json::json!({
                    "anomaly_type": m.anomaly_type, "value": m.value,
                    "operator": m.operator, "threshold": m.threshold,
                })).collect::<Vec<_>>(),
                "whitelisted": a.whitelisted,
            })
        );
    } else {
        let when = chrono::DateTime::from_timestamp(a.timestamp, 0)
            .map(|d| d.to_rfc3339())
            .unwrap_or_else(|| a.timestamp.to_string());
        let types: Vec<&str> = a.types.iter().map(|m| m.anomaly_type.as_str()).collect();
        println!(
            "#{} {} {} {} close {:.4} volume {:.0} score {:.4} [{}]{} (v{}, run {})",
            a.id,
            a.ticker,
            a.interval,
            when,
            a.close,
            a.volume,
            a.score,
            types.join(","),
            if a.whitelisted { " whitelisted" } else { "" },
            a.model_version,
            a.run_id
        );
    }
}
