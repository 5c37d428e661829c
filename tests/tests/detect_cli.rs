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
            .args(["detect", cmd, "--detect", &self.url, "--json"])
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
    if let Some(a) = listed.first() {
        let id = a["id"].as_u64().unwrap().to_string();
        let v = p.ok("verify", &[&id]);
        assert_eq!(v[0]["anomaly_id"], a["id"]);
        assert_eq!(v[0]["current"]["model_version"], "1");
    }

    let stats = p.ok("stats", &[]);
    assert_eq!(stats[0]["total_anomalies"], found as u64);
    assert_eq!(stats[0]["runs_by_status"]["complete"], 2);

    let runs = p.ok("runs", &[]);
    assert_eq!(runs.len(), 2);

    let (ok, _, err) = p.run("run", &["SYN000", "--interval", "2d"]);
    assert!(!ok);
    assert!(err.contains("interval: expected one of"), "{err}");
    let (ok, _, err) = p.run("run", &["NOPE", "--interval", "1d"]);
    assert!(!ok);
    assert!(err.contains("NOPE"), "{err}");
}
