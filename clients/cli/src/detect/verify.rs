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
    /// Runs completed before this unix ms go (default: now minus the
    /// service's run retention).
    #[arg(long, env = "JOUST_DETECT_PURGE_BEFORE_MS", default_value_t = 0)]
    pub before_ms: i64,
    /// Anomalies created before this unix ms go (default: now minus the
    /// service's anomaly retention; by default anomalies are kept).
    #[arg(
        long,
        env = "JOUST_DETECT_PURGE_ANOMALIES_BEFORE_MS",
        default_value_t = 0
    )]
    pub anomalies_before_ms: i64,
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
    if a.target.any_json() {
        outln!(
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
        outln!(
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
    if a.target.any_json() {
        outln!(
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
        outln!("anomalies: {}", s.total_anomalies);
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
            for line in group_lines(title, counts) {
                outln!("{line}");
            }
        }
    }
    Ok(())
}

/// Most lines of one group in `stats`; a longer group is summarized.
const GROUP_LINES: usize = 10;

/// The text of one `stats` group: every count when there are few; else,
/// per day, the span, total, busiest day and the last days, and for other
/// groups the largest counts and how many more (hundreds of days or
/// tickers must not flood the terminal; `--json` keeps every count).
fn group_lines(title: &str, counts: &[pb::StatCount]) -> Vec<String> {
    let total: u64 = counts.iter().map(|c| c.count).sum();
    if counts.len() <= GROUP_LINES {
        let mut lines = vec![format!("{title}:")];
        lines.extend(counts.iter().map(|c| format!("  {}: {}", c.key, c.count)));
        return lines;
    }
    if title.ends_with("per day") {
        // Keys are days (YYYY-MM-DD): sorted, they are in time order.
        let mut days: Vec<&pb::StatCount> = counts.iter().collect();
        days.sort_by(|a, b| a.key.cmp(&b.key));
        let (first, last) = (&days[0].key, &days[days.len() - 1].key);
        let busiest = days
            .iter()
            .max_by_key(|c| (c.count, std::cmp::Reverse(&c.key)));
        let mut lines = vec![format!(
            "{title}: {total} over {} days from {first} to {last}{}",
            days.len(),
            busiest.map_or(String::new(), |c| format!(
                ", busiest {} ({})",
                c.key, c.count
            ))
        )];
        let recent = &days[days.len().saturating_sub(7)..];
        lines.push(format!(
            "  last {} days: {}",
            recent.len(),
            recent
                .iter()
                .map(|c| format!("{} {}", c.key, c.count))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return lines;
    }
    let mut largest: Vec<&pb::StatCount> = counts.iter().collect();
    largest.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    let mut lines = vec![format!(
        "{title}: {total} over {} keys; largest:",
        counts.len()
    )];
    lines.extend(
        largest
            .iter()
            .take(GROUP_LINES)
            .map(|c| format!("  {}: {}", c.key, c.count)),
    );
    let rest = &largest[GROUP_LINES..];
    lines.push(format!(
        "  … {} more ({} in all)",
        rest.len(),
        rest.iter().map(|c| c.count).sum::<u64>()
    ));
    lines
}

pub(super) async fn purge(a: PurgeArgs) -> anyhow::Result<()> {
    let mut c = client(&a.target).await?;
    let r = c
        .purge_runs(pb::PurgeRunsRequest {
            completed_before_ms: a.before_ms,
            anomalies_created_before_ms: a.anomalies_before_ms,
        })
        .await?
        .into_inner();
    outln!(
        "purged {} runs and {} anomalies; closed {} stale runs as failed",
        r.purged,
        r.anomalies_purged,
        r.stale_runs_failed
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(n: usize, key: impl Fn(usize) -> String) -> Vec<pb::StatCount> {
        (0..n)
            .map(|i| pb::StatCount {
                key: key(i),
                count: (i % 5) as u64 + 1,
            })
            .collect()
    }

    #[test]
    fn a_short_group_is_listed_and_a_long_one_summarized() {
        let few = counts(3, |i| format!("T{i}"));
        assert_eq!(
            group_lines("anomalies per ticker", &few),
            ["anomalies per ticker:", "  T0: 1", "  T1: 2", "  T2: 3"]
        );
        let days = counts(400, |i| {
            let d = chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap_or_default()
                + chrono::Days::new(i as u64);
            d.format("%Y-%m-%d").to_string()
        });
        let lines = group_lines("anomalies per day", &days);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("anomalies per day: 1200 over 400 days from 2023-01-01 to 2024-02-04, busiest 2023-01-05 (5)"),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("  last 7 days: 2024-01-29 "),
            "{lines:?}"
        );
        let tickers = counts(300, |i| format!("T{i:03}"));
        let lines = group_lines("anomalies per ticker", &tickers);
        assert_eq!(lines.len(), GROUP_LINES + 2, "{lines:?}");
        assert_eq!(lines[1], "  T004: 5");
        assert!(
            lines[GROUP_LINES + 1].starts_with("  … 290 more ("),
            "{lines:?}"
        );
    }
}
