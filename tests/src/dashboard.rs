//! What the dashboard tests share: a model with a running trial and
//! comparison records sent through `RecordComparisons`, the figures of a
//! `GetTrialReport` answer flattened to the paths the trial page and the
//! JSON API use, and readers for those figures and charts in a page.

use std::collections::BTreeMap;

use joust_client::TrialsClient;
use joust_client::pb;
use joust_models::ModelKind;
use tonic::transport::Channel;

use crate::node::{RegistryOps, artifact};

/// Records sent per trial.
pub const RECORDS: u64 = 600;
/// Unix time of the first record (a multiple of 60, so buckets of 5, 10,
/// 30 or 60 s start with it); one record every 50 ms after it.
pub const FIRST_RECORD_SECS: i64 = 1_800_000_000;

/// A trial the tests started and the records they sent for it.
#[derive(Debug)]
pub struct SeededTrial {
    pub trial: pb::Trial,
    pub records: Vec<pb::ComparisonRecord>,
}

fn frac(x: f64) -> f64 {
    x - x.floor()
}

/// Record `i` of a trial: deterministic scores, labels, latencies and a
/// few challenger errors; in shadow mode both arms answer, in split mode
/// only the served one (about 30% challenger).
pub fn record(trial: &pb::Trial, i: u64, shadow: bool) -> pb::ComparisonRecord {
    let s = frac(i as f64 * 0.618_033_988_749_895);
    let champion = pb::TrialArmResult {
        version: trial.champion_version,
        scores: vec![s],
        labels: vec![s > 0.85],
        latency_us: 200 + (i * 37) % 300,
        status_code: 0,
    };
    let c = (s + 0.04 * frac(i as f64 * 0.414_213_562)).min(1.0);
    let challenger = if i % 97 == 13 {
        pb::TrialArmResult {
            version: trial.challenger_version,
            scores: vec![],
            labels: vec![],
            latency_us: 900,
            status_code: tonic::Code::Unavailable as i32,
        }
    } else {
        pb::TrialArmResult {
            version: trial.challenger_version,
            scores: vec![c],
            labels: vec![c > 0.82],
            latency_us: 240 + (i * 53) % 400,
            status_code: 0,
        }
    };
    let to_challenger = !shadow && (i * 7919) % 10 < 3;
    let nanos = i * 50_000_000;
    pb::ComparisonRecord {
        record_id: format!("t{}-r{i}", trial.id),
        trial_id: trial.id,
        request_id: format!("req-{i}"),
        time: Some(prost_types::Timestamp {
            seconds: FIRST_RECORD_SECS + (nanos / 1_000_000_000) as i64,
            nanos: (nanos % 1_000_000_000) as i32,
        }),
        routing_key_hash: i,
        served: if to_challenger {
            pb::TrialArm::Challenger
        } else {
            pb::TrialArm::Champion
        } as i32,
        champion: (shadow || !to_challenger).then_some(champion),
        challenger: (shadow || to_challenger).then_some(challenger),
    }
}

