//! A private, throwaway PostgreSQL cluster (initdb into a temp dir,
//! `pg_ctl` on a free port) for drills that stop and restart the database
//! server. The shared server the other tests use is never touched.
//!
//! Binaries come from `/usr/lib/postgresql/*/bin` (the newest). As root,
//! every PostgreSQL command runs as the `postgres` user (`runuser`), which
//! owns the data directory.

use std::path::PathBuf;

use tokio::process::Command;

#[derive(Debug)]
pub struct PrivatePostgres {
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
    pub port: u16,
    bin: PathBuf,
    as_postgres: bool,
    dir: tempfile::TempDir,
}

/// The newest installed PostgreSQL's `bin` directory, if any.
pub fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

impl PrivatePostgres {
    /// [`PrivatePostgres::start`] for a test: `None` (the test skips)
    /// when PostgreSQL is not installed, which fails the test instead when
    /// every suite is required (`JOUST_TEST_REQUIRE_ALL=1`, as in CI).
    pub async fn start_or_skip() -> anyhow::Result<Option<Self>> {
        let pg = Self::start().await?;
        if pg.is_none() {
            anyhow::ensure!(
                !crate::require_all(),
                "PostgreSQL binaries (/usr/lib/postgresql/*/bin) are required"
            );
            eprintln!("skipped: PostgreSQL is not installed");
        }
        Ok(pg)
    }

    /// Creates and starts a cluster; `Ok(None)` when PostgreSQL is not
    /// installed.
    pub async fn start() -> anyhow::Result<Option<Self>> {
        let Some(bin) = bin_dir() else {
            return Ok(None);
        };
        let uid = Command::new("id").arg("-u").output().await?;
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        let dir = tempfile::Builder::new().prefix("joust-pg-").tempdir()?;
        if as_postgres {
            let chown = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .status()
                .await?;
            anyhow::ensure!(chown.success(), "chown postgres {}", dir.path().display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let pg = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
            bin,
            as_postgres,
            dir,
        };
        let data = pg.data_dir();
        pg.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "-A", "trust", "--no-sync"],
        )
        .await?;
        pg.resume().await?;
        Ok(Some(pg))
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    async fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).output().await?;
        anyhow::ensure!(
            out.status.success(),
            "{tool} {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// Starts the server (again) on the same port and data, and waits
    /// until it accepts connections.
    pub async fn resume(&self) -> anyhow::Result<()> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("pg.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir(),
                "-o",
                &opts,
                "-l",
                &log,
                "-w",
                "-t",
                "120",
                "start",
            ],
        )
        .await
    }

    /// Stops the server (fast shutdown: sessions are cut, nothing new is
    /// accepted) and waits until it is down.
    pub async fn stop(&self) -> anyhow::Result<()> {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir(),
                "-m",
                "fast",
                "-w",
                "-t",
                "120",
                "stop",
            ],
        )
        .await
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let data = self.data_dir();
        let mut cmd = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        let _ = cmd
            .args(["-D", &data, "-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
