//! Serving node end to end over real sockets (registry on SQLite): every
//! OIP RPC, the native API, every bad-input case, admin Reload / Unload /
//! ListLoaded including refused artifacts, /metrics, and a draining
//! shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_models::ModelKind;
use joust_proto::inference as oip;
use joust_proto::inference::model_infer_request::InferRequestedOutputTensor;
use joust_proto::v1 as pb;
use joust_server::NodeConfig;
use joust_tests::node::{
    artifact, champion_fixture as setup, infer_request as infer, predict_request, schema,
};
use tonic::Code;

const F: usize = joust_tests::node::FIXTURE_FEATURES;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_oip_rpc_answers_through_a_tonic_client() {
    let (_registry, _ops, node) = setup(|c| c).await;
    let mut c = node.oip().await;
    assert!(
        c.server_live(oip::ServerLiveRequest {})
            .await
            .unwrap()
            .into_inner()
            .live
    );
    assert!(
        c.server_ready(oip::ServerReadyRequest {})
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    let ready = |name: &str, version: &str| oip::ModelReadyRequest {
        name: name.into(),
        version: version.into(),
    };
    assert!(
        c.model_ready(ready("m", ""))
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    assert!(
        c.model_ready(ready("m", "1"))
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    assert!(
        !c.model_ready(ready("m", "2"))
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    assert!(
        !c.model_ready(ready("nope", ""))
            .await
            .unwrap()
            .into_inner()
            .ready
    );

    let meta = c
        .server_metadata(oip::ServerMetadataRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meta.name, "joust");
    let meta = c
        .model_metadata(oip::ModelMetadataRequest {
            name: "m".into(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meta.versions, ["1"]);
    assert_eq!(meta.platform, "joust_isolation_forest");
    assert_eq!(meta.inputs[0].datatype, "FP32");
    assert_eq!(meta.inputs[0].shape, [-1, F as i64]);
    let outputs: Vec<_> = meta
        .outputs
        .iter()
        .map(|t| (t.name.as_str(), t.datatype.as_str()))
        .collect();
    assert_eq!(outputs, [("score", "FP32"), ("label", "BOOL")]);

    let r = c
        .model_infer(infer(
            vec![2, 3],
            "FP32",
            vec![0.1, 0.2, 0.3, 9.0, 9.0, 9.0],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            r.model_name.as_str(),
            r.model_version.as_str(),
            r.id.as_str()
        ),
        ("m", "1", "req-1")
    );
    assert_eq!(r.outputs[0].name, "score");
    assert_eq!(r.outputs[0].shape, [2]);
    let scores = &r.outputs[0].contents.as_ref().unwrap().fp32_contents;
    assert_eq!(scores.len(), 2);
    assert_eq!(
        r.outputs[1].contents.as_ref().unwrap().bool_contents.len(),
        2
    );

    // raw_input_contents in, raw_output_contents out, same scores.
    let mut raw = infer(vec![2, 3], "FP32", vec![]);
    raw.inputs[0].contents = None;
    raw.raw_input_contents = vec![
        [0.1f32, 0.2, 0.3, 9.0, 9.0, 9.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
    ];
    raw.outputs = vec![InferRequestedOutputTensor {
        name: "score".into(),
        parameters: Default::default(),
    }];
    let r = c.model_infer(raw).await.unwrap().into_inner();
    assert_eq!(r.outputs.len(), 1);
    let raw_scores: Vec<f32> = r.raw_output_contents[0]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(&raw_scores, scores);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_predict_takes_named_or_positional_rows_and_pins_versions() {
    let (_registry, _ops, node) = setup(|c| c).await;
    let mut c = node.native().await;
    let mut req = predict_request("m", F, 4);
    req.request_id = "abc".into();
    let r = c.predict(req).await.unwrap().into_inner();
    assert_eq!(
        (r.model.as_str(), r.version, r.request_id.as_str()),
        ("m", 1, "abc")
    );
    assert_eq!((r.scores.len(), r.labels.len()), (4, 4));

    let named = pb::FeatureRow {
        values: vec![],
        features: schema(F)
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, i as f32 * 0.1))
            .collect(),
    };
    let mut req = predict_request("m", F, 0);
    req.rows = vec![named];
    let named_score = c.predict(req).await.unwrap().into_inner().scores[0];
    let positional = c
        .predict(predict_request("m", F, 1))
        .await
        .unwrap()
        .into_inner()
        .scores[0];
    assert_eq!(named_score, positional);

    let mut pinned = predict_request("m", F, 1);
    pinned.version = 2;
    let e = c.predict(pinned).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_scoring_pool_answers_resource_exhausted() {
    let (_registry, _ops, node) = setup(|c| NodeConfig {
        inline_rows: 0,
        max_blocking_batches: 1,
        ..c
    })
    .await;
    let rows = 5_000;
    let calls = (0..12).map(|_| {
        let node_url = node.url.clone();
        tokio::spawn(async move {
            let mut c = joust_proto::v1::inference_client::InferenceClient::connect(node_url)
                .await
                .unwrap();
            c.predict(predict_request("m", F, rows)).await
        })
    });
    let results = futures::future::join_all(calls).await;
    let codes: Vec<Code> = results
        .into_iter()
        .map(|r| r.unwrap().map_or_else(|e| e.code(), |_| Code::Ok))
        .collect();
    assert!(codes.contains(&Code::Ok), "{codes:?}");
    assert!(codes.contains(&Code::ResourceExhausted), "{codes:?}");
    assert!(
        codes
            .iter()
            .all(|c| matches!(c, Code::Ok | Code::ResourceExhausted)),
        "{codes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_and_refused_artifacts_keep_the_old_version_serving() {
    let (registry, ops, node) = setup(|c| c).await;
    let mut admin = node.admin().await;
    let mut native = node.native().await;

    // Bytes that are no model: the registry refuses them for a model kind
    // (corrupt bytes behind a matching checksum are the loader's unit
    // test) and stores them as `opaque`, which nodes never serve.
    let e = ops
        .register("m", "isolation_forest", b"definitely not a model".to_vec())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not a joust model artifact"), "{e}");
    ops.register("m", "opaque", b"definitely not a model".to_vec())
        .await
        .unwrap();
    let e = admin
        .reload(pb::ReloadRequest {
            r#ref: "m:3".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(
        e.message().contains("m:3 is of kind opaque") && e.message().contains("never served"),
        "{e:?}"
    );

    // A checksum mismatch: v4's blob is altered behind the registry's back.
    let v4 = ops
        .register("m", "noop", artifact(ModelKind::Noop, F, 4))
        .await
        .unwrap();
    let blob = registry
        .dir
        .path()
        .join("blobs")
        .join("sha256")
        .join(&v4.sha256);
    std::fs::write(&blob, artifact(ModelKind::Noop, F, 5)).unwrap();
    let e = admin
        .reload(pb::ReloadRequest {
            r#ref: "m:4".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(
        e.message().contains("checksum mismatch") && e.message().contains(&v4.sha256),
        "{e:?}"
    );

    // Refused champion: the champion ref fails, v1 keeps serving.
    let r = native
        .predict(predict_request("m", F, 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.version, 1);
    let listed = admin
        .list_loaded(pb::ListLoadedRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.models.len(), 1);
    assert_eq!(
        (listed.models[0].version, listed.models[0].state.as_str()),
        (1, "serving")
    );

    // Reload of the followed ref re-fetches and reports the load.
    let r = admin
        .reload(pb::ReloadRequest {
            r#ref: "m@champion".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.old_version, r.new_version, r.model.as_str()),
        (1, 1, "m")
    );
    assert_eq!(r.sha256.len(), 64);

    // A new ref: v2 is loaded beside v1, answers when pinned.
    let r = admin
        .reload(pb::ReloadRequest {
            r#ref: "m:2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.old_version, r.new_version), (0, 2));
    let mut pinned = predict_request("m", F, 1);
    pinned.version = 2;
    assert_eq!(
        native.predict(pinned).await.unwrap().into_inner().version,
        2
    );
    assert_eq!(
        native
            .predict(predict_request("m", F, 1))
            .await
            .unwrap()
            .into_inner()
            .version,
        1
    );

    let listed = admin
        .list_loaded(pb::ListLoadedRequest {})
        .await
        .unwrap()
        .into_inner();
    let stats: Vec<_> = listed
        .models
        .iter()
        .map(|m| (m.version, m.state.as_str(), m.requests, m.refs.clone()))
        .collect();
    assert_eq!(
        stats,
        [
            (1, "serving", 1, vec!["m@champion".to_owned()]),
            (2, "loaded", 1, vec!["m:2".to_owned()])
        ]
    );
    assert!(
        listed
            .models
            .iter()
            .all(|m| m.loaded_at.is_some() && m.kind.len() > 2)
    );

    // Unload drops v2; unloading it twice is NOT_FOUND.
    let r = admin
        .unload(pb::UnloadRequest {
            r#ref: "m:2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.version, 2);
    let e = admin
        .unload(pb::UnloadRequest {
            r#ref: "m:2".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = admin
        .reload(pb::ReloadRequest {
            r#ref: "m@@x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = admin
        .reload(pb::ReloadRequest {
            r#ref: "ghost@champion".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");

    let metrics = node.metrics_text().await.unwrap();
    assert!(
        metrics.contains("joust_node_model_load_failures_total{model=\"m\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("joust_node_model_loads_total{model=\"m\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("joust_node_request_duration_seconds_bucket"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_requests_and_returns_ok() {
    let (_registry, _ops, node) = setup(|c| NodeConfig {
        inline_rows: 0,
        max_blocking_batches: 1,
        ..c
    })
    .await;
    let connect = || joust_proto::v1::inference_client::InferenceClient::connect(node.url.clone());
    let mut probe = connect().await.unwrap();
    for _ in 0..20 {
        let mut c = connect().await.unwrap();
        let in_flight =
            tokio::spawn(async move { c.predict(predict_request("m", F, 10_000)).await });
        // The one blocking slot is taken exactly while the big batch is
        // being scored: a probe answering RESOURCE_EXHAUSTED proves it is
        // in flight on the server.
        let mut busy = false;
        while !in_flight.is_finished() {
            if let Err(e) = probe.predict(predict_request("m", F, 1)).await {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                busy = true;
                break;
            }
        }
        if !busy {
            // The probe may have held the only slot while the big batch
            // arrived; then the big batch is the one turned away. Either
            // way nothing was in flight at the stop: try again.
            match in_flight.await.unwrap() {
                Ok(_) => {}
                Err(e) => assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}"),
            }
            continue;
        }
        node.stop().await.unwrap();
        let r = in_flight
            .await
            .unwrap()
            .expect("in-flight request drained, not cut");
        assert_eq!(r.into_inner().scores.len(), 10_000);
        return;
    }
    panic!("never caught a request in flight");
}
