//! The store of rules and whitelist entries, and the run bookkeeping of
//! verification and evidence: one trait, one SQL implementation shared by
//! PostgreSQL and SQLite (like `sql.rs`).

use async_trait::async_trait;

use crate::domain::{Anomaly, Run, RunOutcome};
use crate::error::Result;
use crate::rules::{AnomalyType, Rule, WhitelistEntry};

#[async_trait]
pub trait RuleStore: Send + Sync + 'static {
    /// Every rule (enabled or not), by type.
    async fn list_rules(&self) -> Result<Vec<Rule>>;
    /// Creates or replaces the rule of `rule.anomaly_type`.
    async fn set_rule(&self, rule: &Rule) -> Result<Rule>;
    /// Deletes the rule of `anomaly_type`; `NotFound` when it has none.
    async fn delete_rule(&self, anomaly_type: AnomalyType) -> Result<()>;
    /// Whitelist entries (of `ticker` only, when given), by ticker and
    /// interval.
    async fn list_whitelist(&self, ticker: Option<&str>) -> Result<Vec<WhitelistEntry>>;
    /// Adds the entry of (ticker, interval), or replaces its reason.
    async fn add_whitelist(&self, entry: &WhitelistEntry) -> Result<WhitelistEntry>;
    /// Removes the entry of (ticker, interval); `NotFound` when absent.
    async fn remove_whitelist(&self, ticker: &str, interval: &str) -> Result<()>;
    /// Completes at `at_ms` a run that moves no series and stores no
    /// anomaly (a verification).
    async fn finish_run(&self, run_id: i64, outcome: &RunOutcome, at_ms: i64) -> Result<Run>;
    /// Records where the run's evidence artifact is.
    async fn set_evidence_uri(&self, run_id: i64, uri: &str) -> Result<Run>;
    /// Appends a warning to a run.
    async fn add_run_warning(&self, run_id: i64, warning: &str) -> Result<Run>;
    /// The anomalies a run stored, by id, with their matches.
    async fn run_anomalies(&self, run_id: i64) -> Result<Vec<Anomaly>>;
}

