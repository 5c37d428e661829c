//! The `joust` binary as a user's shell runs it: a reader that goes away
//! (`joust model list | head -1`) ends it quietly, not with a panic;
//! SIGTERM ends `trial report --watch` at once; off a terminal the watch
//! prints a report only when it changes; `--json` is one document and a
//! stream is `--json-lines`; `joust bench` JSON durations are numbers
//! (`_ms`); a failed RPC reads as a sentence (`CODE: message`), never
//! tonic's debug form.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use joust_client::pb;
use joust_tests::node::{FIXTURE_FEATURES, RegistryOps, champion_fixture};
use joust_tests::router::TrialOps;

fn joust() -> Command {
    let bin = joust_tests::joust_bin();
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p joust` (scripts/test does)",
        bin.display()
    );
    let mut cmd = Command::new(bin);
    cmd.env("JOUST_LOG", "error").stdin(Stdio::null());
    cmd
}

/// Sends SIGTERM to `pid` (the `kill` utility: no unsafe code here).
fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for `child` at most `limit`.
fn wait_within(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running {limit:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn closed_pipe_status(status: std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.code() == Some(141) || status.code() == Some(0) || status.signal() == Some(13)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_the_command_quietly() {
    let registry = joust_tests::TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    for name in ["alpha", "beta", "gamma"] {
        ops.register(name, "opaque", vec![1; 16]).await.unwrap();
    }
    // The reader is gone before the first line is written: every write
    // fails with EPIPE.
    for json in [false, true] {
        let mut cmd = joust();
        cmd.args(["model", "list", "--registry", &registry.url]);
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(closed_pipe_status(status), "{status:?}: {stderr}");
        assert_ne!(status.code(), Some(101), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("Broken pipe"), "{stderr}");
    }
    // As a shell runs it.
    let out = Command::new("bash")
        .args([
            "-c",
            &format!(
                "{} model list --registry {} | head -1; echo \"status ${{PIPESTATUS[0]}}\"",
                joust_tests::joust_bin().display(),
                registry.url
            ),
        ])
        .env("JOUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("MODEL"), "{stdout}");
    assert!(
        lines[1] == "status 0" || lines[1] == "status 141",
        "{stdout} {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A registry with model `m`: v1 champion, v2 evaluated, a shadow trial open.
async fn open_trial() -> joust_tests::TestRegistry {
    let registry = joust_tests::TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    ops.register("m", "opaque", vec![1; 16]).await.unwrap();
    ops.register("m", "opaque", vec![2; 16]).await.unwrap();
    ops.promote("m:1").await.unwrap();
    ops.force_evaluated("m:2").await.unwrap();
    TrialOps::new(&registry.url)
        .start("m", 2, pb::TrialMode::Shadow, 0.0, 1.0)
        .await
        .unwrap();
    registry
}

/// Starts `joust trial report m --watch --interval 50ms ARGS…` with stdout
/// piped (not a terminal); returns the child and its first line.
fn watch(
    registry: &str,
    args: &[&str],
) -> (
    std::process::Child,
    BufReader<std::process::ChildStdout>,
    String,
) {
    let mut child = joust()
        .args(["trial", "report", "m", "--watch", "--interval", "50ms"])
        .args(["--registry", registry])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    (child, out, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_watch_which_prints_only_changes_off_a_terminal() {
    let registry = open_trial().await;

    // Text: one report, however many refreshes pass while it is unchanged.
    let (mut child, mut out, first) = watch(&registry.url, &[]);
    assert!(first.starts_with("── "), "{first:?}");
    // Ten refreshes of an unchanged report.
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    sigterm(child.id());
    let status = wait_within(&mut child, Duration::from_secs(3));
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "{:?}",
        sent.elapsed()
    );
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(
        !rest.contains("── "),
        "printed again though unchanged:\n{rest}"
    );
    assert!(rest.contains("verdict"), "{rest}");

    // JSON lines: one report per line, a new line when the report changes.
    let (mut child, mut out, first) = watch(&registry.url, &["--json-lines"]);
    let report: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(report["trial"]["state"], "open", "{report}");
    std::thread::sleep(Duration::from_millis(300));
    TrialOps::new(&registry.url)
        .client
        .update(pb::UpdateTrialRequest {
            model: "m".into(),
            sampling: Some(0.5),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut second = String::new();
    out.read_line(&mut second).unwrap();
    let report: serde_json::Value = serde_json::from_str(&second).unwrap();
    assert_eq!(report["trial"]["sampling"], 0.5, "{report}");
    sigterm(child.id());
    assert!(wait_within(&mut child, Duration::from_secs(3)).success());
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(rest.trim().is_empty(), "{rest}");

    // `--json` is one document: a stream is refused with the flag to use.
    let out = joust()
        .args(["trial", "report", "m", "--watch", "--json"])
        .args(["--registry", &registry.url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--json-lines"), "{stderr}");
    // Without --watch, --json is one document.
    let out = joust()
        .args(["trial", "report", "m", "--json"])
        .args(["--registry", &registry.url])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["trial"]["model"], "m");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_json_durations_are_numbers_and_errors_are_sentences() {
    let (registry, _ops, node) = champion_fixture(|c| c).await;
    let out = joust()
        .args(["bench", "--target", &node.url, "--model", "m"])
        .args(["--features", &FIXTURE_FEATURES.to_string()])
        .args(["--seconds", "0.2", "--warmup-seconds", "0.05"])
        .args(["--concurrency", "1", "--connections", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let config = &report["config"];
    assert_eq!(config["duration_ms"].as_f64(), Some(200.0), "{report}");
    assert_eq!(config["warmup_ms"].as_f64(), Some(50.0), "{report}");
    let text = report.to_string();
    assert!(
        !text.contains("\"secs\"") && !text.contains("\"nanos\""),
        "{text}"
    );
    assert!(report["p99_us"].is_number(), "{report}");

    // A status from a raw gRPC client (the detection commands) and one
    // from joust-client (the registry commands) read the same way.
    let detect = joust_tests::detect_process::DetectProcess::start(&node.url, &registry.url, &[])
        .await
        .unwrap();
    // `--json` is one document, a listing included; `--json-lines` is one
    // object per line.
    let ingested = detect
        .ok(&[
            "ingest",
            "--synthetic",
            "2",
            "--rows",
            "60",
            "--interval",
            "1d",
        ])
        .await;
    assert_eq!(ingested.len(), 2, "{ingested:?}");
    let out = joust()
        .args(["detect", "ingest", "--synthetic", "2", "--rows", "60"])
        .args(["--interval", "1d", "--detect", &detect.url, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not one document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(doc.as_array().map(Vec::len), Some(2), "{doc}");
    let out = joust()
        .args(["detect", "runs", "--detect", &detect.url, "--json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["runs"].is_array(), "{doc}");

    let failed = detect.run(&["runs", "424242"], false).await;
    assert!(!failed.success);
    for (stderr, code) in [
        (failed.stderr, "NOT_FOUND"),
        (
            String::from_utf8_lossy(
                &joust()
                    .args(["model", "show", "nope", "--registry", &registry.url])
                    .output()
                    .unwrap()
                    .stderr,
            )
            .into_owned(),
            "NOT_FOUND",
        ),
    ] {
        let line = stderr.trim();
        assert!(line.starts_with("error: "), "{line}");
        assert!(line.contains(code), "{line}");
        for raw in [
            "Status {",
            "status: ",
            "metadata",
            "MetadataMap",
            "details: []",
        ] {
            assert!(!line.contains(raw), "{raw:?} in {line}");
        }
        assert_eq!(line.lines().count(), 1, "{line}");
    }
    node.stop().await.unwrap();
}
