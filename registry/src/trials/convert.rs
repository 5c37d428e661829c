//! Trials: domain ↔ proto conversions, in one place. Request conversions
//! destructure every field so a new proto field breaks the build until it
//! is handled.

use chrono::{DateTime, Utc};
use joust_proto::v1 as pb;
use tonic::Status;

use crate::grpc::convert::timestamp;
use crate::trials::domain::{
    Arm, ArmResult, ComparisonRecord, Gates, Mode, Outcome, Trial, TrialState,
};
use crate::trials::gates::{GateCheck, SequentialFigures};
use crate::trials::ingest::{Dropped, Loss, LossKind, Refusal, reason};
use crate::trials::report::{ArmReport, Report, Verdict};
use crate::trials::sequential::Sequence;
use crate::trials::stats::{Proportion, Test};

pub fn mode_to_pb(m: Mode) -> pb::TrialMode {
    match m {
        Mode::Off => pb::TrialMode::Off,
        Mode::Split => pb::TrialMode::Split,
        Mode::Shadow => pb::TrialMode::Shadow,
    }
}

/// A mode field; `UNSPECIFIED` gives `None`.
pub fn mode_from_pb(field: &str, raw: i32) -> Result<Option<Mode>, Status> {
    match pb::TrialMode::try_from(raw) {
        Ok(pb::TrialMode::Unspecified) => Ok(None),
        Ok(pb::TrialMode::Off) => Ok(Some(Mode::Off)),
        Ok(pb::TrialMode::Split) => Ok(Some(Mode::Split)),
        Ok(pb::TrialMode::Shadow) => Ok(Some(Mode::Shadow)),
        Err(_) => Err(Status::invalid_argument(format!(
            "{field}: expected a TrialMode (1 to 3), got {raw}"
        ))),
    }
}

pub fn outcome_to_pb(o: Option<Outcome>) -> pb::TrialOutcome {
    match o {
        None => pb::TrialOutcome::Unspecified,
        Some(Outcome::Promote) => pb::TrialOutcome::Promote,
        Some(Outcome::Reject) => pb::TrialOutcome::Reject,
        Some(Outcome::Abort) => pb::TrialOutcome::Abort,
    }
}

pub fn outcome_from_pb(raw: i32) -> Result<Outcome, Status> {
    match pb::TrialOutcome::try_from(raw) {
        Ok(pb::TrialOutcome::Promote) => Ok(Outcome::Promote),
        Ok(pb::TrialOutcome::Reject) => Ok(Outcome::Reject),
        Ok(pb::TrialOutcome::Abort) => Ok(Outcome::Abort),
        Ok(pb::TrialOutcome::Unspecified) | Err(_) => Err(Status::invalid_argument(format!(
            "outcome: expected promote, reject or abort (1 to 3), got {raw}"
        ))),
    }
}

pub fn arm_to_pb(a: Arm) -> pb::TrialArm {
    match a {
        Arm::Champion => pb::TrialArm::Champion,
        Arm::Challenger => pb::TrialArm::Challenger,
    }
}

pub fn arm_from_pb(field: &str, raw: i32) -> Result<Arm, Status> {
    match pb::TrialArm::try_from(raw) {
        Ok(pb::TrialArm::Champion) => Ok(Arm::Champion),
        Ok(pb::TrialArm::Challenger) => Ok(Arm::Challenger),
        Ok(pb::TrialArm::Unspecified) | Err(_) => Err(Status::invalid_argument(format!(
            "{field}: expected champion or challenger (1 or 2), got {raw}"
        ))),
    }
}

impl From<Gates> for pb::TrialGates {
    fn from(g: Gates) -> Self {
        pb::TrialGates {
            min_samples: g.min_samples,
            max_anomaly_rate_delta: g.max_anomaly_rate_delta,
            min_agreement: g.min_agreement,
            max_p99_latency_ratio: g.max_p99_latency_ratio,
            max_error_rate: g.max_error_rate,
            max_error_rate_delta: g.max_error_rate_delta,
            max_psi: g.max_psi,
            min_duration_secs: g.min_duration_secs,
            confidence: g.confidence,
        }
    }
}

