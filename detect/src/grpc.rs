//! `joust.v1.Detection` over gRPC: converts requests to domain calls and
//! domain values to messages. No logic lives here.

use joust_models::synthetic::SyntheticConfig;
use joust_proto::v1 as pb;
use joust_proto::v1::detection_server::Detection;
use tonic::{Request, Response, Status};

use crate::detector::{Detector, Ingested};
use crate::domain::{
    Anomaly, AnomalyFilter, Run, RunFilter, RunStatus, StatsFilter, Trigger, Verification,
};
use crate::grpc_jobs;
use crate::grpc_rules::{self, match_to_pb, rule_to_pb};
use crate::rules::AnomalyType;
use crate::workers::Workers;

#[derive(Debug, Clone)]
pub struct DetectionService {
    detector: Detector,
    workers: Workers,
}

impl DetectionService {
    pub fn new(detector: Detector, workers: Workers) -> Self {
        Self { detector, workers }
    }
}

/// A UTC day number (unix seconds / 86,400) as YYYY-MM-DD.
pub fn day_key(day: i64) -> String {
    chrono::DateTime::from_timestamp(day.saturating_mul(86_400), 0)
        .map(|t| t.date_naive().to_string())
        .unwrap_or_else(|| day.to_string())
}

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

fn page_token(field: &str, token: &str) -> Result<i64, Status> {
    if token.is_empty() {
        return Ok(0);
    }
    token.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
        Status::invalid_argument(format!(
            "{field}: expected a next_page_token from a previous page, got {token:?}"
        ))
    })
}

fn id(field: &str, v: u64) -> Result<i64, Status> {
    i64::try_from(v)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| Status::invalid_argument(format!("{field}: expected an id ≥ 1, got {v}")))
}

fn trigger_from_pb(v: i32) -> Result<Trigger, Status> {
    match pb::Trigger::try_from(v) {
        Ok(pb::Trigger::Unspecified | pb::Trigger::Api) => Ok(Trigger::Api),
        Ok(pb::Trigger::ChartRequest) => Ok(Trigger::ChartRequest),
        Ok(pb::Trigger::Backfill) => Ok(Trigger::Backfill),
        Ok(pb::Trigger::Scheduler) => Ok(Trigger::Scheduler),
        Ok(pb::Trigger::Verification) => Ok(Trigger::Verification),
        Err(_) => Err(Status::invalid_argument(format!(
            "trigger: expected one of chart_request, backfill, scheduler, verification, api, got enum value {v}"
        ))),
    }
}

fn trigger_to_pb(t: Trigger) -> pb::Trigger {
    match t {
        Trigger::ChartRequest => pb::Trigger::ChartRequest,
        Trigger::Backfill => pb::Trigger::Backfill,
        Trigger::Scheduler => pb::Trigger::Scheduler,
        Trigger::Verification => pb::Trigger::Verification,
        Trigger::Api => pb::Trigger::Api,
    }
}

fn status_to_pb(s: RunStatus) -> pb::RunStatus {
    match s {
        RunStatus::InProgress => pb::RunStatus::InProgress,
        RunStatus::Complete => pb::RunStatus::Complete,
        RunStatus::Failed => pb::RunStatus::Failed,
    }
}

pub fn run_to_pb(r: Run) -> pb::DetectionRun {
    let Run {
        id,
        trigger,
        ticker,
        interval,
        model_name,
        model_version,
        model_sha256,
        started_at_ms,
        completed_at_ms,
        rows_loaded,
        rows_preprocessed,
        rows_scored,
        anomalies_found,
        status,
        error,
        warnings,
        rules_applied,
        whitelist_entries,
        anomalies_whitelisted,
        evidence_uri,
        verification,
        anomaly_ids,
    } = r;
    pb::DetectionRun {
        id: id.max(0) as u64,
        trigger: trigger_to_pb(trigger) as i32,
        ticker,
        interval,
        model_name,
        model_version,
        model_sha256,
        started_at_ms,
        completed_at_ms: completed_at_ms.unwrap_or(0),
        rows_loaded,
        rows_preprocessed,
        rows_scored,
        anomalies_found,
        status: status_to_pb(status) as i32,
        error,
        warnings,
        rules_applied: rules_applied.into_iter().map(rule_to_pb).collect(),
        whitelist_entries,
        anomalies_whitelisted,
        evidence_uri,
        verified_anomaly_id: verification.map_or(0, |v| v.anomaly_id.max(0) as u64),
        anomaly_ids: anomaly_ids.into_iter().map(|id| id.max(0) as u64).collect(),
    }
}

