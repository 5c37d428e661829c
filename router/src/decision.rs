//! Which version answers a request, whether a shadow copy goes to the
//! challenger, and whether the request is recorded: a pure function of the
//! route, the client's pins and the routing key (no transport).

use crate::arm::{Arm, Chooser, key_hash};
use crate::error::RouterError;
use crate::table::{Route, TrialMode};

/// What the client asked for besides the model.
#[derive(Debug, Clone, Default)]
pub struct Asked<'a> {
    /// A version pinned in the request (`model_version` / `version`).
    pub version: Option<u64>,
    /// The routing key (metadata `x-joust-routing-key`, OIP parameter
    /// `routing_key` or the native field).
    pub key: Option<&'a str>,
    /// The debug pin (metadata `x-joust-arm`).
    pub arm: Option<Arm>,
}

/// A trial's part in a decision: the record to write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compared {
    pub trial_id: u64,
    /// `key_hash(trial, key)`, 0 without a key.
    pub key_hash: u64,
    pub champion_version: u64,
    pub challenger_version: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `None` for a pinned version (pass-through, no trial).
    pub arm: Option<Arm>,
    pub version: u64,
    /// The challenger version a shadow copy goes to.
    pub shadow: Option<u64>,
    /// Set when the request is recorded (split mode, or a shadow copy).
    pub compared: Option<Compared>,
}

/// Decides for a request to `model` whose route is `route`.
pub fn decide(
    model: &str,
    route: Option<&Route>,
    known: impl FnOnce() -> String,
    asked: &Asked<'_>,
    chooser: &Chooser,
) -> Result<Decision, RouterError> {
    if let Some(version) = asked.version {
        return Ok(Decision {
            arm: None,
            version,
            shadow: None,
            compared: None,
        });
    }
    let route = route.ok_or_else(|| RouterError::NoRoute {
        model: model.to_owned(),
        known: known(),
    })?;
    let champion = |arm| Decision {
        arm: Some(arm),
        version: route.champion_version,
        shadow: None,
        compared: None,
    };
    let Some(trial) = &route.trial else {
        return match asked.arm {
            Some(Arm::Challenger) => Err(RouterError::BadField {
                field: joust_proto::wire::metadata::ARM,
                expected: "\"champion\" (the model has no open trial, so no challenger)",
                found: "challenger".to_owned(),
            }),
            _ => Ok(champion(Arm::Champion)),
        };
    };
    let version_of = |arm| match arm {
        Arm::Champion => route.champion_version,
        Arm::Challenger => trial.challenger_version,
    };
    let compared = Compared {
        trial_id: trial.trial_id,
        key_hash: asked
            .key
            .map_or(0, |k| key_hash(trial.trial_id, k.as_bytes())),
        champion_version: route.champion_version,
        challenger_version: trial.challenger_version,
    };
    // A debug pin answers from its arm, unrecorded.
    if let Some(arm) = asked.arm {
        return Ok(Decision {
            arm: Some(arm),
            version: version_of(arm),
            shadow: None,
            compared: None,
        });
    }
    Ok(match trial.mode {
        TrialMode::Off => champion(Arm::Champion),
        TrialMode::Split => {
            let arm = chooser.split(
                trial.trial_id,
                trial.weight,
                trial.sticky,
                asked.key.map(str::as_bytes),
                None,
            );
            Decision {
                arm: Some(arm),
                version: version_of(arm),
                shadow: None,
                compared: Some(compared),
            }
        }
        TrialMode::Shadow => {
            let copy = chooser.shadow(trial.sampling);
            Decision {
                arm: Some(Arm::Champion),
                version: route.champion_version,
                shadow: copy.then_some(trial.challenger_version),
                compared: copy.then_some(compared),
            }
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::table::TrialRoute;

    fn route(mode: TrialMode) -> Route {
        Route {
            champion_version: 1,
            trial: Some(TrialRoute {
                trial_id: 9,
                challenger_version: 2,
                mode,
                weight: 1.0,
                sampling: 1.0,
                sticky: true,
            }),
        }
    }

    fn chooser() -> Chooser {
        Chooser::seeded(1)
    }

    #[test]
    fn every_mode() {
        let c = chooser();
        let asked = Asked::default();
        let d = decide("m", Some(&route(TrialMode::Off)), String::new, &asked, &c).unwrap();
        assert_eq!(
            (d.arm, d.version, d.shadow, d.compared),
            (Some(Arm::Champion), 1, None, None)
        );
        let d = decide("m", Some(&route(TrialMode::Split)), String::new, &asked, &c).unwrap();
        assert_eq!(
            (d.arm, d.version, d.shadow),
            (Some(Arm::Challenger), 2, None)
        );
        assert_eq!(d.compared.unwrap().trial_id, 9);
        let d = decide(
            "m",
            Some(&route(TrialMode::Shadow)),
            String::new,
            &asked,
            &c,
        )
        .unwrap();
        assert_eq!(
            (d.arm, d.version, d.shadow),
            (Some(Arm::Champion), 1, Some(2))
        );
        assert!(d.compared.is_some());
    }

    #[test]
    fn pins_bypass_the_trial_and_are_not_recorded() {
        let c = chooser();
        let pinned = Asked {
            version: Some(5),
            ..Default::default()
        };
        let d = decide("m", None, String::new, &pinned, &c).unwrap();
        assert_eq!((d.arm, d.version, d.compared), (None, 5, None));
        let arm = Asked {
            arm: Some(Arm::Champion),
            ..Default::default()
        };
        let d = decide("m", Some(&route(TrialMode::Split)), String::new, &arm, &c).unwrap();
        assert_eq!(
            (d.arm, d.version, d.compared),
            (Some(Arm::Champion), 1, None)
        );
        let challenger = Asked {
            arm: Some(Arm::Challenger),
            ..Default::default()
        };
        let no_trial = Route {
            champion_version: 1,
            trial: None,
        };
        let e = decide("m", Some(&no_trial), String::new, &challenger, &c).unwrap_err();
        assert!(e.to_string().starts_with("x-joust-arm:"), "{e}");
    }

    #[test]
    fn no_route_is_not_found_naming_the_model() {
        let e = decide("ghost", None, || "m".into(), &Asked::default(), &chooser()).unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);
        assert!(e.to_string().contains("\"ghost\""), "{e}");
    }

    #[test]
    fn keyed_records_carry_the_key_hash() {
        let asked = Asked {
            key: Some("customer-1"),
            ..Default::default()
        };
        let d = decide(
            "m",
            Some(&route(TrialMode::Split)),
            String::new,
            &asked,
            &chooser(),
        )
        .unwrap();
        assert_eq!(d.compared.unwrap().key_hash, key_hash(9, b"customer-1"));
    }
}
