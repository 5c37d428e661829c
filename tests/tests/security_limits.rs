//! Limits over real gRPC: per-caller rate limits (RESOURCE_EXHAUSTED per
//! subject, or per peer when anonymous; exempt subjects; probes never
//! limited), client deadlines through the router (a passed deadline is
//! answered DEADLINE_EXCEEDED without calling the node; a silent node
//! gives DEADLINE_EXCEEDED when the deadline passes), and secrets kept
//! out of the logs of the `joust` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use joust_proto::v1 as pb;
use joust_proto::v1::registry_client::RegistryClient;
use joust_security::ServerSecurityConfig;
use joust_tests::node::{RegistryOps, artifact, eventually};
use joust_tests::security::{
    AuthFiles, FEATURES, MODEL, OPERATOR, PREDICTOR, ProtectedPlatform, READER, SERVICE, authed,
    channel, guarded_model, infer,
};
use joust_tests::{TestDatabase, TestRegistry, TestRouter};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

fn list() -> pb::ListModelsRequest {
    pb::ListModelsRequest {
        page_size: 1,
        page_token: String::new(),
    }
}

/// Codes of `n` back-to-back ListModels calls with `token` (none: anonymous).
async fn burst(
    c: &mut RegistryClient<tonic::transport::Channel>,
    token: Option<&str>,
    n: usize,
) -> Vec<Code> {
    let mut codes = Vec::new();
    for _ in 0..n {
        let r = match token {
            Some(t) => c.list_models(authed(list(), t)).await,
            None => c.list_models(list()).await,
        };
        codes.push(r.map_or_else(|s| s.code(), |_| Code::Ok));
    }
    codes
}

#[tokio::test]
async fn rate_limit_per_subject_and_per_peer() {
    let auth = AuthFiles::write().unwrap();
    let limited = |c: ServerSecurityConfig| ServerSecurityConfig {
        rate_limit_per_second: 1,
        rate_limit_burst: Some(3),
        rate_limit_exempt: vec![SERVICE.0.to_owned()],
        ..c
    };
    let registry = TestRegistry::sqlite_secure(limited(auth.server()).load().unwrap())
        .await
        .unwrap();
    let mut c = RegistryClient::new(channel(&registry.url));

    let reader = burst(&mut c, Some(READER.1), 10).await;
    assert_eq!(reader[0], Code::Ok, "{reader:?}");
    assert!(
        reader.contains(&Code::ResourceExhausted),
        "10 calls at once over a 1/s, burst 3 limit: {reader:?}"
    );
    let status = c.list_models(authed(list(), READER.1)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().contains("rate limit") && status.message().contains("rita"),
        "{status:?}"
    );
    // Another subject has its own budget; an exempt one has none.
    assert_eq!(burst(&mut c, Some(OPERATOR.1), 1).await, vec![Code::Ok]);
    assert!(
        burst(&mut c, Some(SERVICE.1), 10)
            .await
            .iter()
            .all(|c| *c == Code::Ok)
    );
    // Probes are not limited.
    let mut health = HealthClient::new(channel(&registry.url));
    for _ in 0..10 {
        health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap();
    }

    // Without authentication the peer address is the key.
    let anonymous =
        TestRegistry::sqlite_secure(limited(ServerSecurityConfig::default()).load().unwrap())
            .await
            .unwrap();
    let mut c = RegistryClient::new(channel(&anonymous.url));
    let codes = burst(&mut c, None, 10).await;
    assert_eq!(codes[0], Code::Ok);
    assert!(codes.contains(&Code::ResourceExhausted), "{codes:?}");
}

/// A bare HTTP/2 client: unlike tonic's channel, which enforces
/// `grpc-timeout` itself and answers CANCELLED, it waits for the
/// server's status (DEADLINE_EXCEEDED), as a client of another gRPC
/// implementation would report it.
#[derive(Clone)]
struct Bare(
    hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        tonic::body::Body,
    >,
);

impl tower::Service<http::Request<tonic::body::Body>> for Bare {
    type Response = http::Response<tonic::body::Body>;
    type Error = hyper_util::client::legacy::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let answer = self.0.request(request);
        Box::pin(async move { Ok(answer.await?.map(tonic::body::Body::new)) })
    }
}

fn bare_oip(url: &str) -> GrpcInferenceServiceClient<Bare> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http();
    GrpcInferenceServiceClient::with_origin(Bare(client), url.parse().unwrap())
}