/// Creates `model` with two versions (v1 champion, v2 with lineage
/// annotations and metrics, an alias `canary`), starts a shadow (or
/// split, weight 0.3) trial of v2 and sends [`RECORDS`] records.
pub async fn seed_trial(
    registry_url: &str,
    model: &str,
    shadow: bool,
) -> anyhow::Result<SeededTrial> {
    let ops = RegistryOps::new(registry_url);
    for seed in 1..=2 {
        ops.register(model, "noop", artifact(ModelKind::Noop, 3, seed))
            .await?;
    }
    ops.promote(&format!("{model}:1")).await?;
    ops.client
        .annotate(
            &format!("{model}:2"),
            [
                ("training_run_id".to_owned(), "run-42".to_owned()),
                ("dataset.name".to_owned(), "market".to_owned()),
            ]
            .into_iter()
            .collect(),
            r#"{"recall": 0.91, "anomaly_rate": 0.12}"#,
        )
        .await?;
    ops.force_evaluated(&format!("{model}:2")).await?;
    ops.set_alias(model, "canary", 2).await?;
    let channel = Channel::from_shared(registry_url.to_owned())?.connect_lazy();
    let t = TrialsClient::new(channel);
    let trial = t
        .start(pb::StartTrialRequest {
            model: model.to_owned(),
            challenger_version: 2,
            mode: if shadow {
                pb::TrialMode::Shadow
            } else {
                pb::TrialMode::Split
            } as i32,
            weight: if shadow { 0.0 } else { 0.3 },
            sampling: 1.0,
            sticky: false,
            gates: Some(pb::TrialGates {
                min_samples: 50,
                max_anomaly_rate_delta: Some(0.2),
                min_agreement: Some(0.5),
                max_p99_latency_ratio: Some(3.0),
                max_error_rate: Some(0.1),
                ..Default::default()
            }),
            reason: "dashboard test".to_owned(),
            plan: None,
        })
        .await?;
    let records: Vec<_> = (0..RECORDS).map(|i| record(&trial, i, shadow)).collect();
    let batches = records.chunks(200).map(<[_]>::to_vec).collect::<Vec<_>>();
    let resp = t.record(futures::stream::iter(batches)).await?;
    anyhow::ensure!(
        resp.accepted == RECORDS,
        "accepted {} records",
        resp.accepted
    );
    // One record the registry refuses (a challenger score that is not a
    // number): the report and the trial page count it on its arm.
    let mut bad = record(&trial, RECORDS, shadow);
    bad.record_id = format!("{model}-refused");
    bad.challenger = Some(pb::TrialArmResult {
        version: trial.challenger_version,
        scores: vec![f64::INFINITY],
        labels: vec![true],
        latency_us: 100,
        status_code: 0,
    });
    let resp = t.record(futures::stream::iter(vec![vec![bad]])).await?;
    anyhow::ensure!(
        resp.accepted == 0 && resp.refusals.len() == 1,
        "a bad record: {resp:?}"
    );
    Ok(SeededTrial { trial, records })
}

/// `GetTrialReport` for a trial.
pub async fn grpc_report(registry_url: &str, id: u64) -> anyhow::Result<pb::TrialReport> {
    let channel = Channel::from_shared(registry_url.to_owned())?.connect_lazy();
    Ok(TrialsClient::new(channel).report(id, "").await?)
}

/// Every figure of a report by its path in the report's JSON (the paths
/// the trial page's `data-figure` attributes use); `None` when unset.
pub fn report_figures(r: &pb::TrialReport) -> BTreeMap<String, Option<f64>> {
    let mut f = BTreeMap::new();
    let mut put = |k: String, v: Option<f64>| {
        f.insert(k, v);
    };
    put("records".into(), Some(r.records as f64));
    put("paired_rows".into(), Some(r.paired_rows as f64));
    put("anomaly_rate_delta".into(), Some(r.anomaly_rate_delta));
    for (name, t) in [
        ("anomaly_rate_test", &r.anomaly_rate_test),
        ("mcnemar", &r.mcnemar),
        ("sample_ratio_mismatch", &r.sample_ratio_mismatch),
    ] {
        put(format!("{name}.statistic"), t.as_ref().map(|t| t.statistic));
        put(format!("{name}.p_value"), t.as_ref().map(|t| t.p_value));
    }
    let a = r.agreement.as_ref();
    put("agreement.estimate".into(), a.map(|a| a.estimate));
    put("agreement.low".into(), a.map(|a| a.low));
    put("agreement.high".into(), a.map(|a| a.high));
    put("mean_abs_score_diff".into(), r.mean_abs_score_diff);
    put("psi".into(), r.psi);
    for (name, arm) in [("champion", &r.champion), ("challenger", &r.challenger)] {
        let Some(arm) = arm else { continue };
        put(format!("{name}.requests"), Some(arm.requests as f64));
        put(format!("{name}.errors"), Some(arm.errors as f64));
        put(format!("{name}.error_rate"), Some(arm.error_rate));
        if let Some(p) = &arm.anomaly_rate {
            put(format!("{name}.anomaly_rate.estimate"), Some(p.estimate));
            put(format!("{name}.anomaly_rate.low"), Some(p.low));
            put(format!("{name}.anomaly_rate.high"), Some(p.high));
            put(
                format!("{name}.anomaly_rate.successes"),
                Some(p.successes as f64),
            );
            put(format!("{name}.anomaly_rate.trials"), Some(p.trials as f64));
        }
        put(format!("{name}.latency_p50_us"), arm.latency_p50_us);
        put(format!("{name}.latency_p95_us"), arm.latency_p95_us);
        put(format!("{name}.latency_p99_us"), arm.latency_p99_us);
        for (i, q) in arm.score_quantiles.iter().enumerate() {
            put(format!("{name}.score_quantiles.{i}.value"), Some(q.value));
        }
        put(format!("{name}.refused"), Some(arm.refused as f64));
        put(format!("{name}.dropped"), Some(arm.dropped as f64));
    }
    for (i, l) in r.losses.iter().enumerate() {
        put(format!("losses.{i}.count"), Some(l.count as f64));
    }
    f
}

