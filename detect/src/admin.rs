//! The detector's noise controls and evidence: editing rules and the
//! whitelist (validated here, applied by the next run), writing a run's
//! evidence artifact and reading it back with a consistency check.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::detector::Detector;
use crate::domain::{Anomaly, Interval, Run, RunStatus, check_ticker};
use crate::error::{DetectError, Result};
use crate::rules::{AnomalyType, Rule, WhitelistEntry};

/// Largest whitelist reason or actor name, in bytes.
const MAX_TEXT: usize = 1000;

/// A run's evidence artifact as read back from the evidence store.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub run: Run,
    pub uri: String,
    pub document: Bytes,
    /// Hex SHA-256 of `document`.
    pub sha256: String,
    /// The document equals the one rendered now from the database (false:
    /// the artifact or the stored run was changed after it was written).
    pub consistent: bool,
}

fn check_text(field: &str, text: &str) -> Result<()> {
    if text.len() > MAX_TEXT {
        return Err(DetectError::InvalidArgument(format!(
            "{field}: expected at most {MAX_TEXT} bytes, got {}",
            text.len()
        )));
    }
    Ok(())
}

/// Checks a whitelist interval: "" (every interval) or a bar interval.
fn check_interval(interval: &str) -> Result<()> {
    if interval.is_empty() {
        return Ok(());
    }
    Interval::parse("interval", interval).map(|_| ())
}

impl Detector {
    /// Every rule (enabled or not), by type.
    pub async fn list_rules(&self) -> Result<Vec<Rule>> {
        self.store().list_rules().await
    }

    /// Creates or replaces the rule of `rule.anomaly_type`, stamped with
    /// the current time.
    pub async fn set_rule(&self, mut rule: Rule) -> Result<Rule> {
        rule.validate()?;
        rule.updated_at_ms = self.clock.now_ms();
        let stored = self.store().set_rule(&rule).await?;
        tracing::info!(
            anomaly_type = %stored.anomaly_type,
            operator = %stored.operator,
            threshold = stored.threshold,
            enabled = stored.enabled,
            "rule set"
        );
        Ok(stored)
    }

    pub async fn delete_rule(&self, anomaly_type: AnomalyType) -> Result<()> {
        self.store().delete_rule(anomaly_type).await?;
        tracing::info!(%anomaly_type, "rule deleted");
        Ok(())
    }

    pub async fn list_whitelist(&self, ticker: Option<&str>) -> Result<Vec<WhitelistEntry>> {
        if let Some(t) = ticker {
            check_ticker("ticker", t)?;
        }
        self.store().list_whitelist(ticker).await
    }

    /// Whitelists `ticker` (of `interval`, or of every interval when it
    /// is empty); an existing entry keeps its creation and gets `reason`.
    pub async fn add_whitelist(
        &self,
        ticker: &str,
        interval: &str,
        reason: &str,
        created_by: &str,
    ) -> Result<WhitelistEntry> {
        check_ticker("ticker", ticker)?;
        check_interval(interval)?;
        check_text("reason", reason)?;
        check_text("created_by", created_by)?;
        let entry = WhitelistEntry {
            ticker: ticker.to_owned(),
            interval: interval.to_owned(),
            reason: reason.to_owned(),
            created_by: created_by.to_owned(),
            created_at_ms: self.clock.now_ms(),
        };
        let stored = self.store().add_whitelist(&entry).await?;
        tracing::info!(ticker, interval, "whitelist entry added");
        Ok(stored)
    }

    pub async fn remove_whitelist(&self, ticker: &str, interval: &str) -> Result<()> {
        check_ticker("ticker", ticker)?;
        check_interval(interval)?;
        self.store().remove_whitelist(ticker, interval).await?;
        tracing::info!(ticker, interval, "whitelist entry removed");
        Ok(())
    }

    /// Renders and writes the evidence of a finished `run` (as stored,
    /// with the `anomalies` it stored and, for a verification, the anomaly
    /// it re-scored) and records its URI. A failed write does not undo the
    /// run: it is logged and added to the run's warnings. Returns the run
    /// as stored afterwards.
    pub(crate) async fn write_evidence(
        &self,
        run: Run,
        anomalies: &[Anomaly],
        verified: Option<&Anomaly>,
    ) -> Run {
        let Some(evidence) = &self.evidence else {
            return run;
        };
        let document = crate::evidence::render(&run, anomalies, verified);
        let recorded = match evidence.put(run.id, Bytes::from(document)).await {
            Ok(uri) => self.store().set_evidence_uri(run.id, &uri).await,
            Err(error) => {
                tracing::warn!(%error, run = run.id, "evidence not written");
                self.store()
                    .add_run_warning(run.id, &format!("evidence not written: {error}"))
                    .await
            }
        };
        match recorded {
            Ok(updated) => updated,
            Err(error) => {
                tracing::warn!(%error, run = run.id, "could not record the evidence outcome");
                run
            }
        }
    }

    /// The evidence of run `run_id`, checked against a rendering from the
    /// database.
    pub async fn evidence(&self, run_id: i64) -> Result<Evidence> {
        let Some(store) = &self.evidence else {
            return Err(DetectError::Config(
                "evidence: this service writes no evidence (started with --evidence-store off)"
                    .to_owned(),
            ));
        };
        let run = self.store().get_run(run_id).await?;
        let Some(document) = store.get(run_id).await? else {
            if run.status == RunStatus::Complete && run.rows_loaded == 0 {
                return Err(DetectError::NotFound(format!(
                    "run_id: run {run_id} found nothing new; such runs write no evidence"
                )));
            }
            return Err(DetectError::NotFound(format!(
                "run_id: run {run_id} ({}) has no evidence: it is still running, or the write \
                 failed (see the run's warnings)",
                run.status.as_str()
            )));
        };
        let anomalies = self.store().run_anomalies(run_id).await?;
        let verified = match &run.verification {
            Some(v) => Some(self.store().get_anomaly(v.anomaly_id).await?),
            None => None,
        };
        let rendered = crate::evidence::render(&run, &anomalies, verified.as_ref());
        Ok(Evidence {
            uri: store.uri(run_id),
            sha256: hex::encode(Sha256::digest(&document)),
            consistent: rendered == document.as_ref(),
            document,
            run,
        })
    }
}
