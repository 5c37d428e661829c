//! The lifecycle plan, exhaustively: every status × every command, each
//! case asserting the exact changes (audit events included) or the exact
//! refusal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::Status::{self, Candidate, Challenger, Champion, Evaluated, Retired};
use super::*;
use crate::trials::domain::{Gates, Mode, NewTrial, Outcome};

const M: &str = "m";

fn v(status: Status) -> VersionState {
    VersionState {
        status,
        previous_champion: None,
        was_champion: matches!(status, Champion),
        evaluation_passed: true,
    }
}

fn state(versions: &[(u64, VersionState)], trial: Option<OpenTrial>) -> ModelState {
    ModelState {
        model: M.to_owned(),
        versions: versions.iter().copied().collect(),
        trial,
    }
}

fn transition(version: u64, to: Status, reason: &str) -> Command {
    Command::Transition {
        version,
        to,
        reason: reason.to_owned(),
        force_evaluated: false,
    }
}

fn status(version: u64, from: Status, to: Status) -> Change {
    Change::Status { version, from, to }
}

fn ev(version: u64, kind: &'static str, from: &str, to: &str, reason: &str) -> Change {
    Change::Event(Event {
        version,
        kind,
        from: from.to_owned(),
        to: to.to_owned(),
        reason: reason.to_owned(),
    })
}

fn prev(version: u64, previous: Option<u64>) -> Change {
    Change::PreviousChampion { version, previous }
}

fn illegal(from: Status, to: Status) -> LifecycleError {
    LifecycleError::Illegal(IllegalTransition {
        from,
        to,
        allowed: from.allowed_next().to_vec(),
    })
}

fn trial_open(command: &str) -> LifecycleError {
    LifecycleError::TrialOpen {
        model: M.to_owned(),
        trial: 7,
        champion: 1,
        challenger: 2,
        command: command.to_owned(),
    }
}

const TRIAL: OpenTrial = OpenTrial {
    id: 7,
    champion: 1,
    challenger: 2,
};

/// Applies a plan to an in-memory state, as a store would.
fn apply(s: &mut ModelState, changes: &[Change]) {
    for c in changes {
        match c {
            Change::Status { version, from, to } => {
                let row = s.versions.get_mut(version).unwrap();
                assert_eq!(row.status, *from, "version {version}");
                row.status = *to;
                if *to == Champion {
                    row.was_champion = true;
                }
            }
            Change::PreviousChampion { version, previous } => {
                s.versions.get_mut(version).unwrap().previous_champion = *previous;
            }
            Change::Event(_) => {}
            Change::OpenTrial {
                champion, trial, ..
            } => {
                s.trial = Some(OpenTrial {
                    id: 7,
                    champion: *champion,
                    challenger: trial.challenger_version,
                });
            }
            Change::CloseTrial { .. } => s.trial = None,
        }
    }
}

fn run(s: &mut ModelState, command: Command) -> Result<Vec<Change>, LifecycleError> {
    let changes = plan(s, &command)?;
    apply(s, &changes);
    Ok(changes)
}

fn champion_of(s: &ModelState) -> Option<u64> {
    s.champion().map(|(n, _)| n)
}

/// Every (from, to) pair for version 2, with version 1 the champion (or
/// version 2 itself when it is the champion); no trial.
#[test]
fn every_transition_from_every_status() {
    use LifecycleError as E;
    for from in Status::ALL {
        for to in Status::ALL {
            let subject = if from == Champion { 1 } else { 2 };
            let versions: Vec<(u64, VersionState)> = if from == Champion {
                vec![(1, v(Champion))]
            } else {
                vec![(1, v(Champion)), (2, v(from))]
            };
            let s = state(&versions, None);
            let got = plan(&s, &transition(subject, to, "why"));
            let f = from.as_str();
            let t = to.as_str();
            let expected: Result<Vec<Change>, E> = match (from, to) {
                (Candidate, Evaluated)
                | (Candidate, Retired)
                | (Evaluated, Retired)
                | (Challenger, Evaluated)
                | (Challenger, Retired)
                | (Evaluated, Challenger) => {
                    Ok(vec![status(2, from, to), ev(2, "transition", f, t, "why")])
                }
                (Champion, Retired) => Ok(vec![
                    status(1, Champion, Retired),
                    ev(1, "transition", "champion", "retired", "why"),
                ]),
                (Evaluated, Champion) | (Challenger, Champion) => Ok(vec![
                    status(1, Champion, Retired),
                    ev(
                        1,
                        "transition",
                        "champion",
                        "retired",
                        "replaced by version 2",
                    ),
                    status(2, from, Champion),
                    prev(2, Some(1)),
                    ev(2, "transition", f, "champion", "why"),
                ]),
                _ => Err(illegal(from, to)),
            };
            assert_eq!(got, expected, "{from} → {to}");
        }
    }
}

