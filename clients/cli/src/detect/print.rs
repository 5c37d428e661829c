//! How runs and anomalies print: one text line each, or one JSON object
//! each (`--json-lines`; with `--json` the callers gather them into one
//! document).

use joust_proto::v1 as pb;

fn trigger_name(raw: i32) -> &'static str {
    match pb::Trigger::try_from(raw) {
        Ok(pb::Trigger::ChartRequest) => "chart_request",
        Ok(pb::Trigger::Backfill) => "backfill",
        Ok(pb::Trigger::Scheduler) => "scheduler",
        Ok(pb::Trigger::Verification) => "verification",
        Ok(pb::Trigger::Api) => "api",
        _ => "unspecified",
    }
}

fn run_status(raw: i32) -> &'static str {
    match pb::RunStatus::try_from(raw) {
        Ok(pb::RunStatus::InProgress) => "in_progress",
        Ok(pb::RunStatus::Complete) => "complete",
        Ok(pb::RunStatus::Failed) => "failed",
        _ => "unspecified",
    }
}

/// A run as one JSON object.
pub(super) fn run_json(r: &pb::DetectionRun) -> serde_json::Value {
    serde_json::json!({
                "id": r.id, "ticker": r.ticker, "interval": r.interval,
                "status": run_status(r.status), "model": r.model_name,
                "model_version": r.model_version, "model_sha256": r.model_sha256,
                "started_at_ms": r.started_at_ms, "completed_at_ms": r.completed_at_ms,
                "rows_loaded": r.rows_loaded, "rows_preprocessed": r.rows_preprocessed,
                "rows_scored": r.rows_scored, "anomalies_found": r.anomalies_found,
                "error": r.error, "warnings": r.warnings,
                "trigger": trigger_name(r.trigger),
                "rules_applied": r.rules_applied.iter().map(|x| serde_json::json!({
                    "anomaly_type": x.anomaly_type, "operator": x.operator, "threshold": x.threshold,
                })).collect::<Vec<_>>(),
                "whitelist_entries": r.whitelist_entries,
                "anomalies_whitelisted": r.anomalies_whitelisted,
                "evidence_uri": r.evidence_uri,
                "verified_anomaly_id": r.verified_anomaly_id,
                "anomaly_ids": r.anomaly_ids,
    })
}

pub(super) fn print_run(r: &pb::DetectionRun, json: bool) {
    if json {
        outln!("{}", run_json(r));
    } else {
        outln!(
            "run {} {} {} {} ({}): scored {} of {} loaded, {} anomalies (model {} v{}){}",
            r.id,
            r.ticker,
            r.interval,
            run_status(r.status),
            trigger_name(r.trigger),
            r.rows_scored,
            r.rows_loaded,
            r.anomalies_found,
            r.model_name,
            r.model_version,
            if r.error.is_empty() {
                String::new()
            } else {
                format!(": {}", r.error)
            }
        );
    }
}

/// An anomaly as one JSON object.
pub(super) fn anomaly_json(a: &pb::Anomaly) -> serde_json::Value {
    serde_json::json!({
                "id": a.id, "ticker": a.ticker, "interval": a.interval,
                "timestamp": a.timestamp, "close": a.close, "volume": a.volume,
                "features": a.features, "score": a.score, "label": a.label,
                "model": a.model_name, "model_version": a.model_version,
                "model_sha256": a.model_sha256, "run_id": a.run_id,
                "created_at_ms": a.created_at_ms,
                "types": a.types.iter().map(|m| serde_json::json!({
                    "anomaly_type": m.anomaly_type, "value": m.value,
                    "operator": m.operator, "threshold": m.threshold,
                })).collect::<Vec<_>>(),
                "whitelisted": a.whitelisted,
                "run_trigger": trigger_name(a.run_trigger),
                "run_started_at_ms": a.run_started_at_ms,
                "evidence_uri": a.evidence_uri,
                "notification_state": a.notification_state,
    })
}

pub(super) fn print_anomaly(a: &pb::Anomaly, json: bool) {
    if json {
        outln!("{}", anomaly_json(a));
    } else {
        let when = chrono::DateTime::from_timestamp(a.timestamp, 0)
            .map(|d| d.to_rfc3339())
            .unwrap_or_else(|| a.timestamp.to_string());
        let types: Vec<&str> = a.types.iter().map(|m| m.anomaly_type.as_str()).collect();
        outln!(
            "#{} {} {} {} close {:.4} volume {:.0} score {:.4} [{}]{} (v{}, run {}){}",
            a.id,
            a.ticker,
            a.interval,
            when,
            a.close,
            a.volume,
            a.score,
            types.join(","),
            if a.whitelisted { " whitelisted" } else { "" },
            a.model_version,
            a.run_id,
            if a.notification_state.is_empty() {
                String::new()
            } else {
                format!(" notification {}", a.notification_state)
            }
        );
    }
}
