//! `plan(state, command) → changes`: the one place that decides what a
//! transition, promotion, rollback, trial start or trial stop changes, and
//! which audit events it writes. Pure: no I/O, no clock, no SQL.

use std::collections::BTreeMap;

use crate::domain::event_kind::{
    EVALUATION_OVERRIDDEN, ROLLBACK, TRANSITION, TRIAL_STARTED, TRIAL_STOPPED,
};
use crate::trials::domain::{NewTrial, Outcome};

use super::status::{IllegalTransition, Status, check_transition};

/// The annotation `joust model evaluate` writes on a version: `true` when
/// every quality gate passed. A candidate moves to `evaluated` only with
/// it (or with an explicit, audited override).
pub const EVAL_PASSED_KEY: &str = "eval.passed";
/// The annotation naming the evaluation run (written with
/// [`EVAL_PASSED_KEY`]).
pub const EVAL_RUN_KEY: &str = "eval.run_id";
/// How an open trial ends (named by every refusal caused by one).
pub const TRIAL_STOP_COMMAND: &str = "joust trial stop MODEL --outcome promote|reject";

/// What the plan needs to know about one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionState {
    pub status: Status,
    /// The champion this version replaced when it was promoted (`None`
    /// when it replaced none or was never promoted): the link rollback
    /// walks back.
    pub previous_champion: Option<u64>,
    /// The version has been champion at some time (`rollback --to` brings
    /// back only former champions).
    pub was_champion: bool,
    /// A passing evaluation is recorded on the version
    /// ([`EVAL_PASSED_KEY`] = `true`).
    pub evaluation_passed: bool,
}

/// The model's open trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenTrial {
    pub id: u64,
    pub champion: u64,
    pub challenger: u64,
}

/// The part of a model's state a command is planned from. A store loads,
/// inside the command's transaction: every version the command names, the
/// champion, the challenger, the champion's previous champion, and the
/// open trial (with its two versions). A version missing from `versions`
/// does not exist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelState {
    pub model: String,
    pub versions: BTreeMap<u64, VersionState>,
    pub trial: Option<OpenTrial>,
}

impl ModelState {
    fn with_status(&self, status: Status) -> Option<(u64, VersionState)> {
        self.versions
            .iter()
            .find(|(_, v)| v.status == status)
            .map(|(n, v)| (*n, *v))
    }

    pub fn champion(&self) -> Option<(u64, VersionState)> {
        self.with_status(Status::Champion)
    }

    pub fn challenger(&self) -> Option<(u64, VersionState)> {
        self.with_status(Status::Challenger)
    }

    fn version(&self, version: u64) -> Result<VersionState, LifecycleError> {
        self.versions
            .get(&version)
            .copied()
            .ok_or_else(|| LifecycleError::NoSuchVersion {
                model: self.model.clone(),
                version,
            })
    }
}

/// A lifecycle command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Moves `version` to `to` (a promotion when `to` is `champion`).
    /// `force_evaluated` overrides the missing evaluation of a candidate
    /// moving to `evaluated`; it needs a reason and is audited.
    Transition {
        version: u64,
        to: Status,
        reason: String,
        force_evaluated: bool,
    },
    /// Retires the champion and makes the champion it replaced (`to:
    /// None`) or the named former champion (`to: Some(n)`) champion again.
    /// Either way the model needs a champion.
    Rollback { to: Option<u64>, reason: String },
    /// Opens a trial of the (evaluated) challenger against the champion.
    StartTrial(NewTrial),
    /// Ends the open trial with `outcome`.
    StopTrial { outcome: Outcome, reason: String },
    /// After a promotion: brings the champion the new one replaced
    /// (`trial.challenger_version`, retired) back as the challenger of a
    /// watch trial against the new champion.
    StartWatch(NewTrial),
    /// Ends the open watch trial: `rollback` retires the new champion and
    /// makes the watched (old) champion champion again (outcome promote);
    /// otherwise the old champion is retired again (outcome reject).
    EndWatch { rollback: bool, reason: String },
}