#[test]
fn illegal_moves_name_the_allowed_ones() {
    let s = state(&[(1, v(Candidate))], None);
    let e = plan(&s, &transition(1, Champion, "")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "candidate → champion is not allowed; from candidate a version may move to: evaluated, retired"
    );
}

#[test]
fn promotion_without_a_champion_links_nothing() {
    let s = state(&[(3, v(Evaluated))], None);
    assert_eq!(
        plan(&s, &transition(3, Champion, "first")),
        Ok(vec![
            status(3, Evaluated, Champion),
            prev(3, None),
            ev(3, "transition", "evaluated", "champion", "first"),
        ])
    );
}

#[test]
fn a_second_challenger_is_refused() {
    let s = state(&[(1, v(Challenger)), (2, v(Evaluated))], None);
    assert_eq!(
        plan(&s, &transition(2, Challenger, "")),
        Err(LifecycleError::ChallengerTaken {
            model: M.into(),
            version: 1
        })
    );
    let e = plan(&s, &transition(2, Challenger, "")).unwrap_err();
    assert!(
        e.to_string()
            .contains("already has a challenger (version 1)")
    );
}

#[test]
fn unknown_versions_are_not_found() {
    let s = state(&[(1, v(Champion))], None);
    let missing = Err(LifecycleError::NoSuchVersion {
        model: M.into(),
        version: 9,
    });
    assert_eq!(plan(&s, &transition(9, Retired, "")), missing);
    assert_eq!(
        plan(
            &s,
            &Command::Rollback {
                to: Some(9),
                reason: String::new()
            }
        ),
        missing
    );
    assert_eq!(plan(&s, &Command::StartTrial(new_trial(9))), missing);
}

/// During trial 7 (champion 1, challenger 2): every move of the trial's
/// versions, every promotion and every new challenger is refused naming
/// the trial and the command that ends it; other versions move freely.
#[test]
fn every_transition_during_a_trial() {
    for subject_status in Status::ALL {
        for to in Status::ALL {
            let (subject, versions) = match subject_status {
                Champion => (1, vec![(1, v(Champion)), (2, v(Challenger))]),
                Challenger => (2, vec![(1, v(Champion)), (2, v(Challenger))]),
                other => (3, vec![(1, v(Champion)), (2, v(Challenger)), (3, v(other))]),
            };
            let s = state(&versions, Some(TRIAL));
            let got = plan(&s, &transition(subject, to, "r"));
            let from = subject_status;
            let expected = if check_transition(from, to).is_err() {
                Err(illegal(from, to))
            } else if subject != 3 || to == Champion || to == Challenger {
                Err(trial_open(&format!("moving version {subject} to {to}")))
            } else {
                Ok(vec![
                    status(3, from, to),
                    ev(3, "transition", from.as_str(), to.as_str(), "r"),
                ])
            };
            assert_eq!(got, expected, "version {subject} {from} → {to}");
        }
    }
    let e = plan(
        &state(&[(1, v(Champion)), (2, v(Challenger))], Some(TRIAL)),
        &transition(2, Retired, ""),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "model \"m\" has an open trial (trial 7: champion version 1, challenger version 2); \
         moving version 2 to retired would change one of its versions. \
         End the trial first: `joust trial stop m --outcome promote|reject`"
    );
}

