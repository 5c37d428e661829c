//! The dashboard over real HTTP, on SQLite and PostgreSQL: a registry with
//! the UI, a model with versions and a trial fed through
//! `RecordComparisons`; every page and JSON endpoint answers, the report's
//! figures (JSON and page) equal `GetTrialReport`'s, each time bucket
//! equals the report of its records, the charts carry data, and unknown
//! models and trials get clean 404s.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use joust_client::pb;
use joust_registry::trials::{self, ComparisonRecord, Gates, Mode};
use joust_tests::TestRegistry;
use joust_tests::dashboard::{
    self, FIRST_RECORD_SECS, RECORDS, TRIAL_CHARTS, charts, json_at, page_figures, report_figures,
};
use serde_json::Value;

struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    /// GET `path`: (status, content type, body).
    async fn get(&self, path: &str) -> (u16, String, String) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, ctype, resp.text().await.unwrap())
    }

    async fn page(&self, path: &str) -> String {
        let (status, ctype, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        assert!(ctype.starts_with("text/html"), "GET {path}: {ctype}");
        assert!(body.starts_with("<!DOCTYPE html>"), "GET {path}");
        body
    }

    async fn json(&self, path: &str) -> Value {
        let (status, ctype, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        assert_eq!(ctype, "application/json", "GET {path}");
        serde_json::from_str(&body).unwrap()
    }

    /// A failed GET: the status and the error message.
    async fn error(&self, path: &str) -> (u16, String) {
        let (status, ctype, body) = self.get(path).await;
        if ctype == "application/json" {
            let v: Value = serde_json::from_str(&body).unwrap();
            (status, v["error"].as_str().unwrap().to_owned())
        } else {
            assert!(ctype.starts_with("text/html"), "GET {path}: {ctype}");
            (status, body)
        }
    }
}

/// Equal up to the last bit serde_json may lose reading a float back.
fn same(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs())
}

fn assert_figures_equal(
    what: &str,
    got: &BTreeMap<String, Option<f64>>,
    want: &BTreeMap<String, Option<f64>>,
) {
    for (k, w) in want {
        let g = got
            .get(k)
            .unwrap_or_else(|| panic!("{what}: figure {k} missing"));
        match (g, w) {
            (Some(g), Some(w)) => assert!(same(*g, *w), "{what}: {k} = {g}, GetTrialReport {w}"),
            (None, None) => {}
            _ => panic!("{what}: {k} = {g:?}, GetTrialReport {w:?}"),
        }
    }
}

fn domain_records(records: &[pb::ComparisonRecord]) -> Vec<ComparisonRecord> {
    records
        .iter()
        .cloned()
        .map(|r| ComparisonRecord::try_from(r).unwrap())
        .collect()
}