impl Command {
    /// The versions this command names (which the state must include).
    pub fn named_versions(&self) -> Vec<u64> {
        match self {
            Command::Transition { version, .. } => vec![*version],
            Command::Rollback { to, .. } => to.iter().copied().collect(),
            Command::StartTrial(new) | Command::StartWatch(new) => vec![new.challenger_version],
            Command::StopTrial { .. } | Command::EndWatch { .. } => vec![],
        }
    }
}

/// One audit event of a plan (the store adds time, actor and model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub version: u64,
    pub kind: &'static str,
    pub from: String,
    pub to: String,
    pub reason: String,
}

impl Event {
    fn new(version: u64, kind: &'static str, from: &str, to: &str, reason: String) -> Self {
        Self {
            version,
            kind,
            from: from.to_owned(),
            to: to.to_owned(),
            reason,
        }
    }
}

/// One change a store applies, in order, inside the command's transaction.
// A plan holds a handful of changes, built once per command: the size of
// `OpenTrial` (a trial with its gates) costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The version's status moves `from` → `to` (the store refuses the
    /// change if the row is no longer in `from`).
    Status {
        version: u64,
        from: Status,
        to: Status,
    },
    /// Records the champion a promoted version replaced.
    PreviousChampion { version: u64, previous: Option<u64> },
    /// Appends an audit event.
    Event(Event),
    /// Inserts the trial row (champion `champion`), then appends `event`
    /// with `trial {id}: ` — the id the database assigned — before its
    /// reason.
    OpenTrial {
        champion: u64,
        trial: NewTrial,
        event: Event,
    },
    /// Marks the trial stopped with `outcome`.
    CloseTrial { id: u64, outcome: Outcome },
}

/// Why a command is refused. `grpc::status` maps each kind to one code
/// (through `RegistryError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("model {model:?} has no version {version}")]
    NoSuchVersion { model: String, version: u64 },
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error(
        "model {model:?} has an open trial (trial {trial}: champion version {champion}, challenger version {challenger}); {command} would change one of its versions. End the trial first: `joust trial stop {model} --outcome promote|reject`"
    )]
    TrialOpen {
        model: String,
        trial: u64,
        champion: u64,
        challenger: u64,
        command: String,
    },
    #[error("model {model:?} already has a challenger (version {version}); at most one at a time")]
    ChallengerTaken { model: String, version: u64 },
    #[error(
        "version {version} of {model:?} has no passing evaluation recorded (annotation eval.passed = true, written by `joust model evaluate`); evaluate it, or override with --force-evaluated and a --reason"
    )]
    NotEvaluated { model: String, version: u64 },
    #[error(
        "reason: expected the reason for overriding the evaluation (force_evaluated), got none"
    )]
    OverrideWithoutReason,
    #[error(
        "force_evaluated: expected a transition from candidate to evaluated, got {from} → {to}"
    )]
    OverrideNotApplicable { from: Status, to: Status },
    #[error("model {model:?} has no champion to roll back")]
    NoChampion { model: String },
    #[error(
        "model {model:?} has no previous champion to roll back to (champion is version {champion})"
    )]
    NoPreviousChampion { model: String, champion: u64 },
    #[error("version {version} of {model:?} is already the champion")]
    AlreadyChampion { model: String, version: u64 },
    #[error(
        "to: version {version} of {model:?} is {status}; a rollback brings back a retired version"
    )]
    NotRetired {
        model: String,
        version: u64,
        status: Status,
    },
    #[error(
        "to: version {version} of {model:?} was never champion; a rollback brings back a former champion"
    )]
    NeverChampion { model: String, version: u64 },
    #[error(
        "model {model:?} already has an open trial (id {trial}, challenger version {challenger}); stop it first"
    )]
    TrialAlreadyOpen {
        model: String,
        trial: u64,
        challenger: u64,
    },
    #[error("model {model:?} has no champion; a trial compares a challenger with the champion")]
    NoChampionForTrial { model: String },
    #[error("version {version} of {model:?} is {status}; a trial's challenger must be evaluated")]
    ChallengerNotEvaluated {
        model: String,
        version: u64,
        status: Status,
    },
    #[error("model {model:?} has no open trial")]
    NoOpenTrial { model: String },
    /// The stored state breaks an invariant (a bug or manual tampering).
    #[error("model {model:?}: {what}")]
    Inconsistent { model: String, what: String },
}