#[test]
fn evaluated_needs_a_recorded_evaluation_or_an_audited_override() {
    let unevaluated = VersionState {
        evaluation_passed: false,
        ..v(Candidate)
    };
    let s = state(&[(4, unevaluated)], None);
    assert_eq!(
        plan(&s, &transition(4, Evaluated, "looks fine")),
        Err(LifecycleError::NotEvaluated {
            model: M.into(),
            version: 4
        })
    );
    let forced = |reason: &str| Command::Transition {
        version: 4,
        to: Evaluated,
        reason: reason.to_owned(),
        force_evaluated: true,
    };
    assert_eq!(
        plan(&s, &forced("offline review #12")),
        Ok(vec![
            status(4, Candidate, Evaluated),
            ev(
                4,
                "transition",
                "candidate",
                "evaluated",
                "offline review #12"
            ),
            ev(
                4,
                "evaluation_overridden",
                "candidate",
                "evaluated",
                "offline review #12"
            ),
        ])
    );
    assert_eq!(
        plan(&s, &forced("  ")),
        Err(LifecycleError::OverrideWithoutReason)
    );
    // A passing evaluation needs no override (and writes none).
    let s = state(&[(4, v(Candidate))], None);
    assert_eq!(
        plan(&s, &forced("redundant")),
        Ok(vec![
            status(4, Candidate, Evaluated),
            ev(4, "transition", "candidate", "evaluated", "redundant"),
        ])
    );
    // The override applies to nothing else.
    for from in [Evaluated, Challenger] {
        let to = from.allowed_next()[0];
        let s = state(&[(4, v(from))], None);
        let c = Command::Transition {
            version: 4,
            to,
            reason: "x".into(),
            force_evaluated: true,
        };
        assert_eq!(
            plan(&s, &c),
            Err(LifecycleError::OverrideNotApplicable { from, to }),
            "{from} → {to}"
        );
    }
    // Back to evaluated from challenger needs no new evaluation.
    let s = state(
        &[(
            4,
            VersionState {
                evaluation_passed: false,
                ..v(Challenger)
            },
        )],
        None,
    );
    assert!(plan(&s, &transition(4, Evaluated, "")).is_ok());
}

fn rollback_to(to: Option<u64>) -> Command {
    Command::Rollback {
        to,
        reason: "bad".into(),
    }
}

/// Rollback to the previous champion, from every status of the champion's
/// previous champion, and the refusals.
#[test]
fn rollback_to_the_previous_champion() {
    use LifecycleError as E;
    let champion = |previous| VersionState {
        previous_champion: previous,
        ..v(Champion)
    };
    let former = VersionState {
        was_champion: true,
        ..v(Retired)
    };
    // The happy path.
    let s = state(&[(1, former), (2, champion(Some(1)))], None);
    assert_eq!(
        plan(&s, &rollback_to(None)),
        Ok(vec![
            status(2, Champion, Retired),
            ev(2, "rollback", "champion", "retired", "bad"),
            status(1, Retired, Champion),
            ev(1, "rollback", "retired", "champion", "bad"),
        ])
    );
    // No champion, no previous champion.
    assert_eq!(
        plan(&state(&[(1, v(Retired))], None), &rollback_to(None)),
        Err(E::NoChampion { model: M.into() })
    );
    assert_eq!(
        plan(&state(&[(2, champion(None))], None), &rollback_to(None)),
        Err(E::NoPreviousChampion {
            model: M.into(),
            champion: 2
        })
    );
    // The link points at a version that is not retired: a broken invariant.
    for st in [Candidate, Evaluated, Challenger] {
        let s = state(&[(1, v(st)), (2, champion(Some(1)))], None);
        assert!(
            matches!(plan(&s, &rollback_to(None)), Err(E::Inconsistent { .. })),
            "{st}"
        );
    }
    // During a trial: refused.
    let s = state(
        &[(1, former), (2, champion(Some(1))), (3, v(Challenger))],
        Some(OpenTrial {
            id: 7,
            champion: 2,
            challenger: 3,
        }),
    );
    let e = plan(&s, &rollback_to(None)).unwrap_err();
    assert_eq!(
        e,
        E::TrialOpen {
            model: M.into(),
            trial: 7,
            champion: 2,
            challenger: 3,
            command: "a rollback".into()
        }
    );
    assert!(
        e.to_string()
            .contains("`joust trial stop m --outcome promote|reject`")
    );
}

