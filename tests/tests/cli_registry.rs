//! The `joust` binary as a user runs it: `joust registry` as a process and
//! the `joust model …` commands taking a model from create to rollback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A `joust registry` process on a free port; killed on drop.
struct RegistryProcess {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl RegistryProcess {
    fn start(database_url: Option<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = joust_tests::joust_bin();
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build -p joust` (scripts/test does)",
            bin.display()
        );
        let db = database_url
            .unwrap_or_else(|| format!("sqlite://{}/registry.db", dir.path().display()));
        let mut child = Command::new(bin)
            .args(["registry", "--listen", "127.0.0.1:0", "--database-url", &db])
            .args(["--ui-listen", "off"])
            .arg("--blobs")
            .arg(format!("file://{}/blobs", dir.path().display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The registry prints its bound address once it listens.
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
        assert!(
            line.contains("listening on"),
            "unexpected first line {line:?}"
        );
        Self {
            child,
            url: format!("http://{addr}"),
            _dir: dir,
        }
    }

    /// Runs `joust model ARGS… --json` and returns (status ok, stdout JSON or text, stderr).
    fn model(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(joust_tests::joust_bin())
            .arg("model")
            .args(["--registry", &self.url, "--actor", "tester", "--json"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> serde_json::Value {
        let (ok, out, err) = self.model(args);
        assert!(ok, "joust model {args:?} failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn readme_flow(reg: &RegistryProcess) {
    let dir = tempfile::tempdir().unwrap();
    let a1 = dir.path().join("v1.bin");
    let a2 = dir.path().join("v2.bin");
    std::fs::write(&a1, b"first model").unwrap();
    std::fs::write(&a2, b"second model").unwrap();
    reg.ok(&[
        "create",
        "anomaly_detector",
        "--description",
        "market anomalies",
    ]);
    let v1 = reg.ok(&[
        "register",
        "anomaly_detector",
        a1.to_str().unwrap(),
        "--kind",
        "opaque",
        "--annotate",
        "dataset=market@1",
    ]);
    assert_eq!(
        (v1["version"].as_u64(), v1["status"].as_str()),
        (Some(1), Some("candidate"))
    );
    assert_eq!(v1["annotations"]["dataset"], "market@1");
    reg.ok(&[
        "register",
        "anomaly_detector",
        a2.to_str().unwrap(),
        "--kind",
        "opaque",
    ]);
    // Illegal: candidate → champion.
    let (ok, _, err) = reg.model(&["promote", "anomaly_detector:1"]);
    assert!(!ok);
    assert!(
        err.contains("FAILED_PRECONDITION") && err.contains("evaluated, retired"),
        "{err}"
    );
    // No evaluation recorded: refused, naming the way out.
    let (ok, _, err) = reg.model(&["transition", "anomaly_detector:1", "evaluated"]);
    assert!(!ok);
    assert!(
        err.contains("FAILED_PRECONDITION")
            && err.contains("no passing evaluation recorded")
            && err.contains("--force-evaluated"),
        "{err}"
    );
    reg.ok(&[
        "transition",
        "anomaly_detector:1",
        "evaluated",
        "--force-evaluated",
        "--reason",
        "gates passed",
    ]);
    reg.ok(&["promote", "anomaly_detector:1"]);
    reg.ok(&[
        "transition",
        "anomaly_detector:2",
        "evaluated",
        "--force-evaluated",
        "--reason",
        "test version, no evaluation",
    ]);
    let champion = reg.ok(&["promote", "anomaly_detector:2", "--reason", "better recall"]);
    assert_eq!(champion["status"], "champion");
    assert_eq!(reg.ok(&["show", "anomaly_detector"])["version"], 2);
    reg.ok(&["alias", "set", "anomaly_detector", "stable", "1"]);
    assert_eq!(reg.ok(&["show", "anomaly_detector@stable"])["version"], 1);
    // The seeds' spellings are synonyms of the canonical refs.
    assert_eq!(reg.ok(&["show", "anomaly_detector:champion"])["version"], 2);
    assert_eq!(reg.ok(&["show", "anomaly_detector:latest"])["version"], 2);
    assert_eq!(reg.ok(&["show", "anomaly_detector:v1"])["version"], 1);
    let rb = reg.ok(&["rollback", "anomaly_detector", "--reason", "v2 regressed"]);
    assert_eq!(
        (
            rb["retired"]["version"].as_u64(),
            rb["champion"]["version"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let list = reg.ok(&["list"]);
    assert_eq!(list[0]["champion_version"], 1);
    let versions = reg.ok(&["versions", "anomaly_detector", "--status", "retired"]);
    assert_eq!(versions.as_array().unwrap().len(), 1);
    let history = reg.ok(&["history", "anomaly_detector"]);
    let history = history.as_array().unwrap();
    assert!(history.iter().all(|e| e["actor"] == "tester"));
    assert!(history.iter().any(|e| e["kind"] == "alias_set"));
    assert!(
        history
            .iter()
            .any(|e| e["kind"] == "rollback" && e["reason"] == "v2 regressed")
    );
    let out = dir.path().join("down.bin");
    reg.ok(&[
        "download",
        "anomaly_detector@champion",
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), b"first model");
    // A bad ref names the field.
    let (ok, _, err) = reg.model(&["show", "a::b"]);
    assert!(
        !ok && err.contains("INVALID_ARGUMENT") && err.contains("ref:"),
        "{err}"
    );
    // Nothing before version 1: the next rollback is refused.
    let (ok, _, err) = reg.model(&["rollback", "anomaly_detector"]);
    assert!(
        !ok && err.contains("FAILED_PRECONDITION") && err.contains("no previous champion"),
        "{err}"
    );
    // --to N brings back a named former champion, audited as a rollback.
    let rb = reg.ok(&[
        "rollback",
        "anomaly_detector",
        "--to",
        "2",
        "--reason",
        "fixed",
    ]);
    assert_eq!(
        (
            rb["retired"]["version"].as_u64(),
            rb["champion"]["version"].as_u64()
        ),
        (Some(1), Some(2))
    );
    let history = reg.ok(&["history", "anomaly_detector"]);
    let last: Vec<_> = history.as_array().unwrap().iter().rev().take(2).collect();
    assert!(
        last.iter()
            .all(|e| e["kind"] == "rollback" && e["reason"] == "fixed"),
        "{last:?}"
    );
}

/// `joust model register` with bytes that are no artifact of the declared
/// kind, or an unknown kind: a clear error, and nothing recorded.
fn refused_artifacts_record_nothing(reg: &RegistryProcess) {
    let dir = tempfile::tempdir().unwrap();
    let random = dir.path().join("random.bin");
    let bytes: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&random, &bytes).unwrap();
    let path = random.to_str().unwrap();
    reg.ok(&["create", "m"]);
    let (ok, _, err) = reg.model(&["register", "m", path, "--kind", "isolation_forest"]);
    assert!(!ok, "random bytes were registered");
    assert!(
        err.contains("INVALID_ARGUMENT")
            && err.contains("expected an artifact of kind isolation_forest")
            && err.contains("not a joust model artifact")
            && err.contains("nothing was recorded"),
        "{err}"
    );
    let (ok, _, err) = reg.model(&["register", "m", path, "--kind", "no_such_kind"]);
    assert!(!ok, "an unknown kind was registered");
    assert!(
        err.contains("INVALID_ARGUMENT")
            && err.contains(
                "metadata.kind: expected one of isolation_forest, one_class_svm, gaussian_mixture, noop, onnx, opaque, got `no_such_kind`"
            ),
        "{err}"
    );
    // Nothing recorded: no version, no event but the model's creation, no blob.
    assert_eq!(reg.ok(&["list"])[0]["latest_version"], 0);
    assert_eq!(reg.ok(&["versions", "m"]).as_array().unwrap().len(), 0);
    let history = reg.ok(&["history", "m"]);
    let kinds: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["model_created"]);
    let blobs = reg._dir.path().join("blobs/sha256");
    let stored = std::fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0);
    assert_eq!(stored, 0, "a refused artifact left a blob");
    // The same bytes are accepted as `opaque` (stored, never served).
    let v = reg.ok(&["register", "m", path, "--kind", "opaque"]);
    assert_eq!(
        (v["version"].as_u64(), v["kind"].as_str()),
        (Some(1), Some("opaque"))
    );
}

#[test]
fn refused_artifacts_record_nothing_on_sqlite() {
    refused_artifacts_record_nothing(&RegistryProcess::start(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_artifacts_record_nothing_on_postgres() {
    let db = joust_tests::TestDatabase::create().await.unwrap();
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        refused_artifacts_record_nothing(&RegistryProcess::start(Some(url)))
    })
    .await
    .unwrap();
    drop(db);
}

#[test]
fn readme_flow_on_sqlite() {
    readme_flow(&RegistryProcess::start(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_flow_on_postgres() {
    let db = joust_tests::TestDatabase::create().await.unwrap();
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || readme_flow(&RegistryProcess::start(Some(url))))
        .await
        .unwrap();
    drop(db);
}

#[test]
fn help_lists_the_commands() {
    let out = Command::new(joust_tests::joust_bin())
        .args(["model", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "create",
        "register",
        "transition",
        "promote",
        "alias",
        "rollback",
        "history",
        "download",
    ] {
        assert!(
            text.contains(cmd),
            "`joust model --help` lacks {cmd}:\n{text}"
        );
    }
}

/// Two `joust registry` processes on one PostgreSQL database: a transition
/// made through A reaches a Watch subscriber of B (LISTEN/NOTIFY).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_registry_processes_share_one_change_feed() {
    use joust_client::RegistryClient;
    let db = joust_tests::TestDatabase::create().await.unwrap();
    let (url_a, url_b) = (db.url.clone(), db.url.clone());
    let a = tokio::task::spawn_blocking(move || RegistryProcess::start(Some(url_a)))
        .await
        .unwrap();
    let b = tokio::task::spawn_blocking(move || RegistryProcess::start(Some(url_b)))
        .await
        .unwrap();
    let client_a = RegistryClient::connect(&a.url)
        .await
        .unwrap()
        .with_actor("alice");
    let client_b = RegistryClient::connect(&b.url).await.unwrap();
    client_a.create_model("m", "").await.unwrap();
    client_a
        .register_version(
            "m",
            "opaque",
            bytes::Bytes::from_static(b"x"),
            Default::default(),
            "",
        )
        .await
        .unwrap();
    let cursor = client_b
        .list_events("m", 0)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    let mut watch = client_b.watch(cursor, vec!["m".into()]).await.unwrap();
    client_a.force_evaluated("m:1", "through A").await.unwrap();
    let ev = tokio::time::timeout(std::time::Duration::from_secs(3), watch.message())
        .await
        .expect("B's subscriber hears A's change within 3 s")
        .unwrap()
        .unwrap();
    assert_eq!(
        (ev.to.as_str(), ev.actor.as_str(), ev.reason.as_str()),
        ("evaluated", "alice", "through A")
    );
    drop((a, b));
}