/// Plans `command` against `state`: the changes to apply, in order, or why
/// the command is refused. Nothing is refused after a change is planned:
/// a refusal means nothing changes.
pub fn plan(state: &ModelState, command: &Command) -> Result<Vec<Change>, LifecycleError> {
    match command {
        Command::Transition {
            version,
            to,
            reason,
            force_evaluated,
        } => transition(state, *version, *to, reason, *force_evaluated),
        Command::Rollback { to, reason } => rollback(state, *to, reason),
        Command::StartTrial(new) => start_trial(state, new),
        Command::StopTrial { outcome, reason } => stop_trial(state, *outcome, reason),
        Command::StartWatch(new) => start_watch(state, new),
        Command::EndWatch { rollback, reason } => end_watch(state, *rollback, reason),
    }
}

/// Refuses a command touching the open trial's versions.
fn refuse_during_trial(state: &ModelState, command: String) -> Result<(), LifecycleError> {
    match state.trial {
        Some(t) => Err(LifecycleError::TrialOpen {
            model: state.model.clone(),
            trial: t.id,
            champion: t.champion,
            challenger: t.challenger,
            command,
        }),
        None => Ok(()),
    }
}

fn transition(
    state: &ModelState,
    version: u64,
    to: Status,
    reason: &str,
    force_evaluated: bool,
) -> Result<Vec<Change>, LifecycleError> {
    let v = state.version(version)?;
    let from = v.status;
    check_transition(from, to)?;
    if let Some(t) = state.trial {
        // Promoting any version retires the trial's champion; a second
        // challenger would take the trial's slot.
        if version == t.champion
            || version == t.challenger
            || to == Status::Champion
            || to == Status::Challenger
        {
            refuse_during_trial(state, format!("moving version {version} to {to}"))?;
        }
    }
    let overridden = match (from, to) {
        (Status::Candidate, Status::Evaluated) if !v.evaluation_passed => {
            if !force_evaluated {
                return Err(LifecycleError::NotEvaluated {
                    model: state.model.clone(),
                    version,
                });
            }
            if reason.trim().is_empty() {
                return Err(LifecycleError::OverrideWithoutReason);
            }
            true
        }
        (Status::Candidate, Status::Evaluated) => false,
        _ if force_evaluated => return Err(LifecycleError::OverrideNotApplicable { from, to }),
        _ => false,
    };
    match to {
        Status::Champion => Ok(promote(state, version, from, reason, None)),
        Status::Challenger => {
            if let Some((other, _)) = state.challenger() {
                return Err(LifecycleError::ChallengerTaken {
                    model: state.model.clone(),
                    version: other,
                });
            }
            Ok(moved(version, from, to, reason))
        }
        _ => {
            let mut changes = moved(version, from, to, reason);
            if overridden {
                changes.push(Change::Event(Event::new(
                    version,
                    EVALUATION_OVERRIDDEN,
                    from.as_str(),
                    to.as_str(),
                    reason.to_owned(),
                )));
            }
            Ok(changes)
        }
    }
}

/// A status change and its transition event.
fn moved(version: u64, from: Status, to: Status, reason: &str) -> Vec<Change> {
    vec![
        Change::Status { version, from, to },
        Change::Event(Event::new(
            version,
            TRANSITION,
            from.as_str(),
            to.as_str(),
            reason.to_owned(),
        )),
    ]
}

/// The one promotion rule (a transition to champion and a trial stopped
/// with `promote`): the champion, if any, is retired ("replaced by version
/// N", then `context` when given) and linked as the new champion's previous
/// champion.
fn promote(
    state: &ModelState,
    version: u64,
    from: Status,
    reason: &str,
    context: Option<&str>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let old = state.champion().map(|(n, _)| n);
    if let Some(old) = old {
        let retire = match context {
            Some(c) => format!("replaced by version {version}; {c}"),
            None => format!("replaced by version {version}"),
        };
        changes.push(Change::Status {
            version: old,
            from: Status::Champion,
            to: Status::Retired,
        });
        changes.push(Change::Event(Event::new(
            old, TRANSITION, "champion", "retired", retire,
        )));
    }
    changes.push(Change::Status {
        version,
        from,
        to: Status::Champion,
    });
    changes.push(Change::PreviousChampion {
        version,
        previous: old,
    });
    changes.push(Change::Event(Event::new(
        version,
        TRANSITION,
        from.as_str(),
        "champion",
        reason.to_owned(),
    )));
    changes
}