pub fn anomaly_to_pb(a: Anomaly) -> pb::Anomaly {
    let Anomaly {
        id,
        ticker,
        interval,
        timestamp,
        close,
        volume,
        features,
        score,
        label,
        model_name,
        model_version,
        model_sha256,
        run_id,
        created_at_ms,
        matches,
        whitelisted,
        run_trigger,
        run_started_at_ms,
        evidence_uri,
        notification_state,
    } = a;
    pb::Anomaly {
        id: id.max(0) as u64,
        ticker,
        interval,
        timestamp,
        close,
        volume,
        features,
        score,
        label,
        model_name,
        model_version,
        model_sha256,
        run_id: run_id.max(0) as u64,
        created_at_ms,
        types: matches.into_iter().map(match_to_pb).collect(),
        whitelisted,
        run_trigger: trigger_to_pb(run_trigger) as i32,
        run_started_at_ms,
        evidence_uri,
        notification_state,
    }
}

fn ingested_to_pb(v: Vec<Ingested>) -> pb::IngestResponse {
    pb::IngestResponse {
        series: v
            .into_iter()
            .map(|i| pb::IngestedSeries {
                ticker: i.ticker,
                interval: i.interval,
                rows: i.rows,
                inserted: i.inserted,
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl Detection for DetectionService {
    async fn ingest_csv(
        &self,
        request: Request<pb::IngestCsvRequest>,
    ) -> Result<Response<pb::IngestResponse>, Status> {
        let pb::IngestCsvRequest { interval, csv } = request.into_inner();
        let out = self.detector.ingest_csv(&interval, &csv).await?;
        Ok(Response::new(ingested_to_pb(out)))
    }

    async fn ingest_synthetic(
        &self,
        request: Request<pb::IngestSyntheticRequest>,
    ) -> Result<Response<pb::IngestResponse>, Status> {
        let pb::IngestSyntheticRequest {
            interval,
            tickers,
            rows,
            seed,
            start,
            anomaly_rate,
        } = request.into_inner();
        let defaults = SyntheticConfig::default();
        let config = SyntheticConfig {
            tickers: tickers as usize,
            rows: rows as usize,
            seed,
            anomaly_rate: if anomaly_rate == 0.0 {
                defaults.anomaly_rate
            } else {
                anomaly_rate
            },
            start: if start == 0 { defaults.start } else { start },
            interval_secs: defaults.interval_secs,
        };
        let out = self.detector.ingest_synthetic(&interval, config).await?;
        Ok(Response::new(ingested_to_pb(out)))
    }

    async fn detect(
        &self,
        request: Request<pb::DetectRequest>,
    ) -> Result<Response<pb::DetectResponse>, Status> {
        let pb::DetectRequest {
            ticker,
            interval,
            trigger,
        } = request.into_inner();
        let trigger = trigger_from_pb(trigger)?;
        let d = self.detector.detect(&ticker, &interval, trigger).await?;
        Ok(Response::new(pb::DetectResponse {
            run: Some(run_to_pb(d.run)),
            anomalies: d.anomalies.into_iter().map(anomaly_to_pb).collect(),
        }))
    }

    async fn list_anomalies(
        &self,
        request: Request<pb::ListAnomaliesRequest>,
    ) -> Result<Response<pb::ListAnomaliesResponse>, Status> {
        let pb::ListAnomaliesRequest {
            ticker,
            interval,
            from,
            to,
            min_score,
            model_version,
            limit,
            page_token: token,
            anomaly_type,
            whitelisted,
            run_id,
        } = request.into_inner();
        if min_score.is_some_and(|m| !m.is_finite()) {
            return Err(Status::invalid_argument(
                "min_score: expected a finite number",
            ));
        }
        let filter = AnomalyFilter {
            ticker: non_empty(ticker),
            interval: non_empty(interval),
            from: (from != 0).then_some(from),
            to: (to != 0).then_some(to),
            min_score,
            model_version: non_empty(model_version),
            anomaly_type: match non_empty(anomaly_type) {
                Some(t) => Some(AnomalyType::parse("anomaly_type", &t)?),
                None => None,
            },
            whitelisted,
            run_id: match run_id {
                0 => None,
                id => Some(i64::try_from(id).map_err(|_| {
                    Status::invalid_argument(format!(
                        "run_id: expected at most {}, got {id}",
                        i64::MAX
                    ))
                })?),
            },
            after_id: page_token("page_token", &token)?,
            limit,
        };
        let list = self.detector.list_anomalies(filter).await?;
        let full = limit > 0 && list.len() == limit as usize
            || limit == 0 && list.len() == crate::detector::DEFAULT_PAGE as usize;
        let next = match list.last() {
            Some(a) if full => a.id.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListAnomaliesResponse {
            anomalies: list.into_iter().map(anomaly_to_pb).collect(),
            next_page_token: next,
        }))
    }

    async fn get_run(
        &self,
        request: Request<pb::GetRunRequest>,
    ) -> Result<Response<pb::DetectionRun>, Status> {
        let run = self
            .detector
            .get_run(id("id", request.into_inner().id)?)
            .await?;
        Ok(Response::new(run_to_pb(run)))
    }

    async fn list_runs(
        &self,
        request: Request<pb::ListRunsRequest>,
    ) -> Result<Response<pb::ListRunsResponse>, Status> {
        let pb::ListRunsRequest {
            ticker,
            interval,
            limit,
            page_token: token,
        } = request.into_inner();
        let filter = RunFilter {
            ticker: non_empty(ticker),
            interval: non_empty(interval),
            before_id: page_token("page_token", &token)?,
            limit,
        };
        let list = self.detector.list_runs(filter).await?;
        let page = if limit == 0 {
            crate::detector::DEFAULT_PAGE
        } else {
            limit
        };
        let next = match list.last() {
            Some(r) if list.len() == page as usize => r.id.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListRunsResponse {
            runs: list.into_iter().map(run_to_pb).collect(),
            next_page_token: next,
        }))
    }

    async fn verify(
        &self,
        request: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        let pb::VerifyRequest { anomaly_id } = request.into_inner();
        let v = self.detector.verify(id("anomaly_id", anomaly_id)?).await?;
        let Verification {
            original,
            current_score,
            current_label,
            current_features,
            current_model_version,
            current_model_sha256,
            current_matches,
            run,
        } = v;
        Ok(Response::new(pb::VerifyResponse {
            original: Some(anomaly_to_pb(original)),
            current_score,
            current_label,
            current_features,
            current_model_version,
            current_model_sha256,
            still_anomaly: !current_matches.is_empty(),
            current_types: current_matches.into_iter().map(match_to_pb).collect(),
            run: Some(run_to_pb(run)),
        }))
    }

    async fn stats(
        &self,
        request: Request<pb::StatsRequest>,
    ) -> Result<Response<pb::StatsResponse>, Status> {
        let pb::StatsRequest { ticker, from, to } = request.into_inner();
        let s = self
            .detector
            .stats(StatsFilter {
                ticker: non_empty(ticker),
                from: (from != 0).then_some(from),
                to: (to != 0).then_some(to),
            })
            .await?;
        let count = |(key, count): (String, u64)| pb::StatCount { key, count };
        let day = |(day, count): (i64, u64)| pb::StatCount {
            key: day_key(day),
            count,
        };
        Ok(Response::new(pb::StatsResponse {
            total_anomalies: s.total_anomalies,
            anomalies_by_ticker: s.anomalies_by_ticker.into_iter().map(count).collect(),
            anomalies_by_day: s.anomalies_by_day.into_iter().map(day).collect(),
            runs_by_status: s.runs_by_status.into_iter().map(count).collect(),
            anomalies_by_type: s.anomalies_by_type.into_iter().map(count).collect(),
            anomalies_by_whitelist: s.anomalies_by_whitelist.into_iter().map(count).collect(),
            runs_by_trigger: s.runs_by_trigger.into_iter().map(count).collect(),
            runs_by_day: s.runs_by_day.into_iter().map(day).collect(),
        }))
    }

    async fn list_rules(
        &self,
        request: Request<pb::ListRulesRequest>,
    ) -> Result<Response<pb::ListRulesResponse>, Status> {
        grpc_rules::list_rules(&self.detector, request).await
    }

    async fn set_rule(
        &self,
        request: Request<pb::SetRuleRequest>,
    ) -> Result<Response<pb::Rule>, Status> {
        grpc_rules::set_rule(&self.detector, request).await
    }

    async fn delete_rule(
        &self,
        request: Request<pb::DeleteRuleRequest>,
    ) -> Result<Response<pb::DeleteRuleResponse>, Status> {
        grpc_rules::delete_rule(&self.detector, request).await
    }

    async fn list_whitelist(
        &self,
        request: Request<pb::ListWhitelistRequest>,
    ) -> Result<Response<pb::ListWhitelistResponse>, Status> {
        grpc_rules::list_whitelist(&self.detector, request).await
    }

    async fn add_whitelist(
        &self,
        request: Request<pb::AddWhitelistRequest>,
    ) -> Result<Response<pb::WhitelistEntry>, Status> {
        grpc_rules::add_whitelist(&self.detector, request).await
    }

    async fn remove_whitelist(
        &self,
        request: Request<pb::RemoveWhitelistRequest>,
    ) -> Result<Response<pb::RemoveWhitelistResponse>, Status> {
        grpc_rules::remove_whitelist(&self.detector, request).await
    }

    async fn get_evidence(
        &self,
        request: Request<pb::GetEvidenceRequest>,
    ) -> Result<Response<pb::GetEvidenceResponse>, Status> {
        grpc_rules::get_evidence(&self.detector, request).await
    }

    async fn purge_runs(
        &self,
        request: Request<pb::PurgeRunsRequest>,
    ) -> Result<Response<pb::PurgeRunsResponse>, Status> {
        let pb::PurgeRunsRequest {
            completed_before_ms,
            anomalies_created_before_ms,
        } = request.into_inner();
        for (field, v) in [
            ("completed_before_ms", completed_before_ms),
            ("anomalies_created_before_ms", anomalies_created_before_ms),
        ] {
            if v < 0 {
                return Err(Status::invalid_argument(format!(
                    "{field}: expected unix milliseconds ≥ 0, got {v}"
                )));
            }
        }
        let p = self
            .detector
            .purge(
                (completed_before_ms > 0).then_some(completed_before_ms),
                (anomalies_created_before_ms > 0).then_some(anomalies_created_before_ms),
            )
            .await?;
        Ok(Response::new(pb::PurgeRunsResponse {
            purged: p.runs,
            anomalies_purged: p.anomalies,
            stale_runs_failed: p.stale_runs_failed,
        }))
    }

    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let pb::ListNotificationsRequest {
            status,
            run_id,
            limit,
            page_token: token,
        } = request.into_inner();
        let before = if token.is_empty() {
            0
        } else {
            token.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "page_token: expected the next_page_token of the previous page, got {token:?}"
                ))
            })?
        };
        let list = self
            .detector
            .list_notifications(crate::store::notify_sql::NotificationFilter {
                status: non_empty(status),
                run_id: match run_id {
                    0 => None,
                    id => Some(i64::try_from(id).map_err(|_| {
                        Status::invalid_argument(format!(
                            "run_id: expected at most {}, got {id}",
                            i64::MAX
                        ))
                    })?),
                },
                before_id: before,
                limit,
            })
            .await?;
        let page = if limit == 0 {
            crate::detector::DEFAULT_PAGE
        } else {
            limit
        };
        let next = match list.last() {
            Some(n) if list.len() == page as usize => n.id.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: list
                .into_iter()
                .map(|n| pb::Notification {
                    id: n.id.max(0) as u64,
                    delivery_id: n.delivery_id,
                    kind: n.kind,
                    run_id: n.run_id.map_or(0, |r| r.max(0) as u64),
                    status: n.status,
                    attempts: u32::try_from(n.attempts).unwrap_or(0),
                    next_attempt_at_ms: n.next_attempt_at_ms,
                    http_status: u32::try_from(n.http_status).unwrap_or(0),
                    last_error: n.last_error,
                    created_at_ms: n.created_at_ms,
                    updated_at_ms: n.updated_at_ms,
                    body: n.body,
                })
                .collect(),
            next_page_token: next,
        }))
    }

    async fn backfill(
        &self,
        request: Request<pb::BackfillRequest>,
    ) -> Result<Response<pb::BackfillJob>, Status> {
        grpc_jobs::backfill(&self.detector, &self.workers, request.into_inner()).await
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::BackfillJob>, Status> {
        grpc_jobs::get_job(&self.detector, request.into_inner()).await
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        grpc_jobs::list_jobs(&self.detector, request.into_inner()).await
    }

    async fn start_workers(
        &self,
        request: Request<pb::StartWorkersRequest>,
    ) -> Result<Response<pb::WorkerStatusResponse>, Status> {
        grpc_jobs::start_workers(&self.workers, request.into_inner()).await
    }

    async fn stop_workers(
        &self,
        request: Request<pb::StopWorkersRequest>,
    ) -> Result<Response<pb::WorkerStatusResponse>, Status> {
        grpc_jobs::stop_workers(&self.workers, request.into_inner()).await
    }

    async fn worker_status(
        &self,
        request: Request<pb::WorkerStatusRequest>,
    ) -> Result<Response<pb::WorkerStatusResponse>, Status> {
        grpc_jobs::worker_status(&self.workers, request.into_inner()).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn day_keys() {
        assert_eq!(super::day_key(0), "1970-01-01");
        assert_eq!(super::day_key(19_723), "2024-01-01");
        assert_eq!(super::day_key(19_782), "2024-02-29");
        assert_eq!(super::day_key(-1), "1969-12-31");
    }
}
