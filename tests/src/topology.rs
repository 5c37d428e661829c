//! The production topology as real processes of the `joust` binary: one
//! `joust registry` on a fresh PostgreSQL database (blobs in a temp dir),
//! two `joust serve --follow-all` nodes and two `joust route` routers in
//! front of both, every listener on port 0 and `/metrics` off. Each role
//! can be killed (SIGKILL), stopped (SIGTERM, drained) and started again
//! on the address it had. The registry says what should serve; [`Topology::settle`]
//! waits until every router reports it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use joust_models::ModelKind;
use joust_proto::v1 as pb;
use tonic::transport::Channel;

use crate::TestDatabase;
use crate::node::{FIXTURE_FEATURES, RegistryOps, artifact};
use crate::process::JoustProcess;
use crate::router::TrialOps;
use crate::traffic::Serving;

/// The model every drill serves.
pub const MODEL: &str = "m";

/// One role's process, restartable on the address it first bound.
#[derive(Debug)]
pub struct Role {
    pub name: String,
    args: Vec<String>,
    prefix: &'static str,
    pub log: PathBuf,
    pub process: Option<JoustProcess>,
    pub addr: SocketAddr,
    pub url: String,
}

impl Role {
    /// Starts `joust ARGS…` (which must contain `--listen 127.0.0.1:0`) and
    /// pins its `--listen` to the bound address for later restarts.
    pub async fn start(
        name: &str,
        args: Vec<String>,
        prefix: &'static str,
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let process = spawn(args.clone(), prefix, log.clone()).await?;
        let addr = process.addr;
        let mut args = args;
        if let Some(i) = args.iter().position(|a| a == "--listen") {
            args[i + 1] = addr.to_string();
        }
        Ok(Self {
            name: name.to_owned(),
            args,
            prefix,
            log,
            url: format!("http://{addr}"),
            addr,
            process: Some(process),
        })
    }

    /// SIGKILL: no drain, every connection cut by the kernel.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut p) = self.process.take() {
            p.kill()?;
        }
        Ok(())
    }

    /// SIGTERM: the role drains in-flight requests and exits.
    pub async fn terminate(&mut self) -> anyhow::Result<()> {
        if let Some(mut p) = self.process.take() {
            p.terminate(Duration::from_secs(30)).await?;
        }
        Ok(())
    }

    /// Starts the role again with the same flags on the same address.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.process.is_none(), "{} is still running", self.name);
        let p = spawn(self.args.clone(), self.prefix, self.log.clone()).await?;
        anyhow::ensure!(p.addr == self.addr, "{} came back on {}", self.name, p.addr);
        self.process = Some(p);
        Ok(())
    }

    /// Waits (grpc.health.v1 Check, service "") until the role is SERVING.
    pub async fn wait_serving(&self, timeout: Duration) -> anyhow::Result<()> {
        match &self.process {
            Some(p) => p.wait_serving(timeout).await,
            None => anyhow::bail!("{} is not running", self.name),
        }
    }

    /// The last lines of the role's log, for a failure message.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Spawning waits for the process's first line: off the async workers.
async fn spawn(
    args: Vec<String>,
    prefix: &'static str,
    log: PathBuf,
) -> anyhow::Result<JoustProcess> {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        JoustProcess::spawn_logged(&args, prefix, Some(&log))
    })
    .await?
}

/// What the registry says should serve `m`: its champion and, when a
/// trial is open, the trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub champion: u64,
    pub trial: Option<pb::Trial>,
}

impl Desired {
    /// The answers clients should get once routers follow it.
    pub fn serving(&self) -> Serving {
        match &self.trial {
            Some(t) if t.mode == pb::TrialMode::Split as i32 && t.weight > 0.0 => {
                Serving::split(self.champion, t.challenger_version)
            }
            _ => Serving::champion(self.champion),
        }
    }

    /// True when a router's route for `m` is this.
    pub fn matches(&self, route: &pb::RouteInfo) -> bool {
        if route.champion_version != self.champion {
            return false;
        }
        match &self.trial {
            None => route.trial_id == 0,
            Some(t) => {
                let mode = match pb::TrialMode::try_from(t.mode) {
                    Ok(pb::TrialMode::Split) => "split",
                    Ok(pb::TrialMode::Shadow) => "shadow",
                    _ => "off",
                };
                route.trial_id == t.id
                    && route.challenger_version == t.challenger_version
                    && route.mode == mode
                    && (route.weight - t.weight).abs() < 1e-9
                    && route.sticky == t.sticky
            }
        }
    }
}

/// The running topology. Dropping it kills every process, then drops the
/// database.
#[derive(Debug)]
pub struct Topology {
    pub routers: Vec<Role>,
    pub nodes: Vec<Role>,
    pub registry: Role,
    pub ops: RegistryOps,
    pub trials: TrialOps,
    pub db: TestDatabase,
    pub dir: tempfile::TempDir,
    next_seed: std::sync::atomic::AtomicU64,
}

impl Topology {
    /// Registry on a fresh database with `m` v1 champion, two nodes
    /// following every champion and challenger, two routers over both;
    /// returns once every role is SERVING and both routers route v1.
    pub async fn start() -> anyhow::Result<Self> {
        let db = TestDatabase::create().await?;
        let dir = tempfile::Builder::new().prefix("joust-drill-").tempdir()?;
        let blobs = format!("file://{}/blobs", dir.path().display());
        let registry = Role::start(
            "registry",
            strings(&[
                "registry",
                "--database-url",
                &db.url,
                "--blobs",
                &blobs,
                "--listen",
                "127.0.0.1:0",
                "--ui-listen",
                "off",
            ]),
            "joust registry listening on",
            dir.path().join("registry.log"),
        )
        .await?;
        let ops = RegistryOps::new(&registry.url);
        let trials = TrialOps::new(&registry.url);
        let topology_seed = std::sync::atomic::AtomicU64::new(2);
        ops.register(
            MODEL,
            "isolation_forest",
            artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, 1),
        )
        .await?;
        ops.promote(&format!("{MODEL}:1")).await?;