/// The value at a dotted path of a JSON document (`a.0.b`); `None` for
/// null or missing.
pub fn json_at(v: &serde_json::Value, path: &str) -> Option<f64> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match part.parse::<usize>() {
            Ok(i) => cur.get(i)?,
            Err(_) => cur.get(part)?,
        };
    }
    cur.as_f64()
}

/// The value of attribute `name` in an element's opening tag.
pub fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// The opening tags in `html` that contain `needle`.
pub fn tags_with<'a>(html: &'a str, needle: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(needle) {
        let start = rest[..at].rfind('<').unwrap_or(0);
        let end = at + rest[at..].find('>').unwrap_or(rest.len() - at);
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// The figures of a trial page (`data-figure` / `data-value`); a figure
/// without a value is `None`.
pub fn page_figures(html: &str) -> BTreeMap<String, Option<f64>> {
    tags_with(html, " data-figure=\"")
        .into_iter()
        .filter_map(|tag| {
            let path = attr(tag, "data-figure")?;
            let value = attr(tag, "data-value").map(|v| {
                v.parse::<f64>()
                    .unwrap_or_else(|e| panic!("{path}: data-value {v:?}: {e}"))
            });
            Some((path.to_owned(), value))
        })
        .collect()
}

/// One `<svg class="chart">` of a page.
#[derive(Debug, Clone)]
pub struct Chart {
    pub id: String,
    /// `data-points`: data points the server drew.
    pub points: usize,
    /// Elements of class `data` (lines, bands, bars, markers).
    pub data_elements: usize,
    /// `d` of every `path` of class `data`.
    pub paths: Vec<String>,
    /// `data-drawn-width`/`-height`, set by the page's script in a browser.
    pub drawn: Option<(f64, f64)>,
}

/// Every chart of a page.
pub fn charts(html: &str) -> Vec<Chart> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<svg ") {
        let end = rest[at..].find("</svg>").map_or(rest.len(), |e| at + e);
        let svg = &rest[at..end];
        rest = &rest[end..];
        let open = &svg[..svg.find('>').unwrap_or(svg.len())];
        if attr(open, "class") != Some("chart") {
            continue;
        }
        let data = tags_with(svg, " class=\"data ");
        let drawn = attr(open, "data-drawn-width")
            .zip(attr(open, "data-drawn-height"))
            .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)));
        out.push(Chart {
            id: attr(open, "id").unwrap_or_default().to_owned(),
            points: attr(open, "data-points")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            data_elements: data.len(),
            paths: data
                .iter()
                .filter(|t| t.starts_with("<path"))
                .filter_map(|t| attr(t, "d").map(str::to_owned))
                .collect(),
            drawn,
        });
    }
    out
}

/// The ids of the charts of a trial page.
pub const TRIAL_CHARTS: [&str; 6] = [
    "chart-scores",
    "chart-sequential-anomaly-delta",
    "chart-sequential-agreement",
    "chart-anomaly-rate",
    "chart-latency",
    "chart-agreement",
];
