//! Production-topology drills (issue 19): `joust registry` on PostgreSQL,
//! two `joust serve --follow-all` nodes, two `joust route` routers, six
//! concurrent clients with routing keys checking every answer's status,
//! arm and version (tests/src/traffic.rs says what a client does and what
//! counts as failed). Each drill must end with **0 failed requests** and
//! prints one `DRILL …` line (requests, failed, rerouted, settle times).
//!
//! Changes are waited for through the registry and the routers (their
//! routes, the registry's events), never with fixed sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use joust_proto::inference::ModelInferRequest;
use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_proto::inference::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use joust_proto::v1 as pb;
use joust_tests::drill::{ANSWERS_PER_STATE, Drill, SETTLE_TIMEOUT, report};
use joust_tests::node::{FIXTURE_FEATURES, eventually, predict_request};
use joust_tests::pg_cluster::PrivatePostgres;
use joust_tests::process::JoustProcess;
use joust_tests::topology::MODEL;
use joust_tests::traffic::Serving;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

/// Runs `body` on a fresh drill; on an error, fails with the drill's
/// counts, first failures and logs; else requires 0 failed requests.
async fn run(name: &'static str, body: impl AsyncFnOnce(&mut Drill) -> anyhow::Result<()>) {
    let mut drill = Drill::start(name).await.unwrap();
    if let Err(e) = body(&mut drill).await {
        panic!("{:?}", drill.fail(e));
    }
    drill.finish().await.unwrap();
}

fn m(v: u64) -> String {
    format!("{MODEL}:{v}")
}

async fn rollback(d: &Drill) -> anyhow::Result<pb::RollbackResponse> {
    Ok(d.topology
        .ops
        .client
        .raw()
        .rollback(pb::RollbackRequest {
            model: MODEL.to_owned(),
            reason: "drill".to_owned(),
            to_version: 0,
        })
        .await?
        .into_inner())
}

/// Promotes `v` with the traffic told, and waits until it serves.
async fn promote(d: &mut Drill, v: u64) -> anyhow::Result<()> {
    d.changing(Serving::champion(v)).await?;
    d.topology.promote(v).await?;
    d.settled(Serving::champion(v)).await?;
    Ok(())
}

/// Rolls back, expecting `to` to be champion again.
async fn roll_back_to(d: &mut Drill, to: u64) -> anyhow::Result<()> {
    d.changing(Serving::champion(to)).await?;
    let r = rollback(d).await?;
    let champion = r.champion.as_ref().map_or(0, |c| c.version);
    anyhow::ensure!(
        champion == to,
        "rollback made v{champion} champion, expected v{to}: {r:?}"
    );
    d.settled(Serving::champion(to)).await?;
    Ok(())
}

