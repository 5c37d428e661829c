//! The rollout controller against SQLite and PostgreSQL: a registry (its
//! controller every 50 ms) runs a trial plan over records fed through
//! `RecordComparisons`: steps advance in order only once their minimums are
//! met, an `await_approval` step waits for `ApproveTrial`, the plan
//! promotes; a worse challenger is aborted; `DenyTrial` rejects; a manual
//! `UpdateTrial` pauses the plan; the rollback watch rolls a worse new
//! champion back. Every controller action is an audit event by
//! `controller` with the figures; two controllers on one database never
//! apply a step twice (the lease and the compare-and-set on the step).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use joust_client::pb;
use joust_models::ModelKind;
use joust_proto::v1::trials_client::TrialsClient;
use joust_registry::RegistryConfig;
use joust_registry::trials::controller::{self, ControllerConfig};
use joust_tests::node::{RegistryOps, artifact};
use joust_tests::{TestDatabase, TestRegistry};
use tonic::Code;
use tonic::transport::Channel;

const MODEL: &str = "m";

fn controller_config(watch: Option<Duration>) -> ControllerConfig {
    let mut c = ControllerConfig::new(Duration::from_millis(50), Duration::from_millis(500));
    c.rollback_watch = watch;
    c
}

async fn registry(postgres: bool, watch: Option<Duration>) -> TestRegistry {
    let dir = tempfile::tempdir().unwrap();
    let db = if postgres {
        Some(TestDatabase::create().await.unwrap())
    } else {
        None
    };
    let config = RegistryConfig {
        database_url: match &db {
            Some(db) => db.url.clone(),
            None => format!("sqlite://{}/registry.db", dir.path().display()),
        },
        blobs_url: format!("file://{}/blobs", dir.path().display()),
        controller: Some(controller_config(watch)),
        ..Default::default()
    };
    TestRegistry::start(config, dir, db, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn trials(url: &str) -> TrialsClient<Channel> {
    TrialsClient::new(Channel::from_shared(url.to_owned()).unwrap().connect_lazy())
}

/// `m`: v1 champion, v2 and v3 evaluated.
async fn model(reg: &TestRegistry) {
    let ops = RegistryOps::new(&reg.url);
    for seed in 1..=3 {
        ops.register(MODEL, "noop", artifact(ModelKind::Noop, 3, seed))
            .await
            .unwrap();
    }
    ops.promote("m:1").await.unwrap();
    ops.force_evaluated("m:2").await.unwrap();
    ops.force_evaluated("m:3").await.unwrap();
}

fn step(
    mode: pb::TrialMode,
    share: f64,
    ms: u64,
    samples: u64,
    action: pb::TrialStepAction,
) -> pb::TrialPlanStep {
    let split = mode == pb::TrialMode::Split;
    pb::TrialPlanStep {
        mode: mode as i32,
        weight: if split { share } else { 0.0 },
        sampling: if split { 1.0 } else { share },
        min_duration_ms: ms,
        min_samples: samples,
        action: action as i32,
    }
}

fn gates() -> pb::TrialGates {
    pb::TrialGates {
        min_samples: 30,
        max_error_rate: Some(0.3),
        confidence: 0.95,
        ..Default::default()
    }
}

fn start(version: u64, steps: Vec<pb::TrialPlanStep>) -> pb::StartTrialRequest {
    pb::StartTrialRequest {
        model: MODEL.into(),
        challenger_version: version,
        gates: Some(gates()),
        reason: "rollout test".into(),
        plan: Some(pb::TrialPlan {
            steps,
            watch: false,
        }),
        ..Default::default()
    }
}

/// `n` records of the trial's current mode, `bad` of each arm's answers
/// failing for the challenger (status 13) every `bad`-th request.
fn records(
    t: &pb::Trial,
    from: usize,
    n: usize,
    champion: u64,
    challenger: u64,
    bad_every: usize,
) -> pb::RecordComparisonsRequest {
    let arm = |version, fail: bool| pb::TrialArmResult {
        version,
        scores: if fail { vec![] } else { vec![0.1] },
        labels: if fail { vec![] } else { vec![false] },
        latency_us: 100,
        status_code: if fail { 13 } else { 0 },
    };
    let shadow = t.mode == pb::TrialMode::Shadow as i32;
    let records = (from..from + n)
        .map(|i| {
            let fail = bad_every > 0 && i % bad_every == 0;
            let served_challenger = !shadow && i % 2 == 1;
            pb::ComparisonRecord {
                record_id: format!("t{}-r{i}", t.id),
                trial_id: t.id,
                request_id: format!("q{i}"),
                time: None,
                routing_key_hash: i as u64,
                served: if served_challenger {
                    pb::TrialArm::Challenger
                } else {
                    pb::TrialArm::Champion
                } as i32,
                champion: (shadow || !served_challenger).then(|| arm(champion, false)),
                challenger: (shadow || served_challenger).then(|| arm(challenger, fail)),
            }
        })
        .collect();
    pb::RecordComparisonsRequest {
        records,
        dropped: vec![],
    }
}

async fn get(c: &mut TrialsClient<Channel>, id: u64) -> pb::Trial {
    c.get_trial(pb::GetTrialRequest {
        id,
        model: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
}

/// Feeds records until `done(trial)` holds (at most `timeout`), checking the
/// trial as it goes; returns the trial and the records fed.
async fn feed_until(
    c: &mut TrialsClient<Channel>,
    id: u64,
    versions: (u64, u64),
    bad_every: usize,
    mut fed: usize,
    timeout: Duration,
    done: impl Fn(&pb::Trial) -> bool,
) -> (pb::Trial, usize) {
    let started = Instant::now();
    loop {
        let t = get(c, id).await;
        if done(&t) {
            return (t, fed);
        }
        assert!(
            started.elapsed() < timeout,
            "trial did not reach the expected state in {timeout:?}: {t:?}"
        );
        if t.state == pb::TrialState::Open as i32 {
            let batch = records(&t, fed, 20, versions.0, versions.1, bad_every);
            c.record_comparisons(futures::stream::iter([batch]))
                .await
                .unwrap();
            fed += 20;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn plan_of(t: &pb::Trial) -> &pb::TrialPlanState {
    t.plan.as_ref().expect("the trial has a plan")
}

/// The model's audit events of `kinds`, oldest first, as (kind, actor, reason).
async fn events(reg: &TestRegistry, kinds: &[&str]) -> Vec<(String, String, String)> {
    let ops = RegistryOps::new(&reg.url);
    let mut c = ops.client.raw();
    let all = c
        .list_events(pb::ListEventsRequest {
            model: MODEL.into(),
            after_id: 0,
            page_size: 1000,
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    all.into_iter()
        .filter(|e| kinds.contains(&e.kind.as_str()))
        .map(|e| (e.kind, e.actor, e.reason))
        .collect()
}

async fn status_of(reg: &TestRegistry, v: u64) -> i32 {
    let ops = RegistryOps::new(&reg.url);
    ops.client
        .raw()
        .get_version(pb::GetVersionRequest {
            r#ref: format!("{MODEL}:{v}"),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

async fn plan_runs_end_to_end(postgres: bool) {
    let reg = registry(postgres, None).await;
    model(&reg).await;
    let mut c = trials(&reg.url);
    let steps = vec![
        step(
            pb::TrialMode::Shadow,
            1.0,
            300,
            40,
            pb::TrialStepAction::Advance,
        ),
        step(
            pb::TrialMode::Split,
            0.5,
            300,
            40,
            pb::TrialStepAction::AwaitApproval,
        ),
        step(
            pb::TrialMode::Split,
            0.8,
            200,
            20,
            pb::TrialStepAction::Promote,
        ),
    ];
    let t = c.start_trial(start(2, steps)).await.unwrap().into_inner();
    // The trial runs the first step's settings.
    assert_eq!(t.mode, pb::TrialMode::Shadow as i32);
    assert_eq!(plan_of(&t).step, 0);
    let started = Instant::now();
    let (t, fed) = feed_until(&mut c, t.id, (1, 2), 0, 0, Duration::from_secs(30), |t| {
        plan_of(t).step == 1
    })
    .await;
    let step0 = started.elapsed();
    assert!(
        step0 >= Duration::from_millis(300),
        "step 0 took only {step0:?}"
    );
    assert_eq!((t.mode, t.weight), (pb::TrialMode::Split as i32, 0.5));
    let (t, fed) = feed_until(&mut c, t.id, (1, 2), 0, fed, Duration::from_secs(30), |t| {
        plan_of(t).approval == "pending"
    })
    .await;
    assert_eq!(plan_of(&t).step, 1);
    // The dashboard lists the pending approval with the report figures.
    let ui = reg.dashboard().await.unwrap();
    let http = reqwest::Client::new();
    let pending: serde_json::Value = serde_json::from_str(
        &http
            .get(format!("{}/api/approvals", ui.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let list = pending.as_array().unwrap();
    assert_eq!(list.len(), 1, "{pending}");
    assert_eq!(list[0]["trial"]["id"].as_u64(), Some(t.id));
    assert_eq!(
        (list[0]["step"].as_u64(), list[0]["steps"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(list[0]["report"]["verdict"], "promote", "{pending}");
    assert!(
        list[0]["report"]["challenger"]["requests"]
            .as_u64()
            .unwrap()
            >= 40
    );
    let page = http
        .get(format!("{}/approvals", ui.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("trial {}", t.id)) && page.contains("joust trial approve m"),
        "{page}"
    );
    // Pending: nothing moves however long it waits.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let t = get(&mut c, t.id).await;
    assert_eq!(
        (plan_of(&t).step, plan_of(&t).approval.as_str()),
        (1, "pending")
    );
    let approved = c
        .approve_trial(pb::DecideApprovalRequest {
            model: MODEL.into(),
            reason: "looks good".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan_of(&approved).approval, "granted");
    let pending: serde_json::Value = serde_json::from_str(
        &http
            .get(format!("{}/api/approvals", ui.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(pending, serde_json::json!([]));
    // A second approval finds nothing pending.
    let again = c
        .approve_trial(pb::DecideApprovalRequest {
            model: MODEL.into(),
            reason: "twice".into(),
        })
        .await;
    assert!(
        matches!(again, Err(s) if s.code() == Code::FailedPrecondition)
            || plan_of(&get(&mut c, t.id).await).step == 2
    );
    let (t, _) = feed_until(&mut c, t.id, (1, 2), 0, fed, Duration::from_secs(30), |t| {
        t.state == pb::TrialState::Stopped as i32
    })
    .await;
    println!(
        "plan end to end ({}): {:?}",
        if postgres { "postgres" } else { "sqlite" },
        started.elapsed()
    );
    assert_eq!(t.outcome, pb::TrialOutcome::Promote as i32);
    assert_eq!(plan_of(&t).step, 3);
    assert_eq!(status_of(&reg, 2).await, pb::VersionStatus::Champion as i32);
    assert_eq!(status_of(&reg, 1).await, pb::VersionStatus::Retired as i32);
    let evs = events(
        &reg,
        &[
            "trial_step_advanced",
            "approval_requested",
            "approval_granted",
            "trial_promoted",
        ],
    )
    .await;
    let kinds: Vec<&str> = evs.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "trial_step_advanced",
            "approval_requested",
            "approval_granted",
            "trial_step_advanced",
            "trial_promoted"
        ],
        "{evs:#?}"
    );
    for (kind, actor, reason) in &evs {
        if kind == "approval_granted" {
            assert!(reason.contains("looks good"), "{reason}");
            continue;
        }
        assert_eq!(actor, "controller", "{kind}");
        // The figures that justified the action.
        assert!(
            reason.contains("verdict") && reason.contains("step samples"),
            "{reason}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_plan_runs_end_to_end() {
    plan_runs_end_to_end(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_plan_runs_end_to_end() {
    plan_runs_end_to_end(true).await;
}

async fn worse_challenger_is_aborted_denial_rejects_and_updates_pause(postgres: bool) {
    let reg = registry(postgres, None).await;
    model(&reg).await;
    let mut c = trials(&reg.url);
    // Every second challenger answer fails: max_error_rate 0.3 is violated.
    let steps = vec![
        step(
            pb::TrialMode::Shadow,
            1.0,
            0,
            1_000_000,
            pb::TrialStepAction::Advance,
        ),
        step(
            pb::TrialMode::Split,
            0.5,
            0,
            0,
            pb::TrialStepAction::AwaitApproval,
        ),
    ];
    let t = c.start_trial(start(2, steps)).await.unwrap().into_inner();
    let (t, _) = feed_until(&mut c, t.id, (1, 2), 2, 0, Duration::from_secs(30), |t| {
        t.state == pb::TrialState::Stopped as i32
    })
    .await;
    assert_eq!(t.outcome, pb::TrialOutcome::Reject as i32);
    assert_eq!(plan_of(&t).step, 0, "aborted in its first step");
    assert_eq!(
        status_of(&reg, 2).await,
        pb::VersionStatus::Evaluated as i32
    );
    assert_eq!(status_of(&reg, 1).await, pb::VersionStatus::Champion as i32);
    let aborted = events(&reg, &["trial_aborted"]).await;
    assert_eq!(aborted.len(), 1);
    assert_eq!(aborted[0].1, "controller");
    assert!(
        aborted[0].2.contains("max_error_rate") && aborted[0].2.contains("verdict reject"),
        "{}",
        aborted[0].2
    );

    // Denied at the approval step: rejected.
    let steps = vec![step(
        pb::TrialMode::Split,
        0.5,
        0,
        10,
        pb::TrialStepAction::AwaitApproval,
    )];
    let t = c.start_trial(start(3, steps)).await.unwrap().into_inner();
    let (t, _) = feed_until(&mut c, t.id, (1, 3), 0, 0, Duration::from_secs(30), |t| {
        plan_of(t).approval == "pending"
    })
    .await;
    let denied = c
        .deny_trial(pb::DecideApprovalRequest {
            model: MODEL.into(),
            reason: "not now".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (denied.state, denied.outcome),
        (
            pb::TrialState::Stopped as i32,
            pb::TrialOutcome::Reject as i32
        )
    );
    assert_eq!(
        status_of(&reg, 3).await,
        pb::VersionStatus::Evaluated as i32
    );
    assert_eq!(events(&reg, &["approval_denied"]).await.len(), 1);
    drop(t);

    // A manual update pauses the plan: the controller leaves it alone.
    let steps = vec![
        step(
            pb::TrialMode::Shadow,
            1.0,
            0,
            10,
            pb::TrialStepAction::Advance,
        ),
        step(
            pb::TrialMode::Split,
            0.5,
            0,
            10,
            pb::TrialStepAction::AwaitApproval,
        ),
    ];
    let t = c.start_trial(start(2, steps)).await.unwrap().into_inner();
    c.update_trial(pb::UpdateTrialRequest {
        model: MODEL.into(),
        sampling: Some(0.5),
        reason: "by hand".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    for i in 0..10 {
        let batch = records(&get(&mut c, t.id).await, i * 20, 20, 1, 2, 0);
        c.record_comparisons(futures::stream::iter([batch]))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = get(&mut c, t.id).await;
    assert!(plan_of(&t).paused);
    assert_eq!(
        (plan_of(&t).step, t.mode),
        (0, pb::TrialMode::Shadow as i32)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_worse_challenger_is_aborted_denial_rejects_and_updates_pause() {
    worse_challenger_is_aborted_denial_rejects_and_updates_pause(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_worse_challenger_is_aborted_denial_rejects_and_updates_pause() {
    worse_challenger_is_aborted_denial_rejects_and_updates_pause(true).await;
}

async fn the_watch_rolls_back_a_worse_champion(postgres: bool) {
    // Long enough that only proven harm ends it.
    let reg = registry(postgres, Some(Duration::from_secs(60))).await;
    model(&reg).await;
    let mut c = trials(&reg.url);
    let steps = vec![step(
        pb::TrialMode::Shadow,
        1.0,
        0,
        40,
        pb::TrialStepAction::Promote,
    )];
    let t = c.start_trial(start(2, steps)).await.unwrap().into_inner();
    let (_, _) = feed_until(&mut c, t.id, (1, 2), 0, 0, Duration::from_secs(30), |t| {
        t.state == pb::TrialState::Stopped as i32
    })
    .await;
    assert_eq!(status_of(&reg, 2).await, pb::VersionStatus::Champion as i32);
    // The watch: the old champion back as the challenger, in shadow.
    let w = c
        .get_trial(pb::GetTrialRequest {
            id: 0,
            model: MODEL.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(w.id, t.id);
    assert_eq!((w.champion_version, w.challenger_version), (2, 1));
    assert_eq!(w.mode, pb::TrialMode::Shadow as i32);
    assert!(plan_of(&w).plan.as_ref().unwrap().watch);
    assert_eq!(
        status_of(&reg, 1).await,
        pb::VersionStatus::Challenger as i32
    );
    // The new champion (the champion arm now) fails every second request.
    let mut fed = 0;
    let started = Instant::now();
    let w = loop {
        let w = get(&mut c, w.id).await;
        if w.state == pb::TrialState::Stopped as i32 {
            break w;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{w:?}");
        let mut batch = records(&w, fed, 20, 2, 1, 0);
        for (i, r) in batch.records.iter_mut().enumerate() {
            if i % 2 == 0
                && let Some(a) = r.champion.as_mut()
            {
                a.status_code = 13;
                a.scores.clear();
                a.labels.clear();
            }
        }
        c.record_comparisons(futures::stream::iter([batch]))
            .await
            .unwrap();
        fed += 20;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        w.outcome,
        pb::TrialOutcome::Promote as i32,
        "rolled back: the watched version serves again"
    );
    assert_eq!(status_of(&reg, 1).await, pb::VersionStatus::Champion as i32);
    assert_eq!(status_of(&reg, 2).await, pb::VersionStatus::Retired as i32);
    let rb = events(&reg, &["rollback"]).await;
    assert_eq!(rb.len(), 2, "{rb:#?}");
    assert!(
        rb.iter()
            .all(|e| e.1 == "controller" && e.2.contains("worse")),
        "{rb:#?}"
    );
}

/// A good new champion: the watch ends after its period and the old one
/// is retired again.
async fn the_watch_ends_for_a_good_champion(postgres: bool) {
    let reg = registry(postgres, Some(Duration::from_millis(1500))).await;
    model(&reg).await;
    let mut c = trials(&reg.url);
    let steps = vec![step(
        pb::TrialMode::Shadow,
        1.0,
        0,
        40,
        pb::TrialStepAction::Promote,
    )];
    let t = c.start_trial(start(3, steps)).await.unwrap().into_inner();
    feed_until(&mut c, t.id, (1, 3), 0, 0, Duration::from_secs(30), |t| {
        t.state == pb::TrialState::Stopped as i32
    })
    .await;
    let w = c
        .get_trial(pb::GetTrialRequest {
            id: 0,
            model: MODEL.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((w.champion_version, w.challenger_version), (3, 1));
    let watch_started = Instant::now();
    let (w, _) = feed_until(&mut c, w.id, (3, 1), 0, 0, Duration::from_secs(30), |t| {
        t.state == pb::TrialState::Stopped as i32
    })
    .await;
    assert!(
        watch_started.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        watch_started.elapsed()
    );
    assert_eq!(w.outcome, pb::TrialOutcome::Reject as i32);
    assert_eq!(status_of(&reg, 3).await, pb::VersionStatus::Champion as i32);
    assert_eq!(status_of(&reg, 1).await, pb::VersionStatus::Retired as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_watch_rolls_back_a_worse_champion() {
    the_watch_rolls_back_a_worse_champion(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_watch_rolls_back_a_worse_champion() {
    the_watch_rolls_back_a_worse_champion(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_watch_ends_for_a_good_champion() {
    the_watch_ends_for_a_good_champion(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_watch_ends_for_a_good_champion() {
    the_watch_ends_for_a_good_champion(true).await;
}

/// Two controllers (two registry handles on one PostgreSQL database)
/// racing over one plan: one lease holder at a time, every step applied
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_controllers_apply_every_step_once() {
    // The server's own controller is off; the test runs two by hand.
    let db = TestDatabase::create().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = RegistryConfig {
        database_url: db.url.clone(),
        blobs_url: format!("file://{}/blobs", dir.path().display()),
        controller: None,
        ..Default::default()
    };
    let reg = TestRegistry::start(config, dir, Some(db), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    model(&reg).await;
    let mut c = trials(&reg.url);
    let steps = vec![
        step(
            pb::TrialMode::Shadow,
            1.0,
            0,
            10,
            pb::TrialStepAction::Advance,
        ),
        step(
            pb::TrialMode::Split,
            0.2,
            0,
            10,
            pb::TrialStepAction::Advance,
        ),
        step(
            pb::TrialMode::Split,
            0.4,
            0,
            10,
            pb::TrialStepAction::Advance,
        ),
        step(
            pb::TrialMode::Split,
            0.6,
            0,
            10,
            pb::TrialStepAction::AwaitApproval,
        ),
    ];
    let t = c.start_trial(start(2, steps)).await.unwrap().into_inner();
    let a = joust_registry::server::open(&reg.config).await.unwrap();
    let b = joust_registry::server::open(&reg.config).await.unwrap();
    let (ta, tb) = (a.trials().unwrap().clone(), b.trials().unwrap().clone());
    let (ca, cb) = (controller_config(None), controller_config(None));
    let mut fed = 0;
    let started = Instant::now();
    loop {
        let now = get(&mut c, t.id).await;
        if plan_of(&now).approval == "pending" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{now:?}");
        let batch = records(&now, fed, 20, 1, 2, 0);
        c.record_comparisons(futures::stream::iter([batch]))
            .await
            .unwrap();
        fed += 20;
        // Both passes at once: only the lease holder acts.
        let (x, y) = tokio::join!(controller::once(&ta, &ca), controller::once(&tb, &cb));
        let (x, y) = (x.unwrap(), y.unwrap());
        assert!(
            x == 0 || y == 0,
            "both controllers acted in one round: {x}, {y}"
        );
    }
    let advanced = events(&reg, &["trial_step_advanced"]).await;
    let steps: Vec<String> = advanced
        .iter()
        .map(|e| e.2.split(':').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(advanced.len(), 3, "{advanced:#?}");
    let holders: std::collections::BTreeSet<&str> = advanced.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(holders.into_iter().collect::<Vec<_>>(), ["controller"]);
    assert_eq!(
        events(&reg, &["approval_requested"]).await.len(),
        1,
        "{steps:?}"
    );
}
