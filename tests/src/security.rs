//! Security harness: a throwaway PKI (CA, server and client certificates
//! made with rcgen, never committed), a tokens file with one subject per
//! role, an HS256 JWT secret and a signer for test JWTs, bearer metadata,
//! and a protected platform (registry, serving node, router) whose roles
//! call each other with a service token.

use std::path::PathBuf;
use std::time::Duration;

use joust_security::{ClientSecurity, ClientSecurityConfig, Secret, ServerSecurityConfig};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tonic::Request;
use tonic::metadata::MetadataValue;

use crate::TestRegistry;
use crate::node::{RegistryOps, TestNode, artifact};
use crate::router::TestRouter;

/// Subjects and tokens of the tokens file.
pub const READER: (&str, &str) = ("rita", "reader-token-0123456789");
pub const PREDICTOR: (&str, &str) = ("pete", "predictor-token-0123456789");
pub const OPERATOR: (&str, &str) = ("olga", "operator-token-0123456789");
pub const ADMIN: (&str, &str) = ("adam", "admin-token-0123456789");
/// What the roles use to call each other.
pub const SERVICE: (&str, &str) = ("svc", "service-token-0123456789");

/// JWT settings the protected servers expect.
pub const ISSUER: &str = "https://idp.joust.test";
pub const AUDIENCE: &str = "joust";
pub const JWT_SECRET: &str = "a-test-hs256-secret-of-at-least-32-bytes";

/// The model the protected platform serves (8 features).
pub const MODEL: &str = "guarded";
pub const FEATURES: usize = 8;

/// A CA, a certificate for 127.0.0.1/localhost signed by it (server and
/// client auth), and a second CA with a client certificate of its own
/// (trusted by nobody).
#[derive(Debug)]
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub other_ca: PathBuf,
    pub other_cert: PathBuf,
    pub other_key: PathBuf,
}

fn ca(name: &str) -> anyhow::Result<(String, Issuer<'static, KeyPair>)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), Issuer::new(params, key)))
}

fn leaf(name: &str, issuer: &Issuer<'_, KeyPair>) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl Pki {
    pub fn generate() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let write = |name: &str, text: &str| -> anyhow::Result<PathBuf> {
            let p = dir.path().join(name);
            std::fs::write(&p, text)?;
            Ok(p)
        };
        let (ca_pem, issuer) = ca("joust test CA")?;
        let (cert, key) = leaf("joust role", &issuer)?;
        let (other_ca_pem, other_issuer) = ca("someone else's CA")?;
        let (other_cert, other_key) = leaf("stranger", &other_issuer)?;
        Ok(Self {
            ca: write("ca.pem", &ca_pem)?,
            cert: write("cert.pem", &cert)?,
            key: write("key.pem", &key)?,
            other_ca: write("other-ca.pem", &other_ca_pem)?,
            other_cert: write("other-cert.pem", &other_cert)?,
            other_key: write("other-key.pem", &other_key)?,
            dir,
        })
    }

    /// A TLS listener with this PKI's certificate (mutual TLS: clients
    /// must show a certificate of this CA).
    pub fn server(&self, mutual: bool) -> ServerSecurityConfig {
        ServerSecurityConfig {
            tls_cert: Some(self.cert.clone()),
            tls_key: Some(self.key.clone()),
            tls_client_ca: mutual.then(|| self.ca.clone()),
            ..ServerSecurityConfig::default()
        }
    }

    /// A client trusting this PKI's CA, presenting its certificate when
    /// `with_cert`.
    pub fn client(&self, with_cert: bool) -> ClientSecurityConfig {
        ClientSecurityConfig {
            tls_ca: Some(self.ca.clone()),
            tls_cert: with_cert.then(|| self.cert.clone()),
            tls_key: with_cert.then(|| self.key.clone()),
            ..ClientSecurityConfig::default()
        }
    }
}

/// A tokens file (one subject per role plus the service subject) and a
/// JWT secret file.
#[derive(Debug)]
pub struct AuthFiles {
    pub dir: tempfile::TempDir,
    pub tokens: PathBuf,
    pub jwt_secret: PathBuf,
}

impl AuthFiles {
    pub fn write() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let tokens = dir.path().join("tokens");
        std::fs::write(
            &tokens,
            format!(
                "# token subject roles\n{} {} reader\n{} {} predictor\n{} {} operator\n{} {} admin\n{} {} reader,predictor,operator\n",
                READER.1,
                READER.0,
                PREDICTOR.1,
                PREDICTOR.0,
                OPERATOR.1,
                OPERATOR.0,
                ADMIN.1,
                ADMIN.0,
                SERVICE.1,
                SERVICE.0
            ),
        )?;
        let jwt_secret = dir.path().join("jwt-secret");
        std::fs::write(&jwt_secret, JWT_SECRET)?;
        Ok(Self {
            dir,
            tokens,
            jwt_secret,
        })
    }

    /// Authentication on: the tokens file and HS256 JWTs.
    pub fn server(&self) -> ServerSecurityConfig {
        let mut c = ServerSecurityConfig {
            auth_tokens_file: Some(self.tokens.clone()),
            ..ServerSecurityConfig::default()
        };
        c.jwt.secret_file = Some(self.jwt_secret.clone());
        c.jwt.issuer = Some(ISSUER.to_owned());
        c.jwt.audience = Some(AUDIENCE.to_owned());
        c
    }
}