// --- promotions and rollbacks ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_promote_rollback_cycles_fail_no_request() {
    run("promote_rollback_cycles", async |d| {
        for cycle in 0..20 {
            let v = d.topology.register_evaluated().await?;
            promote(d, v).await?;
            roll_back_to(d, 1)
                .await
                .map_err(|e| e.context(format!("cycle {cycle}")))?;
        }
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollback_chain_of_four_walks_back_exactly() {
    run("rollback_chain", async |d| {
        // 1 → 2 → 3 → 4
        for _ in 0..3 {
            let v = d.topology.register_evaluated().await?;
            promote(d, v).await?;
        }
        for to in [3, 2, 1] {
            roll_back_to(d, to).await?;
        }
        // Nothing left to walk back to.
        let err = rollback(d).await.unwrap_err();
        let status = err.downcast_ref::<tonic::Status>().cloned();
        anyhow::ensure!(
            status.as_ref().map(tonic::Status::code) == Some(tonic::Code::FailedPrecondition),
            "a rollback past the first champion: {err:?}"
        );
        let desired = d.topology.desired().await?;
        anyhow::ensure!(desired.champion == 1, "{desired:?}");
        d.answers(ANSWERS_PER_STATE).await?;
        d.note(format!(
            "1 → 2 → 3 → 4, rollbacks gave 3, 2, 1, then {:?}",
            status.map(|s| s.code())
        ));
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_rollbacks_end_on_a_consistent_champion() {
    run("concurrent_rollbacks", async |d| {
        // 1 → 2 → … → 12
        let mut versions = vec![1];
        for _ in 0..11 {
            let v = d.topology.register_evaluated().await?;
            d.changing(Serving::champion(v)).await?;
            d.topology.promote(v).await?;
            d.settled(Serving::champion(v)).await?;
            versions.push(v);
        }
        let targets: Vec<Serving> = versions[1..11].iter().map(|&v| Serving::champion(v)).collect();
        d.changing_to_any(&targets).await?;
        let results = futures::future::join_all((0..10).map(|_| rollback(d))).await;
        let mut retired = BTreeSet::new();
        let mut champions = BTreeSet::new();
        for r in results {
            let r = r?;
            retired.insert(r.retired.map(|v| v.version).unwrap_or(0));
            champions.insert(r.champion.map(|v| v.version).unwrap_or(0));
        }
        // Serialized: each rollback walked one step back.
        let want_retired: BTreeSet<u64> = versions[2..].iter().copied().collect();
        let want_champions: BTreeSet<u64> = versions[1..11].iter().copied().collect();
        anyhow::ensure!(
            retired == want_retired && champions == want_champions,
            "10 rollbacks from v12 retired {retired:?} and made {champions:?} champion; expected {want_retired:?} and {want_champions:?}"
        );
        let (desired, _) = d.topology.settle(SETTLE_TIMEOUT).await?;
        anyhow::ensure!(desired.champion == versions[1], "{desired:?}");
        // Exactly one champion in the registry.
        let listed = d
            .topology
            .ops
            .client
            .raw()
            .list_versions(pb::ListVersionsRequest {
                model: MODEL.to_owned(),
                page_size: 100,
                ..Default::default()
            })
            .await?
            .into_inner();
        let champions: Vec<u64> = listed
            .versions
            .iter()
            .filter(|v| v.status == pb::VersionStatus::Champion as i32)
            .map(|v| v.version)
            .collect();
        anyhow::ensure!(champions == vec![versions[1]], "champions {champions:?}");
        d.settled(Serving::champion(versions[1])).await?;
        d.note(format!("10 concurrent rollbacks from v12 ended on v{}", versions[1]));
        Ok(())
    })
    .await;
}

// --- trials ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_trial_cycles_fail_no_request() {
    run("trial_cycles", async |d| {
        let mut champion = 1;
        for cycle in 0..5 {
            let x = d.topology.register_evaluated().await?;
            let trials = d.topology.trials.clone();
            // Shadow: the champion answers, the challenger gets copies.
            d.changing(Serving::champion(champion)).await?;
            trials
                .start(MODEL, x, pb::TrialMode::Shadow, 0.0, 1.0)
                .await?;
            d.settled(Serving::champion(champion)).await?;
            // Split 0.2, sticky; then 0.5.
            for weight in [0.2, 0.5] {
                d.changing(Serving::split(champion, x)).await?;
                trials.set_weight(MODEL, weight).await?;
                d.settled(Serving::split(champion, x)).await?;
            }
            // Stop, promote.
            d.changing(Serving::champion(x)).await?;
            trials.stop(MODEL, pb::TrialOutcome::Promote).await?;
            d.settled(Serving::champion(x))
                .await
                .map_err(|e| e.context(format!("cycle {cycle}: stop promote")))?;
            champion = x;
        }
        Ok(())
    })
    .await;
}

// --- a corrupt champion -------------------------------------------------------

/// The id of the first registry event about `m` of `kind` for `version`.
async fn event(d: &Drill, kind: &str, version: u64) -> anyhow::Result<Option<pb::Event>> {
    let mut c = d.topology.ops.client.raw();
    let mut after = 0;
    loop {
        let page = c
            .list_events(pb::ListEventsRequest {
                model: MODEL.to_owned(),
                after_id: after,
                page_size: 500,
            })
            .await?
            .into_inner();
        if let Some(e) = page
            .events
            .iter()
            .find(|e| e.kind == kind && e.version == version)
        {
            return Ok(Some(e.clone()));
        }
        if page.next_after_id == 0 {
            return Ok(None);
        }
        after = page.next_after_id;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupt_champion_is_blocked_and_the_previous_one_keeps_serving() {
    run("corrupt_champion", async |d| {
        let v = d.topology.register_evaluated().await?;
        // The blob rots in storage after registration: every node refuses
        // it (SHA-256 mismatch).
        let sha = d
            .topology
            .ops
            .client
            .raw()
            .get_version(pb::GetVersionRequest { r#ref: m(v) })
            .await?
            .into_inner()
            .sha256;
        let blob = d
            .topology
            .dir
            .path()
            .join("blobs")
            .join("sha256")
            .join(&sha);
        anyhow::ensure!(blob.exists(), "blob {} missing", blob.display());
        std::fs::write(&blob, b"not an artifact: random bytes \x00\x01\x02")?;
        // Promoted: the router must keep v1, so v1 alone may answer.
        d.topology.promote(v).await?;
        let blocked = eventually(SETTLE_TIMEOUT, || async {
            event(d, "rollout_blocked", v)
                .await
                .ok()
                .flatten()
                .is_some()
        })
        .await
        .map_err(|e| anyhow::anyhow!("no rollout_blocked event for v{v}: {e}"))?;
        let e = event(d, "rollout_blocked", v).await?.unwrap();
        d.note(format!(
            "rollout_blocked after {} ms: {}",
            blocked.as_millis(),
            e.reason
        ));
        d.answers(ANSWERS_PER_STATE * 3).await?;
        for i in 0..d.topology.routers.len() {
            let route = d.topology.route(i).await;
            d.note(format!("router {i} route while blocked: {route:?}"));
        }
        // Rolled back: v1 is champion again in the registry too.
        roll_back_to(d, 1).await?;
        // And a good version still rolls out.
        let good = d.topology.register_evaluated().await?;
        promote(d, good).await?;
        Ok(())
    })
    .await;
}

// --- restarts ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_node_killed_and_restarted_fails_no_request() {
    run("node_restarts", async |d| {
        for i in 0..d.topology.nodes.len() {
            d.answers(ANSWERS_PER_STATE).await?;
            d.topology.nodes[i].kill()?;
            // The other node carries everything.
            d.answers(ANSWERS_PER_STATE * 3).await?;
            d.topology.nodes[i].restart().await?;
            d.topology.nodes[i].wait_serving(SETTLE_TIMEOUT).await?;
            // Every router has it back in its pool.
            let addr = d.topology.nodes[i].addr.to_string();
            let took = eventually(SETTLE_TIMEOUT, || async {
                let mut all = true;
                for r in &d.topology.routers {
                    all &= node_admitted(&r.url, &addr).await;
                }
                all
            })
            .await
            .map_err(|e| anyhow::anyhow!("routers did not readmit node {i}: {e}"))?;
            d.note(format!(
                "node {i} readmitted by both routers {} ms after its restart",
                took.as_millis()
            ));
            d.answers(ANSWERS_PER_STATE * 3).await?;
        }
        Ok(())
    })
    .await;
}

/// True when the router at `url` has node `addr` in its pool, not ejected.
async fn node_admitted(url: &str, addr: &str) -> bool {
    let channel = Channel::from_shared(url.to_owned()).unwrap().connect_lazy();
    let Ok(stats) = pb::router_admin_client::RouterAdminClient::new(channel)
        .get_stats(pb::GetStatsRequest {})
        .await
    else {
        return false;
    };
    stats
        .into_inner()
        .nodes
        .iter()
        .any(|n| n.address == addr && !n.ejected && n.consecutive_failures == 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_router_restarted_fails_no_request() {
    run("router_restarts", async |d| {
        for i in 0..d.topology.routers.len() {
            d.answers(ANSWERS_PER_STATE).await?;
            // A rolling restart: SIGTERM (the router drains), then again.
            let stopped = d.traffic.counts().rerouted;
            d.topology.routers[i].terminate().await?;
            d.answers(ANSWERS_PER_STATE * 3).await?;
            d.topology.routers[i].restart().await?;
            d.topology.routers[i].wait_serving(SETTLE_TIMEOUT).await?;
            d.topology.settle(SETTLE_TIMEOUT).await?;
            d.answers(ANSWERS_PER_STATE * 3).await?;
            d.note(format!(
                "router {i} restarted: {} requests went to the other router",
                d.traffic.counts().rerouted - stopped
            ));
        }
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_registry_killed_restarted_and_a_promotion_at_once_fails_no_request() {
    run("registry_restart_promotion", async |d| {
        let v = d.topology.register_evaluated().await?;
        d.topology.registry.kill()?;
        // Nodes and routers keep serving what they hold.
        d.answers(ANSWERS_PER_STATE * 3).await?;
        d.changing(Serving::champion(v)).await?;
        d.topology.registry.restart().await?;
        d.topology.promote(v).await?;
        d.settled(Serving::champion(v)).await?;
        Ok(())
    })
    .await;
}

// --- the record flow -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_10000_row_and_a_score_only_request_leave_the_record_flow_running() {
    run("record_flow", async |d| {
        let x = d.topology.register_evaluated().await?;
        let trials = d.topology.trials.clone();
        d.changing(Serving::champion(1)).await?;
        let trial = trials
            .start(MODEL, x, pb::TrialMode::Shadow, 0.0, 1.0)
            .await?;
        d.settled(Serving::champion(1)).await?;
        eventually(SETTLE_TIMEOUT, || async {
            trials.report(trial.id).await.is_ok_and(|r| r.records > 0)
        })
        .await
        .map_err(|e| anyhow::anyhow!("no comparison record stored: {e}"))?;

        // 10,000 rows (the node's limit) through router 0.
        let channel = Channel::from_shared(d.topology.routers[0].url.clone())?.connect_lazy();
        let mut big = predict_request(MODEL, FIXTURE_FEATURES, 10_000);
        big.request_id = "drill-10000-rows".into();
        let answer = pb::inference_client::InferenceClient::new(channel)
            .predict(big)
            .await?
            .into_inner();
        anyhow::ensure!(
            answer.scores.len() == 10_000 && answer.version == 1,
            "10,000 rows: {} scores from v{}",
            answer.scores.len(),
            answer.version
        );
        // Only the `score` output, through router 1.
        let channel = Channel::from_shared(d.topology.routers[1].url.clone())?.connect_lazy();
        let answer = GrpcInferenceServiceClient::new(channel)
            .model_infer(ModelInferRequest {
                model_name: MODEL.into(),
                id: "drill-score-only".into(),
                inputs: vec![InferInputTensor {
                    name: "input".into(),
                    datatype: "FP32".into(),
                    shape: vec![2, FIXTURE_FEATURES as i64],
                    contents: Some(joust_proto::inference::InferTensorContents {
                        fp32_contents: vec![0.5; 2 * FIXTURE_FEATURES],
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                outputs: vec![InferRequestedOutputTensor {
                    name: "score".into(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .await?
            .into_inner();
        let names: Vec<&str> = answer.outputs.iter().map(|o| o.name.as_str()).collect();
        anyhow::ensure!(
            names == ["score"],
            "score-only answer has outputs {names:?}"
        );

        // Records keep arriving from both routers, and the stored count
        // keeps growing past the two requests.
        let sent_before: Vec<u64> = router_stats(d)
            .await?
            .iter()
            .map(|s| s.records_sent)
            .collect();
        let stored_before = trials.report(trial.id).await?.records;
        const MORE: u64 = 300;
        let took = eventually(SETTLE_TIMEOUT, || async {
            let Ok(stats) = router_stats(d).await else {
                return false;
            };
            let Ok(report) = trials.report(trial.id).await else {
                return false;
            };
            stats
                .iter()
                .zip(&sent_before)
                .all(|(s, before)| s.records_sent >= before + MORE / 2)
                && report.records >= stored_before + MORE
        })
        .await
        .map_err(|e| {
            anyhow::anyhow!("the record flow stopped after the large and score-only requests: {e}")
        })?;
        let stats = router_stats(d).await?;
        let report = trials.report(trial.id).await?;
        for (i, s) in stats.iter().enumerate() {
            d.note(format!(
                "router {i}: records sent {}, refused {}, dropped {}, buffered {}",
                s.records_sent, s.records_refused, s.records_dropped, s.records_buffered
            ));
        }
        d.note(format!(
            "{} records stored; {MORE} more arrived within {} ms of the two requests",
            report.records,
            took.as_millis()
        ));
        // The report shows what the routers counted: records the
        // registry refused, and records the routers dropped (reported
        // with their next send).
        eventually(SETTLE_TIMEOUT, || async {
            let (Ok(stats), Ok(report)) = (router_stats(d).await, trials.report(trial.id).await)
            else {
                return false;
            };
            report.refused == stats.iter().map(|s| s.records_refused).sum::<u64>()
                && report.dropped == stats.iter().map(|s| s.records_dropped).sum::<u64>()
        })
        .await
        .map_err(|e| {
            anyhow::anyhow!("the report's refused/dropped counts never matched the routers': {e}")
        })?;
        let stats = router_stats(d).await?;
        let refused: u64 = stats.iter().map(|s| s.records_refused).sum();
        let dropped: u64 = stats.iter().map(|s| s.records_dropped).sum();
        let report = trials.report(trial.id).await?;
        let arms = [report.champion.as_ref(), report.challenger.as_ref()];
        anyhow::ensure!(
            arms.iter().flatten().map(|a| a.refused).sum::<u64>() <= report.refused,
            "per-arm refusals exceed the total: {report:?}"
        );
        d.note(format!(
            "report: {} refused, {} dropped (routers: {refused} refused, {dropped} dropped)",
            report.refused, report.dropped
        ));
        trials.stop(MODEL, pb::TrialOutcome::Reject).await?;
        Ok(())
    })
    .await;
}

async fn router_stats(d: &Drill) -> anyhow::Result<Vec<pb::RouterStats>> {
    let mut out = Vec::new();
    for r in &d.topology.routers {
        let channel = Channel::from_shared(r.url.clone())?.connect_lazy();
        out.push(
            pb::router_admin_client::RouterAdminClient::new(channel)
                .get_stats(pb::GetStatsRequest {})
                .await?
                .into_inner(),
        );
    }
    Ok(out)
}

// --- registry health ---------------------------------------------------------

async fn health(url: &str, service: &str) -> Option<ServingStatus> {
    let channel = Channel::from_shared(url.to_owned()).ok()?.connect_lazy();
    let mut req = tonic::Request::new(tonic_health::pb::HealthCheckRequest {
        service: service.to_owned(),
    });
    req.set_timeout(Duration::from_secs(5));
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(req)
        .await
        .ok()
        .map(|r| r.into_inner().status())
}

async fn wait_health(url: &str, want: ServingStatus) -> anyhow::Result<Duration> {
    eventually(Duration::from_secs(60), || async {
        let mut all = true;
        for service in ["", "joust.v1.Registry"] {
            all &= health(url, service).await == Some(want);
        }
        all
    })
    .await
    .map_err(|e| anyhow::anyhow!("registry health is not {want:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_health_follows_a_stopped_postgres() {
    let Some(pg) = PrivatePostgres::start_or_skip().await.unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let blobs = format!("file://{}/blobs", dir.path().display());
    let log = dir.path().join("registry.log");
    let registry = JoustProcess::spawn_logged(
        &[
            "registry",
            "--database-url",
            &pg.url,
            "--blobs",
            &blobs,
            "--listen",
            "127.0.0.1:0",
            "--ui-listen",
            "off",
        ],
        "joust registry listening on",
        Some(&log),
    )
    .unwrap();
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_health(&registry.url, ServingStatus::Serving)
        .await
        .unwrap();
    pg.stop().await.unwrap();
    let down = wait_health(&registry.url, ServingStatus::NotServing)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    pg.resume().await.unwrap();
    let up = wait_health(&registry.url, ServingStatus::Serving)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    report(&format!(
        "DRILL registry_health: NOT_SERVING {} ms after PostgreSQL stopped, SERVING {} ms after it returned",
        down.as_millis(),
        up.as_millis()
    ));
}
