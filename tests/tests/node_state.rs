//! The serving node's state stream (`ServingAdmin.WatchServingState`) and
//! its health, against a PostgreSQL registry: the first message is the
//! whole state; a promotion shows the new version LOADING then READY and
//! the old one DRAINING (still answering pinned requests) until the
//! unbound grace ends, then gone; a corrupt artifact is REFUSED with its
//! reason while the old version keeps serving. A node following
//! `m@challenger` with no open trial is SERVING and counts no load
//! failure; a node that cannot load its champion yet is NOT_SERVING and
//! answers UNAVAILABLE, not NOT_FOUND.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use joust_models::ModelKind;
use joust_proto::v1 as pb;
use joust_server::NodeConfig;
use joust_tests::TestRegistry;
use joust_tests::node::{
    Partition, RegistryOps, TestNode, artifact, eventually, next_state_until, predict_request,
    state_lines,
};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

const F: usize = 3;
const WAIT: Duration = Duration::from_secs(15);

async fn answer(node: &TestNode, version: u64) -> Result<u64, tonic::Status> {
    let mut request = predict_request("m", F, 1);
    request.version = version;
    node.native()
        .await
        .predict(request)
        .await
        .map(|r| r.into_inner().version)
}

async fn health(node: &TestNode) -> ServingStatus {
    node.health()
        .await
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

fn lines(state: &pb::ServingState) -> Vec<String> {
    state_lines(state)
}

/// `m` v1, an isolation forest, champion.
async fn champion_v1(registry_url: &str) -> RegistryOps {
    let ops = RegistryOps::new(registry_url);
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, F, 1),
    )
    .await
    .unwrap();
    ops.promote("m:1").await.unwrap();
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_stream_follows_loading_ready_draining_gone_and_refused() {
    let registry = TestRegistry::postgres().await.unwrap();
    let ops = champion_v1(&registry.url).await;
    ops.register("m", "noop", artifact(ModelKind::Noop, F, 2))
        .await
        .unwrap();
    // The node reaches the registry through a link the test can slow
    // down, so a load in progress lasts long enough to be seen.
    let link = Partition::start(registry.addr).await.unwrap();
    let grace = Duration::from_millis(1500);
    let node = TestNode::start_ready(NodeConfig {
        unbound_grace: grace,
        ..TestNode::config(&link.url, &["m@champion"])
    })
    .await
    .unwrap();

    // The first message is the whole state.
    let mut states = node.serving_states().await.unwrap();
    let first = states.message().await.unwrap().unwrap();
    assert!(first.full && !first.node_id.is_empty(), "{first:?}");
    assert_eq!(lines(&first), ["m:1 READY [m@champion]"]);

    // A promotion: v2 loading beside v1, then ready; v1 drains.
    link.set_delay(Duration::from_millis(300));
    ops.promote("m:2").await.unwrap();
    let seen = next_state_until(&mut states, WAIT, |s| {
        lines(s) == ["m:1 DRAINING []", "m:2 READY [m@champion]"]
    })
    .await
    .unwrap();
    assert!(seen[0].generation > first.generation);
    assert!(
        seen.iter()
            .any(|s| lines(s) == ["m:1 READY [m@champion]", "m:2 LOADING [m@champion]"]),
        "v2 was seen loading while v1 served: {:?}",
        seen.iter().map(lines).collect::<Vec<_>>()
    );
    link.set_delay(Duration::ZERO);
    let draining_since = tokio::time::Instant::now();
    // Draining: v1 still answers pinned requests, unpinned ones go to v2.
    assert_eq!(answer(&node, 1).await.unwrap(), 1);
    assert_eq!(answer(&node, 0).await.unwrap(), 2);
    // The grace ends: v1 leaves the state and pinned requests find it gone.
    next_state_until(&mut states, WAIT, |s| {
        lines(s) == ["m:2 READY [m@champion]"]
    })
    .await
    .unwrap();
    let drained = draining_since.elapsed();
    assert!(
        drained + Duration::from_millis(400) >= grace && drained < grace * 3,
        "dropped after {drained:?} with a grace of {grace:?}"
    );
    assert_eq!(answer(&node, 1).await.unwrap_err().code(), Code::NotFound);

    // A corrupt champion: v3's blob is replaced behind the registry's back
    // (a checksum mismatch). Refused with the reason; v2 keeps serving.
    let v3 = ops
        .register("m", "noop", artifact(ModelKind::Noop, F, 3))
        .await
        .unwrap();
    let blob = registry
        .dir
        .path()
        .join("blobs")
        .join("sha256")
        .join(&v3.sha256);
    std::fs::write(&blob, b"not the artifact that was registered").unwrap();
    ops.promote("m:3").await.unwrap();
    let seen = next_state_until(&mut states, WAIT, |s| {
        s.versions
            .iter()
            .any(|v| v.version == 3 && v.phase == pb::VersionPhase::Refused as i32)
    })
    .await
    .unwrap();
    let refused = seen.last().unwrap();
    let l = lines(refused);
    assert_eq!(l[0], "m:2 READY [m@champion]", "{l:?}");
    assert!(
        l[1].starts_with("m:3 REFUSED [m@champion] reason=checksum mismatch for m:3"),
        "{l:?}"
    );
    assert_eq!(answer(&node, 0).await.unwrap(), 2);
    assert_eq!(health(&node).await, ServingStatus::Serving);
    let metrics = node.metrics_text().await.unwrap();
    assert!(
        metrics.contains("joust_node_model_load_failures_total{model=\"m\"}"),
        "{metrics}"
    );

    // Rolled back to v2: the refusal is forgotten (no ref resolves to v3).
    ops.rollback("m").await.unwrap();
    next_state_until(&mut states, WAIT, |s| {
        lines(s) == ["m:2 READY [m@champion]"]
    })
    .await
    .unwrap();
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenger_without_a_trial_is_normal_and_drains_when_its_trial_ends() {
    let registry = TestRegistry::postgres().await.unwrap();
    let ops = champion_v1(&registry.url).await;
    // As the README recommends: follow the champion and the challenger.
    let node = TestNode::start_ready(NodeConfig {
        unbound_grace: Duration::from_millis(500),
        ..TestNode::config(&registry.url, &["m@champion", "m@challenger"])
    })
    .await
    .unwrap();
    assert_eq!(health(&node).await, ServingStatus::Serving);
    let listed = node
        .admin()
        .await
        .list_loaded(pb::ListLoadedRequest {})
        .await
        .unwrap()
        .into_inner();
    let refs: Vec<_> = listed
        .refs
        .iter()
        .map(|r| (r.r#ref.as_str(), r.state.as_str(), r.failures))
        .collect();
    assert_eq!(
        refs,
        [("m@champion", "ready", 0), ("m@challenger", "absent", 0)]
    );
    let metrics = node.metrics_text().await.unwrap();
    assert!(
        !metrics.contains("joust_node_model_load_failures_total{model=\"m\"}"),
        "a missing challenger is not a load failure: {metrics}"
    );

    // A trial's challenger is loaded and ready beside the champion.
    let mut states = node.serving_states().await.unwrap();
    let first = states.message().await.unwrap().unwrap();
    assert_eq!(lines(&first), ["m:1 READY [m@champion]"]);
    ops.register("m", "noop", artifact(ModelKind::Noop, F, 2))
        .await
        .unwrap();
    ops.force_evaluated("m:2").await.unwrap();
    ops.transition("m:2", pb::VersionStatus::Challenger)
        .await
        .unwrap();
    next_state_until(&mut states, WAIT, |s| {
        lines(s) == ["m:1 READY [m@champion]", "m:2 READY [m@challenger]"]
    })
    .await
    .unwrap();
    assert_eq!(answer(&node, 2).await.unwrap(), 2);
    assert_eq!(answer(&node, 0).await.unwrap(), 1);

    // The trial ends: the challenger drains, then goes; the node stays
    // SERVING and still counts no failure.
    ops.transition("m:2", pb::VersionStatus::Retired)
        .await
        .unwrap();
    next_state_until(&mut states, WAIT, |s| {
        lines(s) == ["m:1 READY [m@champion]", "m:2 DRAINING []"]
    })
    .await
    .unwrap();
    next_state_until(&mut states, WAIT, |s| {
        lines(s) == ["m:1 READY [m@champion]"]
    })
    .await
    .unwrap();
    assert_eq!(health(&node).await, ServingStatus::Serving);
    let metrics = node.metrics_text().await.unwrap();
    assert!(
        !metrics.contains("joust_node_model_load_failures_total{model=\"m\"}"),
        "{metrics}"
    );
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_has_not_loaded_its_champion_is_not_serving_and_answers_unavailable() {
    let registry = TestRegistry::postgres().await.unwrap();
    champion_v1(&registry.url).await;
    // The node starts while its registry is unreachable (a restart during
    // a registry outage).
    let link = Partition::start(registry.addr).await.unwrap();
    link.cut();
    let node = TestNode::start(TestNode::config(&link.url, &["m@champion"]))
        .await
        .unwrap();
    eventually(WAIT, || async {
        node.health()
            .await
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .is_ok()
    })
    .await
    .unwrap();
    assert_eq!(health(&node).await, ServingStatus::NotServing);
    let e = answer(&node, 0).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(
        e.message().contains("not ready on this node") && e.message().contains("m@champion"),
        "{e:?}"
    );
    let mut states = node.serving_states().await.unwrap();
    let first = states.message().await.unwrap().unwrap();
    assert!(first.versions.is_empty(), "{first:?}");

    link.heal().await.unwrap();
    node.wait_serving("", WAIT).await.unwrap();
    assert_eq!(answer(&node, 0).await.unwrap(), 1);
    next_state_until(&mut states, WAIT, |s| {
        lines(s) == ["m:1 READY [m@champion]"]
    })
    .await
    .unwrap();
    node.stop().await.unwrap();
}

/// A node process on a loaded CI machine can take a while to follow a
/// promotion (a deadline, not a measurement).
const PROCESS_WAIT: Duration = Duration::from_secs(60);

/// `joust serve --unbound-grace` as a process: the old champion drains for
/// the grace given on the command line, then goes; a value without a unit
/// is refused before anything is bound, naming the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joust_serve_takes_the_unbound_grace_flag() {
    let registry = TestRegistry::postgres().await.unwrap();
    let ops = champion_v1(&registry.url).await;
    ops.register("m", "noop", artifact(ModelKind::Noop, F, 2))
        .await
        .unwrap();

    let refused = std::process::Command::new(joust_tests::joust_bin())
        .args([
            "serve",
            "--registry",
            &registry.url,
            "--model",
            "m@champion",
        ])
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off"])
        .args(["--http-listen", "off"])
        .args(["--unbound-grace", "30"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("--unbound-grace") && stderr.contains("expected a duration"),
        "{stderr}"
    );

    let grace = Duration::from_millis(1500);
    let node = joust_tests::process::JoustProcess::spawn(
        &[
            "serve",
            "--registry",
            &registry.url,
            "--model",
            "m@champion",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--http-listen",
            "off",
            "--unbound-grace",
            "1500ms",
        ],
        "joust serve listening on",
    )
    .unwrap();
    node.wait_serving(Duration::from_secs(60)).await.unwrap();
    let channel = tonic::transport::Channel::from_shared(node.url.clone())
        .unwrap()
        .connect_lazy();
    let mut admin = pb::serving_admin_client::ServingAdminClient::new(channel);
    let mut states = admin
        .watch_serving_state(pb::WatchServingStateRequest {})
        .await
        .unwrap()
        .into_inner();
    let first = states.message().await.unwrap().unwrap();
    assert_eq!(lines(&first), ["m:1 READY [m@champion]"]);
    // Draining cannot start before the promotion is asked for, so the time
    // from asking to the drop is at least the grace however late the
    // stream's messages arrive; the default (30 s) would take far longer
    // than the upper bound.
    let asked = tokio::time::Instant::now();
    ops.promote("m:2").await.unwrap();
    next_state_until(&mut states, PROCESS_WAIT, |s| {
        lines(s) == ["m:1 DRAINING []", "m:2 READY [m@champion]"]
    })
    .await
    .unwrap();
    let seen_draining = tokio::time::Instant::now();
    next_state_until(&mut states, PROCESS_WAIT, |s| {
        lines(s) == ["m:2 READY [m@champion]"]
    })
    .await
    .unwrap();
    let dropped = asked.elapsed();
    let drained = seen_draining.elapsed();
    assert!(
        dropped >= grace && drained < Duration::from_secs(20),
        "dropped {dropped:?} after the promotion ({drained:?} after DRAINING was seen) \
         with --unbound-grace 1500ms"
    );
}