/// `rollback --to N` for N in every status.
#[test]
fn rollback_to_a_named_version_in_every_status() {
    use LifecycleError as E;
    for st in Status::ALL {
        for was_champion in [false, true] {
            let named = VersionState {
                was_champion: was_champion || st == Champion,
                ..v(st)
            };
            let versions = if st == Champion {
                vec![(5, named)]
            } else {
                vec![(2, v(Champion)), (5, named)]
            };
            let got = plan(&state(&versions, None), &rollback_to(Some(5)));
            let expected = match (st, was_champion) {
                (Champion, _) => Err(E::AlreadyChampion {
                    model: M.into(),
                    version: 5,
                }),
                (Retired, true) => Ok(vec![
                    status(2, Champion, Retired),
                    ev(2, "rollback", "champion", "retired", "bad"),
                    status(5, Retired, Champion),
                    ev(5, "rollback", "retired", "champion", "bad"),
                ]),
                (Retired, false) => Err(E::NeverChampion {
                    model: M.into(),
                    version: 5,
                }),
                (other, _) => Err(E::NotRetired {
                    model: M.into(),
                    version: 5,
                    status: other,
                }),
            };
            assert_eq!(got, expected, "{st}, was champion: {was_champion}");
        }
    }
    // A rollback needs a champion to retire.
    let former = VersionState {
        was_champion: true,
        ..v(Retired)
    };
    assert_eq!(
        plan(&state(&[(5, former)], None), &rollback_to(Some(5))),
        Err(E::NoChampion { model: M.into() })
    );
    assert!(matches!(
        plan(
            &state(&[(5, former), (1, v(Champion))], Some(TRIAL)),
            &rollback_to(Some(5))
        ),
        Err(E::TrialOpen { .. })
    ));
}

/// A model with versions 1..=n, all evaluated.
fn evaluated_model(n: u64) -> ModelState {
    state(
        &(1..=n).map(|k| (k, v(Evaluated))).collect::<Vec<_>>(),
        None,
    )
}

fn promote_all(s: &mut ModelState, versions: &[u64]) {
    for &k in versions {
        run(s, transition(k, Champion, "")).unwrap();
    }
}

#[test]
fn rollbacks_walk_back_the_chain_of_promotions() {
    let mut s = evaluated_model(4);
    promote_all(&mut s, &[1, 2, 3, 4]);
    for expected in [3, 2, 1] {
        run(&mut s, rollback_to(None)).unwrap();
        assert_eq!(champion_of(&s), Some(expected));
    }
    assert_eq!(
        run(&mut s, rollback_to(None)),
        Err(LifecycleError::NoPreviousChampion {
            model: M.into(),
            champion: 1
        })
    );
    let mut s = evaluated_model(3);
    promote_all(&mut s, &[1, 2, 3]);
    run(&mut s, rollback_to(None)).unwrap();
    run(&mut s, rollback_to(None)).unwrap();
    assert_eq!(champion_of(&s), Some(1));
    assert!(run(&mut s, rollback_to(None)).is_err());
}

#[test]
fn a_version_retired_by_a_rollback_is_never_promoted_by_the_next() {
    // 1 → 2 → 3, roll back to 2, promote 4, roll back twice: 2, then 1
    // (3, retired by the first rollback, never comes back).
    let mut s = evaluated_model(4);
    promote_all(&mut s, &[1, 2, 3]);
    run(&mut s, rollback_to(None)).unwrap();
    assert_eq!(champion_of(&s), Some(2));
    promote_all(&mut s, &[4]);
    run(&mut s, rollback_to(None)).unwrap();
    assert_eq!(champion_of(&s), Some(2));
    run(&mut s, rollback_to(None)).unwrap();
    assert_eq!(champion_of(&s), Some(1));
    assert!(run(&mut s, rollback_to(None)).is_err());
}

#[test]
fn rollback_to_a_named_version_continues_from_its_own_chain() {
    // 1 → 2 → 3 → 4, --to 2: champion 2; the next rollback gives 1.
    let mut s = evaluated_model(4);
    promote_all(&mut s, &[1, 2, 3, 4]);
    run(&mut s, rollback_to(Some(2))).unwrap();
    assert_eq!(champion_of(&s), Some(2));
    run(&mut s, rollback_to(None)).unwrap();
    assert_eq!(champion_of(&s), Some(1));
    // A version retired by a rollback can still be named.
    run(&mut s, rollback_to(Some(4))).unwrap();
    assert_eq!(champion_of(&s), Some(4));
}

fn new_trial(challenger: u64) -> NewTrial {
    NewTrial {
        model: M.into(),
        challenger_version: challenger,
        mode: Mode::Shadow,
        weight: 0.0,
        sampling: 1.0,
        sticky: false,
        gates: Gates::default(),
        reason: "try v2".into(),
        plan: None,
    }
}

