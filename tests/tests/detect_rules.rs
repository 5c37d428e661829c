//! Rules and whitelists of the detection service, on SQLite and
//! PostgreSQL, scoring through a real serving node: the default rule is
//! the model's label; rule edits apply from the next run on; whitelisted
//! series keep every anomaly, flagged; bad rules and entries are refused
//! naming the field.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_models::features::compute_features;
use joust_models::synthetic::{Series, SyntheticConfig, generate};
use joust_proto::v1 as pb;
use joust_tests::detect::{Backend, MODEL, ScoringStack, TestDetect};

/// `tickers` × `rows` daily bars (the same first bars whatever `rows`).
fn market(tickers: usize, rows: usize) -> Vec<Series> {
    generate(&SyntheticConfig {
        tickers,
        rows,
        seed: 5,
        interval_secs: 86_400,
        ..SyntheticConfig::default()
    })
}

async fn ingest(d: &TestDetect, series: &[Series]) {
    d.client()
        .ingest_csv(pb::IngestCsvRequest {
            interval: "1d".into(),
            csv: joust_models::csv_io::write_csv(series),
        })
        .await
        .unwrap();
}

async fn detect(d: &TestDetect, ticker: &str) -> pb::DetectResponse {
    d.client()
        .detect(pb::DetectRequest {
            ticker: ticker.into(),
            interval: "1d".into(),
            trigger: pb::Trigger::Api as i32,
        })
        .await
        .unwrap()
        .into_inner()
}

