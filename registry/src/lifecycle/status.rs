//! The statuses a version goes through and the transitions allowed
//! between them (what [`super::plan`] checks first).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Candidate,
    Evaluated,
    Challenger,
    Champion,
    Retired,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Candidate,
        Status::Evaluated,
        Status::Challenger,
        Status::Champion,
        Status::Retired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Candidate => "candidate",
            Status::Evaluated => "evaluated",
            Status::Challenger => "challenger",
            Status::Champion => "champion",
            Status::Retired => "retired",
        }
    }

    /// The statuses a version in `self` may move to with a transition.
    pub fn allowed_next(self) -> &'static [Status] {
        match self {
            Status::Candidate => &[Status::Evaluated, Status::Retired],
            Status::Evaluated => &[Status::Challenger, Status::Champion, Status::Retired],
            Status::Challenger => &[Status::Champion, Status::Evaluated, Status::Retired],
            Status::Champion => &[Status::Retired],
            Status::Retired => &[],
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}: expected candidate, evaluated, challenger, champion or retired")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// A refused transition, with the moves that would have been allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{from} → {to} is not allowed; from {from} a version may move to: {}",
    list(allowed)
)]
pub struct IllegalTransition {
    pub from: Status,
    pub to: Status,
    pub allowed: Vec<Status>,
}

fn list(allowed: &[Status]) -> String {
    if allowed.is_empty() {
        return "nothing (a retired version returns only through rollback)".to_owned();
    }
    allowed
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Validates one transition.
pub fn check_transition(from: Status, to: Status) -> Result<(), IllegalTransition> {
    let allowed = from.allowed_next();
    if allowed.contains(&to) {
        Ok(())
    } else {
        Err(IllegalTransition {
            from,
            to,
            allowed: allowed.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_happy_path_is_allowed() {
        use Status::*;
        for (a, b) in [
            (Candidate, Evaluated),
            (Evaluated, Challenger),
            (Challenger, Champion),
            (Champion, Retired),
            (Evaluated, Champion),
            (Challenger, Evaluated),
        ] {
            assert!(check_transition(a, b).is_ok(), "{a} → {b}");
        }
    }

    #[test]
    fn illegal_moves_list_the_allowed_ones() {
        let e = check_transition(Status::Candidate, Status::Champion).unwrap_err();
        assert_eq!(
            e.to_string(),
            "candidate → champion is not allowed; from candidate a version may move to: evaluated, retired"
        );
        assert!(check_transition(Status::Retired, Status::Champion).is_err());
        assert!(check_transition(Status::Champion, Status::Champion).is_err());
    }

    #[test]
    fn statuses_round_trip_through_text() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        assert!("promoted".parse::<Status>().is_err());
    }
}