/// Starting a trial with a challenger in every status, and the refusals.
#[test]
fn trial_start_from_every_status() {
    use LifecycleError as E;
    for st in Status::ALL {
        let versions = if st == Champion {
            vec![(2, v(Champion))]
        } else {
            vec![(1, v(Champion)), (2, v(st))]
        };
        let got = plan(&state(&versions, None), &Command::StartTrial(new_trial(2)));
        let expected = match st {
            Evaluated => Ok(vec![
                status(2, Evaluated, Challenger),
                ev(
                    2,
                    "transition",
                    "evaluated",
                    "challenger",
                    "trial started: try v2",
                ),
                Change::OpenTrial {
                    champion: 1,
                    trial: new_trial(2),
                    event: Event {
                        version: 2,
                        kind: "trial_started",
                        from: String::new(),
                        to: "shadow".into(),
                        reason:
                            "champion 1 vs challenger 2, weight 0, sampling 1, sticky false; try v2"
                                .into(),
                    },
                },
            ]),
            other => Err(E::ChallengerNotEvaluated {
                model: M.into(),
                version: 2,
                status: other,
            }),
        };
        assert_eq!(got, expected, "{st}");
    }
    let e = plan(
        &state(&[(1, v(Champion)), (2, v(Candidate))], None),
        &Command::StartTrial(new_trial(2)),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("challenger must be evaluated"),
        "{e}"
    );
    assert_eq!(
        plan(
            &state(&[(2, v(Evaluated))], None),
            &Command::StartTrial(new_trial(2))
        ),
        Err(E::NoChampionForTrial { model: M.into() })
    );
    assert_eq!(
        plan(
            &state(
                &[(1, v(Champion)), (2, v(Challenger)), (3, v(Evaluated))],
                Some(TRIAL)
            ),
            &Command::StartTrial(new_trial(3))
        ),
        Err(E::TrialAlreadyOpen {
            model: M.into(),
            trial: 7,
            challenger: 2
        })
    );
    assert_eq!(
        plan(
            &state(
                &[(1, v(Champion)), (2, v(Challenger)), (3, v(Evaluated))],
                None
            ),
            &Command::StartTrial(new_trial(3))
        ),
        Err(E::ChallengerTaken {
            model: M.into(),
            version: 2
        })
    );
}

/// Stopping trial 7 with every outcome, the challenger in every status
/// (only `challenger` is possible today; the others are legacy states a
/// hand move could leave before such moves were refused).
#[test]
fn trial_stop_every_outcome_from_every_status() {
    for outcome in [Outcome::Promote, Outcome::Reject, Outcome::Abort] {
        for st in Status::ALL {
            let versions = if st == Champion {
                vec![(2, v(Champion))]
            } else {
                vec![(1, v(Champion)), (2, v(st))]
            };
            let s = state(&versions, Some(TRIAL));
            let why = format!("trial 7 stopped ({outcome}): done");
            let got = plan(
                &s,
                &Command::StopTrial {
                    outcome,
                    reason: "done".into(),
                },
            );
            let close = [
                Change::CloseTrial { id: 7, outcome },
                ev(2, "trial_stopped", "open", outcome.as_str(), &why),
            ];
            let expected: Result<Vec<Change>, LifecycleError> = match (outcome, st) {
                (Outcome::Promote, Evaluated | Challenger) => Ok(vec![
                    status(1, Champion, Retired),
                    ev(
                        1,
                        "transition",
                        "champion",
                        "retired",
                        &format!("replaced by version 2; {why}"),
                    ),
                    status(2, st, Champion),
                    prev(2, Some(1)),
                    ev(2, "transition", st.as_str(), "champion", &why),
                ]),
                (Outcome::Promote, other) => Err(illegal(other, Champion)),
                (_, Challenger) => Ok(vec![
                    status(2, Challenger, Evaluated),
                    ev(2, "transition", "challenger", "evaluated", &why),
                ]),
                (_, _) => Ok(vec![]),
            };
            let expected = expected.map(|mut c| {
                c.extend(close.iter().cloned());
                c
            });
            assert_eq!(got, expected, "{outcome} with the challenger {st}");
        }
    }
    assert_eq!(
        plan(
            &state(&[(1, v(Champion))], None),
            &Command::StopTrial {
                outcome: Outcome::Reject,
                reason: String::new()
            }
        ),
        Err(LifecycleError::NoOpenTrial { model: M.into() })
    );
}