fn rollback(
    state: &ModelState,
    to: Option<u64>,
    reason: &str,
) -> Result<Vec<Change>, LifecycleError> {
    refuse_during_trial(state, "a rollback".to_owned())?;
    let model = || state.model.clone();
    let (current, c) = state
        .champion()
        .ok_or_else(|| LifecycleError::NoChampion { model: model() })?;
    let target = match to {
        None => {
            let previous = c
                .previous_champion
                .ok_or(LifecycleError::NoPreviousChampion {
                    model: model(),
                    champion: current,
                })?;
            let p = state.version(previous)?;
            if p.status != Status::Retired {
                return Err(LifecycleError::Inconsistent {
                    model: model(),
                    what: format!(
                        "champion version {current} replaced version {previous}, which is {} instead of retired",
                        p.status
                    ),
                });
            }
            previous
        }
        Some(n) => {
            let v = state.version(n)?;
            if v.status == Status::Champion {
                return Err(LifecycleError::AlreadyChampion {
                    model: model(),
                    version: n,
                });
            }
            if v.status != Status::Retired {
                return Err(LifecycleError::NotRetired {
                    model: model(),
                    version: n,
                    status: v.status,
                });
            }
            if !v.was_champion {
                return Err(LifecycleError::NeverChampion {
                    model: model(),
                    version: n,
                });
            }
            n
        }
    };
    Ok(vec![
        Change::Status {
            version: current,
            from: Status::Champion,
            to: Status::Retired,
        },
        Change::Event(Event::new(
            current,
            ROLLBACK,
            "champion",
            "retired",
            reason.to_owned(),
        )),
        Change::Status {
            version: target,
            from: Status::Retired,
            to: Status::Champion,
        },
        Change::Event(Event::new(
            target,
            ROLLBACK,
            "retired",
            "champion",
            reason.to_owned(),
        )),
    ])
}

fn start_trial(state: &ModelState, new: &NewTrial) -> Result<Vec<Change>, LifecycleError> {
    let model = || state.model.clone();
    if let Some(t) = state.trial {
        return Err(LifecycleError::TrialAlreadyOpen {
            model: model(),
            trial: t.id,
            challenger: t.challenger,
        });
    }
    let (champion, _) = state
        .champion()
        .ok_or_else(|| LifecycleError::NoChampionForTrial { model: model() })?;
    let version = new.challenger_version;
    let v = state.version(version)?;
    if v.status != Status::Evaluated {
        return Err(LifecycleError::ChallengerNotEvaluated {
            model: model(),
            version,
            status: v.status,
        });
    }
    if let Some((other, _)) = state.challenger() {
        return Err(LifecycleError::ChallengerTaken {
            model: model(),
            version: other,
        });
    }
    let mut changes = moved(
        version,
        Status::Evaluated,
        Status::Challenger,
        &format!("trial started: {}", new.reason),
    );
    changes.push(Change::OpenTrial {
        champion,
        trial: new.clone(),
        event: Event::new(
            version,
            TRIAL_STARTED,
            "",
            new.mode.as_str(),
            format!(
                "champion {champion} vs challenger {version}, weight {}, sampling {}, sticky {}; {}",
                new.weight, new.sampling, new.sticky, new.reason
            ),
        ),
    });
    Ok(changes)
}