/// Implements `RuleStore` for `$store` over database `$db` (the inherent
/// helpers `run_row` and `load_matches` come from `impl_detect_store!`).
macro_rules! impl_rule_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::RuleStore for $store {
            async fn list_rules(&self) -> $crate::error::Result<Vec<$crate::rules::Rule>> {
                let sql = format!(
                    "SELECT {} FROM detection_rules ORDER BY anomaly_type",
                    $crate::store::rows::RULE_COLUMNS
                );
                let mut rules = sqlx::query_as::<_, $crate::store::rows::RuleRow>(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<$crate::error::Result<Vec<$crate::rules::Rule>>>()?;
                rules.sort_by_key(|r| r.anomaly_type);
                Ok(rules)
            }

            async fn set_rule(
                &self,
                rule: &$crate::rules::Rule,
            ) -> $crate::error::Result<$crate::rules::Rule> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO detection_rules (anomaly_type, operator, threshold, enabled, description, updated_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (anomaly_type) DO UPDATE SET operator = excluded.operator,
                     threshold = excluded.threshold, enabled = excluded.enabled,
                     description = excluded.description, updated_at_ms = excluded.updated_at_ms",
                )
                .bind(rule.anomaly_type.as_str())
                .bind(rule.operator.as_str())
                .bind(rule.threshold)
                .bind(rule.enabled)
                .bind(&rule.description)
                .bind(rule.updated_at_ms)
                .execute(&mut *tx)
                .await?;
                let sql = format!(
                    "SELECT {} FROM detection_rules WHERE anomaly_type = $1",
                    $crate::store::rows::RULE_COLUMNS
                );
                let stored = sqlx::query_as::<_, $crate::store::rows::RuleRow>(sqlx::AssertSqlSafe(sql))
                    .bind(rule.anomaly_type.as_str())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_into()?;
                tx.commit().await?;
                Ok(stored)
            }

            async fn delete_rule(
                &self,
                anomaly_type: $crate::rules::AnomalyType,
            ) -> $crate::error::Result<()> {
                let deleted = sqlx::query("DELETE FROM detection_rules WHERE anomaly_type = $1")
                    .bind(anomaly_type.as_str())
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                if deleted == 0 {
                    return Err($crate::error::DetectError::NotFound(format!(
                        "anomaly_type: no rule for {anomaly_type}"
                    )));
                }
                Ok(())
            }

            async fn list_whitelist(
                &self,
                ticker: Option<&str>,
            ) -> $crate::error::Result<Vec<$crate::rules::WhitelistEntry>> {
                let sql = format!(
                    "SELECT {} FROM detection_whitelist WHERE ($1 = '' OR ticker = $1)
                     ORDER BY ticker, bar_interval",
                    $crate::store::rows::WHITELIST_COLUMNS
                );
                Ok(sqlx::query_as::<_, $crate::store::rows::WhitelistRow>(sqlx::AssertSqlSafe(sql))
                    .bind(ticker.unwrap_or(""))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(Into::into)
                    .collect())
            }

            async fn add_whitelist(
                &self,
                entry: &$crate::rules::WhitelistEntry,
            ) -> $crate::error::Result<$crate::rules::WhitelistEntry> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO detection_whitelist (ticker, bar_interval, reason, created_by, created_at_ms)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (ticker, bar_interval) DO UPDATE SET reason = excluded.reason",
                )
                .bind(&entry.ticker)
                .bind(&entry.interval)
                .bind(&entry.reason)
                .bind(&entry.created_by)
                .bind(entry.created_at_ms)
                .execute(&mut *tx)
                .await?;
                let sql = format!(
                    "SELECT {} FROM detection_whitelist WHERE ticker = $1 AND bar_interval = $2",
                    $crate::store::rows::WHITELIST_COLUMNS
                );
                let stored = sqlx::query_as::<_, $crate::store::rows::WhitelistRow>(sqlx::AssertSqlSafe(sql))
                    .bind(&entry.ticker)
                    .bind(&entry.interval)
                    .fetch_one(&mut *tx)
                    .await?
                    .into();
                tx.commit().await?;
                Ok(stored)
            }

            async fn remove_whitelist(
                &self,
                ticker: &str,
                interval: &str,
            ) -> $crate::error::Result<()> {
                let removed = sqlx::query(
                    "DELETE FROM detection_whitelist WHERE ticker = $1 AND bar_interval = $2",
                )
                .bind(ticker)
                .bind(interval)
                .execute(&self.pool)
                .await?
                .rows_affected();
                if removed == 0 {
                    let which = if interval.is_empty() { "every interval" } else { interval };
                    return Err($crate::error::DetectError::NotFound(format!(
                        "ticker: no whitelist entry for {ticker:?} ({which})"
                    )));
                }
                Ok(())
            }

            async fn finish_run(
                &self,
                run_id: i64,
                outcome: &$crate::domain::RunOutcome,
                at_ms: i64,
            ) -> $crate::error::Result<$crate::domain::Run> {
                use $crate::store::rows::i;
                let warnings = serde_json::to_string(&outcome.warnings)
                    .map_err(|e| $crate::error::DetectError::Corrupt(format!("warnings: {e}")))?;
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "UPDATE detection_runs SET model_version = $1, model_sha256 = $2, completed_at_ms = $3,
                     rows_loaded = $4, rows_preprocessed = $5, rows_scored = $6, status = $7, warnings = $8,
                     rules_applied = $9, whitelist_entries = $10, verification = $11 WHERE id = $12",
                )
                .bind(&outcome.model_version)
                .bind(&outcome.model_sha256)
                .bind(at_ms)
                .bind(i(outcome.rows_loaded))
                .bind(i(outcome.rows_preprocessed))
                .bind(i(outcome.rows_scored))
                .bind($crate::domain::RunStatus::Complete.as_str())
                .bind(warnings)
                .bind($crate::store::rows::rules_json(&outcome.rules_applied))
                .bind(i(outcome.whitelist_entries))
                .bind($crate::store::rows::verification_json(outcome.verification.as_ref()))
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
                let run = Self::run_row(&mut tx, run_id).await?;
                tx.commit().await?;
                Ok(run)
            }

            async fn set_evidence_uri(
                &self,
                run_id: i64,
                uri: &str,
            ) -> $crate::error::Result<$crate::domain::Run> {
                let mut tx = self.begin_write().await?;
                sqlx::query("UPDATE detection_runs SET evidence_uri = $1 WHERE id = $2")
                    .bind(uri)
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?;
                // The anomalies' copy, which outlives the run.
                sqlx::query("UPDATE anomalies SET evidence_uri = $1 WHERE run_id = $2")
                    .bind(uri)
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?;
                let run = Self::run_row(&mut tx, run_id).await?;
                tx.commit().await?;
                Ok(run)
            }

            async fn add_run_warning(
                &self,
                run_id: i64,
                warning: &str,
            ) -> $crate::error::Result<$crate::domain::Run> {
                let mut tx = self.begin_write().await?;
                let mut run = Self::run_row(&mut tx, run_id).await?;
                run.warnings.push(warning.to_owned());
                let warnings = serde_json::to_string(&run.warnings)
                    .map_err(|e| $crate::error::DetectError::Corrupt(format!("warnings: {e}")))?;
                sqlx::query("UPDATE detection_runs SET warnings = $1 WHERE id = $2")
                    .bind(warnings)
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(run)
            }

            async fn run_anomalies(
                &self,
                run_id: i64,
            ) -> $crate::error::Result<Vec<$crate::domain::Anomaly>> {
                let sql = format!(
                    "SELECT {} FROM anomalies WHERE run_id = $1 ORDER BY id",
                    $crate::store::rows::ANOMALY_COLUMNS
                );
                let mut conn = self.pool.acquire().await?;
                let mut list = sqlx::query_as::<_, $crate::store::rows::AnomalyRow>(sqlx::AssertSqlSafe(sql))
                    .bind(run_id)
                    .fetch_all(&mut *conn)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<$crate::error::Result<Vec<$crate::domain::Anomaly>>>()?;
                Self::load_matches(&mut conn, &mut list).await?;
                Ok(list)
            }
        }
    };
}