#[test]
fn a_trial_cycle_then_rollback_returns_to_the_old_champion() {
    let mut s = evaluated_model(2);
    promote_all(&mut s, &[1]);
    run(&mut s, Command::StartTrial(new_trial(2))).unwrap();
    assert!(run(&mut s, transition(1, Retired, "")).is_err());
    run(
        &mut s,
        Command::StopTrial {
            outcome: Outcome::Promote,
            reason: "gates held".into(),
        },
    )
    .unwrap();
    assert_eq!(champion_of(&s), Some(2));
    run(&mut s, rollback_to(None)).unwrap();
    assert_eq!(champion_of(&s), Some(1));
}

/// The statuses, kinds and trial closes of a plan (reasons aside).
fn shape(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|c| match c {
            Change::Status { version, from, to } => format!("v{version} {from}→{to}"),
            Change::Event(e) => format!("event v{} {} {}→{}", e.version, e.kind, e.from, e.to),
            Change::OpenTrial {
                champion, trial, ..
            } => format!("open trial v{champion} vs v{}", trial.challenger_version),
            Change::CloseTrial { id, outcome } => format!("close trial {id} {outcome}"),
            Change::PreviousChampion { version, previous } => {
                format!("v{version} previous {previous:?}")
            }
        })
        .collect()
}

#[test]
fn a_watch_brings_the_replaced_champion_back_as_challenger() {
    let champion = VersionState {
        previous_champion: Some(1),
        ..v(Champion)
    };
    let retired = VersionState {
        was_champion: true,
        ..v(Retired)
    };
    let s = state(&[(1, retired), (2, champion)], None);
    let got = plan(&s, &Command::StartWatch(new_trial(1))).unwrap();
    assert_eq!(
        shape(&got),
        [
            "v1 retired→challenger",
            "event v1 transition retired→challenger",
            "open trial v2 vs v1"
        ]
    );
    // Only the champion the new one replaced, only while retired, only
    // without an open trial.
    let other = state(&[(3, retired), (2, champion)], None);
    assert!(matches!(
        plan(&other, &Command::StartWatch(new_trial(3))),
        Err(LifecycleError::Inconsistent { .. })
    ));
    let evaluated = state(&[(1, v(Evaluated)), (2, champion)], None);
    assert!(matches!(
        plan(&evaluated, &Command::StartWatch(new_trial(1))),
        Err(LifecycleError::NotRetired { version: 1, .. })
    ));
    let open = state(
        &[(1, retired), (2, champion)],
        Some(OpenTrial {
            id: 4,
            champion: 2,
            challenger: 3,
        }),
    );
    assert!(matches!(
        plan(&open, &Command::StartWatch(new_trial(1))),
        Err(LifecycleError::TrialAlreadyOpen { trial: 4, .. })
    ));
}

#[test]
fn a_watch_ends_in_a_rollback_or_retires_the_old_champion_again() {
    let watch = Some(OpenTrial {
        id: 7,
        champion: 2,
        challenger: 1,
    });
    let s = state(&[(1, v(Challenger)), (2, v(Champion))], watch);
    let end = |rollback| Command::EndWatch {
        rollback,
        reason: "figures".into(),
    };
    assert_eq!(
        shape(&plan(&s, &end(true)).unwrap()),
        [
            "v2 champion→retired",
            "event v2 rollback champion→retired",
            "v1 challenger→champion",
            "event v1 rollback challenger→champion",
            "close trial 7 promote",
            "event v1 trial_stopped open→promote"
        ]
    );
    assert_eq!(
        shape(&plan(&s, &end(false)).unwrap()),
        [
            "v1 challenger→retired",
            "event v1 transition challenger→retired",
            "close trial 7 reject",
            "event v1 trial_stopped open→reject"
        ]
    );
    let none = state(&[(2, v(Champion))], None);
    assert!(matches!(
        plan(&none, &end(true)),
        Err(LifecycleError::NoOpenTrial { .. })
    ));
    // A trial whose versions are not where a watch leaves them is refused.
    let moved = state(&[(1, v(Evaluated)), (2, v(Champion))], watch);
    assert!(matches!(
        plan(&moved, &end(false)),
        Err(LifecycleError::Inconsistent { .. })
    ));
}
