//! TLS and mutual TLS over real sockets, with certificates made for the
//! test (rcgen): a client with the CA connects, one without it (or
//! trusting another CA, or speaking plaintext) does not; with mutual TLS a
//! client without a certificate of the CA is refused. The roles (registry,
//! node, router) talk to each other over mutual TLS. The `joust` binary
//! refuses to start on a missing or bad certificate file with an error
//! naming the flag and the file, and its client commands work over TLS
//! with a token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use joust_proto::v1 as pb;
use joust_proto::v1::registry_client::RegistryClient;
use joust_security::ClientSecurityConfig;
use joust_tests::node::{RegistryOps, TestNode, artifact, eventually};
use joust_tests::security::{FEATURES, MODEL, Pki, channel, infer};
use joust_tests::{TestRegistry, TestRouter};

async fn list(channel: joust_security::SecureChannel) -> Result<(), tonic::Status> {
    RegistryClient::new(channel)
        .list_models(pb::ListModelsRequest {
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .map(|_| ())
}

#[tokio::test]
async fn tls_client_with_the_ca_connects_others_do_not() {
    let pki = Pki::generate().unwrap();
    let registry = TestRegistry::sqlite_secure(pki.server(false).load().unwrap())
        .await
        .unwrap();
    assert!(registry.url.starts_with("https://"), "{}", registry.url);

    let with_ca = pki.client(false).load().unwrap();
    list(with_ca.connect(&registry.url).await.unwrap())
        .await
        .unwrap();
    // Also through the client crate (what the CLI uses).
    joust_client::RegistryClient::connect_with(&registry.url, &with_ca)
        .await
        .unwrap()
        .list_models()
        .await
        .unwrap();

    // Plaintext to the TLS listener.
    let plain = format!("http://{}", registry.addr);
    assert!(list(channel(&plain).into()).await.is_err());
    // A client trusting another CA.
    let other = ClientSecurityConfig {
        tls_ca: Some(pki.other_ca.clone()),
        ..ClientSecurityConfig::default()
    }
    .load()
    .unwrap();
    let err = other.connect(&registry.url).await.unwrap_err().to_string();
    assert!(err.contains("cannot connect"), "{err}");
    // https:// without any CA is a configuration error naming the flag.
    let none = ClientSecurityConfig::default().load().unwrap();
    let err = none.connect(&registry.url).await.unwrap_err().to_string();
    assert!(err.contains("--tls-ca"), "{err}");
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_of_the_ca() {
    let pki = Pki::generate().unwrap();
    let registry = TestRegistry::sqlite_secure(pki.server(true).load().unwrap())
        .await
        .unwrap();
    // CA but no client certificate: the handshake is refused.
    let no_cert = pki.client(false).load().unwrap();
    let refused = match no_cert.connect(&registry.url).await {
        Err(_) => true,
        Ok(ch) => list(ch).await.is_err(),
    };
    assert!(refused, "a client without a certificate got through");
    // A certificate of another CA.
    let stranger = ClientSecurityConfig {
        tls_ca: Some(pki.ca.clone()),
        tls_cert: Some(pki.other_cert.clone()),
        tls_key: Some(pki.other_key.clone()),
        ..ClientSecurityConfig::default()
    }
    .load()
    .unwrap();
    let refused = match stranger.connect(&registry.url).await {
        Err(_) => true,
        Ok(ch) => list(ch).await.is_err(),
    };
    assert!(refused, "a certificate of another CA got through");
    // The CA's certificate.
    let with_cert = pki.client(true).load().unwrap();
    list(with_cert.connect(&registry.url).await.unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn roles_talk_to_each_other_over_mutual_tls() {
    let pki = Pki::generate().unwrap();
    let server = pki.server(true).load().unwrap();
    let client = pki.client(true).load().unwrap();
    let registry = TestRegistry::sqlite_secure(server.clone()).await.unwrap();
    let ops = RegistryOps::secure(&registry.url, &client);
    ops.register(
        MODEL,
        "isolation_forest",
        artifact(joust_models::ModelKind::IsolationForest, FEATURES, 1),
    )
    .await
    .unwrap();
    ops.promote(&format!("{MODEL}:1")).await.unwrap();
    let node = TestNode::start(joust_server::NodeConfig {
        security: server.clone(),
        client: client.clone(),
        ..TestNode::config(&registry.url, &[&format!("{MODEL}@champion")])
    })
    .await
    .unwrap();
    let router = TestRouter::start(joust_router::RouterConfig {
        security: server,
        client: client.clone(),
        ..TestRouter::config(&registry.url, &[node.addr])
    })
    .await
    .unwrap();
    let router_url = format!("https://{}", router.addr);
    let oip =
        joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient::new(
            client.connect_lazy(&router_url).unwrap(),
        );
    // Router → node (https, certificate checked for 127.0.0.1) → answer;
    // the node loaded the model from the registry over https.
    eventually(std::time::Duration::from_secs(30), || {
        let mut oip = oip.clone();
        async move {
            oip.model_infer(infer(2))
                .await
                .is_ok_and(|r| r.into_inner().model_version == "1")
        }
    })
    .await
    .unwrap();
    // The node refuses a plaintext caller, and a TLS caller without a
    // client certificate.
    let node_plain = format!("http://{}", node.addr);
    let mut c =
        joust_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient::new(
            channel(&node_plain),
        );
    assert!(c.model_infer(infer(1)).await.is_err());
}

fn run_joust(args: &[&str]) -> (bool, String) {
    let bin = joust_tests::joust_bin();
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p joust`",
        bin.display()
    );
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_certificate_files_stop_the_binary_with_a_clear_error() {
    let pki = Pki::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/r.db", dir.path().display());
    let blobs = format!("file://{}/blobs", dir.path().display());
    let registry = |extra: &[&str]| {
        let mut args = vec![
            "registry",
            "--listen",
            "127.0.0.1:0",
            "--ui-listen",
            "off",
            "--database-url",
            &db,
            "--blobs",
            &blobs,
        ];
        args.extend_from_slice(extra);
        run_joust(&args)
    };
    let key = pki.key.to_str().unwrap();
    let cert = pki.cert.to_str().unwrap();

    // Missing file.
    let missing = dir.path().join("nope.pem");
    let (ok, err) = registry(&["--tls-cert", missing.to_str().unwrap(), "--tls-key", key]);
    assert!(!ok);
    assert!(
        err.contains("--tls-cert") && err.contains("nope.pem") && err.contains("cannot read"),
        "{err}"
    );
    // Not a certificate.
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    let (ok, err) = registry(&["--tls-cert", garbage.to_str().unwrap(), "--tls-key", key]);
    assert!(!ok);
    assert!(
        err.contains("--tls-cert")
            && err.contains("garbage.pem")
            && err.contains("PEM certificate"),
        "{err}"
    );
    // Not a key.
    let (ok, err) = registry(&["--tls-cert", cert, "--tls-key", cert]);
    assert!(!ok);
    assert!(
        err.contains("--tls-key") && err.contains("private key"),
        "{err}"
    );
    // A key that does not belong to the certificate.
    let (ok, err) = registry(&[
        "--tls-cert",
        cert,
        "--tls-key",
        pki.other_key.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("--tls-cert") && err.contains("--tls-key"),
        "{err}"
    );
    // A bad client CA, and mutual TLS without TLS.
    let (ok, err) = registry(&[
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--tls-client-ca",
        garbage.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("--tls-client-ca") && err.contains("garbage.pem"),
        "{err}"
    );
    let (ok, err) = registry(&["--tls-client-ca", pki.ca.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("--tls-client-ca") && err.contains("--tls-cert"),
        "{err}"
    );
    // A bad tokens file names the line.
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "0123456789abcdef0123 alice superuser\n").unwrap();
    let (ok, err) = registry(&["--auth-tokens-file", tokens.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("--auth-tokens-file") && err.contains("line 1") && err.contains("superuser"),
        "{err}"
    );
    // The other roles check the same files.
    let (ok, err) = run_joust(&[
        "route",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
        "--http-listen",
        "off",
        "--tls-cert",
        missing.to_str().unwrap(),
        "--tls-key",
        key,
    ]);
    assert!(!ok);
    assert!(
        err.contains("--tls-cert") && err.contains("nope.pem"),
        "{err}"
    );
    let (ok, err) = run_joust(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
        "--http-listen",
        "off",
        "--tls-ca",
        garbage.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("--tls-ca") && err.contains("garbage.pem"),
        "{err}"
    );
}

#[test]
fn the_cli_works_over_tls_with_a_token() {
    let pki = Pki::generate().unwrap();
    let auth = joust_tests::security::AuthFiles::write().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(joust_tests::joust_bin())
        .args(["registry", "--listen", "127.0.0.1:0", "--ui-listen", "off"])
        .arg("--database-url")
        .arg(format!("sqlite://{}/r.db", dir.path().display()))
        .arg("--blobs")
        .arg(format!("file://{}/blobs", dir.path().display()))
        .arg("--tls-cert")
        .arg(&pki.cert)
        .arg("--tls-key")
        .arg(&pki.key)
        .arg("--auth-tokens-file")
        .arg(&auth.tokens)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening on"), "{line:?}");
    let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
    let url = format!("https://{addr}");
    let token_file = dir.path().join("token");
    std::fs::write(
        &token_file,
        format!("{}\n", joust_tests::security::OPERATOR.1),
    )
    .unwrap();

    let model = |extra: &[&str]| {
        let out = Command::new(joust_tests::joust_bin())
            .args(["model", "create", "cli_tls", "--registry", &url, "--json"])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ca = pki.ca.to_str().unwrap();
    // No CA: refused before connecting.
    let (ok, err) = model(&["--token-file", token_file.to_str().unwrap()]);
    assert!(!ok && err.contains("--tls-ca"), "{err}");
    // CA, no token: the registry answers UNAUTHENTICATED.
    let (ok, err) = model(&["--tls-ca", ca]);
    assert!(
        !ok && err.to_lowercase().contains("unauthenticated"),
        "{err}"
    );
    // CA and token.
    let (ok, err) = model(&["--tls-ca", ca, "--token-file", token_file.to_str().unwrap()]);
    assert!(ok, "{err}");
    let _ = child.kill();
    let _ = child.wait();
}
