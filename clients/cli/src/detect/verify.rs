//! `joust detect verify|stats|purge`: re-score a stored anomaly, count
//! what is stored, and purge old runs.

use joust_proto::v1 as pb;

use super::target::{Target, client};

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

pub(super) async fn verify(a: VerifyArgs) -> anyhow::Result<()> {
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

pub(super) async fn stats(a: StatsArgs) -> anyhow::Result<()> {
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

pub(super) async fn purge(a: PurgeArgs) -> anyhow::Result<()> {
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