impl From<pb::TrialGates> for Gates {
    fn from(g: pb::TrialGates) -> Self {
        let pb::TrialGates {
            min_samples,
            max_anomaly_rate_delta,
            min_agreement,
            max_p99_latency_ratio,
            max_error_rate,
            max_error_rate_delta,
            max_psi,
            min_duration_secs,
            confidence,
        } = g;
        Gates {
            min_samples: if min_samples == 0 {
                Gates::default().min_samples
            } else {
                min_samples
            },
            max_anomaly_rate_delta,
            min_agreement,
            max_p99_latency_ratio,
            max_error_rate,
            max_error_rate_delta,
            max_psi,
            min_duration_secs,
            confidence: if confidence == 0.0 {
                crate::trials::domain::DEFAULT_CONFIDENCE
            } else {
                confidence
            },
        }
    }
}

impl From<Trial> for pb::Trial {
    fn from(t: Trial) -> Self {
        pb::Trial {
            id: t.id,
            model: t.model,
            champion_version: t.champion_version,
            challenger_version: t.challenger_version,
            mode: mode_to_pb(t.mode).into(),
            weight: t.weight,
            sampling: t.sampling,
            sticky: t.sticky,
            gates: Some(t.gates.into()),
            state: match t.state {
                TrialState::Open => pb::TrialState::Open,
                TrialState::Stopped => pb::TrialState::Stopped,
            }
            .into(),
            outcome: outcome_to_pb(t.outcome).into(),
            started_at: Some(timestamp(t.started_at)),
            updated_at: Some(timestamp(t.updated_at)),
            stopped_at: t.stopped_at.map(timestamp),
            started_by: t.started_by,
            reason: t.reason,
            // Filled by the handlers that read the plan.
            plan: None,
        }
    }
}

/// A trial from the wire (for clients such as the router).
pub fn trial_from_pb(t: pb::Trial) -> Result<Trial, Status> {
    let pb::Trial {
        id,
        model,
        champion_version,
        challenger_version,
        mode,
        weight,
        sampling,
        sticky,
        gates,
        state,
        outcome,
        started_at,
        updated_at,
        stopped_at,
        started_by,
        reason,
        // The plan is the registry's; clients of this conversion route.
        plan: _,
    } = t;
    let state = match pb::TrialState::try_from(state) {
        Ok(pb::TrialState::Open) => TrialState::Open,
        Ok(pb::TrialState::Stopped) => TrialState::Stopped,
        _ => {
            return Err(Status::invalid_argument(format!(
                "state: expected open or stopped, got {state}"
            )));
        }
    };
    Ok(Trial {
        id,
        model,
        champion_version,
        challenger_version,
        mode: mode_from_pb("mode", mode)?.unwrap_or(Mode::Off),
        weight,
        sampling,
        sticky,
        gates: gates.map(Into::into).unwrap_or_default(),
        state,
        outcome: match outcome {
            0 => None,
            o => Some(outcome_from_pb(o)?),
        },
        started_at: time(started_at),
        updated_at: time(updated_at),
        stopped_at: stopped_at.map(|t| time(Some(t))),
        started_by,
        reason,
    })
}

fn time(t: Option<prost_types::Timestamp>) -> DateTime<Utc> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

impl From<ArmResult> for pb::TrialArmResult {
    fn from(a: ArmResult) -> Self {
        pb::TrialArmResult {
            version: a.version,
            scores: a.scores,
            labels: a.labels,
            latency_us: a.latency_us,
            status_code: a.status_code,
        }
    }
}

impl From<pb::TrialArmResult> for ArmResult {
    fn from(a: pb::TrialArmResult) -> Self {
        let pb::TrialArmResult {
            version,
            scores,
            labels,
            latency_us,
            status_code,
        } = a;
        ArmResult {
            version,
            scores,
            labels,
            latency_us,
            status_code,
        }
    }
}

impl From<ComparisonRecord> for pb::ComparisonRecord {
    fn from(r: ComparisonRecord) -> Self {
        pb::ComparisonRecord {
            record_id: r.record_id,
            trial_id: r.trial_id,
            request_id: r.request_id,
            time: Some(timestamp(r.time)),
            routing_key_hash: r.routing_key_hash,
            served: arm_to_pb(r.served).into(),
            champion: r.champion.map(Into::into),
            challenger: r.challenger.map(Into::into),
        }
    }
}

