//! An in-process registry on 127.0.0.1:0 over SQLite (temp dir) or a fresh
//! PostgreSQL database, with a local blob directory.

use std::net::SocketAddr;

use joust_registry::RegistryConfig;
use joust_security::ServerSecurity;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::pg::TestDatabase;

#[derive(Debug)]
pub struct TestRegistry {
    pub addr: SocketAddr,
    /// `http://addr`, for clients.
    pub url: String,
    pub config: RegistryConfig,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    pub dir: tempfile::TempDir,
    pub db: Option<TestDatabase>,
    /// TLS, authentication and limits of the listener (default: none).
    pub security: ServerSecurity,
}

impl TestRegistry {
    /// A registry on a SQLite file in a temp dir.
    pub async fn sqlite() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let config = RegistryConfig {
            database_url: format!("sqlite://{}/registry.db", dir.path().display()),
            blobs_url: format!("file://{}/blobs", dir.path().display()),
            ..Default::default()
        };
        Self::start(config, dir, None, "127.0.0.1:0".parse()?).await
    }

    /// A registry on a fresh PostgreSQL database.
    pub async fn postgres() -> anyhow::Result<Self> {
        let db = TestDatabase::create().await?;
        let dir = tempfile::tempdir()?;
        let config = RegistryConfig {
            database_url: db.url.clone(),
            blobs_url: format!("file://{}/blobs", dir.path().display()),
            ..Default::default()
        };
        Self::start(config, dir, Some(db), "127.0.0.1:0".parse()?).await
    }

    /// A registry on a SQLite file in a temp dir, its listener secured by
    /// `security` (its URL is `https://` when `security` serves TLS).
    pub async fn sqlite_secure(security: ServerSecurity) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let config = RegistryConfig {
            database_url: format!("sqlite://{}/registry.db", dir.path().display()),
            blobs_url: format!("file://{}/blobs", dir.path().display()),
            ..Default::default()
        };
        Self::start_secure(config, dir, None, "127.0.0.1:0".parse()?, security).await
    }

    /// Starts a registry with `config` on `addr` (port 0 for any).
    pub async fn start(
        config: RegistryConfig,
        dir: tempfile::TempDir,
        db: Option<TestDatabase>,
        addr: SocketAddr,
    ) -> anyhow::Result<Self> {
        Self::start_secure(config, dir, db, addr, ServerSecurity::default()).await
    }

    /// [`TestRegistry::start`] with a secured listener.
    pub async fn start_secure(
        config: RegistryConfig,
        dir: tempfile::TempDir,
        db: Option<TestDatabase>,
        addr: SocketAddr,
        security: ServerSecurity,
    ) -> anyhow::Result<Self> {
        let registry = joust_registry::server::open(&config).await?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let max = config.max_message_bytes;
        let serving = security.clone();
        let task = tokio::spawn(async move {
            let _ = joust_registry::run(listener, registry, role(max, serving), async {
                let _ = stopped.await;
            })
            .await;
        });
        let scheme = if security.tls() { "https" } else { "http" };
        Ok(Self {
            addr,
            url: format!("{scheme}://{addr}"),
            config,
            stop: Some(stop),
            task: Some(task),
            dir,
            db,
            security,
        })
    }

    /// Another registry process-alike on the same database and blobs.
    pub async fn replica(&self) -> anyhow::Result<(TcpListener, joust_registry::Registry)> {
        let registry = joust_registry::server::open(&self.config).await?;
        Ok((TcpListener::bind("127.0.0.1:0").await?, registry))
    }

    /// Stops serving and waits for the server to finish.
    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Starts serving again on the same address, database and blobs.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        let registry = joust_registry::server::open(&self.config).await?;
        let listener = TcpListener::bind(self.addr).await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let max = self.config.max_message_bytes;
        let security = self.security.clone();
        self.task = Some(tokio::spawn(async move {
            let _ = joust_registry::run(listener, registry, role(max, security), async {
                let _ = stopped.await;
            })
            .await;
        }));
        self.stop = Some(stop);
        Ok(())
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// The dashboard (read-only HTTP UI and JSON API) of a [`TestRegistry`],
/// served on 127.0.0.1:0 from its own handle on the same database.
#[derive(Debug)]
pub struct TestDashboard {
    pub addr: SocketAddr,
    /// `http://addr`.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestRegistry {
    /// Starts the dashboard for this registry (behind the registry's
    /// authentication, when it has one).
    pub async fn dashboard(&self) -> anyhow::Result<TestDashboard> {
        let registry = joust_registry::server::open(&self.config).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let door = self.security.authenticator().map(std::sync::Arc::new);
        let task = tokio::spawn(async move {
            let _ = joust_registry::dashboard::serve_with(listener, registry, door, async {
                let _ = stopped.await;
            })
            .await;
        });
        Ok(TestDashboard {
            addr,
            url: format!("http://{addr}"),
            stop: Some(stop),
            task: Some(task),
        })
    }
}

impl Drop for TestDashboard {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// The runtime settings of a test registry.
fn role(max_message_bytes: usize, security: ServerSecurity) -> joust_runtime::RoleConfig {
    joust_runtime::RoleConfig {
        security,
        max_message_bytes,
        ..joust_runtime::RoleConfig::default()
    }
}
