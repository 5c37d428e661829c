//! Record ingest rules (pure): each comparison record is checked on its
//! own, so one bad record is refused (with a stable reason code and a
//! message naming the field and what was expected) while the others of its
//! batch are stored; refusals and the drops a router reports are counted
//! per trial, arm and reason ([`Loss`]) for the trial report.

use std::collections::{BTreeMap, BTreeSet};

use crate::trials::domain::{Arm, ArmResult, ComparisonRecord};
use crate::trials::{MAX_ID_LEN, MAX_ROWS};

/// Longest drop reason a sender may report.
pub const MAX_REASON_LEN: usize = 64;

/// Stable reason codes of refused records (snake_case; part of the API,
/// listed in docs/trials.md).
pub mod reason {
    pub const INVALID_RECORD_ID: &str = "invalid_record_id";
    pub const INVALID_REQUEST_ID: &str = "invalid_request_id";
    pub const MISSING_TRIAL_ID: &str = "missing_trial_id";
    pub const UNKNOWN_TRIAL: &str = "unknown_trial";
    pub const INVALID_SERVED_ARM: &str = "invalid_served_arm";
    pub const MISSING_SERVED_RESULT: &str = "missing_served_result";
    pub const TOO_MANY_ROWS: &str = "too_many_rows";
    pub const LABEL_COUNT_MISMATCH: &str = "label_count_mismatch";
    pub const NON_FINITE_SCORE: &str = "non_finite_score";
}

/// Why one record was not stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// Position of the record in its call (across every stream message).
    pub index: u64,
    pub record_id: String,
    pub trial_id: u64,
    /// The arm whose result is invalid, else the serving arm; `None` when
    /// the record names no valid arm.
    pub arm: Option<Arm>,
    /// One of [`reason`].
    pub reason: &'static str,
    /// Names the field and what was expected.
    pub message: String,
}

/// How a record was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LossKind {
    /// Refused by the registry (invalid).
    Refused,
    /// Dropped by a router before it was sent.
    Dropped,
}

impl LossKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LossKind::Refused => "refused",
            LossKind::Dropped => "dropped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "refused" => Some(LossKind::Refused),
            "dropped" => Some(LossKind::Dropped),
            _ => None,
        }
    }
}

/// A count of lost records of one trial, arm, kind and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    pub trial_id: u64,
    pub arm: Option<Arm>,
    pub kind: LossKind,
    pub reason: String,
    pub count: u64,
}

/// The lost records of one trial, as the report shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Losses {
    /// Sorted by arm, kind and reason.
    pub rows: Vec<Loss>,
}

impl Losses {
    /// Lost records of `kind` attributed to `arm` (`None`: to no arm).
    pub fn count(&self, arm: Option<Arm>, kind: LossKind) -> u64 {
        self.rows
            .iter()
            .filter(|l| l.arm == arm && l.kind == kind)
            .map(|l| l.count)
            .sum()
    }

    /// Lost records of `kind`, all arms.
    pub fn total(&self, kind: LossKind) -> u64 {
        self.rows
            .iter()
            .filter(|l| l.kind == kind)
            .map(|l| l.count)
            .sum()
    }
}

fn refuse(
    index: u64,
    r: &ComparisonRecord,
    arm: Option<Arm>,
    reason: &'static str,
    message: String,
) -> Refusal {
    Refusal {
        index,
        record_id: r.record_id.clone(),
        trial_id: r.trial_id,
        arm,
        reason,
        message,
    }
}

fn check_arm(field: &str, a: &ArmResult) -> Result<(), (&'static str, String)> {
    if a.scores.len() > MAX_ROWS || a.labels.len() > MAX_ROWS {
        return Err((
            reason::TOO_MANY_ROWS,
            format!(
                "{field}: expected at most {MAX_ROWS} rows, got {}",
                a.scores.len().max(a.labels.len())
            ),
        ));
    }
    // Either output may be absent (a request asking only for `score`, or
    // only for `label`); when both are present they pair up row by row.
    if a.ok() && !a.scores.is_empty() && !a.labels.is_empty() && a.scores.len() != a.labels.len() {
        return Err((
            reason::LABEL_COUNT_MISMATCH,
            format!(
                "{field}: expected one label per score, got {} scores and {} labels",
                a.scores.len(),
                a.labels.len()
            ),
        ));
    }
    if let Some(s) = a.scores.iter().find(|s| !s.is_finite()) {
        return Err((
            reason::NON_FINITE_SCORE,
            format!("{field}.scores: expected finite numbers, got {s}"),
        ));
    }
    Ok(())
}