/// The node's count of inference requests (every API, model, outcome).
async fn node_requests(node: &joust_tests::node::TestNode) -> u64 {
    node.metrics_text()
        .await
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("joust_node_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test]
async fn deadlines_through_the_router() {
    let p = ProtectedPlatform::start(|c| c, vec![guarded_model()])
        .await
        .unwrap();
    let mut oip = bare_oip(&p.router.url);
    // A deadline with time left: answered (the node gets what remains).
    let mut ok = authed(infer(2), PREDICTOR.1);
    ok.set_timeout(Duration::from_secs(10));
    oip.model_infer(ok).await.unwrap();
    let before = node_requests(&p.node).await;
    assert!(before >= 1);

    // A deadline already passed when it reaches the router: answered
    // DEADLINE_EXCEEDED, and the node is never called.
    for _ in 0..5 {
        let mut late = authed(infer(2), PREDICTOR.1);
        late.set_timeout(Duration::from_nanos(1));
        let status = oip.model_infer(late).await.unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    }
    let mut after = authed(infer(1), PREDICTOR.1);
    after.set_timeout(Duration::from_secs(10));
    oip.model_infer(after).await.unwrap();
    assert_eq!(node_requests(&p.node).await, before + 1);
}

#[tokio::test]
async fn a_silent_node_is_never_admitted() {
    // A node that accepts connections and never answers (a hung process)
    // never reports its serving state, so the router sends it nothing: the
    // client gets UNAVAILABLE at once instead of waiting out its deadline.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let registry = TestRegistry::sqlite().await.unwrap();
    let ops = RegistryOps::new(&registry.url);
    ops.register(
        MODEL,
        "isolation_forest",
        artifact(joust_models::ModelKind::IsolationForest, FEATURES, 1),
    )
    .await
    .unwrap();
    ops.promote(&format!("{MODEL}:1")).await.unwrap();
    let router = TestRouter::start(TestRouter::config(
        &registry.url,
        &[silent.local_addr().unwrap()],
    ))
    .await
    .unwrap();
    eventually(Duration::from_secs(20), || async {
        router.route(MODEL).await.is_some()
    })
    .await
    .unwrap();
    let mut oip = bare_oip(&router.url);
    let mut req = tonic::Request::new(infer(1));
    req.set_timeout(Duration::from_secs(10));
    let started = std::time::Instant::now();
    let status = oip.model_infer(req).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("ready"), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}

/// Runs `joust ARGS` until it prints its listening line, then stops it
/// and returns everything it wrote.
fn run_until_listening(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut child = Command::new(joust_tests::joust_bin())
        .args(args)
        .envs(env.iter().copied())
        .env("JOUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut out = String::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        out.push_str(&line);
        if line.contains("listening on") {
            break;
        }
    }
    // Give the role a moment of logging after it listens, then stop it.
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let _ = stdout.read_to_string(&mut out);
    assert!(
        out.contains("listening on"),
        "never listened:\n{out}\n{err}"
    );
    out + &err
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    const PASSWORD: &str = "Pg-S3cret-Passw0rd";
    const TOKEN: &str = "outgoing-token-S3cret-value";
    const AWS: &str = "aws-S3cret-access-key";
    let db = TestDatabase::create().await.unwrap();
    // PostgreSQL trusts local connections here: any password works.
    let with_password = db
        .url
        .replacen("://postgres@", &format!("://postgres:{PASSWORD}@"), 1);
    assert!(with_password.contains(PASSWORD), "{}", db.url);
    let auth = AuthFiles::write().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = [("JOUST_TOKEN", TOKEN), ("AWS_SECRET_ACCESS_KEY", AWS)];
    let log = run_until_listening(
        &[
            "registry",
            "--listen",
            "127.0.0.1:0",
            "--ui-listen",
            "off",
            "--database-url",
            &with_password,
            "--blobs",
            &format!("file://{}/blobs", dir.path().display()),
            "--auth-tokens-file",
            auth.tokens.to_str().unwrap(),
            "--auth-jwt-secret-file",
            auth.jwt_secret.to_str().unwrap(),
            "--auth-jwt-issuer",
            "https://idp.joust.test",
            "--auth-jwt-audience",
            "joust",
        ],
        &env,
    );
    assert!(log.contains("starting registry"), "{log}");
    assert!(
        log.contains("REDACTED"),
        "the database URL is logged redacted:\n{log}"
    );
    assert!(
        log.contains("auth on"),
        "the effective security is logged:\n{log}"
    );
    for secret in [
        PASSWORD,
        TOKEN,
        AWS,
        READER.1,
        OPERATOR.1,
        joust_tests::security::JWT_SECRET,
    ] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }

    // The detection service (its own database), with its database URL
    // read from a file.
    let detect_db = TestDatabase::create().await.unwrap();
    let url_file = dir.path().join("detect-db-url");
    std::fs::write(
        &url_file,
        detect_db
            .url
            .replacen("://postgres@", &format!("://postgres:{PASSWORD}@"), 1),
    )
    .unwrap();
    let log = run_until_listening(
        &[
            "detect",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url-file",
            url_file.to_str().unwrap(),
        ],
        &env,
    );
    assert!(log.contains("starting detection service"), "{log}");
    assert!(log.contains("token set (redacted)"), "{log}");
    for secret in [PASSWORD, TOKEN, AWS] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }

    // A mistyped URL is refused without echoing its password.
    let out = Command::new(joust_tests::joust_bin())
        .args(["registry", "--listen", "127.0.0.1:0", "--ui-listen", "off"])
        .args([
            "--database-url",
            &format!("postgre://u:{PASSWORD}@localhost/x"),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("database URL") && !err.contains(PASSWORD),
        "{err}"
    );
}
