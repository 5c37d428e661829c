//! `joust trial …` as a user runs it, against a registry on PostgreSQL:
//! start → show → update → report (figures equal GetTrialReport's) → stop
//! with promote → the challenger is champion → rollback; and bad input
//! answered with a clear message and a non-zero exit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use joust_client::{TrialsClient, pb};
use joust_tests::node::RegistryOps;
use serde_json::Value;

const MODEL: &str = "anomaly_detector";

struct Cli {
    registry: String,
}

impl Cli {
    /// Runs `joust ARGS… --registry URL --actor tester [--json]`.
    fn run(&self, args: &[&str], json: bool) -> (bool, String, String) {
        let bin = joust_tests::joust_bin();
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build -p joust` (scripts/test does)",
            bin.display()
        );
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .args(["--registry", &self.registry, "--actor", "tester"]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let (ok, out, err) = self.run(args, true);
        assert!(ok, "joust {args:?} failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    fn text(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args, false);
        assert!(ok, "joust {args:?} failed: {err}");
        out
    }

    /// Asserts failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args, false);
        assert!(!ok, "joust {args:?} succeeded: {out}");
        err
    }
}

/// Shadow records: both arms score `rows` rows; the challenger flags a
/// little more and is a little slower.
fn records(trial_id: u64, n: usize) -> Vec<pb::ComparisonRecord> {
    (0..n)
        .map(|i| {
            let scores: Vec<f64> = (0..4)
                .map(|r| ((i * 37 + r * 11) % 100) as f64 / 100.0)
                .collect();
            let champion_labels: Vec<bool> = scores.iter().map(|s| *s > 0.8).collect();
            let challenger_scores: Vec<f64> = scores.iter().map(|s| (s + 0.03).min(1.0)).collect();
            let challenger_labels: Vec<bool> = challenger_scores.iter().map(|s| *s > 0.8).collect();
            pb::ComparisonRecord {
                record_id: format!("rec-{i}"),
                trial_id,
                request_id: format!("req-{i}"),
                time: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000 + i as i64,
                    nanos: 0,
                }),
                routing_key_hash: i as u64,
                served: pb::TrialArm::Champion.into(),
                champion: Some(pb::TrialArmResult {
                    version: 1,
                    scores,
                    labels: champion_labels,
                    latency_us: 100 + (i as u64 % 17),
                    status_code: 0,
                }),
                challenger: Some(pb::TrialArmResult {
                    version: 2,
                    scores: challenger_scores,
                    labels: challenger_labels,
                    latency_us: 120 + (i as u64 % 23),
                    status_code: if i % 50 == 7 { 13 } else { 0 },
                }),
            }
        })
        .collect()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

// The CLI runs as a blocking child process while the registry answers
// on this runtime's other worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trial_from_start_to_promotion_and_rollback() {
    let registry = joust_tests::TestRegistry::postgres().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    for seed in 1..=3u8 {
        ops.register(MODEL, "opaque", vec![seed; 64]).await.unwrap();
    }
    ops.promote(&format!("{MODEL}:1")).await.unwrap();
    ops.force_evaluated(&format!("{MODEL}:2")).await.unwrap();
    let cli = Cli {
        registry: registry.url.clone(),
    };

    // Bad input first: nothing is started by any of these.
    let err = cli.fails(&[
        "trial",
        "start",
        "anomaly_detector:2",
        "--mode",
        "shadow",
        "--gate",
        "max_latency=2",
    ]);
    assert!(err.contains("unknown gate \"max_latency\""), "{err}");
    assert!(
        err.contains("min_samples, max_anomaly_rate_delta, min_agreement, max_p99_latency_ratio, max_error_rate"),
        "{err}"
    );
    let err = cli.fails(&[
        "trial",
        "start",
        "anomaly_detector:2",
        "--mode",
        "split",
        "--weight",
        "1.5",
    ]);
    assert!(
        err.contains("expected a number in [0, 1], got \"1.5\""),
        "{err}"
    );
    let err = cli.fails(&["trial", "start", "anomaly_detector:3", "--mode", "shadow"]);
    assert!(
        err.contains("FAILED_PRECONDITION") && err.contains("challenger must be evaluated"),
        "{err}"
    );
    let err = cli.fails(&["trial", "start", "anomaly_detector", "--mode", "shadow"]);
    assert!(err.contains("expected MODEL:VERSION"), "{err}");
    let err = cli.fails(&["trial", "start", "anomaly_detector:2", "--mode", "split"]);
    assert!(err.contains("--weight"), "{err}");
    assert!(cli.json(&["trial", "list"]).as_array().unwrap().is_empty());

    // Start (split), show.
    let t = cli.json(&[
        "trial",
        "start",
        "anomaly_detector:2",
        "--mode",
        "split",
        "--weight",
        "0.1",
        "--sticky",
        "--gate",
        "min_samples=10",
        "--gate",
        "min_agreement=0.9",
        "--reason",
        "new features",
    ]);
    let id = t["id"].as_u64().unwrap();
    assert_eq!(t["state"], "open");
    assert_eq!(t["mode"], "split");
    assert_eq!(f(&t["weight"]), 0.1);
    assert_eq!(t["sticky"], true);
    assert_eq!(
        (
            t["champion_version"].as_u64(),
            t["challenger_version"].as_u64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(t["gates"]["min_samples"], 10);
    assert_eq!(f(&t["gates"]["min_agreement"]), 0.9);
    assert_eq!(t["started_by"], "tester");
    let shown = cli.json(&["trial", "show", MODEL]);
    assert_eq!(shown["id"].as_u64(), Some(id));
    let text = cli.text(&["trial", "show", "--id", &id.to_string()]);
    assert!(
        text.contains(&format!(
            "trial {id}  {MODEL}  champion v1 vs challenger v2  open"
        )),
        "{text}"
    );
    assert!(text.contains("mode split weight 0.1  sticky"), "{text}");
    let err = cli.fails(&["trial", "start", "anomaly_detector:2", "--mode", "shadow"]);
    assert!(
        err.contains("FAILED_PRECONDITION") || err.contains("ALREADY_EXISTS"),
        "{err}"
    );

    // Update: weight, then shadow mode; gates merge into the current ones.
    let t = cli.json(&[
        "trial",
        "update",
        MODEL,
        "--weight",
        "0.3",
        "--gate",
        "max_error_rate=0.05",
    ]);
    assert_eq!(f(&t["weight"]), 0.3);
    assert_eq!(f(&t["gates"]["min_agreement"]), 0.9);
    assert_eq!(f(&t["gates"]["max_error_rate"]), 0.05);
    assert_eq!(t["gates"]["min_samples"], 10);
    let err = cli.fails(&["trial", "update", MODEL, "--weight", "-0.5"]);
    assert!(err.contains("expected a number in [0, 1]"), "{err}");
    let t = cli.json(&[
        "trial",
        "update",
        MODEL,
        "--mode",
        "shadow",
        "--sampling",
        "0.5",
    ]);
    assert_eq!(
        (t["mode"].as_str(), f(&t["sampling"])),
        (Some("shadow"), 0.5)
    );

    // Records through RecordComparisons, then the report.
    let client = TrialsClient::connect(&registry.url).await.unwrap();
    let batches: Vec<Vec<pb::ComparisonRecord>> =
        records(id, 200).chunks(64).map(<[_]>::to_vec).collect();
    let sent = client.record(futures::stream::iter(batches)).await.unwrap();
    assert_eq!((sent.accepted, sent.duplicates), (200, 0));
    let expected = client.report(id, "").await.unwrap();

    let r = cli.json(&["trial", "report", MODEL]);
    assert_eq!(r["records"].as_u64(), Some(expected.records));
    let (ce, be) = (
        expected.champion.clone().unwrap(),
        expected.challenger.clone().unwrap(),
    );
    assert_eq!(r["champion"]["requests"].as_u64(), Some(ce.requests));
    assert_eq!(r["challenger"]["errors"].as_u64(), Some(be.errors));
    assert_eq!(f(&r["challenger"]["error_rate"]), be.error_rate);
    assert_eq!(
        f(&r["champion"]["anomaly_rate"]["estimate"]),
        ce.anomaly_rate.unwrap().estimate
    );
    assert_eq!(
        f(&r["challenger"]["latency_p99_us"]),
        be.latency_p99_us.unwrap()
    );
    assert_eq!(f(&r["anomaly_rate_delta"]), expected.anomaly_rate_delta);
    assert_eq!(
        f(&r["agreement"]["estimate"]),
        expected.agreement.unwrap().estimate
    );
    assert_eq!(
        f(&r["mcnemar"]["p_value"]),
        expected.mcnemar.unwrap().p_value
    );
    assert_eq!(f(&r["psi"]), expected.psi.unwrap());
    assert_eq!(r["paired_rows"].as_u64(), Some(expected.paired_rows));
    assert_eq!(r["reasons"], serde_json::json!(expected.reasons));
    let verdict = match pb::TrialVerdict::try_from(expected.verdict).unwrap() {
        pb::TrialVerdict::Promote => "promote",
        pb::TrialVerdict::Reject => "reject",
        _ => "keep_running",
    };
    assert_eq!(r["verdict"], verdict);
    let gates = r["gates"].as_array().unwrap();
    let gate = |name: &str| {
        gates
            .iter()
            .find(|g| g["gate"] == name)
            .unwrap_or_else(|| panic!("no gate {name}: {gates:?}"))["result"]
            .clone()
    };
    assert_eq!(gate("min_samples"), "pass");
    assert_eq!(be.errors, 4);
    // The CLI shows the registry's judgement of each gate (its confidence
    // sequence against the tolerance), not a recomputation.
    let judged = |name: &str| {
        let c = expected.checks.iter().find(|c| c.gate == name).unwrap();
        match c.state.as_str() {
            "satisfied" => "pass",
            "violated" => "fail",
            _ => "undecided",
        }
    };
    // 4 failed answers of 200 (0.02): with 200 requests the sequence
    // still reaches above the 0.05 tolerance.
    assert_eq!(gate("max_error_rate"), judged("max_error_rate"));
    assert_eq!(gate("max_error_rate"), "undecided");
    assert_eq!(gate("min_agreement"), judged("min_agreement"));
    let agreement = expected.agreement.unwrap().estimate;

    let text = cli.text(&["trial", "report", MODEL]);
    assert!(
        text.contains(&format!("records {}", expected.records)),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "psi                   {:.4}",
            expected.psi.unwrap()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "anomaly rate delta    {:+.4}",
            expected.anomaly_rate_delta
        )),
        "{text}"
    );
    assert!(text.contains(&format!("{agreement:.4}")), "{text}");
    assert!(
        text.contains(&format!("verdict: {}", verdict.to_uppercase())),
        "{text}"
    );
    for reason in &expected.reasons {
        assert!(text.contains(reason.as_str()), "{reason} missing: {text}");
    }
    assert!(
        text.lines().any(|l| l.starts_with("challenger")
            && l.contains(&be.requests.to_string())
            && l.contains("0.0200")),
        "{text}"
    );

    // List, stop with promote.
    let open = cli.json(&["trial", "list", "--open"]);
    assert_eq!(open.as_array().unwrap().len(), 1);
    let err = cli.fails(&["trial", "stop", MODEL, "--outcome", "maybe"]);
    assert!(
        err.contains("promote") && err.contains("reject") && err.contains("abort"),
        "{err}"
    );
    let t = cli.json(&[
        "trial",
        "stop",
        MODEL,
        "--outcome",
        "promote",
        "--reason",
        "report ok",
    ]);
    assert_eq!(
        (t["state"].as_str(), t["outcome"].as_str()),
        (Some("stopped"), Some("promote"))
    );
    let champion = cli.json(&["model", "show", &format!("{MODEL}@champion")]);
    assert_eq!(champion["version"], 2);
    let old = cli.json(&["model", "show", &format!("{MODEL}:1")]);
    assert_eq!(old["status"], "retired");
    assert!(
        cli.json(&["trial", "list", "--open"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let all = cli.text(&["trial", "list"]);
    assert!(
        all.lines()
            .any(|l| l.contains(MODEL) && l.contains("stopped") && l.contains("promote")),
        "{all}"
    );
    let err = cli.fails(&["trial", "stop", MODEL, "--outcome", "abort"]);
    assert_eq!(
        err.trim(),
        "error: FAILED_PRECONDITION: model \"anomaly_detector\" has no open trial"
    );

    // --watch on a stopped trial prints once and returns.
    let watched = cli.text(&[
        "trial",
        "report",
        "--id",
        &id.to_string(),
        "--watch",
        "--interval",
        "100ms",
    ]);
    assert_eq!(watched.matches("verdict:").count(), 1, "{watched}");

    // Rollback puts v1 back.
    cli.json(&["model", "rollback", MODEL, "--reason", "test"]);
    let champion = cli.json(&["model", "show", &format!("{MODEL}@champion")]);
    assert_eq!(champion["version"], 1);
}
