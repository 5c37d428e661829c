//! The rules, whitelist and evidence RPCs of `joust.v1.Detection`, and
//! the conversions of rules and matches: `grpc.rs` delegates here.

use joust_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::detector::Detector;
use crate::rules::{AnomalyType, Operator, Rule, RuleMatch, WhitelistEntry};

pub(crate) fn rule_to_pb(r: Rule) -> pb::Rule {
    let Rule {
        anomaly_type,
        operator,
        threshold,
        enabled,
        description,
        updated_at_ms,
    } = r;
    pb::Rule {
        anomaly_type: anomaly_type.as_str().to_owned(),
        operator: operator.as_str().to_owned(),
        threshold,
        enabled,
        description,
        updated_at_ms,
    }
}

pub(crate) fn match_to_pb(m: RuleMatch) -> pb::RuleMatch {
    let RuleMatch {
        anomaly_type,
        value,
        operator,
        threshold,
    } = m;
    pb::RuleMatch {
        anomaly_type: anomaly_type.as_str().to_owned(),
        value,
        operator: operator.as_str().to_owned(),
        threshold,
    }
}

fn whitelist_to_pb(e: WhitelistEntry) -> pb::WhitelistEntry {
    let WhitelistEntry {
        ticker,
        interval,
        reason,
        created_by,
        created_at_ms,
    } = e;
    pb::WhitelistEntry {
        ticker,
        interval,
        reason,
        created_by,
        created_at_ms,
    }
}

impl TryFrom<pb::SetRuleRequest> for Rule {
    type Error = Status;

    fn try_from(r: pb::SetRuleRequest) -> Result<Self, Status> {
        let pb::SetRuleRequest {
            anomaly_type,
            operator,
            threshold,
            enabled,
            description,
        } = r;
        Ok(Rule {
            anomaly_type: AnomalyType::parse("anomaly_type", &anomaly_type)?,
            operator: Operator::parse("operator", &operator)?,
            threshold,
            enabled,
            description,
            updated_at_ms: 0,
        })
    }
}

pub(crate) async fn list_rules(
    d: &Detector,
    _request: Request<pb::ListRulesRequest>,
) -> Result<Response<pb::ListRulesResponse>, Status> {
    let rules = d.list_rules().await?;
    Ok(Response::new(pb::ListRulesResponse {
        rules: rules.into_iter().map(rule_to_pb).collect(),
        types: AnomalyType::ALL
            .iter()
            .map(|t| pb::AnomalyTypeInfo {
                name: t.as_str().to_owned(),
                measure: t.measure().to_owned(),
            })
            .collect(),
    }))
}

pub(crate) async fn set_rule(
    d: &Detector,
    request: Request<pb::SetRuleRequest>,
) -> Result<Response<pb::Rule>, Status> {
    let rule = Rule::try_from(request.into_inner())?;
    Ok(Response::new(rule_to_pb(d.set_rule(rule).await?)))
}

pub(crate) async fn delete_rule(
    d: &Detector,
    request: Request<pb::DeleteRuleRequest>,
) -> Result<Response<pb::DeleteRuleResponse>, Status> {
    let pb::DeleteRuleRequest { anomaly_type } = request.into_inner();
    d.delete_rule(AnomalyType::parse("anomaly_type", &anomaly_type)?)
        .await?;
    Ok(Response::new(pb::DeleteRuleResponse {}))
}

pub(crate) async fn list_whitelist(
    d: &Detector,
    request: Request<pb::ListWhitelistRequest>,
) -> Result<Response<pb::ListWhitelistResponse>, Status> {
    let pb::ListWhitelistRequest { ticker } = request.into_inner();
    let ticker = (!ticker.is_empty()).then_some(ticker);
    let entries = d.list_whitelist(ticker.as_deref()).await?;
    Ok(Response::new(pb::ListWhitelistResponse {
        entries: entries.into_iter().map(whitelist_to_pb).collect(),
    }))
}

pub(crate) async fn add_whitelist(
    d: &Detector,
    request: Request<pb::AddWhitelistRequest>,
) -> Result<Response<pb::WhitelistEntry>, Status> {
    let pb::AddWhitelistRequest {
        ticker,
        interval,
        reason,
        created_by,
    } = request.into_inner();
    let entry = d
        .add_whitelist(&ticker, &interval, &reason, &created_by)
        .await?;
    Ok(Response::new(whitelist_to_pb(entry)))
}

pub(crate) async fn remove_whitelist(
    d: &Detector,
    request: Request<pb::RemoveWhitelistRequest>,
) -> Result<Response<pb::RemoveWhitelistResponse>, Status> {
    let pb::RemoveWhitelistRequest { ticker, interval } = request.into_inner();
    d.remove_whitelist(&ticker, &interval).await?;
    Ok(Response::new(pb::RemoveWhitelistResponse {}))
}

pub(crate) async fn get_evidence(
    d: &Detector,
    request: Request<pb::GetEvidenceRequest>,
) -> Result<Response<pb::GetEvidenceResponse>, Status> {
    let pb::GetEvidenceRequest { run_id } = request.into_inner();
    let run_id = i64::try_from(run_id)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| {
            Status::invalid_argument(format!("run_id: expected an id ≥ 1, got {run_id}"))
        })?;
    let e = d.evidence(run_id).await?;
    Ok(Response::new(pb::GetEvidenceResponse {
        uri: e.uri,
        document: e.document.to_vec(),
        sha256: e.sha256,
        consistent: e.consistent,
    }))
}
