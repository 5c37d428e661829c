//! The trial page in a real browser: `joust registry --ui-listen …` as a
//! process, a shadow trial fed through `RecordComparisons`, and the page
//! opened in headless Chromium (Debian's `chromium`; `scripts/test`
//! installs it when missing). The DOM Chromium built must show every
//! chart drawn with data (the page's script records the size the browser
//! laid each chart's data out at) and the figures `GetTrialReport` gives.
//! The second test is the full scenario: `joust up`, a shadow trial driven
//! through its router by `joust demo`, the trial page in Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use joust_tests::dashboard::{self, TRIAL_CHARTS, charts, page_figures, report_figures};

/// A `joust registry` process with its dashboard, both on free ports.
struct RegistryProcess {
    child: Child,
    grpc: String,
    ui: String,
    // Kept open so the process never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    _dir: tempfile::TempDir,
}

impl RegistryProcess {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = joust_tests::joust_bin();
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build -p joust` (scripts/test does)",
            bin.display()
        );
        let mut child = Command::new(bin)
            .args(["registry", "--listen", "127.0.0.1:0"])
            .args(["--ui-listen", "127.0.0.1:0"])
            .arg("--database-url")
            .arg(format!("sqlite://{}/registry.db", dir.path().display()))
            .arg("--blobs")
            .arg(format!("file://{}/blobs", dir.path().display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut next_word = |prefix: &str| {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            assert!(line.starts_with(prefix), "unexpected line {line:?}");
            line.trim().rsplit(' ').next().unwrap().to_owned()
        };
        let grpc = format!("http://{}", next_word("joust registry listening on"));
        let ui = next_word("joust dashboard listening on");
        Self {
            child,
            grpc,
            ui,
            _stdout: stdout,
            _dir: dir,
        }
    }
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Chromium: `JOUST_CHROMIUM`, else the first of the usual names on PATH.
fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("JOUST_CHROMIUM") {
        return Some(p.into());
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// The DOM of `url` after Chromium loaded it and ran its script.
async fn dump_dom(chromium: &PathBuf, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("chromium did not finish within 120 s")
        .unwrap();
    assert!(out.status.success(), "chromium failed: {:?}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trial_page_renders_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        assert!(
            !joust_tests::require_all(),
            "chromium is missing; fix: apt-get install chromium (scripts/test does) or set JOUST_CHROMIUM"
        );
        eprintln!("skipped: chromium is not installed");
        return;
    };
    let reg = RegistryProcess::start();
    let seeded = dashboard::seed_trial(&reg.grpc, "fraud", true)
        .await
        .unwrap();
    let id = seeded.trial.id;
    let grpc = dashboard::grpc_report(&reg.grpc, id).await.unwrap();
    let dom = dump_dom(&chromium, &format!("{}/trials/{id}", reg.ui)).await;

    assert!(
        dom.contains(&format!("data-trial=\"{id}\"")),
        "not the trial page: {}",
        &dom[..dom.len().min(500)]
    );
    let want = report_figures(&grpc);
    assert_eq!(
        page_figures(&dom),
        want,
        "figures in Chromium's DOM differ from GetTrialReport"
    );
    for k in [
        "records",
        "champion.anomaly_rate.estimate",
        "challenger.latency_p99_us",
        "agreement.estimate",
        "mcnemar.p_value",
        "anomaly_rate_test.statistic",
        "psi",
    ] {
        assert!(want[k].is_some(), "the shadow trial has {k}");
    }
    let found = charts(&dom);
    for chart_id in TRIAL_CHARTS {
        let c = found
            .iter()
            .find(|c| c.id == chart_id)
            .unwrap_or_else(|| panic!("{chart_id} missing"));
        assert!(c.points > 0 && c.data_elements > 0, "{chart_id}: no data");
        let (w, h) = c
            .drawn
            .unwrap_or_else(|| panic!("{chart_id}: the page's script did not run"));
        assert!(w > 0.0 && h > 0.0, "{chart_id}: drew {w}×{h}");
    }
}

/// The scenario: `joust up`, a short shadow trial driven through
/// its router by `joust demo`, and the trial page in headless Chromium
/// showing every chart with data and GetTrialReport's figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_shadow_trial_on_joust_up_renders_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        assert!(
            !joust_tests::require_all(),
            "chromium is missing; fix: apt-get install chromium (scripts/test does) or set JOUST_CHROMIUM"
        );
        eprintln!("skipped: chromium is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let up = joust_tests::up::UpProcess::start(dir.path());
    let out = tokio::process::Command::new(joust_tests::joust_bin())
        .args([
            "demo",
            "--json-lines",
            "--traffic-secs",
            "2",
            "--model",
            "mkt",
        ])
        .args(["--registry", &up.registry, "--router", &up.router])
        .args(["--dashboard", &up.dashboard])
        .env("JOUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "joust demo failed: {stdout}");
    let done: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let page = done["dashboard"].as_str().unwrap().to_owned();
    let id: u64 = page.rsplit('/').next().unwrap().parse().unwrap();

    let grpc = dashboard::grpc_report(&up.registry, id).await.unwrap();
    let dom = dump_dom(&chromium, &page).await;
    assert!(
        dom.contains(&format!("data-trial=\"{id}\"")),
        "not the trial page"
    );
    let want = report_figures(&grpc);
    assert_eq!(
        page_figures(&dom),
        want,
        "figures in Chromium's DOM differ from GetTrialReport"
    );
    for k in ["records", "agreement.estimate", "mcnemar.p_value", "psi"] {
        assert!(want[k].is_some(), "the demo's shadow trial has {k}");
    }
    let found = charts(&dom);
    for chart_id in TRIAL_CHARTS {
        let c = found
            .iter()
            .find(|c| c.id == chart_id)
            .unwrap_or_else(|| panic!("{chart_id} missing"));
        assert!(c.points > 0 && c.data_elements > 0, "{chart_id}: no data");
        let (w, h) = c
            .drawn
            .unwrap_or_else(|| panic!("{chart_id}: the page's script did not run"));
        assert!(w > 0.0 && h > 0.0, "{chart_id}: drew {w}×{h}");
    }
}