/// Outgoing security sending `token` (plaintext).
pub fn client_with(token: &str) -> ClientSecurity {
    ClientSecurityConfig {
        token: Some(Secret::new(token)),
        ..ClientSecurityConfig::default()
    }
    .load()
    .expect("client security")
}

/// An HS256 JWT signed with `secret`, `exp` seconds from now (negative:
/// expired).
pub fn jwt(
    subject: &str,
    roles: &[&str],
    issuer: &str,
    audience: &str,
    exp: i64,
    secret: &str,
) -> String {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({
            "sub": subject,
            "iss": issuer,
            "aud": audience,
            "iat": now,
            "exp": now + exp,
            "roles": roles,
        }),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign JWT")
}

/// An OIP request for `rows` rows of [`MODEL`].
pub fn infer(rows: usize) -> joust_proto::inference::ModelInferRequest {
    let mut r = crate::node::infer_request(
        vec![rows as i64, FEATURES as i64],
        "FP32",
        (0..rows * FEATURES).map(|i| i as f32 * 0.1).collect(),
    );
    r.model_name = MODEL.to_owned();
    r
}

/// `message` with `authorization: Bearer token`.
pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).expect("token is ASCII"),
    );
    r
}

/// A lazily connected plaintext channel (no token).
pub fn channel(url: &str) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(url.to_owned())
        .expect("url")
        .connect_lazy()
}

/// The 8-feature model of [`MODEL`].
pub fn guarded_model() -> (&'static str, Vec<u8>) {
    (
        MODEL,
        artifact(joust_models::ModelKind::IsolationForest, FEATURES, 1),
    )
}

/// Registry, serving node (following every champion) and router, each
/// with authentication on (the same tokens file), the node and router
/// calling with the service token, and version 1 of each given model
/// champion.
#[derive(Debug)]
pub struct ProtectedPlatform {
    pub auth: AuthFiles,
    pub registry: TestRegistry,
    pub node: TestNode,
    pub router: TestRouter,
}

impl ProtectedPlatform {
    /// Starts every role with `extra` applied to each listener's settings
    /// (e.g. a rate limit), and waits until the router routes `models`.
    pub async fn start(
        extra: impl Fn(ServerSecurityConfig) -> ServerSecurityConfig,
        models: Vec<(&'static str, Vec<u8>)>,
    ) -> anyhow::Result<Self> {
        let auth = AuthFiles::write()?;
        let security = extra(auth.server()).load()?;
        let registry = TestRegistry::sqlite_secure(security.clone()).await?;
        let admin = RegistryOps::secure(&registry.url, &client_with(ADMIN.1));
        let names: Vec<&str> = models.iter().map(|(m, _)| *m).collect();
        for (model, bytes) in models {
            admin.register(model, "isolation_forest", bytes).await?;
            admin.promote(&format!("{model}:1")).await?;
        }
        let service = client_with(SERVICE.1);
        let node = TestNode::start(joust_server::NodeConfig {
            security: security.clone(),
            client: service.clone(),
            follow_all: true,
            ..TestNode::config(&registry.url, &[])
        })
        .await?;
        let admin_node =
            joust_proto::v1::serving_admin_client::ServingAdminClient::new(channel(&node.url));
        crate::node::eventually(Duration::from_secs(30), || {
            let mut admin_node = admin_node.clone();
            let names = names.clone();
            async move {
                admin_node
                    .list_loaded(authed(joust_proto::v1::ListLoadedRequest {}, READER.1))
                    .await
                    .is_ok_and(|r| {
                        let loaded = r.into_inner().models;
                        names.iter().all(|m| loaded.iter().any(|l| l.model == *m))
                    })
            }
        })
        .await?;
        let router = TestRouter::start(joust_router::RouterConfig {
            security,
            client: service,
            ..TestRouter::config(&registry.url, &[node.addr])
        })
        .await?;
        let platform = Self {
            auth,
            registry,
            node,
            router,
        };
        platform.wait_routed(&names).await?;
        Ok(platform)
    }

    /// Polls the router (as a reader) until it routes every model.
    async fn wait_routed(&self, models: &[&str]) -> anyhow::Result<()> {
        let admin =
            joust_proto::v1::router_admin_client::RouterAdminClient::new(channel(&self.router.url));
        crate::node::eventually(Duration::from_secs(20), || {
            let mut admin = admin.clone();
            async move {
                admin
                    .list_routes(authed(joust_proto::v1::ListRoutesRequest {}, READER.1))
                    .await
                    .is_ok_and(|r| {
                        let routes = r.into_inner().routes;
                        models.iter().all(|m| routes.iter().any(|r| r.model == *m))
                    })
            }
        })
        .await?;
        Ok(())
    }
}