impl TryFrom<pb::ComparisonRecord> for ComparisonRecord {
    type Error = Status;
    fn try_from(r: pb::ComparisonRecord) -> Result<Self, Status> {
        let pb::ComparisonRecord {
            record_id,
            trial_id,
            request_id,
            time: at,
            routing_key_hash,
            served,
            champion,
            challenger,
        } = r;
        Ok(ComparisonRecord {
            record_id,
            trial_id,
            request_id,
            time: if at.is_some() { time(at) } else { Utc::now() },
            routing_key_hash,
            served: arm_from_pb("served", served)?,
            champion: champion.map(Into::into),
            challenger: challenger.map(Into::into),
        })
    }
}

/// Record `index` of a call from the wire; a record naming no valid
/// serving arm is refused (the others of its call are still stored).
pub fn record_from_pb(index: u64, r: pb::ComparisonRecord) -> Result<ComparisonRecord, Refusal> {
    let (record_id, trial_id, served) = (r.record_id.clone(), r.trial_id, r.served);
    ComparisonRecord::try_from(r).map_err(|_| Refusal {
        index,
        record_id,
        trial_id,
        arm: None,
        reason: reason::INVALID_SERVED_ARM,
        message: format!(
            "records[{index}].served: expected champion or challenger (1 or 2), got {served}"
        ),
    })
}

fn arm_opt_to_pb(a: Option<Arm>) -> pb::TrialArm {
    a.map_or(pb::TrialArm::Unspecified, arm_to_pb)
}

/// Drop report `i` of a call from the wire.
pub fn dropped_from_pb(i: usize, d: pb::RecordDrops) -> Result<Dropped, Status> {
    let pb::RecordDrops {
        trial_id,
        arm,
        reason,
        count,
    } = d;
    let arm = match arm {
        0 => None,
        a => Some(arm_from_pb(&format!("dropped[{i}].arm"), a)?),
    };
    Ok(Dropped {
        trial_id,
        arm,
        reason,
        count,
    })
}

impl From<Refusal> for pb::RecordRefusal {
    fn from(r: Refusal) -> Self {
        pb::RecordRefusal {
            index: r.index,
            record_id: r.record_id,
            trial_id: r.trial_id,
            arm: arm_opt_to_pb(r.arm).into(),
            reason: r.reason.to_owned(),
            message: r.message,
        }
    }
}

impl From<Loss> for pb::TrialRecordLoss {
    fn from(l: Loss) -> Self {
        pb::TrialRecordLoss {
            arm: arm_opt_to_pb(l.arm).into(),
            kind: l.kind.as_str().to_owned(),
            reason: l.reason,
            count: l.count,
        }
    }
}

fn interval(p: Proportion) -> pb::TrialInterval {
    pb::TrialInterval {
        estimate: p.estimate,
        low: p.low,
        high: p.high,
        successes: p.successes,
        trials: p.trials,
    }
}

fn test(t: Test) -> pb::TrialTest {
    pb::TrialTest {
        statistic: t.statistic,
        p_value: t.p_value,
    }
}

fn arm_report(a: ArmReport, version: u64, losses: &crate::trials::Losses) -> pb::TrialArmReport {
    pb::TrialArmReport {
        refused: losses.count(Some(a.arm), LossKind::Refused),
        dropped: losses.count(Some(a.arm), LossKind::Dropped),
        arm: arm_to_pb(a.arm).into(),
        version,
        requests: a.requests,
        errors: a.errors,
        error_rate: a.error_rate,
        anomaly_rate: Some(interval(a.anomaly_rate)),
        score_quantiles: a
            .score_quantiles
            .into_iter()
            .map(|(q, value)| pb::TrialQuantile { q, value })
            .collect(),
        latency_p50_us: a.latency_p50_us,
        latency_p95_us: a.latency_p95_us,
        latency_p99_us: a.latency_p99_us,
    }
}

