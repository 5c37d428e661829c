//! Progressive rollouts over real processes: `joust registry` (one or two
//! replicas on one PostgreSQL database, controller every 200 ms), a `joust
//! serve --follow-all` node and a `joust route` router, with concurrent
//! clients checking every answer's status, arm and version.
//!
//! (a) a plan started with `joust trial start --plan plan.toml` runs end to
//!     end under traffic: steps advance in order after their minimums,
//!     approval waits for `joust trial approve`, the promotion serves the
//!     challenger; 0 failed requests; each step's time is printed;
//! (b) a challenger that fails every named-feature request is aborted in
//!     its first step and traffic stays with the champion;
//! (c) the rollback watch rolls back a new champion that fails;
//! (d) two registry replicas: the lease holder is SIGKILLed mid-step, the
//!     other continues within the lease, and the audit log shows every
//!     step once, in order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use joust_client::pb;
use joust_models::{Model, ModelKind, TrainConfig};
use joust_proto::v1::inference_client::InferenceClient;
use joust_tests::TestDatabase;
use joust_tests::node::{FIXTURE_FEATURES, RegistryOps, artifact, eventually};
use joust_tests::topology::Role;
use joust_tests::traffic::{Serving, Traffic};
use ndarray::Array2;
use tonic::transport::Channel;

#[path = "support/webhook_receiver.rs"]
mod webhook_receiver;
use webhook_receiver::{Receiver, SECRET, start_receiver, write_config};

