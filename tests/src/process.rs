//! joust roles as child processes of the built binary, for drills that
//! kill a process outright (SIGKILL: no drain, connections dropped by the
//! kernel) or read its memory figures from `/proc`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `joust …` process; killed on drop.
#[derive(Debug)]
pub struct JoustProcess {
    pub child: Child,
    /// The address from its `… listening on ADDR` line.
    pub addr: SocketAddr,
    /// `http://addr`.
    pub url: String,
}

impl JoustProcess {
    /// Runs `joust ARGS…` and waits (up to 60 s) for the first stdout line
    /// that starts with `listening_prefix` and ends with the bound address
    /// (`joust registry listening on`, `joust serve listening on`).
    pub fn spawn(args: &[&str], listening_prefix: &str) -> anyhow::Result<Self> {
        Self::spawn_logged(args, listening_prefix, None)
    }

    /// [`JoustProcess::spawn`] with the process's stderr (its log, at
    /// `RUST_LOG=warn`) appended to `log` when given.
    pub fn spawn_logged(
        args: &[&str],
        listening_prefix: &str,
        log: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        let bin = crate::joust_bin();
        anyhow::ensure!(
            bin.exists(),
            "{} is missing: run `cargo build -p joust` (scripts/test does)",
            bin.display()
        );
        let mut child = Command::new(bin)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(match log {
                Some(path) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?,
                ),
                None => Stdio::null(),
            })
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let (tx, rx) = mpsc::channel();
        let prefix = listening_prefix.to_owned();
        // Reads until the address line, then keeps draining so the child
        // never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && let Some(rest) = line.strip_prefix(&prefix) {
                    let _ = tx.send(rest.trim().to_owned());
                    sent = true;
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait()?;
                anyhow::bail!("joust {args:?} printed no {listening_prefix:?} line ({status})");
            }
        };
        let addr: SocketAddr = addr.parse()?;
        Ok(Self {
            child,
            addr,
            url: format!("http://{addr}"),
        })
    }

    /// Polls `grpc.health.v1.Health/Check` (overall status, service "")
    /// until it answers SERVING; for a node, every ref it follows is loaded.
    pub async fn wait_serving(&self, timeout: Duration) -> anyhow::Result<()> {
        use tonic_health::pb::health_check_response::ServingStatus;
        let channel = tonic::transport::Channel::from_shared(self.url.clone())?.connect_lazy();
        let health = tonic_health::pb::health_client::HealthClient::new(channel);
        crate::node::eventually(timeout, || {
            let mut h = health.clone();
            async move {
                h.check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
            }
        })
        .await
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("{} not SERVING: {e}", self.url))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM (the role drains in-flight requests and exits) and reap;
    /// SIGKILL after `timeout`.
    pub async fn terminate(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM {}: {status}", self.pid());
        let started = std::time::Instant::now();
        while started.elapsed() < timeout {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.kill()?;
        anyhow::bail!("pid {} still running {timeout:?} after SIGTERM", self.pid())
    }

    /// A `kB` field of `/proc/PID/status` (`VmHWM`, `VmRSS`), in bytes.
    pub fn proc_status_bytes(&self, field: &str) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .ok_or_else(|| anyhow::anyhow!("{field} not in /proc/{}/status", self.pid()))?;
        let kib: u64 = line.trim().trim_end_matches("kB").trim().parse()?;
        Ok(kib * 1024)
    }
}

impl Drop for JoustProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