pub fn verdict_to_pb(v: Verdict) -> pb::TrialVerdict {
    match v {
        Verdict::Promote => pb::TrialVerdict::Promote,
        Verdict::Reject => pb::TrialVerdict::Reject,
        Verdict::KeepRunning => pb::TrialVerdict::KeepRunning,
    }
}

pub fn report_to_pb(trial: Trial, r: Report) -> pb::TrialReport {
    let c = r.comparison;
    pb::TrialReport {
        records: r.records,
        champion: Some(arm_report(r.champion, trial.champion_version, &r.losses)),
        challenger: Some(arm_report(
            r.challenger,
            trial.challenger_version,
            &r.losses,
        )),
        refused: r.losses.total(LossKind::Refused),
        dropped: r.losses.total(LossKind::Dropped),
        losses: r.losses.rows.into_iter().map(Into::into).collect(),
        anomaly_rate_delta: c.anomaly_rate_delta,
        anomaly_rate_test: c.anomaly_rate_test.map(test),
        paired_rows: c.paired_rows,
        agreement: c.agreement.map(interval),
        mcnemar: c.mcnemar.map(test),
        mean_abs_score_diff: c.mean_abs_score_diff,
        psi: c.psi,
        sample_ratio_mismatch: c.sample_ratio_mismatch.map(test),
        verdict: verdict_to_pb(r.verdict).into(),
        reasons: r.reasons,
        sequential: Some(sequential_to_pb(r.sequential)),
        checks: r.checks.into_iter().map(check_to_pb).collect(),
        periods: r.periods.into_iter().map(period_to_pb).collect(),
        trial: Some(trial.into()),
    }
}

fn sequence(s: Sequence) -> pb::TrialSequence {
    pb::TrialSequence {
        estimate: s.estimate,
        low: s.low,
        high: s.high,
        alpha: s.alpha,
    }
}

fn sequential_to_pb(f: SequentialFigures) -> pb::TrialSequential {
    let SequentialFigures {
        confidence,
        gate_alpha,
        challenger_error_rate,
        error_rate_delta,
        anomaly_rate_delta,
        agreement,
        p99_latency_ratio,
        served_share,
    } = f;
    pb::TrialSequential {
        confidence,
        gate_alpha,
        challenger_error_rate: challenger_error_rate.map(sequence),
        error_rate_delta: error_rate_delta.map(sequence),
        anomaly_rate_delta: anomaly_rate_delta.map(sequence),
        agreement: agreement.map(sequence),
        p99_latency_ratio: p99_latency_ratio.map(sequence),
        served_share: served_share
            .into_iter()
            .map(|(p, s)| pb::TrialServedShare {
                period: p.period,
                weight: p.weight,
                champion_served: p.champion_served,
                challenger_served: p.challenger_served,
                share: Some(sequence(s)),
            })
            .collect(),
    }
}

fn check_to_pb(c: GateCheck) -> pb::TrialGateCheck {
    pb::TrialGateCheck {
        gate: c.gate.to_owned(),
        value: c.value,
        limit: c.limit,
        is_max: c.is_max,
        low: c.low,
        high: c.high,
        state: c.state.as_str().to_owned(),
    }
}

fn period_arm(c: crate::trials::gates::ArmCounts) -> pb::TrialPeriodArm {
    pb::TrialPeriodArm {
        requests: c.requests,
        errors: c.errors,
        rows: c.rows,
        anomalies: c.anomalies,
    }
}

fn period_to_pb(p: crate::trials::periods::PeriodReport) -> pb::TrialPeriod {
    let crate::trials::periods::PeriodReport {
        period,
        records,
        champion_served,
        challenger_served,
        champion,
        challenger,
        paired_rows,
        agreeing_rows,
    } = p;
    pb::TrialPeriod {
        period: period.period,
        started_at: Some(timestamp(period.started_at)),
        mode: mode_to_pb(period.mode).into(),
        weight: period.weight,
        sampling: period.sampling,
        records,
        champion_served,
        challenger_served,
        champion: Some(period_arm(champion)),
        challenger: Some(period_arm(challenger)),
        paired_rows,
        agreeing_rows,
    }
}