/// A webhook receiver failing the first attempt of every delivery, and a
/// webhooks file subscribing it to `kinds` (kept alive by the `TempDir`).
async fn hook_receiver(kinds: &[&str]) -> (Arc<Receiver>, tempfile::TempDir, String) {
    let (hooks, url) = start_receiver(Receiver {
        fail_first: 1,
        ..Receiver::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        serde_json::json!([{"name": "ops", "url": url, "secret": SECRET, "events": kinds}]),
    );
    (hooks, dir, config)
}

/// Waits until `hooks` has accepted exactly `want` deliveries per kind,
/// each once, signed, on its second attempt.
async fn hooks_delivered(hooks: &Receiver, want: &[(&str, usize)]) {
    let kinds = || {
        let mut k: BTreeMap<String, usize> = BTreeMap::new();
        for b in hooks.delivered.lock().unwrap().values() {
            *k.entry(b["kind"].as_str().unwrap_or("").to_owned())
                .or_default() += 1;
        }
        k
    };
    let want: BTreeMap<String, usize> = want.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
    eventually(Duration::from_secs(60), || async { kinds() == want })
        .await
        .unwrap_or_else(|e| panic!("{e}: webhooks delivered {:?}, want {want:?}", kinds()));
    assert!(hooks.duplicates.lock().unwrap().is_empty());
    assert_eq!(*hooks.bad_signatures.lock().unwrap(), 0);
    assert!(
        hooks.attempts.lock().unwrap().values().all(|n| *n == 2),
        "{:?}",
        hooks.attempts.lock().unwrap()
    );
}

const MODEL: &str = "m";

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// An isolation forest whose features are named `g0…` instead of the
/// `f0…` of every other version: positional requests work, requests that
/// name their features fail (INVALID_ARGUMENT: unknown feature).
fn renamed_artifact(seed: u64) -> Vec<u8> {
    let x = Array2::from_shape_fn((256, FIXTURE_FEATURES), |(i, j)| {
        ((i * 7 + j * 13 + seed as usize) % 97) as f32 / 10.0
    });
    let names = (0..FIXTURE_FEATURES).map(|i| format!("g{i}")).collect();
    let config = TrainConfig::new(ModelKind::IsolationForest)
        .with_seed(seed)
        .with_param("n_trees", 100);
    Model::train(&config, names, x.view())
        .unwrap()
        .to_bytes()
        .unwrap()
}

struct Rig {
    registries: Vec<Role>,
    node: Role,
    router: Role,
    ops: RegistryOps,
    trials: joust_client::TrialsClient,
    /// Dropped after the processes (field order).
    _db: TestDatabase,
    dir: tempfile::TempDir,
}

async fn registry_role(db: &TestDatabase, dir: &std::path::Path, i: usize, extra: &[&str]) -> Role {
    let blobs = format!("file://{}/blobs", dir.display());
    let mut args = strings(&[
        "registry",
        "--database-url",
        &db.url,
        "--blobs",
        &blobs,
        "--listen",
        "127.0.0.1:0",
        "--ui-listen",
        "off",
        "--controller-interval",
        "200ms",
        "--controller-lease",
        "2s",
    ]);
    args.extend(strings(extra));
    Role::start(
        &format!("registry {i}"),
        args,
        "joust registry listening on",
        dir.join(format!("registry{i}.log")),
    )
    .await
    .unwrap()
}

impl Rig {
    /// A registry with `m` v1 champion (an `f…` isolation forest) and v2
    /// registered as `challenger` (evaluated): `renamed` makes v2 the
    /// `g…` model. Node and router start with [`Rig::serve`].
    async fn registry(extra: &[&str], renamed: bool) -> (TestDatabase, tempfile::TempDir, Role) {
        let db = TestDatabase::create().await.unwrap();
        let dir = tempfile::Builder::new()
            .prefix("joust-rollout-")
            .tempdir()
            .unwrap();
        let reg = registry_role(&db, dir.path(), 0, extra).await;
        let ops = RegistryOps::new(&reg.url);
        ops.register(
            MODEL,
            "isolation_forest",
            artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, 1),
        )
        .await
        .unwrap();
        ops.promote("m:1").await.unwrap();
        let v2 = if renamed {
            renamed_artifact(2)
        } else {
            artifact(ModelKind::IsolationForest, FIXTURE_FEATURES, 2)
        };
        ops.register(MODEL, "isolation_forest", v2).await.unwrap();
        ops.force_evaluated("m:2").await.unwrap();
        (db, dir, reg)
    }

    /// Node and router following registry `registries[at]`.
    async fn serve(
        db: TestDatabase,
        dir: tempfile::TempDir,
        registries: Vec<Role>,
        at: usize,
    ) -> Self {
        let url = registries[at].url.clone();
        let node = Role::start(
            "node",
            strings(&[
                "serve",
                "--registry",
                &url,
                "--follow-all",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "off",
                "--http-listen",
                "off",
            ]),
            "joust serve listening on",
            dir.path().join("node.log"),
        )
        .await
        .unwrap();
        node.wait_serving(Duration::from_secs(60)).await.unwrap();
        let router = Role::start(
            "router",
            strings(&[
                "route",
                "--registry",
                &url,
                "--nodes",
                &node.addr.to_string(),
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "off",
                "--http-listen",
                "off",
            ]),
            "joust router listening on",
            dir.path().join("router.log"),
        )
        .await
        .unwrap();
        router.wait_serving(Duration::from_secs(60)).await.unwrap();
        Self {
            ops: RegistryOps::new(&url),
            trials: joust_tests::router::TrialOps::new(&url).client,
            registries,
            node,
            router,
            _db: db,
            dir,
        }
    }

    async fn trial(&self) -> pb::Trial {
        self.trials.get(0, MODEL).await.unwrap()
    }

    async fn champion(&self) -> u64 {
        self.ops
            .client
            .raw()
            .get_model(pb::GetModelRequest { name: MODEL.into() })
            .await
            .unwrap()
            .into_inner()
            .champion_version
    }

    /// Waits until the router routes `m` with champion `champion` and no
    /// open trial.
    async fn router_settles_on(&self, champion: u64) {
        let url = self.router.url.clone();
        eventually(Duration::from_secs(30), || {
            let url = url.clone();
            async move {
                let c = Channel::from_shared(url).unwrap().connect_lazy();
                pb::router_admin_client::RouterAdminClient::new(c)
                    .list_routes(pb::ListRoutesRequest {})
                    .await
                    .map(|r| {
                        r.into_inner().routes.iter().any(|r| {
                            r.model == MODEL && r.champion_version == champion && r.trial_id == 0
                        })
                    })
                    .unwrap_or(false)
            }
        })
        .await
        .unwrap();
    }

    /// The model's audit events of `kinds`, oldest first.
    async fn events(&self, kinds: &[&str]) -> Vec<pb::Event> {
        self.ops
            .client
            .raw()
            .list_events(pb::ListEventsRequest {
                model: MODEL.into(),
                after_id: 0,
                page_size: 1000,
            })
            .await
            .unwrap()
            .into_inner()
            .events
            .into_iter()
            .filter(|e| kinds.contains(&e.kind.as_str()))
            .collect()
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for r in self.registries.iter().chain([&self.node, &self.router]) {
            out.push_str(&format!("--- {}\n{}\n", r.name, r.log_tail(20)));
        }
        out
    }
}

