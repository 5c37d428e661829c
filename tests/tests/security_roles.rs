//! Authentication and roles over real gRPC: every service of every role
//! refuses a missing or bad token (UNAUTHENTICATED) and a caller whose
//! roles do not grant the method (PERMISSION_DENIED naming the method and
//! the role), lets the right role through, and records the token's
//! subject as the audit actor. Tokens from the static file and JWTs
//! (HS256, ES256; bad signature, issuer, audience, expiry).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use joust_proto::inference as oip;
use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_proto::v1 as pb;
use joust_proto::v1::detection_client::DetectionClient;
use joust_proto::v1::inference_client::InferenceClient;
use joust_proto::v1::registry_client::RegistryClient;
use joust_proto::v1::router_admin_client::RouterAdminClient;
use joust_proto::v1::serving_admin_client::ServingAdminClient;
use joust_proto::v1::trials_client::TrialsClient;
use joust_security::ServerSecurityConfig;
use joust_tests::TestRegistry;
use joust_tests::node::{RegistryOps, artifact, predict_request};
use joust_tests::security::{
    ADMIN, AUDIENCE, AuthFiles, FEATURES, ISSUER, JWT_SECRET, MODEL, OPERATOR, PREDICTOR,
    ProtectedPlatform, READER, SERVICE, authed, channel, client_with, guarded_model, infer, jwt,
};
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// The code of a refused call, and its message checked for `parts`.
#[track_caller]
fn refused<T: std::fmt::Debug>(r: Result<T, Status>, code: Code, parts: &[&str]) {
    let status = r.expect_err("expected a refusal");
    assert_eq!(status.code(), code, "{status:?}");
    for p in parts {
        assert!(
            status.message().contains(p),
            "{:?} lacks {p:?}",
            status.message()
        );
    }
}

async fn protected_registry(extra: ServerSecurityConfig) -> (AuthFiles, TestRegistry) {
    let auth = AuthFiles::write().unwrap();
    let base = auth.server();
    let config = ServerSecurityConfig {
        protect_health: extra.protect_health,
        jwt: if extra.jwt.public_key_file.is_some() {
            extra.jwt
        } else {
            base.jwt.clone()
        },
        ..base
    };
    let registry = TestRegistry::sqlite_secure(config.load().unwrap())
        .await
        .unwrap();
    (auth, registry)
}

