//! A fresh PostgreSQL database per test, dropped when the handle drops.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The server every PostgreSQL test uses: `JOUST_TEST_DATABASE_URL`, default
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn admin_url() -> String {
    std::env::var("JOUST_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl TestDatabase {
    pub async fn create() -> anyhow::Result<Self> {
        let admin = admin_url();
        let name = format!("joust_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.map_err(|e| {
            anyhow::anyhow!("PostgreSQL at {admin} is not reachable ({e}); run the tests through scripts/test, which starts one")
        })?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let (base, _) = admin.rsplit_once('/').unwrap_or((&admin, ""));
        Ok(Self {
            url: format!("{base}/{name}"),
            name,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = admin_url();
        // Drop runs outside any runtime guarantee: use a short-lived one.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let mut conn = PgConnection::connect(&admin).await.ok()?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
    }
}