        let mut nodes = Vec::new();
        for i in 0..2 {
            nodes.push(
                Role::start(
                    &format!("node {i}"),
                    strings(&[
                        "serve",
                        "--registry",
                        &registry.url,
                        "--follow-all",
                        "--listen",
                        "127.0.0.1:0",
                        "--metrics-listen",
                        "off",
                        "--http-listen",
                        "off",
                    ]),
                    "joust serve listening on",
                    dir.path().join(format!("node{i}.log")),
                )
                .await?,
            );
        }
        for n in &nodes {
            n.wait_serving(Duration::from_secs(60)).await?;
        }
        let node_list = nodes
            .iter()
            .map(|n| n.addr.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut routers = Vec::new();
        for i in 0..2 {
            routers.push(
                Role::start(
                    &format!("router {i}"),
                    strings(&[
                        "route",
                        "--registry",
                        &registry.url,
                        "--nodes",
                        &node_list,
                        "--listen",
                        "127.0.0.1:0",
                        "--metrics-listen",
                        "off",
                        "--http-listen",
                        "off",
                    ]),
                    "joust router listening on",
                    dir.path().join(format!("router{i}.log")),
                )
                .await?,
            );
        }
        for r in &routers {
            r.wait_serving(Duration::from_secs(60)).await?;
        }
        let t = Self {
            routers,
            nodes,
            registry,
            ops,
            trials,
            db,
            dir,
            next_seed: topology_seed,
        };
        t.settle(Duration::from_secs(30)).await?;
        Ok(t)
    }

    pub fn router_urls(&self) -> Vec<String> {
        self.routers.iter().map(|r| r.url.clone()).collect()
    }

    /// Registers a new version of `m` (an isolation forest, a new seed) and
    /// moves it to `evaluated` (the audited override: drill versions carry
    /// no evaluation); returns its number.
    pub async fn register_evaluated(&self) -> anyhow::Result<u64> {
        let seed = self
            .next_seed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let v = self
            .ops
            .register(
                MODEL,
                "isolation_forest",
                artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, seed),
            )
            .await?;
        self.ops
            .force_evaluated(&format!("{MODEL}:{}", v.version))
            .await?;
        Ok(v.version)
    }

    /// evaluated → champion.
    pub async fn promote(&self, version: u64) -> anyhow::Result<()> {
        self.ops
            .transition(&format!("{MODEL}:{version}"), pb::VersionStatus::Champion)
            .await?;
        Ok(())
    }

    /// What the registry says should serve.
    pub async fn desired(&self) -> anyhow::Result<Desired> {
        let model = self
            .ops
            .client
            .raw()
            .get_model(pb::GetModelRequest {
                name: MODEL.to_owned(),
            })
            .await?
            .into_inner();
        let trial = match self
            .trials
            .client
            .raw()
            .get_trial(pb::GetTrialRequest {
                id: 0,
                model: MODEL.to_owned(),
            })
            .await
        {
            Ok(t) => Some(t.into_inner()).filter(|t| t.state == pb::TrialState::Open as i32),
            Err(s) if s.code() == tonic::Code::NotFound => None,
            Err(s) => return Err(s.into()),
        };
        Ok(Desired {
            champion: model.champion_version,
            trial,
        })
    }

    /// The route of `m` as router `i` holds it (None when it has none or
    /// does not answer).
    pub async fn route(&self, i: usize) -> Option<pb::RouteInfo> {
        let channel = Channel::from_shared(self.routers[i].url.clone())
            .ok()?
            .connect_lazy();
        pb::router_admin_client::RouterAdminClient::new(channel)
            .list_routes(pb::ListRoutesRequest {})
            .await
            .ok()?
            .into_inner()
            .routes
            .into_iter()
            .find(|r| r.model == MODEL)
    }

    /// Waits until every running router's route for `m` is what the
    /// registry says should serve; returns it and how long it took.
    pub async fn settle(&self, timeout: Duration) -> anyhow::Result<(Desired, Duration)> {
        let started = Instant::now();
        let mut last = Vec::new();
        while started.elapsed() < timeout {
            let desired = self.desired().await?;
            last.clear();
            let mut all = true;
            for (i, r) in self.routers.iter().enumerate() {
                if r.process.is_none() {
                    continue;
                }
                let route = self.route(i).await;
                let ok = route.as_ref().is_some_and(|route| desired.matches(route));
                all &= ok;
                last.push(route);
            }
            if all {
                return Ok((desired, started.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let desired = self.desired().await?;
        anyhow::bail!(
            "routers did not settle on {desired:?} within {timeout:?}; they route {last:?}"
        )
    }

    /// The last lines of every role's log; with `$JOUST_DRILL_LOG_DIR` set,
    /// every role's whole log is copied there too (`node-0.log`, …).
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let keep = std::env::var_os("JOUST_DRILL_LOG_DIR").map(PathBuf::from);
        for r in std::iter::once(&self.registry)
            .chain(&self.nodes)
            .chain(&self.routers)
        {
            if let Some(dir) = &keep {
                let name = format!("{}.log", r.name.replace(' ', "-"));
                let _ = std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::copy(&r.log, dir.join(name)));
            }
            out.push_str(&format!(
                "--- {} ({})\n{}\n",
                r.name,
                r.addr,
                r.log_tail(15)
            ));
        }
        out
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}