#[tokio::test]
async fn registry_roles_and_audit_actor() {
    let (_auth, registry) = protected_registry(ServerSecurityConfig::default()).await;
    let mut c = RegistryClient::new(channel(&registry.url));
    let list = || pb::ListModelsRequest {
        page_size: 10,
        page_token: String::new(),
    };
    let create = |name: &str| pb::CreateModelRequest {
        name: name.into(),
        description: String::new(),
    };

    // No token, a bad token.
    refused(
        c.list_models(list()).await,
        Code::Unauthenticated,
        &["/joust.v1.Registry/ListModels", "authorization"],
    );
    refused(
        c.list_models(authed(list(), "not-a-token-at-all-0000"))
            .await,
        Code::Unauthenticated,
        &["unknown token"],
    );
    // Health stays open for probes.
    let health = HealthClient::new(channel(&registry.url))
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(health.into_inner().status, 1);

    // reader: list and get, not create.
    c.list_models(authed(list(), READER.1)).await.unwrap();
    refused(
        c.create_model(authed(create("m"), READER.1)).await,
        Code::PermissionDenied,
        &["/joust.v1.Registry/CreateModel", "operator", "rita"],
    );
    // predictor: inference only, not even reading the registry.
    refused(
        c.list_models(authed(list(), PREDICTOR.1)).await,
        Code::PermissionDenied,
        &["/joust.v1.Registry/ListModels", "reader"],
    );
    // operator: register, transitions (and reading).
    let mut req = authed(create("m"), OPERATOR.1);
    // A client cannot name another actor when authenticated.
    req.metadata_mut()
        .insert("x-joust-actor", "mallory".parse().unwrap());
    c.create_model(req).await.unwrap();
    let ops = RegistryOps::secure(&registry.url, &client_with(OPERATOR.1));
    ops.register(
        "m",
        "isolation_forest",
        artifact(joust_models::ModelKind::IsolationForest, 4, 1),
    )
    .await
    .unwrap();
    ops.promote("m:1").await.unwrap();
    // admin: everything.
    c.create_model(authed(create("n"), ADMIN.1)).await.unwrap();

    let events = c
        .list_events(authed(
            pb::ListEventsRequest {
                model: "m".into(),
                after_id: 0,
                page_size: 100,
            },
            READER.1,
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(events.len() >= 4, "{events:?}");
    for e in &events {
        assert_eq!(e.actor, OPERATOR.0, "{e:?}");
    }
    let n = c
        .list_events(authed(
            pb::ListEventsRequest {
                model: "n".into(),
                after_id: 0,
                page_size: 10,
            },
            ADMIN.1,
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(n[0].actor, ADMIN.0);
}

#[tokio::test]
async fn trials_roles() {
    let (_auth, registry) = protected_registry(ServerSecurityConfig::default()).await;
    let ops = RegistryOps::secure(&registry.url, &client_with(OPERATOR.1));
    let bytes = |seed| artifact(joust_models::ModelKind::IsolationForest, 4, seed);
    ops.register("t", "isolation_forest", bytes(1))
        .await
        .unwrap();
    ops.promote("t:1").await.unwrap();
    ops.register("t", "isolation_forest", bytes(2))
        .await
        .unwrap();
    ops.force_evaluated("t:2").await.unwrap();
    let mut c = TrialsClient::new(channel(&registry.url));
    let start = || pb::StartTrialRequest {
        model: "t".into(),
        challenger_version: 2,
        mode: pb::TrialMode::Shadow as i32,
        weight: 0.0,
        sampling: 1.0,
        sticky: false,
        gates: None,
        reason: "test".into(),
        plan: None,
    };
    refused(
        c.start_trial(start()).await,
        Code::Unauthenticated,
        &["StartTrial"],
    );
    refused(
        c.start_trial(authed(start(), READER.1)).await,
        Code::PermissionDenied,
        &["/joust.v1.Trials/StartTrial", "operator"],
    );
    refused(
        c.start_trial(authed(start(), PREDICTOR.1)).await,
        Code::PermissionDenied,
        &["/joust.v1.Trials/StartTrial"],
    );
    let trial = c
        .start_trial(authed(start(), OPERATOR.1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(trial.model, "t");
    let list = c
        .list_trials(authed(
            pb::ListTrialsRequest {
                model: "t".into(),
                open_only: true,
                after_id: 0,
                limit: 10,
            },
            READER.1,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.trials.len(), 1);
    c.get_trial_report(authed(
        pb::GetTrialReportRequest {
            id: trial.id,
            model: String::new(),
        },
        READER.1,
    ))
    .await
    .unwrap();
    // Comparison records are written by routers (operator), not readers.
    refused(
        c.record_comparisons(authed(
            futures::stream::iter(vec![pb::RecordComparisonsRequest::default()]),
            READER.1,
        ))
        .await,
        Code::PermissionDenied,
        &["/joust.v1.Trials/RecordComparisons", "operator"],
    );
    let stop = |token| {
        authed(
            pb::StopTrialRequest {
                model: "t".into(),
                outcome: pb::TrialOutcome::Reject as i32,
                reason: "test".into(),
            },
            token,
        )
    };
    refused(
        c.stop_trial(stop(READER.1)).await,
        Code::PermissionDenied,
        &["StopTrial"],
    );
    c.stop_trial(stop(ADMIN.1)).await.unwrap();

    // The trial's audit events name the token subjects.
    let events = RegistryClient::new(channel(&registry.url))
        .list_events(authed(
            pb::ListEventsRequest {
                model: "t".into(),
                after_id: 0,
                page_size: 100,
            },
            READER.1,
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let actor_of = |kind: &str| {
        events
            .iter()
            .find(|e| e.kind == kind)
            .map(|e| e.actor.clone())
    };
    assert_eq!(
        actor_of("trial_started").as_deref(),
        Some(OPERATOR.0),
        "{events:?}"
    );
    assert_eq!(
        actor_of("trial_stopped").as_deref(),
        Some(ADMIN.0),
        "{events:?}"
    );
}

#[tokio::test]
async fn serving_node_roles() {
    let p = ProtectedPlatform::start(|c| c, vec![guarded_model()])
        .await
        .unwrap();
    // The node loaded the champion through the protected registry with
    // the service token.
    let mut oip_c = GrpcInferenceServiceClient::new(channel(&p.node.url));
    let mut native = InferenceClient::new(channel(&p.node.url));
    let mut admin = ServingAdminClient::new(channel(&p.node.url));
    let predict = || predict_request(MODEL, FEATURES, 3);
    let reload = || pb::ReloadRequest {
        r#ref: format!("{MODEL}@champion"),
    };

    refused(
        oip_c.model_infer(infer(3)).await,
        Code::Unauthenticated,
        &["ModelInfer"],
    );
    // predictor: inference, not reload.
    let r = oip_c
        .model_infer(authed(infer(3), PREDICTOR.1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.model_version, "1");
    native
        .predict(authed(predict(), PREDICTOR.1))
        .await
        .unwrap();
    refused(
        admin.reload(authed(reload(), PREDICTOR.1)).await,
        Code::PermissionDenied,
        &["/joust.v1.ServingAdmin/Reload", "operator", "pete"],
    );
    // reader: what is loaded, not inference.
    admin
        .list_loaded(authed(pb::ListLoadedRequest {}, READER.1))
        .await
        .unwrap();
    refused(
        oip_c.model_infer(authed(infer(3), READER.1)).await,
        Code::PermissionDenied,
        &["/inference.GRPCInferenceService/ModelInfer", "predictor"],
    );
    // Server metadata: any authenticated caller.
    oip_c
        .server_live(authed(oip::ServerLiveRequest {}, READER.1))
        .await
        .unwrap();
    // operator: reload, not inference.
    admin.reload(authed(reload(), OPERATOR.1)).await.unwrap();
    refused(
        native.predict(authed(predict(), OPERATOR.1)).await,
        Code::PermissionDenied,
        &["/joust.v1.Inference/Predict", "predictor"],
    );
    refused(
        admin
            .unload(authed(
                pb::UnloadRequest {
                    r#ref: format!("{MODEL}:1"),
                },
                READER.1,
            ))
            .await,
        Code::PermissionDenied,
        &["/joust.v1.ServingAdmin/Unload"],
    );
    // admin: both.
    native.predict(authed(predict(), ADMIN.1)).await.unwrap();
    admin.reload(authed(reload(), ADMIN.1)).await.unwrap();
}

#[tokio::test]
async fn router_roles_and_the_token_it_forwards_with() {
    let p = ProtectedPlatform::start(|c| c, vec![guarded_model()])
        .await
        .unwrap();
    let mut oip_c = GrpcInferenceServiceClient::new(channel(&p.router.url));
    let mut native = InferenceClient::new(channel(&p.router.url));
    let mut admin = RouterAdminClient::new(channel(&p.router.url));

    refused(
        oip_c.model_infer(infer(3)).await,
        Code::Unauthenticated,
        &["ModelInfer"],
    );
    // predictor through the router (which calls the node with its own
    // service token).
    let r = oip_c
        .model_infer(authed(infer(3), PREDICTOR.1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.model_version, "1");
    native
        .predict(authed(predict_request(MODEL, FEATURES, 2), PREDICTOR.1))
        .await
        .unwrap();
    refused(
        admin
            .list_routes(authed(pb::ListRoutesRequest {}, PREDICTOR.1))
            .await,
        Code::PermissionDenied,
        &["/joust.v1.RouterAdmin/ListRoutes", "reader"],
    );
    // reader: routes and stats, not inference.
    admin
        .list_routes(authed(pb::ListRoutesRequest {}, READER.1))
        .await
        .unwrap();
    admin
        .get_stats(authed(pb::GetStatsRequest {}, READER.1))
        .await
        .unwrap();
    refused(
        oip_c.model_infer(authed(infer(3), READER.1)).await,
        Code::PermissionDenied,
        &["ModelInfer", "predictor"],
    );

    // The router calls nodes with its own token, never the caller's: a
    // router holding only a reader token is refused by the protected
    // node behind it, and forwards that answer.
    let reader_router = joust_tests::TestRouter::start(joust_router::RouterConfig {
        security: p.auth.server().load().unwrap(),
        client: client_with(READER.1),
        ..joust_tests::TestRouter::config(&p.registry.url, &[p.node.addr])
    })
    .await
    .unwrap();
    let mut routes = RouterAdminClient::new(channel(&reader_router.url));
    joust_tests::node::eventually(std::time::Duration::from_secs(20), || {
        let mut routes = routes.clone();
        async move {
            routes
                .list_routes(authed(pb::ListRoutesRequest {}, READER.1))
                .await
                .is_ok_and(|r| !r.into_inner().routes.is_empty())
        }
    })
    .await
    .unwrap();
    let mut c = GrpcInferenceServiceClient::new(channel(&reader_router.url));
    refused(
        c.model_infer(authed(infer(3), PREDICTOR.1)).await,
        Code::PermissionDenied,
        &["/inference.GRPCInferenceService/ModelInfer", READER.0],
    );
    let _ = (&mut routes, SERVICE);
}

#[tokio::test]
async fn detection_roles() {
    let p = ProtectedPlatform::start(
        |c| c,
        vec![(
            joust_tests::detect::MODEL,
            joust_tests::detect::market_model(7),
        )],
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = joust_detect::DetectConfig {
        database_url: format!("sqlite://{}/detect.db", dir.path().display()),
        registry_url: Some(p.registry.url.clone()),
        scorer: joust_detect::ScorerConfig {
            router_url: p.router.url.clone(),
            model: joust_tests::detect::MODEL.to_owned(),
            batch_rows: 256,
            client: client_with(SERVICE.1),
            ..joust_detect::ScorerConfig::default()
        },
        evidence: Some(joust_detect::EvidenceConfig {
            url: format!("file://{}/evidence", dir.path().display()),
            ..joust_detect::EvidenceConfig::default()
        }),
        ..joust_detect::DetectConfig::default()
    };
    let detector = joust_detect::server::open(&config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(joust_detect::server::serve(
        listener,
        detector,
        joust_runtime::RoleConfig {
            security: p.auth.server().load().unwrap(),
            max_message_bytes: config.max_message_bytes,
            ..joust_runtime::RoleConfig::default()
        },
        async {
            let _ = stopped.await;
        },
    ));
    let mut c = DetectionClient::new(channel(&url));
    let ingest = || pb::IngestSyntheticRequest {
        interval: "1d".into(),
        tickers: 1,
        rows: 200,
        seed: 3,
        start: 0,
        anomaly_rate: 0.05,
    };
    refused(
        c.ingest_synthetic(ingest()).await,
        Code::Unauthenticated,
        &["IngestSynthetic"],
    );
    refused(
        c.ingest_synthetic(authed(ingest(), READER.1)).await,
        Code::PermissionDenied,
        &["/joust.v1.Detection/IngestSynthetic", "operator"],
    );
    c.ingest_synthetic(authed(ingest(), OPERATOR.1))
        .await
        .unwrap();
    // operator: detect, scored through the protected router and node with
    // the service token.
    let detect = c
        .detect(authed(
            pb::DetectRequest {
                ticker: "SYN000".into(),
                interval: "1d".into(),
                trigger: pb::Trigger::Api as i32,
            },
            OPERATOR.1,
        ))
        .await
        .unwrap()
        .into_inner();
    let run = detect.run.unwrap();
    assert_eq!(run.status, pb::RunStatus::Complete as i32, "{run:?}");
    assert!(run.rows_scored > 0);
    // reader: anomalies and stats; predictor: not.
    let list = || pb::ListAnomaliesRequest {
        ticker: "SYN000".into(),
        limit: 10,
        ..Default::default()
    };
    c.list_anomalies(authed(list(), READER.1)).await.unwrap();
    c.stats(authed(
        pb::StatsRequest {
            ticker: String::new(),
            ..Default::default()
        },
        READER.1,
    ))
    .await
    .unwrap();
    refused(
        c.list_anomalies(authed(list(), PREDICTOR.1)).await,
        Code::PermissionDenied,
        &["ListAnomalies", "reader"],
    );
    // Purging (like editing rules and running workers) needs admin.
    let purge = || pb::PurgeRunsRequest {
        completed_before_ms: 1,
        ..Default::default()
    };
    refused(
        c.purge_runs(authed(purge(), OPERATOR.1)).await,
        Code::PermissionDenied,
        &["/joust.v1.Detection/PurgeRuns", "admin", "olga"],
    );
    c.purge_runs(authed(purge(), ADMIN.1)).await.unwrap();
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn jwt_tokens() {
    let (_auth, registry) = protected_registry(ServerSecurityConfig::default()).await;
    let mut c = RegistryClient::new(channel(&registry.url));
    let list = || pb::ListModelsRequest {
        page_size: 10,
        page_token: String::new(),
    };
    let good = |roles: &[&str]| jwt("jane", roles, ISSUER, AUDIENCE, 600, JWT_SECRET);
    c.list_models(authed(list(), &good(&["reader"])))
        .await
        .unwrap();
    refused(
        c.create_model(authed(
            pb::CreateModelRequest {
                name: "j".into(),
                description: String::new(),
            },
            &good(&["reader", "predictor"]),
        ))
        .await,
        Code::PermissionDenied,
        &["CreateModel", "jane", "reader,predictor"],
    );
    c.create_model(authed(
        pb::CreateModelRequest {
            name: "j".into(),
            description: String::new(),
        },
        &good(&["operator"]),
    ))
    .await
    .unwrap();
    let events = c
        .list_events(authed(
            pb::ListEventsRequest {
                model: "j".into(),
                after_id: 0,
                page_size: 10,
            },
            &good(&["reader"]),
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events[0].actor, "jane");

    let other_secret = "another-secret-of-at-least-32-bytes!!";
    for (token, why) in [
        (
            jwt("jane", &["admin"], ISSUER, AUDIENCE, 600, other_secret),
            "signature",
        ),
        (
            jwt(
                "jane",
                &["admin"],
                "https://evil.test",
                AUDIENCE,
                600,
                JWT_SECRET,
            ),
            "issuer",
        ),
        (
            jwt("jane", &["admin"], ISSUER, "not-joust", 600, JWT_SECRET),
            "audience",
        ),
        (
            jwt("jane", &["admin"], ISSUER, AUDIENCE, -3600, JWT_SECRET),
            "expired",
        ),
    ] {
        refused(
            c.list_models(authed(list(), &token)).await,
            Code::Unauthenticated,
            &[why],
        );
    }
}

#[tokio::test]
async fn jwt_es256_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let public = dir.path().join("idp.pub.pem");
    std::fs::write(&public, key.public_key_pem()).unwrap();
    let mut config = ServerSecurityConfig::default();
    config.jwt.public_key_file = Some(public);
    config.jwt.issuer = Some(ISSUER.into());
    config.jwt.audience = Some(AUDIENCE.into());
    let (_auth, registry) = protected_registry(config).await;
    let now = jsonwebtoken::get_current_timestamp();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &serde_json::json!({"sub": "eve", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "roles": "reader"}),
        &jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let mut c = RegistryClient::new(channel(&registry.url));
    let list = || pb::ListModelsRequest {
        page_size: 10,
        page_token: String::new(),
    };
    c.list_models(authed(list(), &token)).await.unwrap();
    // The HS256 secret is not accepted by an ES256 server.
    refused(
        c.list_models(authed(
            list(),
            &jwt("eve", &["reader"], ISSUER, AUDIENCE, 600, JWT_SECRET),
        ))
        .await,
        Code::Unauthenticated,
        &["algorithm"],
    );
}

#[tokio::test]
async fn protected_health_needs_a_token() {
    let (_auth, registry) = protected_registry(ServerSecurityConfig {
        protect_health: true,
        ..ServerSecurityConfig::default()
    })
    .await;
    let mut health = HealthClient::new(channel(&registry.url));
    let req = || HealthCheckRequest {
        service: String::new(),
    };
    refused(
        health.check(req()).await,
        Code::Unauthenticated,
        &["/grpc.health.v1.Health/Check"],
    );
    health.check(authed(req(), PREDICTOR.1)).await.unwrap();
}

/// The dashboard (HTTP) admits the registry's tokens: no token → 401,
/// a token without `reader` → 403, a reader's header or the cookie set by
/// `/login` → the page.
#[tokio::test]
async fn dashboard_needs_reader() {
    let (_auth, registry) = protected_registry(ServerSecurityConfig::default()).await;
    let ui = registry.dashboard().await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str, auth: Option<(&str, String)>| {
        let mut r = http.get(format!("{}{path}", ui.url));
        if let Some((k, v)) = auth {
            r = r.header(k, v);
        }
        r.send()
    };

    let r = get("/api/models", None).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.text().await.unwrap().contains("missing credentials"));
    let r = get("/models", None).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.text().await.unwrap().contains("action=\"/login\""));
    let r = get(
        "/api/models",
        Some(("authorization", "Bearer wrong-token-0000000000".into())),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = get(
        "/api/models",
        Some(("authorization", format!("Bearer {}", PREDICTOR.1))),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("needs role reader"));
    for token in [READER.1, OPERATOR.1, ADMIN.1] {
        let r = get(
            "/api/models",
            Some(("authorization", format!("Bearer {token}"))),
        )
        .await
        .unwrap();
        assert_eq!(r.status().as_u16(), 200, "token {token}");
    }

    // Browser sign-in: the form is open, a predictor is refused, a reader
    // gets the cookie, and the cookie opens the pages.
    let r = get("/login", None).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let post = |token: &str| {
        http.post(format!("{}/login", ui.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    let r = post(PREDICTOR.1).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    let r = post(READER.1).await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let r = get("/models", Some(("cookie", pair))).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("Models"));
}