/// Checks one comparison record (position `index` of its call).
pub fn check_record(index: u64, r: &ComparisonRecord) -> Result<(), Refusal> {
    let served = Some(r.served);
    if r.record_id.is_empty() || r.record_id.len() > MAX_ID_LEN {
        return Err(refuse(
            index,
            r,
            served,
            reason::INVALID_RECORD_ID,
            format!(
                "records[{index}].record_id: expected 1 to {MAX_ID_LEN} bytes, got {}",
                r.record_id.len()
            ),
        ));
    }
    if r.request_id.len() > MAX_ID_LEN {
        return Err(refuse(
            index,
            r,
            served,
            reason::INVALID_REQUEST_ID,
            format!(
                "records[{index}].request_id: expected at most {MAX_ID_LEN} bytes, got {}",
                r.request_id.len()
            ),
        ));
    }
    if r.trial_id == 0 {
        return Err(refuse(
            index,
            r,
            served,
            reason::MISSING_TRIAL_ID,
            format!("records[{index}].trial_id: expected a trial id, got 0"),
        ));
    }
    let result = match r.served {
        Arm::Champion => r.champion.as_ref(),
        Arm::Challenger => r.challenger.as_ref(),
    };
    if result.is_none() {
        return Err(refuse(
            index,
            r,
            served,
            reason::MISSING_SERVED_RESULT,
            format!(
                "records[{index}].{}: expected the result of the serving arm, got none",
                r.served
            ),
        ));
    }
    for (arm, a) in [
        (Arm::Champion, &r.champion),
        (Arm::Challenger, &r.challenger),
    ] {
        if let Some(a) = a
            && let Err((code, message)) = check_arm(&format!("records[{index}].{arm}"), a)
        {
            return Err(refuse(index, r, Some(arm), code, message));
        }
    }
    Ok(())
}

/// A sender's report of records it dropped, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub trial_id: u64,
    pub arm: Option<Arm>,
    pub reason: String,
    pub count: u64,
}

/// Checks a drop report (entry `i` of the call).
pub fn check_dropped(i: usize, d: &Dropped) -> Result<(), String> {
    let ok = !d.reason.is_empty()
        && d.reason.len() <= MAX_REASON_LEN
        && d.reason
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(format!(
            "dropped[{i}].reason: expected 1 to {MAX_REASON_LEN} characters of [a-z0-9_], got {:?}",
            d.reason
        ));
    }
    Ok(())
}

/// What one call stores: the valid records of known trials, the refusals,
/// and the counts to add (refusals and drops of known trials).
#[derive(Debug, Default)]
pub struct Plan {
    pub records: Vec<ComparisonRecord>,
    pub refusals: Vec<Refusal>,
    pub losses: Vec<Loss>,
}

