//! `joust detect serve` as a child process (SQLite in a temporary
//! directory) and the `joust detect …` client commands against it.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::detect::MODEL;

/// A running `joust detect serve`; killed on drop.
#[derive(Debug)]
pub struct DetectProcess {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

/// What a client command did.
#[derive(Debug)]
pub struct CommandOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl DetectProcess {
    /// Starts the service scoring through `router_url`, with `extra` flags.
    pub async fn start(
        router_url: &str,
        registry_url: &str,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let bin = crate::joust_bin();
        anyhow::ensure!(
            bin.exists(),
            "{} is missing: run `cargo build -p joust` (scripts/test does)",
            bin.display()
        );
        let mut child = Command::new(bin)
            .args(["detect", "serve", "--listen", "127.0.0.1:0"])
            .arg("--database-url")
            .arg(format!("sqlite://{}/detect.db", dir.path().display()))
            .args(["--router", router_url, "--registry", registry_url])
            .args(["--model", MODEL])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(60),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await??;
        anyhow::ensure!(
            line.contains("listening on"),
            "unexpected first line {line:?}"
        );
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            child,
            url: format!("http://{addr}"),
            _dir: dir,
        })
    }

    /// Runs `joust detect ARGS… --detect URL` (plus `--json-lines`, one object
    /// per line, if `json`).
    pub async fn run(&self, args: &[&str], json: bool) -> CommandOutput {
        let mut cmd = Command::new(crate::joust_bin());
        cmd.arg("detect").args(args).args(["--detect", &self.url]);
        if json {
            cmd.arg("--json-lines");
        }
        let out = cmd.output().await.expect("running joust");
        CommandOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a command with `--json-lines` that must succeed; each stdout line as
    /// JSON.
    pub async fn ok(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let out = self.run(args, true).await;
        assert!(out.success, "joust detect {args:?} failed: {}", out.stderr);
        json_lines(&out.stdout)
    }
}

/// Each line of `text` as JSON.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

impl Drop for DetectProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
