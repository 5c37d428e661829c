//! The registry over real gRPC: every RPC through the typed client, the
//! status code of each bad input, health and reflection — on SQLite and
//! PostgreSQL, and with blobs on S3.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use joust_client::{ClientError, RegistryClient, pb};
use joust_tests::TestRegistry;
use tonic::Code;

fn code(r: Result<impl std::fmt::Debug, ClientError>) -> (Code, String) {
    match r {
        Err(ClientError::Status(s)) => (s.code(), s.message().to_owned()),
        other => panic!("expected a gRPC error, got {other:?}"),
    }
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { let r = joust_tests::TestRegistry::sqlite().await.unwrap(); super::$name(&r).await } )* }
        mod postgres { $( #[tokio::test] async fn $name() { let r = joust_tests::TestRegistry::postgres().await.unwrap(); super::$name(&r).await } )* }
    };
}

both!(
    lifecycle_over_the_wire,
    bad_input_gets_clear_codes,
    health_and_reflection
);

async fn lifecycle_over_the_wire(r: &TestRegistry) {
    let c = RegistryClient::connect(&r.url)
        .await
        .unwrap()
        .with_actor("ci");
    c.create_model("anomaly_detector", "market anomalies")
        .await
        .unwrap();
    // 3 MiB: several upload and download chunks.
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let v1 = c
        .register_version(
            "anomaly_detector",
            "opaque",
            Bytes::from(big.clone()),
            // Evaluated before registration: the passing evaluation is
            // recorded with the version, so `evaluated` needs no override.
            [
                ("flow".to_owned(), "test".to_owned()),
                ("eval.passed".to_owned(), "true".to_owned()),
            ]
            .into(),
            r#"{"rows": 10}"#,
        )
        .await
        .unwrap();
    assert_eq!(
        (v1.version, v1.status),
        (1, pb::VersionStatus::Candidate as i32)
    );
    assert_eq!(v1.created_by, "ci");
    let v2 = c
        .register_version(
            "anomaly_detector",
            "opaque",
            Bytes::from_static(b"v2"),
            [("eval.passed".to_owned(), "true".to_owned())].into(),
            "",
        )
        .await
        .unwrap();
    let (got, bytes) = c.download_artifact("anomaly_detector:1").await.unwrap();
    assert_eq!(got.sha256, v1.sha256);
    assert_eq!(bytes.as_ref(), big.as_slice());
    for v in ["anomaly_detector:1", "anomaly_detector:2"] {
        c.transition(v, pb::VersionStatus::Evaluated, "gates passed")
            .await
            .unwrap();
    }
    c.transition("anomaly_detector:1", pb::VersionStatus::Champion, "first")
        .await
        .unwrap();
    c.transition("anomaly_detector:2", pb::VersionStatus::Champion, "better")
        .await
        .unwrap();
    assert_eq!(
        c.get_version("anomaly_detector").await.unwrap().version,
        v2.version
    );
    let rb = c.rollback("anomaly_detector", "regression").await.unwrap();
    assert_eq!(rb.champion.unwrap().version, 1);
    assert_eq!(rb.retired.unwrap().version, 2);
    c.set_alias("anomaly_detector", "canary", 2).await.unwrap();
    assert_eq!(
        c.get_version("anomaly_detector@canary")
            .await
            .unwrap()
            .version,
        2
    );
    c.delete_alias("anomaly_detector", "canary").await.unwrap();
    let m = c.get_model("anomaly_detector").await.unwrap();
    assert_eq!((m.latest_version, m.champion_version), (2, 1));
    let versions = c
        .list_versions("anomaly_detector", pb::VersionStatus::Unspecified)
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);
    let events = c.list_events("anomaly_detector", 0).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "model_created",
            "version_registered",
            "version_registered",
            "transition",
            "transition",
            "transition",
            "transition",
            "transition",
            "rollback",
            "rollback",
            "alias_set",
            "alias_deleted"
        ]
    );
    assert!(events.iter().all(|e| e.actor == "ci"));
    let d = c
        .register_dataset(
            pb::DatasetMetadata {
                name: "market".into(),
                rows: 2,
                schema: vec!["a".into()],
                ..Default::default()
            },
            Bytes::from_static(b"a\n1\n2\n"),
        )
        .await
        .unwrap();
    let (d2, bytes) = c.download_dataset("market@latest").await.unwrap();
    assert_eq!((d2.version, d2.sha256.clone()), (d.version, d.sha256));
    assert_eq!(bytes.as_ref(), b"a\n1\n2\n");
    assert_eq!(c.list_datasets("").await.unwrap().len(), 1);
}

