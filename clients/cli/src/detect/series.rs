//! `joust detect ingest|run|anomalies|runs`: store bars, detect, and list
//! what was found.

use anyhow::Context;
use joust_proto::v1 as pb;

use super::print::{anomaly_json, print_anomaly, print_run, run_json};
use super::target::{Target, client};

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
    /// Only the anomalies of this run (also after the run expired).
    #[arg(long, env = "JOUST_DETECT_RUN")]
    pub run: Option<u64>,
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

pub(super) async fn ingest(a: IngestArgs) -> anyhow::Result<()> {
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
    if a.target.json {
        let series: Vec<_> = response
            .series
            .iter()
            .map(|s| serde_json::json!({"ticker": s.ticker, "interval": s.interval, "rows": s.rows, "inserted": s.inserted}))
            .collect();
        outln!("{}", serde_json::Value::Array(series));
        return Ok(());
    }
    for s in response.series {
        if a.target.json_lines {
            outln!(
                "{}",
                serde_json::json!({"ticker": s.ticker, "interval": s.interval, "rows": s.rows, "inserted": s.inserted})
            );
        } else {
            outln!(
                "{} {}: {} bars, {} new",
                s.ticker,
                s.interval,
                s.rows,
                s.inserted
            );
        }
    }
    Ok(())
}

pub(super) async fn detect(a: RunArgs) -> anyhow::Result<()> {
    let mut c = client(&a.target).await?;
    let d = c
        .detect(pb::DetectRequest {
            ticker: a.ticker,
            interval: a.interval,
            trigger: pb::Trigger::Api as i32,
        })
        .await?
        .into_inner();
    if a.target.json {
        let anomalies: Vec<_> = d.anomalies.iter().map(anomaly_json).collect();
        outln!(
            "{}",
            serde_json::json!({ "run": d.run.as_ref().map(run_json), "anomalies": anomalies })
        );
        return Ok(());
    }
    if let Some(run) = &d.run {
        print_run(run, a.target.json_lines);
    }
    for an in &d.anomalies {
        print_anomaly(an, a.target.json_lines);
    }
    Ok(())
}

pub(super) async fn anomalies(a: AnomaliesArgs) -> anyhow::Result<()> {
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
            run_id: a.run.unwrap_or(0),
        })
        .await?
        .into_inner();
    if a.target.json {
        let anomalies: Vec<_> = r.anomalies.iter().map(anomaly_json).collect();
        outln!(
            "{}",
            serde_json::json!({ "anomalies": anomalies, "next_page_token": r.next_page_token })
        );
        return Ok(());
    }
    for an in &r.anomalies {
        print_anomaly(an, a.target.json_lines);
    }
    if !r.next_page_token.is_empty() && !a.target.json_lines {
        outln!("next page: --page-token {}", r.next_page_token);
    }
    Ok(())
}

pub(super) async fn runs(a: RunsArgs) -> anyhow::Result<()> {
    let mut c = client(&a.target).await?;
    if let Some(id) = a.id {
        let run = c.get_run(pb::GetRunRequest { id }).await?.into_inner();
        print_run(&run, a.target.any_json());
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
    if a.target.json {
        let runs: Vec<_> = r.runs.iter().map(run_json).collect();
        outln!("{}", serde_json::json!({ "runs": runs }));
        return Ok(());
    }
    for run in &r.runs {
        print_run(run, a.target.json_lines);
    }
    Ok(())
}
