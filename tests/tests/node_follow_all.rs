//! A serving node in follow-all mode (what `joust up` runs): it starts with
//! nothing to follow, discovers each model's champion and challenger as
//! they appear in the registry, keeps unpinned traffic on the champion, and
//! stops following a challenger whose trial ended.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use joust_models::ModelKind;
use joust_proto::v1 as pb;
use joust_server::NodeConfig;
use joust_tests::TestRegistry;
use joust_tests::node::{RegistryOps, TestNode, artifact, eventually, predict_request};

const F: usize = 4;
const WAIT: Duration = Duration::from_secs(10);

/// The version that answers `model` (pinned to `version` when not 0), or
/// the gRPC code of the failure.
async fn answer(node: &TestNode, model: &str, version: u64) -> Result<u64, tonic::Code> {
    let mut request = predict_request(model, F, 1);
    request.version = version;
    node.native()
        .await
        .predict(request)
        .await
        .map(|r| r.into_inner().version)
        .map_err(|s| s.code())
}

async fn followed(node: &TestNode) -> Vec<String> {
    let mut refs: Vec<String> = node
        .admin()
        .await
        .list_loaded(pb::ListLoadedRequest {})
        .await
        .unwrap()
        .into_inner()
        .refs
        .into_iter()
        .map(|r| r.r#ref)
        .collect();
    refs.sort();
    refs
}

#[tokio::test]
async fn follow_all_discovers_champions_and_challengers_and_drops_ended_challengers() {
    let registry = TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    let node = TestNode::start(NodeConfig {
        follow_all: true,
        ..TestNode::config(&registry.url, &[])
    })
    .await
    .unwrap();
    assert_eq!(answer(&node, "m", 0).await, Err(tonic::Code::NotFound));

    // A model without a champion is not followed; once promoted, it is.
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, F, 1),
    )
    .await
    .unwrap();
    ops.promote("m:1").await.unwrap();
    eventually(WAIT, || async { answer(&node, "m", 0).await == Ok(1) })
        .await
        .unwrap();

    // A challenger is loaded beside the champion; unpinned requests stay
    // on the champion.
    ops.register(
        "m",
        "isolation_forest",
        artifact(ModelKind::IsolationForest, F, 2),
    )
    .await
    .unwrap();
    ops.force_evaluated("m:2").await.unwrap();
    ops.transition("m:2", pb::VersionStatus::Challenger)
        .await
        .unwrap();
    eventually(WAIT, || async { answer(&node, "m", 2).await == Ok(2) })
        .await
        .unwrap();
    assert_eq!(answer(&node, "m", 0).await, Ok(1));

    // A second model appears while the node runs.
    ops.register("n", "noop", artifact(ModelKind::Noop, F, 3))
        .await
        .unwrap();
    ops.promote("n:1").await.unwrap();
    eventually(WAIT, || async { answer(&node, "n", 0).await == Ok(1) })
        .await
        .unwrap();
    assert_eq!(
        followed(&node).await,
        ["m@challenger", "m@champion", "n@champion"]
    );

    // The trial ends: the challenger is retired, the node lets it go.
    ops.transition("m:2", pb::VersionStatus::Retired)
        .await
        .unwrap();
    eventually(WAIT, || async {
        answer(&node, "m", 2).await == Err(tonic::Code::NotFound)
    })
    .await
    .unwrap();
    // Dropping the version and unfollowing the ref are two steps of the
    // node's discovery: the ref goes a moment after the version.
    eventually(WAIT, || async {
        followed(&node).await == ["m@champion", "n@champion"]
    })
    .await
    .unwrap();
    assert_eq!(answer(&node, "m", 0).await, Ok(1));
    node.stop().await.unwrap();
}