async fn bad_input_gets_clear_codes(r: &TestRegistry) {
    let c = RegistryClient::connect(&r.url).await.unwrap();
    c.create_model("m", "").await.unwrap();
    c.register_version(
        "m",
        "opaque",
        Bytes::from_static(b"x"),
        Default::default(),
        "",
    )
    .await
    .unwrap();

    let (k, msg) = code(c.create_model("m", "").await);
    assert_eq!(k, Code::AlreadyExists, "{msg}");
    let (k, msg) = code(c.get_version("nope").await);
    assert_eq!(k, Code::NotFound, "{msg}");
    assert!(msg.contains("\"nope\""), "{msg}");
    let (k, msg) = code(c.get_version("m:5").await);
    assert_eq!(
        (k, msg.contains("no version 5")),
        (Code::NotFound, true),
        "{msg}"
    );
    let (k, msg) = code(c.get_version("m@blue").await);
    assert_eq!(
        (k, msg.contains("no alias")),
        (Code::NotFound, true),
        "{msg}"
    );
    let (k, msg) = code(c.transition("m:1", pb::VersionStatus::Champion, "").await);
    assert_eq!(k, Code::FailedPrecondition, "{msg}");
    assert!(msg.contains("evaluated, retired"), "{msg}");
    let (k, msg) = code(
        c.transition("m:1", pb::VersionStatus::Unspecified, "")
            .await,
    );
    assert_eq!(
        (k, msg.starts_with("to:")),
        (Code::InvalidArgument, true),
        "{msg}"
    );
    for bad in ["a::b", "", &"x".repeat(300), "bad name", "m@"] {
        let (k, msg) = code(c.get_version(bad).await);
        assert_eq!(k, Code::InvalidArgument, "{bad:?}: {msg}");
        assert!(msg.starts_with("ref:"), "{msg}");
    }
    let (k, msg) = code(c.create_model("has/slash", "").await);
    assert_eq!(
        (k, msg.starts_with("name:")),
        (Code::InvalidArgument, true),
        "{msg}"
    );

    // Digest mismatch: refused, no row, no blob.
    let before = c.get_model("m").await.unwrap().latest_version;
    let mut raw = c.raw();
    use pb::register_version_request::Part;
    let msgs = vec![
        pb::RegisterVersionRequest {
            part: Some(Part::Metadata(pb::VersionMetadata {
                model: "m".into(),
                kind: "noop".into(),
                sha256: "ab".repeat(32),
                ..Default::default()
            })),
        },
        pb::RegisterVersionRequest {
            part: Some(Part::Chunk(b"other bytes".to_vec())),
        },
    ];
    let e = raw
        .register_version(futures::stream::iter(msgs))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    assert!(
        e.message().starts_with("sha256: declared"),
        "{}",
        e.message()
    );
    assert_eq!(c.get_model("m").await.unwrap().latest_version, before);
    let blob_dir = r.dir.path().join("blobs/sha256");
    assert_eq!(
        std::fs::read_dir(&blob_dir).unwrap().count(),
        1,
        "only the first artifact's blob"
    );

    // A chunk before the metadata.
    let e = raw
        .register_version(futures::stream::iter(vec![pb::RegisterVersionRequest {
            part: Some(Part::Chunk(b"x".to_vec())),
        }]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("metadata:"), "{}", e.message());

    // Oversized metadata.
    let huge: std::collections::HashMap<_, _> = [("k".to_owned(), "v".repeat(5000))].into();
    let (k, msg) = code(
        c.register_version("m", "noop", Bytes::from_static(b"y"), huge, "")
            .await,
    );
    assert_eq!(
        (k, msg.starts_with("annotations[k]")),
        (Code::InvalidArgument, true),
        "{msg}"
    );
    let (k, msg) = code(
        c.register_version(
            "m",
            "noop",
            Bytes::from_static(b"y"),
            Default::default(),
            "not json",
        )
        .await,
    );
    assert_eq!(
        (k, msg.starts_with("metrics_json:")),
        (Code::InvalidArgument, true),
        "{msg}"
    );
    let (k, msg) = code(c.set_alias("m", "latest", 1).await);
    assert_eq!(
        (k, msg.contains("reserved")),
        (Code::InvalidArgument, true),
        "{msg}"
    );
    let (k, _) = code(c.rollback("ghost", "").await);
    assert_eq!(k, Code::NotFound);
    let e = c
        .raw()
        .list_versions(pb::ListVersionsRequest {
            model: "m".into(),
            page_token: "zz".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(e.message().starts_with("page_token:"), "{}", e.message());
}

async fn health_and_reflection(r: &TestRegistry) {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let channel = joust_client::channel(&r.url).await.unwrap();
    let mut h = HealthClient::new(channel.clone());
    for service in ["", "joust.v1.Registry"] {
        let s = h
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(s.status, ServingStatus::Serving as i32, "{service:?}");
    }
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut refl = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = refl
        .server_reflection_info(futures::stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("no list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"joust.v1.Registry".to_owned()), "{names:?}");
}

#[tokio::test]
async fn blobs_on_s3() {
    let Some((bucket, s3)) = joust_tests::s3_endpoint() else {
        assert!(
            !joust_tests::require_all(),
            "the S3 suite is required in this run"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = joust_registry::RegistryConfig {
        database_url: format!("sqlite://{}/r.db", dir.path().display()),
        blobs_url: format!("s3://{bucket}/registry-{}", uuid::Uuid::new_v4().simple()),
        s3,
        ..Default::default()
    };
    let r = TestRegistry::start(config, dir, None, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let c = RegistryClient::connect(&r.url).await.unwrap();
    c.create_model("m", "").await.unwrap();
    let v = c
        .register_version(
            "m",
            "opaque",
            Bytes::from_static(b"on s3"),
            Default::default(),
            "",
        )
        .await
        .unwrap();
    assert!(
        v.artifact_uri
            .starts_with(&format!("s3://{bucket}/registry-")),
        "{}",
        v.artifact_uri
    );
    let (_, bytes) = c.download_artifact("m:1").await.unwrap();
    assert_eq!(bytes.as_ref(), b"on s3");
}