fn stop_trial(
    state: &ModelState,
    outcome: Outcome,
    reason: &str,
) -> Result<Vec<Change>, LifecycleError> {
    let t = state.trial.ok_or_else(|| LifecycleError::NoOpenTrial {
        model: state.model.clone(),
    })?;
    let version = t.challenger;
    let v = state.version(version)?;
    let why = format!("trial {} stopped ({outcome}): {reason}", t.id);
    let mut changes = match outcome {
        Outcome::Promote => {
            check_transition(v.status, Status::Champion)?;
            promote(state, version, v.status, &why, Some(&why))
        }
        // A challenger that is no longer one (moved by hand before such
        // moves were refused) stays where it is.
        Outcome::Reject | Outcome::Abort if v.status == Status::Challenger => {
            moved(version, Status::Challenger, Status::Evaluated, &why)
        }
        Outcome::Reject | Outcome::Abort => Vec::new(),
    };
    changes.push(Change::CloseTrial { id: t.id, outcome });
    changes.push(Change::Event(Event::new(
        version,
        TRIAL_STOPPED,
        "open",
        outcome.as_str(),
        why,
    )));
    Ok(changes)
}

fn start_watch(state: &ModelState, new: &NewTrial) -> Result<Vec<Change>, LifecycleError> {
    let model = || state.model.clone();
    if let Some(t) = state.trial {
        return Err(LifecycleError::TrialAlreadyOpen {
            model: model(),
            trial: t.id,
            challenger: t.challenger,
        });
    }
    let (champion, c) = state
        .champion()
        .ok_or_else(|| LifecycleError::NoChampion { model: model() })?;
    let old = new.challenger_version;
    if c.previous_champion != Some(old) {
        return Err(LifecycleError::Inconsistent {
            model: model(),
            what: format!(
                "a watch compares champion version {champion} with the champion it replaced ({:?}), not version {old}",
                c.previous_champion
            ),
        });
    }
    let v = state.version(old)?;
    if v.status != Status::Retired {
        return Err(LifecycleError::NotRetired {
            model: model(),
            version: old,
            status: v.status,
        });
    }
    if let Some((other, _)) = state.challenger() {
        return Err(LifecycleError::ChallengerTaken {
            model: model(),
            version: other,
        });
    }
    let why = format!("rollback watch of version {champion}: {}", new.reason);
    Ok(vec![
        Change::Status {
            version: old,
            from: Status::Retired,
            to: Status::Challenger,
        },
        Change::Event(Event::new(
            old,
            TRANSITION,
            "retired",
            "challenger",
            why.clone(),
        )),
        Change::OpenTrial {
            champion,
            trial: new.clone(),
            event: Event::new(
                old,
                TRIAL_STARTED,
                "",
                new.mode.as_str(),
                format!("champion {champion} watched against version {old}; {why}"),
            ),
        },
    ])
}

fn end_watch(
    state: &ModelState,
    rollback: bool,
    reason: &str,
) -> Result<Vec<Change>, LifecycleError> {
    let t = state.trial.ok_or_else(|| LifecycleError::NoOpenTrial {
        model: state.model.clone(),
    })?;
    let old = t.challenger;
    let new = t.champion;
    for (n, want) in [(old, Status::Challenger), (new, Status::Champion)] {
        let v = state.version(n)?;
        if v.status != want {
            return Err(LifecycleError::Inconsistent {
                model: state.model.clone(),
                what: format!(
                    "watch trial {}: version {n} is {} instead of {want}",
                    t.id, v.status
                ),
            });
        }
    }
    let mut changes = if rollback {
        let why = format!("trial {} (rollback watch): {reason}", t.id);
        vec![
            Change::Status {
                version: new,
                from: Status::Champion,
                to: Status::Retired,
            },
            Change::Event(Event::new(
                new,
                ROLLBACK,
                "champion",
                "retired",
                why.clone(),
            )),
            Change::Status {
                version: old,
                from: Status::Challenger,
                to: Status::Champion,
            },
            Change::Event(Event::new(old, ROLLBACK, "challenger", "champion", why)),
        ]
    } else {
        moved(
            old,
            Status::Challenger,
            Status::Retired,
            &format!("trial {} (rollback watch) ended: {reason}", t.id),
        )
    };
    let outcome = if rollback {
        Outcome::Promote
    } else {
        Outcome::Reject
    };
    changes.push(Change::CloseTrial { id: t.id, outcome });
    changes.push(Change::Event(Event::new(
        old,
        TRIAL_STOPPED,
        "open",
        outcome.as_str(),
        format!(
            "trial {} (rollback watch) {}: {reason}",
            t.id,
            if rollback { "rolled back" } else { "ended" }
        ),
    )));
    Ok(changes)
}