/// Splits a call's records (already converted from the wire; conversion
/// failures arrive as refusals) into what to store and what to refuse.
/// `known` holds the trial ids that exist. Refusals of unknown trials are
/// answered but not counted (there is no trial to count them against);
/// so are drops.
pub fn plan(
    incoming: Vec<Result<ComparisonRecord, Refusal>>,
    dropped: Vec<Dropped>,
    known: &BTreeSet<u64>,
    first_index: u64,
) -> Plan {
    let mut plan = Plan::default();
    for (n, r) in incoming.into_iter().enumerate() {
        let index = first_index + n as u64;
        let checked = r.and_then(|r| {
            check_record(index, &r)?;
            if known.contains(&r.trial_id) {
                Ok(r)
            } else {
                Err(refuse(
                    index,
                    &r,
                    Some(r.served),
                    reason::UNKNOWN_TRIAL,
                    format!(
                        "records[{index}].trial_id: expected an existing trial, got {}",
                        r.trial_id
                    ),
                ))
            }
        });
        match checked {
            Ok(r) => plan.records.push(r),
            Err(refusal) => plan.refusals.push(refusal),
        }
    }
    let mut counts: BTreeMap<(u64, Option<Arm>, LossKind, String), u64> = BTreeMap::new();
    let mut add = |trial_id: u64, arm: Option<Arm>, kind: LossKind, reason: &str, n: u64| {
        if n > 0 && known.contains(&trial_id) {
            *counts
                .entry((trial_id, arm, kind, reason.to_owned()))
                .or_default() += n;
        }
    };
    for r in &plan.refusals {
        add(r.trial_id, r.arm, LossKind::Refused, r.reason, 1);
    }
    for d in &dropped {
        add(d.trial_id, d.arm, LossKind::Dropped, &d.reason, d.count);
    }
    plan.losses = counts
        .into_iter()
        .map(|((trial_id, arm, kind, reason), count)| Loss {
            trial_id,
            arm,
            kind,
            reason,
            count,
        })
        .collect();
    plan
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn record(id: &str, scores: usize, labels: usize) -> ComparisonRecord {
        let arm = ArmResult {
            version: 1,
            scores: vec![0.5; scores],
            labels: vec![false; labels],
            latency_us: 10,
            status_code: 0,
        };
        ComparisonRecord {
            record_id: id.into(),
            trial_id: 7,
            request_id: String::new(),
            time: chrono::Utc::now(),
            routing_key_hash: 0,
            served: Arm::Champion,
            champion: Some(arm.clone()),
            challenger: Some(arm),
        }
    }

    #[test]
    fn the_largest_node_request_and_a_score_only_request_yield_valid_records() {
        assert!(check_record(0, &record("r", 10_000, 10_000)).is_ok());
        assert!(check_record(0, &record("r", 4, 0)).is_ok(), "score only");
        assert!(check_record(0, &record("r", 0, 4)).is_ok(), "label only");
        let e = check_record(3, &record("r", 10_001, 10_001)).unwrap_err();
        assert_eq!(e.reason, reason::TOO_MANY_ROWS);
        assert!(
            e.message
                .contains("records[3].champion: expected at most 10000 rows, got 10001"),
            "{e:?}"
        );
        let e = check_record(0, &record("r", 3, 2)).unwrap_err();
        assert_eq!(e.reason, reason::LABEL_COUNT_MISMATCH);
    }

    #[test]
    fn one_bad_record_is_refused_and_counted_and_the_others_kept() {
        let mut bad = record("bad", 2, 2);
        if let Some(c) = bad.challenger.as_mut() {
            c.scores[1] = f64::NAN;
        }
        let mut lost = record("lost", 1, 1);
        lost.trial_id = 99;
        let incoming = vec![
            Ok(record("a", 1, 1)),
            Ok(bad),
            Ok(record("b", 1, 1)),
            Ok(lost),
        ];
        let dropped = vec![
            Dropped {
                trial_id: 7,
                arm: Some(Arm::Champion),
                reason: "buffer_full".into(),
                count: 5,
            },
            Dropped {
                trial_id: 99,
                arm: None,
                reason: "buffer_full".into(),
                count: 5,
            },
        ];
        let known = BTreeSet::from([7]);
        let p = plan(incoming, dropped, &known, 10);
        let kept: Vec<_> = p.records.iter().map(|r| r.record_id.as_str()).collect();
        assert_eq!(kept, ["a", "b"]);
        assert_eq!(p.refusals.len(), 2);
        let r = &p.refusals[0];
        assert_eq!(
            (r.index, r.record_id.as_str(), r.arm, r.reason),
            (11, "bad", Some(Arm::Challenger), reason::NON_FINITE_SCORE)
        );
        assert!(
            r.message
                .starts_with("records[11].challenger.scores: expected finite")
        );
        assert_eq!(p.refusals[1].reason, reason::UNKNOWN_TRIAL);
        // Unknown trial 99: answered, not counted.
        assert_eq!(
            p.losses,
            vec![
                Loss {
                    trial_id: 7,
                    arm: Some(Arm::Champion),
                    kind: LossKind::Dropped,
                    reason: "buffer_full".into(),
                    count: 5,
                },
                Loss {
                    trial_id: 7,
                    arm: Some(Arm::Challenger),
                    kind: LossKind::Refused,
                    reason: reason::NON_FINITE_SCORE.into(),
                    count: 1,
                },
            ]
        );
    }

    #[test]
    fn drop_reasons_are_short_snake_case() {
        let d = |reason: &str| Dropped {
            trial_id: 1,
            arm: None,
            reason: reason.into(),
            count: 1,
        };
        assert!(check_dropped(0, &d("registry_unreachable")).is_ok());
        let e = check_dropped(2, &d("Bad Reason")).unwrap_err();
        assert!(e.starts_with("dropped[2].reason: expected"), "{e}");
        assert!(check_dropped(0, &d("")).is_err());
    }
}