/// The holder of trial `id`'s controller lease.
async fn lease(pg: &mut sqlx::PgConnection, id: u64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT holder FROM trial_leases WHERE trial_id = $1")
        .bind(i64::try_from(id).unwrap())
        .fetch_optional(pg)
        .await
}

/// `joust ARGS… --registry URL` (the CLI, as an operator runs it).
fn cli(registry: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(joust_tests::joust_bin())
        .args(args)
        .args(["--registry", registry, "--actor", "ops"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "joust {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Clients that name their features (`f0…`): served by every version but
/// the renamed one. Counts answers and failures until stopped.
struct Named {
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Named {
    fn start(router: &str, clients: usize) -> Self {
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..clients)
            .map(|c| {
                let channel = Channel::from_shared(router.to_owned())
                    .unwrap()
                    .connect_lazy();
                let (ok, failed, stop) = (ok.clone(), failed.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut client = InferenceClient::new(channel);
                    let mut i = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        let features: std::collections::HashMap<String, f32> = (0
                            ..FIXTURE_FEATURES)
                            .map(|f| (format!("f{f}"), ((i + f + c) % 50) as f32 * 0.1))
                            .collect();
                        let r = client
                            .predict(pb::PredictRequest {
                                model: MODEL.into(),
                                routing_key: format!("named-{c}-{i}"),
                                rows: vec![pb::FeatureRow {
                                    values: vec![],
                                    features,
                                }],
                                ..Default::default()
                            })
                            .await;
                        match r {
                            Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                            Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                })
            })
            .collect();
        Self {
            ok,
            failed,
            stop,
            tasks,
        }
    }

    fn counts(&self) -> (u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    async fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

const GATES: [&str; 6] = [
    "--gate",
    "min_samples=50",
    "--gate",
    "max_error_rate=0.2",
    "--confidence",
    "0.95",
];

/// Follows the trial's plan every 25 ms until `until` holds; returns the
/// time each step index was first seen.
async fn follow(
    rig: &Rig,
    timeout: Duration,
    until: impl Fn(&pb::Trial) -> bool,
) -> (pb::Trial, BTreeMap<u32, Instant>) {
    let started = Instant::now();
    let mut seen = BTreeMap::new();
    loop {
        let t = rig.trial().await;
        if let Some(p) = &t.plan {
            seen.entry(p.step).or_insert_with(Instant::now);
        }
        if until(&t) {
            return (t, seen);
        }
        assert!(
            started.elapsed() < timeout,
            "timed out; trial {t:#?}\n{}",
            rig.logs()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plan_runs_end_to_end_under_traffic_with_no_failed_request() {
    // The plan's events also go out as webhooks, through a receiver that
    // fails the first attempt of every delivery.
    let (hooks, _hook_dir, hook_config) = hook_receiver(&[
        "trial_step_advanced",
        "approval_requested",
        "trial_promoted",
        "model_promoted",
    ])
    .await;
    let (db, dir, reg) = Rig::registry(&["--webhooks", &hook_config], false).await;
    let rig = Rig::serve(db, dir, vec![reg], 0).await;
    let registry = rig.registries[0].url.clone();
    let mut traffic = Traffic::start(
        std::slice::from_ref(&rig.router.url),
        MODEL,
        4,
        Serving::champion(1),
    );
    traffic
        .wait_answers(20, Duration::from_secs(30))
        .await
        .unwrap();
    let plan = rig.dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        r#"
[[steps]]
mode = "shadow"
min_duration = "1s"
min_samples = 50

[[steps]]
mode = "split"
weight = 0.2
min_duration = "1s"
min_samples = 30

[[steps]]
mode = "split"
weight = 0.5
min_duration = "1s"
min_samples = 30
action = "await_approval"
"#,
    )
    .unwrap();
    // Any of v1 (champion) and v2 (challenger, in split steps, then
    // champion) may answer while the controller moves the trial.
    traffic
        .changing_to_any(&[Serving::split(1, 2), Serving::champion(2)])
        .await
        .unwrap();
    let started = Instant::now();
    let mut args = vec![
        "trial",
        "start",
        "m:2",
        "--plan",
        plan.to_str().unwrap(),
        "--reason",
        "drill",
    ];
    args.extend(GATES);
    let out = cli(&registry, &args);
    assert!(out.contains("plan: step 0 of 3"), "{out}");
    let (t, mut seen) = follow(&rig, Duration::from_secs(120), |t| {
        t.plan.as_ref().is_some_and(|p| p.approval == "pending")
    })
    .await;
    let pending_at = Instant::now();
    assert_eq!(t.plan.as_ref().unwrap().step, 2);
    let shown = cli(&registry, &["trial", "show", MODEL]);
    assert!(
        shown.contains("awaiting approval") && shown.contains("▶ 2. split weight 0.5"),
        "{shown}"
    );
    // Nothing moves while the approval is pending.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let still = rig.trial().await;
    assert_eq!(
        (still.state, still.plan.as_ref().unwrap().step),
        (pb::TrialState::Open as i32, 2)
    );
    cli(
        &registry,
        &[
            "trial",
            "approve",
            MODEL,
            "--reason",
            "drill: figures look right",
        ],
    );
    let approved_at = Instant::now();
    let (t, more) = follow(&rig, Duration::from_secs(60), |t| {
        t.state == pb::TrialState::Stopped as i32
    })
    .await;
    let done_at = Instant::now();
    for (k, v) in more {
        seen.entry(k).or_insert(v);
    }
    assert_eq!(t.outcome, pb::TrialOutcome::Promote as i32);
    assert_eq!(rig.champion().await, 2);
    rig.router_settles_on(2).await;
    traffic.settled(Serving::champion(2));
    traffic
        .wait_answers(100, Duration::from_secs(30))
        .await
        .unwrap();
    let counts = traffic.stop().await;
    assert_eq!(counts.failed(), 0, "{counts:?}: {:?}", traffic.samples());
    // Steps in order, each after its minimum: by the registry's own
    // times (the trial's start and the advance events), not by when this
    // test happened to poll.
    let at = |s: u32| seen[&s].duration_since(started);
    let (s1, s2) = (at(1), at(2));
    let ms = |t: &Option<prost_types::Timestamp>| {
        let t = t.as_ref().unwrap();
        t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
    };
    let advances: Vec<i64> = rig
        .events(&["trial_step_advanced"])
        .await
        .iter()
        .map(|e| ms(&e.time))
        .collect();
    assert_eq!(advances.len(), 2, "{advances:?}");
    let start_ms = ms(&t.started_at);
    assert!(
        advances[0] - start_ms >= 1000 && advances[1] - advances[0] >= 1000,
        "step 0 lasted {} ms, step 1 {} ms (minimum 1,000 each)",
        advances[0] - start_ms,
        advances[1] - advances[0]
    );
    let kinds: Vec<String> = rig
        .events(&[
            "trial_step_advanced",
            "approval_requested",
            "approval_granted",
            "trial_promoted",
        ])
        .await
        .into_iter()
        .map(|e| format!("{} {}→{} {}", e.kind, e.from, e.to, e.actor))
        .collect();
    assert_eq!(
        kinds,
        [
            "trial_step_advanced step 0→step 1 controller",
            "trial_step_advanced step 1→step 2 controller",
            "approval_requested step 2→pending controller",
            "approval_granted pending→granted ops",
            "trial_promoted step 2→promoted controller",
        ]
    );
    // Each of those events reached the receiver once, signed, after a
    // retry: the two advances, the approval request, the plan's promotion
    // and the two model promotions (v1 at setup, v2 by the plan).
    hooks_delivered(
        &hooks,
        &[
            ("approval_requested", 1),
            ("model_promoted", 2),
            ("trial_promoted", 1),
            ("trial_step_advanced", 2),
        ],
    )
    .await;
    let step_bodies: Vec<String> = hooks
        .delivered
        .lock()
        .unwrap()
        .values()
        .filter(|b| b["kind"] == "trial_step_advanced")
        .map(|b| format!("{}→{} {}", b["from"], b["to"], b["actor"]))
        .collect();
    assert_eq!(step_bodies.len(), 2, "{step_bodies:?}");
    println!(
        "rollout drill (a): step 0 shadow {:.2}s, step 1 split 20% {:.2}s, step 2 split 50% to approval {:.2}s, \
         approval wait {:.2}s (test), approval to promotion {:.2}s, total {:.2}s; {} requests, 0 failed",
        s1.as_secs_f64(),
        (s2 - s1).as_secs_f64(),
        (pending_at - started - s2).as_secs_f64(),
        (approved_at - pending_at).as_secs_f64(),
        (done_at - approved_at).as_secs_f64(),
        (done_at - started).as_secs_f64(),
        counts.requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn b_a_worse_challenger_is_aborted_in_its_first_step() {
    let (hooks, _hook_dir, hook_config) = hook_receiver(&["trial_aborted"]).await;
    let (db, dir, reg) = Rig::registry(&["--webhooks", &hook_config], true).await;
    let rig = Rig::serve(db, dir, vec![reg], 0).await;
    let registry = rig.registries[0].url.clone();
    let mut traffic = Traffic::start(
        std::slice::from_ref(&rig.router.url),
        MODEL,
        2,
        Serving::champion(1),
    );
    let named = Named::start(&rig.router.url, 2);
    traffic
        .wait_answers(20, Duration::from_secs(30))
        .await
        .unwrap();
    let started = Instant::now();
    let mut args = vec![
        "trial",
        "start",
        "m:2",
        // The first step's minimums are far above what the evidence
        // needs (about half the challenger's requests fail against a 0.2
        // tolerance), so the abort must come in that step, however slowly
        // records arrive on a loaded machine.
        "--step",
        "shadow:1:1s:300",
        "--step",
        "split:0.5:1s:50:await_approval",
    ];
    args.extend(GATES);
    cli(&registry, &args);
    let (t, _) = follow(&rig, Duration::from_secs(120), |t| {
        t.state == pb::TrialState::Stopped as i32
    })
    .await;
    let aborted_after = started.elapsed();
    assert_eq!(t.outcome, pb::TrialOutcome::Reject as i32);
    assert_eq!(
        t.plan.as_ref().unwrap().step,
        0,
        "aborted in the shadow step"
    );
    let ev = rig.events(&["trial_aborted"]).await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].actor, "controller");
    assert!(
        ev[0].reason.contains("max_error_rate") && ev[0].reason.contains("violated"),
        "{}",
        ev[0].reason
    );
    hooks_delivered(&hooks, &[("trial_aborted", 1)]).await;
    rig.router_settles_on(1).await;
    traffic
        .wait_answers(50, Duration::from_secs(30))
        .await
        .unwrap();
    let counts = traffic.stop().await;
    let (ok, failed) = named.stop().await;
    // Shadow copies never answer clients: nobody saw the challenger fail.
    assert_eq!(counts.failed(), 0, "{counts:?}: {:?}", traffic.samples());
    assert_eq!(failed, 0, "named clients: {ok} ok, {failed} failed");
    println!(
        "rollout drill (b): the worse challenger was aborted after {:.2}s in its shadow step; {} + {ok} requests, 0 failed; {}",
        aborted_after.as_secs_f64(),
        counts.requests,
        ev[0].reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn c_the_rollback_watch_rolls_back_a_worse_new_champion() {
    let (hooks, _hook_dir, hook_config) = hook_receiver(&["model_rolled_back"]).await;
    let (db, dir, reg) = Rig::registry(
        &["--rollback-watch", "2m", "--webhooks", &hook_config],
        true,
    )
    .await;
    let rig = Rig::serve(db, dir, vec![reg], 0).await;
    let registry = rig.registries[0].url.clone();
    let mut traffic = Traffic::start(
        std::slice::from_ref(&rig.router.url),
        MODEL,
        2,
        Serving::champion(1),
    );
    traffic
        .wait_answers(20, Duration::from_secs(30))
        .await
        .unwrap();
    traffic
        .changing_to_any(&[Serving::champion(2), Serving::champion(1)])
        .await
        .unwrap();
    // Positional traffic only: v2 is as good as v1 during its trial.
    let mut args = vec!["trial", "start", "m:2", "--step", "shadow:1:1s:50:promote"];
    args.extend(GATES);
    cli(&registry, &args);
    let (t, _) = follow(&rig, Duration::from_secs(120), |t| {
        t.state == pb::TrialState::Stopped as i32
            || t.plan
                .as_ref()
                .is_some_and(|p| p.plan.as_ref().is_some_and(|p| p.watch))
    })
    .await;
    let watch = rig.trial().await;
    assert!(
        watch.plan.as_ref().unwrap().plan.as_ref().unwrap().watch,
        "{t:?} {watch:?}"
    );
    assert_eq!((watch.champion_version, watch.challenger_version), (2, 1));
    let shown = cli(&registry, &["trial", "show", MODEL]);
    assert!(shown.contains("rollback watch"), "{shown}");
    // Now clients that name their features arrive: the new champion fails them.
    let promoted_at = Instant::now();
    let named = Named::start(&rig.router.url, 4);
    let (w, _) = follow(&rig, Duration::from_secs(120), |t| {
        t.state == pb::TrialState::Stopped as i32
    })
    .await;
    let rolled_back_after = promoted_at.elapsed();
    assert_eq!(w.id, watch.id);
    assert_eq!(rig.champion().await, 1, "rolled back to v1");
    let rb = rig.events(&["rollback"]).await;
    hooks_delivered(&hooks, &[("model_rolled_back", 1)]).await;
    assert_eq!(rb.len(), 2, "{rb:#?}");
    assert!(
        rb.iter()
            .all(|e| e.actor == "controller" && e.reason.contains("worse")),
        "{rb:#?}"
    );
    rig.router_settles_on(1).await;
    traffic.settled(Serving::champion(1));
    // Requests in flight when the router switched have been answered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, failed_before) = named.counts();
    traffic
        .wait_answers(100, Duration::from_secs(30))
        .await
        .unwrap();
    let counts = traffic.stop().await;
    let (ok, failed) = named.stop().await;
    assert_eq!(counts.failed(), 0, "{counts:?}: {:?}", traffic.samples());
    assert!(
        failed_before > 0,
        "the new champion failed named requests before the rollback"
    );
    assert_eq!(
        failed, failed_before,
        "no named request failed after the rollback settled"
    );
    println!(
        "rollout drill (c): rolled back {:.2}s after the named clients arrived; {} positional requests 0 failed, named {ok} ok / {failed} failed (all before the rollback)",
        rolled_back_after.as_secs_f64(),
        counts.requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn d_a_killed_lease_holder_is_replaced_without_skipping_or_doubling_a_step() {
    let (db, dir, a) = Rig::registry(&[], false).await;
    let trials = joust_tests::router::TrialOps::new(&a.url).client;
    let plan = pb::TrialPlan {
        steps: [
            (pb::TrialMode::Shadow, 0.0),
            (pb::TrialMode::Split, 0.2),
            (pb::TrialMode::Split, 0.4),
            (pb::TrialMode::Split, 0.6),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (mode, weight))| pb::TrialPlanStep {
            mode: mode as i32,
            weight,
            sampling: 1.0,
            min_duration_ms: 1500,
            min_samples: 20,
            action: if i == 3 {
                pb::TrialStepAction::AwaitApproval
            } else {
                pb::TrialStepAction::Advance
            } as i32,
        })
        .collect(),
        watch: false,
    };
    let t = trials
        .start(pb::StartTrialRequest {
            model: MODEL.into(),
            challenger_version: 2,
            gates: Some(pb::TrialGates {
                min_samples: 20,
                max_error_rate: Some(0.5),
                confidence: 0.95,
                ..Default::default()
            }),
            reason: "lease drill".into(),
            plan: Some(plan),
            ..Default::default()
        })
        .await
        .unwrap();
    // Replica a takes the trial's lease; then b starts, and the node and
    // router follow b (so a's death costs them nothing).
    let mut pg = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let waited = Instant::now();
    let holder = loop {
        if let Some(h) = lease(&mut pg, t.id).await.unwrap() {
            break h;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "replica a took no lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let a_pid = a.process.as_ref().unwrap().pid();
    assert!(
        holder.starts_with(&format!("registry-{a_pid}-")),
        "{holder}"
    );
    let b = registry_role(&db, dir.path(), 1, &[]).await;
    let mut rig = Rig::serve(db, dir, vec![a, b], 1).await;
    let mut traffic = Traffic::start(
        std::slice::from_ref(&rig.router.url),
        MODEL,
        4,
        Serving::champion(1),
    );
    traffic
        .changing_to_any(&[Serving::split(1, 2)])
        .await
        .unwrap();
    // Mid-step 1 (a advanced 0 → 1): SIGKILL a.
    follow(&rig, Duration::from_secs(120), |t| {
        t.plan.as_ref().is_some_and(|p| p.step == 1)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = Instant::now();
    rig.registries[0].kill().unwrap();
    let (t, seen) = follow(&rig, Duration::from_secs(120), |t| {
        t.plan.as_ref().is_some_and(|p| p.step >= 2)
    })
    .await;
    let took_over = seen.get(&2).map(|s| s.duration_since(killed_at)).unwrap();
    let (t2, _) = follow(&rig, Duration::from_secs(120), |t| {
        t.plan.as_ref().is_some_and(|p| p.approval == "pending")
    })
    .await;
    assert_eq!(t2.id, t.id);
    let holder = lease(&mut pg, t.id).await.unwrap().unwrap();
    let b_pid = rig.registries[1].process.as_ref().unwrap().pid();
    assert!(
        holder.starts_with(&format!("registry-{b_pid}-")),
        "b holds the lease: {holder}"
    );
    let steps: Vec<String> = rig
        .events(&["trial_step_advanced", "approval_requested"])
        .await
        .into_iter()
        .map(|e| format!("{} {}→{} {}", e.kind, e.from, e.to, e.actor))
        .collect();
    assert_eq!(
        steps,
        [
            "trial_step_advanced step 0→step 1 controller",
            "trial_step_advanced step 1→step 2 controller",
            "trial_step_advanced step 2→step 3 controller",
            "approval_requested step 3→pending controller",
        ]
    );
    let counts = traffic.stop().await;
    assert_eq!(counts.failed(), 0, "{counts:?}: {:?}", traffic.samples());
    println!(
        "rollout drill (d): replica b advanced step 1 → 2 {:.2}s after replica a (lease holder) was SIGKILLed (lease 2s, interval 200ms, step minimum 1.5s); {} requests, 0 failed",
        took_over.as_secs_f64(),
        counts.requests
    );
}
