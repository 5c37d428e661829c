//! `joust route` as a user runs it: flags validated before anything is
//! bound, a router process in front of a node answering through the
//! champion, and SIGTERM ending it cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use joust_proto::inference::ServerLiveRequest;
use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_proto::v1::inference_client::InferenceClient;
use joust_tests::TestRegistry;
use joust_tests::node::{FIXTURE_FEATURES, TestNode, eventually, predict_request};
use joust_tests::router::two_versions;
use tonic::transport::Channel;

#[test]
fn bad_flags_are_refused_naming_the_flag() {
    let out = Command::new(joust_tests::joust_bin())
        .args(["route", "--record-batch", "0", "--listen", "127.0.0.1:0"])
        .args(["--metrics-listen", "off"])
        .args(["--http-listen", "off"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("record-batch: expected 1..=10000"), "{err}");
    let out = Command::new(joust_tests::joust_bin())
        .args(["route", "--nodes", "no-port", "--listen", "127.0.0.1:0"])
        .args(["--metrics-listen", "off"])
        .args(["--http-listen", "off"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nodes: expected host:port"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_process_answers_through_the_champion_and_stops_on_sigterm() {
    let registry = TestRegistry::sqlite().await.unwrap();
    two_versions(&registry.url).await.unwrap();
    let node = TestNode::start_ready(TestNode::config(&registry.url, &["m:1", "m:2"]))
        .await
        .unwrap();
    let mut child = Command::new(joust_tests::joust_bin())
        .args(["route", "--registry", &registry.url])
        .args(["--nodes", &node.addr.to_string()])
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off"])
        .args(["--http-listen", "off"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("joust router listening on "), "{line:?}");
    let url = format!("http://{}", line.trim().rsplit(' ').next().unwrap());
    let channel = Channel::from_shared(url).unwrap().connect_lazy();
    let live = GrpcInferenceServiceClient::new(channel.clone())
        .server_live(ServerLiveRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(live.live);
    // Routes are read shortly after start; then the champion answers.
    eventually(std::time::Duration::from_secs(10), || {
        let mut c = InferenceClient::new(channel.clone());
        async move {
            c.predict(predict_request("m", FIXTURE_FEATURES, 1))
                .await
                .is_ok_and(|r| {
                    let r = r.into_inner();
                    r.arm == "champion" && r.version == 1
                })
        }
    })
    .await
    .unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}