/// Timestamps of the bars the model labels anomalous, scored directly
/// through the node (the ground truth for a first detection, which
/// computes features over the whole series too).
async fn labelled(stack: &ScoringStack, series: &Series) -> Vec<i64> {
    let scorer = joust_detect::Scorer::new(
        joust_detect::ScorerConfig {
            router_url: stack.node.url.clone(),
            model: MODEL.into(),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let frame = compute_features(&series.bars);
    let scored = scorer.score(frame.values.view()).await.unwrap();
    frame
        .timestamps
        .iter()
        .zip(&scored.labels)
        .filter(|(_, l)| **l)
        .map(|(t, _)| *t)
        .collect()
}

fn rule(t: &str, op: &str, threshold: f64, enabled: bool) -> pb::SetRuleRequest {
    pb::SetRuleRequest {
        anomaly_type: t.into(),
        operator: op.into(),
        threshold,
        enabled,
        description: String::new(),
    }
}

fn types(a: &pb::Anomaly) -> Vec<&str> {
    a.types.iter().map(|m| m.anomaly_type.as_str()).collect()
}

async fn thresholds_and_whitelists(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let d = TestDetect::start(backend, &stack.node.url, &stack.registry.url)
        .await
        .unwrap();
    let series = market(3, 300);
    ingest(&d, &series).await;
    let mut c = d.client();

    // The migration's rules: the model's label on, the rest off.
    let listed = c
        .list_rules(pb::ListRulesRequest {})
        .await
        .unwrap()
        .into_inner();
    let summary: Vec<(&str, &str, f64, bool)> = listed
        .rules
        .iter()
        .map(|r| {
            (
                r.anomaly_type.as_str(),
                r.operator.as_str(),
                r.threshold,
                r.enabled,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("model_label", "eq", 1.0, true),
            ("model_score", "gte", 0.65, false),
            ("price_spike", "gt", 0.05, false),
            ("volume_spike", "gt", 3.0, false),
            ("volatility", "gt", 0.03, false),
        ]
    );
    assert_eq!(listed.types.len(), 5);

    // SYN001 whitelisted on every interval, SYN002 only on 1m bars.
    let entry = c
        .add_whitelist(pb::AddWhitelistRequest {
            ticker: "SYN001".into(),
            interval: String::new(),
            reason: "known corporate action".into(),
            created_by: "tester".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (entry.created_by.as_str(), entry.reason.as_str()),
        ("tester", "known corporate action")
    );
    c.add_whitelist(pb::AddWhitelistRequest {
        ticker: "SYN002".into(),
        interval: "1m".into(),
        ..Default::default()
    })
    .await
    .unwrap();

    // Default rules: exactly the bars the model labels, typed model_label.
    for (i, s) in series.iter().enumerate() {
        let found = detect(&d, &s.ticker).await;
        let run = found.run.unwrap();
        let expected = labelled(&stack, s).await;
        assert!(!expected.is_empty(), "{} has labelled bars", s.ticker);
        let got: Vec<i64> = found.anomalies.iter().map(|a| a.timestamp).collect();
        assert_eq!(got, expected, "{}", s.ticker);
        assert_eq!(run.rules_applied.len(), 1);
        assert_eq!(run.rules_applied[0].anomaly_type, "model_label");
        let whitelisted = i == 1;
        assert_eq!(run.whitelist_entries, u64::from(whitelisted));
        let flagged = if whitelisted { got.len() as u64 } else { 0 };
        assert_eq!(run.anomalies_whitelisted, flagged);
        for a in &found.anomalies {
            assert!(a.label);
            assert_eq!(types(a), ["model_label"]);
            assert_eq!((a.types[0].value, a.types[0].threshold), (1.0, 1.0));
            assert_eq!(a.whitelisted, whitelisted, "{a:?}");
        }
    }
    let kept = c
        .list_anomalies(pb::ListAnomaliesRequest {
            whitelisted: Some(true),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!kept.anomalies.is_empty());
    assert!(kept.anomalies.iter().all(|a| a.ticker == "SYN001"));
    let before = c
        .list_anomalies(pb::ListAnomaliesRequest {
            ticker: "SYN000".into(),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .anomalies;

    // An edit applies to the next run: every new bar fires price_spike
    // (|return_1| ≥ 0), the label no longer counts.
    let set = c
        .set_rule(rule("price_spike", "gte", 0.0, true))
        .await
        .unwrap()
        .into_inner();
    assert!(set.enabled && set.updated_at_ms > 0);
    c.set_rule(rule("model_label", "eq", 1.0, false))
        .await
        .unwrap();
    let grown = market(3, 350);
    ingest(&d, &grown).await;
    let second = detect(&d, "SYN000").await;
    let run = second.run.unwrap();
    assert_eq!(run.rows_scored, 50);
    assert_eq!(run.anomalies_found, 50);
    let applied: Vec<(&str, &str, f64)> = run
        .rules_applied
        .iter()
        .map(|r| (r.anomaly_type.as_str(), r.operator.as_str(), r.threshold))
        .collect();
    assert_eq!(applied, [("price_spike", "gte", 0.0)]);
    for a in &second.anomalies {
        assert_eq!(types(a), ["price_spike"]);
        assert_eq!(a.types[0].value, f64::from(a.features[0]).abs());
    }
    // The first run's anomalies are as they were.
    let after = c
        .list_anomalies(pb::ListAnomaliesRequest {
            ticker: "SYN000".into(),
            to: grown[0].bars[299].timestamp,
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .anomalies;
    assert_eq!(after, before);
    let spikes = c
        .list_anomalies(pb::ListAnomaliesRequest {
            anomaly_type: "price_spike".into(),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(spikes.anomalies.len(), 50);

    // A rule that cannot fire and no label rule: nothing stored, the bars
    // are still scored and the series moves on.
    c.set_rule(rule("price_spike", "lt", 0.0, true))
        .await
        .unwrap();
    c.delete_rule(pb::DeleteRuleRequest {
        anomaly_type: "model_label".into(),
    })
    .await
    .unwrap();
    ingest(&d, &market(3, 400)).await;
    let third = detect(&d, "SYN000").await.run.unwrap();
    assert_eq!((third.rows_scored, third.anomalies_found), (50, 0));
    let rules = c
        .list_rules(pb::ListRulesRequest {})
        .await
        .unwrap()
        .into_inner()
        .rules;
    assert_eq!(rules.len(), 4, "model_label's rule is gone");

    // The whitelist listing and removal.
    let entries = c
        .list_whitelist(pb::ListWhitelistRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries;
    let keys: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.ticker.as_str(), e.interval.as_str()))
        .collect();
    assert_eq!(keys, [("SYN001", ""), ("SYN002", "1m")]);
    c.remove_whitelist(pb::RemoveWhitelistRequest {
        ticker: "SYN001".into(),
        interval: String::new(),
    })
    .await
    .unwrap();
    let e = c
        .remove_whitelist(pb::RemoveWhitelistRequest {
            ticker: "SYN001".into(),
            interval: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    assert!(e.message().starts_with("ticker:"), "{e:?}");
}

async fn invalid_rules_and_entries(backend: Backend) {
    let stack = ScoringStack::start().await.unwrap();
    let d = TestDetect::start(backend, &stack.node.url, &stack.registry.url)
        .await
        .unwrap();
    let mut c = d.client();
    let refused = [
        (
            rule("spike", "gt", 1.0, true),
            "anomaly_type: expected one of model_label",
        ),
        (
            rule("price_spike", ">", 1.0, true),
            "operator: expected one of gt, gte, lt, lte, eq",
        ),
        (
            rule("price_spike", "gt", f64::NAN, true),
            "threshold: expected a finite number",
        ),
        (rule("price_spike", "gt", f64::INFINITY, true), "threshold:"),
    ];
    for (request, message) in refused {
        let e = c.set_rule(request).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        assert!(e.message().starts_with(message), "{e:?}");
    }
    // Nothing was changed by the refused edits.
    let rules = c
        .list_rules(pb::ListRulesRequest {})
        .await
        .unwrap()
        .into_inner()
        .rules;
    let spike = rules
        .iter()
        .find(|r| r.anomaly_type == "price_spike")
        .unwrap();
    assert_eq!((spike.operator.as_str(), spike.threshold), ("gt", 0.05));
    let e = c
        .delete_rule(pb::DeleteRuleRequest {
            anomaly_type: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().starts_with("anomaly_type:"), "{e:?}");
    c.delete_rule(pb::DeleteRuleRequest {
        anomaly_type: "volatility".into(),
    })
    .await
    .unwrap();
    let e = c
        .delete_rule(pb::DeleteRuleRequest {
            anomaly_type: "volatility".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");

    for (ticker, interval, field) in [("bad ticker", "", "ticker:"), ("AAPL", "2d", "interval:")] {
        let e = c
            .add_whitelist(pb::AddWhitelistRequest {
                ticker: ticker.into(),
                interval: interval.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        assert!(e.message().starts_with(field), "{e:?}");
    }
    let e = c
        .list_anomalies(pb::ListAnomaliesRequest {
            anomaly_type: "spike".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(e.message().starts_with("anomaly_type:"), "{e:?}");
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

both_backends!(thresholds_and_whitelists, invalid_rules_and_entries);