async fn dashboard_serves_every_page_and_figure(reg: TestRegistry) {
    let ui = reg.dashboard().await.unwrap();
    let http = Http {
        client: reqwest::Client::new(),
        base: ui.url.clone(),
    };
    let shadow = dashboard::seed_trial(&reg.url, "fraud", true)
        .await
        .unwrap();
    let split = dashboard::seed_trial(&reg.url, "churn", false)
        .await
        .unwrap();
    let id = shadow.trial.id;

    // Models: versions, status, aliases.
    let models = http.json("/api/models").await;
    let fraud = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "fraud")
        .unwrap();
    assert_eq!(fraud["champion_version"], 1);
    assert_eq!(fraud["challenger_version"], 2);
    assert_eq!(fraud["aliases"]["canary"], 2);
    let model = http.json("/api/models/fraud").await;
    let statuses: Vec<_> = model["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(statuses, vec![(1, "champion"), (2, "challenger")]);
    assert_eq!(model["trials"][0]["id"], id);
    for path in ["/", "/models", "/models/fraud", "/trials"] {
        let html = http.page(path).await;
        assert!(html.contains("href=\"/models/fraud\""), "{path}");
    }
    assert!(http.page("/models/fraud").await.contains("canary"));
    assert!(
        http.page("/trials")
            .await
            .contains(&format!("href=\"/trials/{id}\""))
    );

    // A version: lineage annotations, metrics, audit history.
    let v2 = http.json("/api/models/fraud/versions/2").await;
    assert_eq!(v2["version"]["annotations"]["training_run_id"], "run-42");
    assert_eq!(v2["version"]["metrics"]["recall"], 0.91);
    let kinds: Vec<_> = v2["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        kinds.contains(&"version_registered".to_owned()),
        "{kinds:?}"
    );
    assert!(kinds.contains(&"trial_started".to_owned()), "{kinds:?}");
    assert!(
        v2["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["version"] == 2)
    );
    let page = http.page("/models/fraud/versions/2").await;
    for text in [
        "run-42",
        "recall",
        "0.91",
        "trial_started",
        "evaluated → challenger",
    ] {
        assert!(page.contains(text), "version page lacks {text:?}");
    }

    // Trials list and one trial.
    let list = http.json("/api/trials?model=fraud").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["mode"], "shadow");
    assert_eq!(
        http.json("/api/trials?open=true")
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        http.json(&format!("/api/trials/{id}")).await["state"],
        "open"
    );

    for seeded in [&shadow, &split] {
        let tid = seeded.trial.id;
        let grpc = dashboard::grpc_report(&reg.url, tid).await.unwrap();
        assert_eq!(grpc.records, RECORDS);
        let want = report_figures(&grpc);

        // The JSON report equals GetTrialReport's figures.
        let report = http.json(&format!("/api/trials/{tid}/report")).await;
        let got: BTreeMap<_, _> = want
            .keys()
            .map(|k| (k.clone(), json_at(&report, k)))
            .collect();
        assert_figures_equal("JSON report", &got, &want);
        let verdict = pb::TrialVerdict::try_from(grpc.verdict).unwrap();
        assert_eq!(
            report["verdict"],
            verdict
                .as_str_name()
                .trim_start_matches("TRIAL_VERDICT_")
                .to_lowercase()
        );
        assert_eq!(report["reasons"], serde_json::json!(grpc.reasons));
        // The sequential figures and the periods, as GetTrialReport has them.
        let seq = grpc.sequential.as_ref().unwrap();
        let num = |v: &serde_json::Value| v.as_f64().unwrap();
        assert!(same(
            num(&report["sequential"]["gate_alpha"]),
            seq.gate_alpha
        ));
        let delta = seq.anomaly_rate_delta.unwrap();
        let json_delta = &report["sequential"]["anomaly_rate_delta"];
        assert!(same(num(&json_delta["low"]), delta.low));
        assert!(same(num(&json_delta["high"]), delta.high));
        let periods = report["periods"].as_array().unwrap();
        assert_eq!(periods.len(), grpc.periods.len());
        assert_eq!(
            periods[0]["records"].as_u64(),
            Some(grpc.periods[0].records)
        );
        for (c, g) in report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&grpc.checks)
        {
            assert_eq!(c["state"], g.state.as_str());
        }
        let hist = &report["score_histogram"];
        let count = |arm: &str| -> u64 {
            hist[arm]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap())
                .sum()
        };
        assert_eq!(
            count("champion"),
            grpc.champion
                .as_ref()
                .unwrap()
                .anomaly_rate
                .as_ref()
                .unwrap()
                .trials
        );
        assert_eq!(
            count("challenger"),
            grpc.challenger
                .as_ref()
                .unwrap()
                .anomaly_rate
                .as_ref()
                .unwrap()
                .trials
        );

        // The trial page shows the same figures, exactly.
        let html = http.page(&format!("/trials/{tid}")).await;
        let shown = page_figures(&html);
        assert_eq!(
            shown.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        );
        assert_eq!(shown, want, "trial page figures differ from GetTrialReport");
        assert!(html.contains(&format!(
            "data-verdict=\"{}\"",
            report["verdict"].as_str().unwrap()
        )));
        for reason in &grpc.reasons {
            let escaped = reason
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            assert!(
                html.contains(&format!("<li class=\"reason\">{escaped}</li>")),
                "{reason}"
            );
        }
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert!(
            !http
                .page(&format!("/trials/{tid}?refresh=0"))
                .await
                .contains("http-equiv=\"refresh\"")
        );

        // Every chart has data (the split trial has no agreement chart data).
        let shadow_mode = tid == id;
        let found = charts(&html);
        for chart_id in TRIAL_CHARTS {
            let c = found
                .iter()
                .find(|c| c.id == chart_id)
                .unwrap_or_else(|| panic!("{chart_id} missing"));
            let agreement = ["chart-agreement", "chart-sequential-agreement"];
            if agreement.contains(&chart_id) && !shadow_mode {
                assert_eq!(c.points, 0);
                continue;
            }
            assert!(c.points > 0, "{chart_id}: no points");
            assert!(!c.paths.is_empty(), "{chart_id}: no data paths");
            for d in &c.paths {
                assert!(
                    d.starts_with('M') && d.contains(" L"),
                    "{chart_id}: path {d:?}"
                );
            }
        }
    }
    let sr = report_figures(
        &dashboard::grpc_report(&reg.url, split.trial.id)
            .await
            .unwrap(),
    );
    assert!(
        sr["sample_ratio_mismatch.p_value"].is_some(),
        "split trial has a sample-ratio check"
    );
    let sh = report_figures(&dashboard::grpc_report(&reg.url, id).await.unwrap());
    for k in [
        "agreement.estimate",
        "mcnemar.statistic",
        "psi",
        "anomaly_rate_test.p_value",
    ] {
        assert!(sh[k].is_some(), "shadow trial has {k}");
    }

    // Time series: each 5 s bucket equals the report of its records (the
    // database computes the buckets; the records span 30 s).
    let series = http
        .json(&format!("/api/trials/{id}/timeseries?bucket=5"))
        .await;
    assert_eq!(series["bucket_seconds"], 5);
    assert_eq!(series["truncated"], false);
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    let records = domain_records(&shadow.records);
    for (k, p) in points.iter().enumerate() {
        let start = FIRST_RECORD_SECS + 5 * k as i64;
        let at = chrono::DateTime::parse_from_rfc3339(p["start"].as_str().unwrap()).unwrap();
        assert_eq!(at.timestamp(), start);
        let in_bucket: Vec<_> = records
            .iter()
            .filter(|r| r.time.timestamp().div_euclid(5) == start / 5)
            .collect();
        assert_eq!(p["records"].as_u64().unwrap(), in_bucket.len() as u64);
        let want = trials::report::compute(
            in_bucket.iter().copied(),
            Mode::Shadow,
            0.0,
            &Gates::default(),
        );
        for (name, arm) in [
            ("champion", &want.champion),
            ("challenger", &want.challenger),
        ] {
            let a = &p[name];
            assert_eq!(a["requests"].as_u64().unwrap(), arm.requests);
            assert_eq!(a["errors"].as_u64().unwrap(), arm.errors);
            assert!(same(
                a["anomaly_rate"]["estimate"].as_f64().unwrap(),
                arm.anomaly_rate.estimate
            ));
            assert!(same(
                a["anomaly_rate"]["low"].as_f64().unwrap(),
                arm.anomaly_rate.low
            ));
            assert!(same(
                a["anomaly_rate"]["high"].as_f64().unwrap(),
                arm.anomaly_rate.high
            ));
            assert!(same(
                a["latency_p50_us"].as_f64().unwrap(),
                arm.latency_p50_us.unwrap()
            ));
            assert!(same(
                a["latency_p99_us"].as_f64().unwrap(),
                arm.latency_p99_us.unwrap()
            ));
        }
        let agreement = want.comparison.agreement.unwrap();
        assert_eq!(
            p["agreement"]["successes"].as_u64().unwrap(),
            agreement.successes
        );
        assert_eq!(p["agreement"]["trials"].as_u64().unwrap(), agreement.trials);
    }
    // Without a width the series spans the trial in at most ~60 buckets.
    let auto = http.json(&format!("/api/trials/{id}/timeseries")).await;
    assert!(auto["bucket_seconds"].as_u64().unwrap() >= 1);
    let total: u64 = auto["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["records"].as_u64().unwrap())
        .sum();
    assert_eq!(total, RECORDS);

    // Clean errors.
    let (status, msg) = http.error("/api/models/nope").await;
    assert_eq!(status, 404);
    assert!(msg.contains("nope"), "{msg}");
    assert_eq!(http.error("/models/nope").await.0, 404);
    assert_eq!(http.error("/api/models/fraud/versions/9").await.0, 404);
    assert_eq!(http.error("/models/fraud/versions/9").await.0, 404);
    let (status, msg) = http.error("/api/trials/999").await;
    assert_eq!((status, msg.as_str()), (404, "trial 999 not found"));
    let (status, page) = http.error("/trials/999").await;
    assert_eq!(status, 404);
    assert!(page.contains("trial 999 not found"));
    let (status, msg) = http.error("/api/trials/abc/report").await;
    assert_eq!(status, 400);
    assert!(msg.starts_with("id: expected a positive integer"), "{msg}");
    let (status, msg) = http
        .error(&format!("/api/trials/{id}/timeseries?bucket=0"))
        .await;
    assert_eq!(status, 400);
    assert!(msg.starts_with("bucket: expected 1 to"), "{msg}");
    let (status, msg) = http
        .error(&format!("/api/trials/{id}/timeseries?bucket=x"))
        .await;
    assert_eq!(status, 400);
    assert!(msg.starts_with("query: expected bucket=SECONDS"), "{msg}");
    assert_eq!(http.error("/api/nothing").await.0, 404);
    assert_eq!(http.error("/nothing").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_dashboard_serves_every_page_and_figure() {
    dashboard_serves_every_page_and_figure(TestRegistry::sqlite().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dashboard_serves_every_page_and_figure() {
    dashboard_serves_every_page_and_figure(TestRegistry::postgres().await.unwrap()).await;
}
