//! `joust detect serve` as a process and the `joust detect …` client
//! commands against it, scoring through an in-process serving node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use joust_tests::detect::{MODEL, ScoringStack};

struct DetectProcess {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl DetectProcess {
    fn start(node_url: &str, registry_url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = joust_tests::joust_bin();
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build -p joust` (scripts/test does)",
            bin.display()
        );
        let mut child = Command::new(bin)
            .args(["detect", "serve", "--listen", "127.0.0.1:0"])
            .arg("--database-url")
            .arg(format!("sqlite://{}/detect.db", dir.path().display()))
            .args(["--router", node_url, "--registry", registry_url])
            .args(["--model", MODEL])
            .arg("--evidence-store")
            .arg(format!("file://{}/evidence-store", dir.path().display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        assert!(
            line.contains("listening on"),
            "unexpected first line {line:?}"
        );
        let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
        Self {
            child,
            url: format!("http://{addr}"),
            _dir: dir,
        }
    }

    /// Runs `joust detect CMD --detect URL --json ARGS…`.
    fn run(&self, cmd: &str, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(joust_tests::joust_bin())
            .args(["detect", cmd, "--detect", &self.url, "--json-lines"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Each stdout line as JSON.
    fn ok(&self, cmd: &str, args: &[&str]) -> Vec<serde_json::Value> {
        let (ok, out, err) = self.run(cmd, args);
        assert!(ok, "joust detect {cmd} {args:?} failed: {err}");
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

impl Drop for DetectProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detect_commands_end_to_end() {
    let stack = ScoringStack::start().await.unwrap();
    let p = DetectProcess::start(&stack.node.url, &stack.registry.url);

    let ingested = p.ok(
        "ingest",
        &["--synthetic", "2", "--rows", "150", "--interval", "1d"],
    );
    assert_eq!(ingested.len(), 2);
    assert_eq!(ingested[0]["inserted"], 150);

    let first = p.ok("run", &["SYN000", "--interval", "1d"]);
    assert_eq!(first[0]["status"], "complete");
    assert_eq!(first[0]["rows_scored"], 150 - 33);
    assert_eq!(first[0]["model_sha256"], stack.sha256.as_str());
    let found = first.len() - 1;
    assert_eq!(first[0]["anomalies_found"], found as u64);

    let again = p.ok("run", &["SYN000", "--interval", "1d"]);
    assert_eq!(again[0]["rows_scored"], 0);
    assert_eq!(again.len(), 1);

    let listed = p.ok("anomalies", &["--ticker", "SYN000"]);
    assert_eq!(listed.len(), found);
    // A verification records a run of its own.
    let mut runs_expected = 2;
    if let Some(a) = listed.first() {
        assert_eq!(a["types"][0]["anomaly_type"], "model_label");
        let id = a["id"].as_u64().unwrap().to_string();
        let v = p.ok("verify", &[&id]);
        assert_eq!(v[0]["anomaly_id"], a["id"]);
        assert_eq!(v[0]["current"]["model_version"], "1");
        runs_expected += 1;
    }

    let stats = p.ok("stats", &[]);
    assert_eq!(stats[0]["total_anomalies"], found as u64);
    assert_eq!(stats[0]["runs_by_status"]["complete"], runs_expected);

    let runs = p.ok("runs", &[]);
    assert_eq!(runs.len(), runs_expected as usize);

    // Rules, whitelist and evidence through the CLI.
    let set = p.ok("rules", &["set", "price_spike", "gt", "0.05"]);
    assert_eq!(set[0]["enabled"], true);
    assert_eq!(set[0]["operator"], "gt");
    let rules = p.ok("rules", &["list"]);
    assert_eq!(rules[0]["rules"].as_array().unwrap().len(), 5);
    assert_eq!(rules[0]["types"].as_array().unwrap().len(), 5);
    let (ok, _, err) = p.run("rules", &["set", "price_spike", "above", "0.05"]);
    assert!(!ok);
    assert!(
        err.contains("operator: expected one of gt, gte, lt, lte, eq"),
        "{err}"
    );
    let entry = p.ok("whitelist", &["add", "SYN001", "--reason", "known split"]);
    assert_eq!(entry[0]["ticker"], "SYN001");
    assert_eq!(p.ok("whitelist", &["list"]).len(), 1);
    let second = p.ok("run", &["SYN001", "--interval", "1d"]);
    assert_eq!(second[0]["whitelist_entries"], 1);
    assert!(second[1..].iter().all(|a| a["whitelisted"] == true));
    p.ok("whitelist", &["remove", "SYN001"]);
    assert!(p.ok("whitelist", &["list"]).is_empty());
    let run_id = second[0]["id"].as_u64().unwrap().to_string();
    let evidence = p.ok("evidence", &[&run_id]);
    assert_eq!(evidence[0]["consistent"], true);
    assert_eq!(evidence[0]["document"]["run"]["id"], second[0]["id"]);
    let file = p._dir.path().join("evidence.json");
    let out = Command::new(joust_tests::joust_bin())
        .args([
            "detect", "evidence", "--detect", &p.url, &run_id, "--output",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let path = format!("evidence-store/evidence/joust/{run_id}/detection.json");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(p._dir.path().join(path)).unwrap()
    );
    let stats = p.ok("stats", &[]);
    assert!(second.len() > 1, "SYN001 has anomalies: {second:?}");
    assert_eq!(
        stats[0]["anomalies_by_whitelist"]["whitelisted"],
        second.len() as u64 - 1
    );

    let (ok, _, err) = p.run("run", &["SYN000", "--interval", "2d"]);
    assert!(!ok);
    assert!(err.contains("interval: expected one of"), "{err}");
    let (ok, _, err) = p.run("run", &["NOPE", "--interval", "1d"]);
    assert!(!ok);
    assert!(err.contains("NOPE"), "{err}");
}
