//! Make-before-break: from the routes the registry wants (`desired`), the
//! routes the router answered with so far (`previous`) and what the nodes
//! report, the routes to answer with now. A pure function (no transport,
//! no clock), tested on its own.
//!
//! The rule, per model:
//! - the champion moves to the registry's champion once it is ready on at
//!   least `min_ready` nodes; until then the previous champion keeps
//!   answering, as long as a node still answers it (ready or draining);
//!   once moved, it stays (a node restarting does not move it back);
//! - a trial is routed only while its champion is the one answering, and
//!   once its challenger is ready on `min_ready` nodes (a trial already
//!   routed with that challenger keeps it: a weight or mode change applies
//!   at once);
//! - with no previous route, or nothing answering the previous champion,
//!   the registry's route is taken as it is (there is nothing to keep).

use crate::table::{Route, Routes};

/// What the nodes hold, as counts of nodes (whose stream is up).
pub trait Holdings {
    /// Nodes where `model` `version` is ready.
    fn ready(&self, model: &str, version: u64) -> usize;
    /// Nodes that answer it (ready or draining).
    fn answering(&self, model: &str, version: u64) -> usize;
}

/// A model whose registry champion does not answer yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub model: String,
    /// The registry's champion, waiting to be ready on enough nodes.
    pub wanted: u64,
    /// The champion answering meanwhile.
    pub answering: u64,
}

/// The routes to answer with, and what is held back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub routes: Routes,
    /// Champions held back (the previous one answers).
    pub held: Vec<Held>,
    /// Open trials not routed yet (model, challenger version).
    pub trials_waiting: Vec<(String, u64)>,
}

/// The routes to answer with now.
pub fn plan(desired: &Routes, previous: &Routes, nodes: &impl Holdings, min_ready: usize) -> Plan {
    let min_ready = min_ready.max(1);
    let mut out = Plan::default();
    for (model, want) in desired {
        let prev = previous.get(model);
        let wanted = want.champion_version;
        let champion = match prev {
            Some(p) if p.champion_version == wanted => wanted,
            _ if nodes.ready(model, wanted) >= min_ready => wanted,
            Some(p) if nodes.answering(model, p.champion_version) > 0 => {
                out.held.push(Held {
                    model: model.clone(),
                    wanted,
                    answering: p.champion_version,
                });
                p.champion_version
            }
            _ => wanted,
        };
        let trial = match &want.trial {
            Some(t) if champion == wanted => {
                let routed_before = prev.is_some_and(|p| {
                    p.champion_version == wanted
                        && p.trial
                            .as_ref()
                            .is_some_and(|pt| pt.challenger_version == t.challenger_version)
                });
                if routed_before || nodes.ready(model, t.challenger_version) >= min_ready {
                    Some(t.clone())
                } else {
                    out.trials_waiting
                        .push((model.clone(), t.challenger_version));
                    None
                }
            }
            Some(t) => {
                out.trials_waiting
                    .push((model.clone(), t.challenger_version));
                None
            }
            None => None,
        };
        out.routes.insert(
            model.clone(),
            Route {
                champion_version: champion,
                trial,
            },
        );
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::table::{TrialMode, TrialRoute};

    /// (model, version) → (ready nodes, answering nodes).
    #[derive(Default)]
    struct Nodes(BTreeMap<(String, u64), (usize, usize)>);

    impl Nodes {
        fn with(mut self, model: &str, version: u64, ready: usize, answering: usize) -> Self {
            self.0.insert((model.into(), version), (ready, answering));
            self
        }
    }

    impl Holdings for Nodes {
        fn ready(&self, model: &str, version: u64) -> usize {
            self.0.get(&(model.into(), version)).map_or(0, |c| c.0)
        }
        fn answering(&self, model: &str, version: u64) -> usize {
            self.0.get(&(model.into(), version)).map_or(0, |c| c.1)
        }
    }

    fn route(champion: u64, challenger: Option<u64>) -> Route {
        Route {
            champion_version: champion,
            trial: challenger.map(|c| TrialRoute {
                trial_id: 7,
                challenger_version: c,
                mode: TrialMode::Split,
                weight: 0.2,
                sampling: 1.0,
                sticky: true,
            }),
        }
    }

    fn routes(list: &[(&str, Route)]) -> Routes {
        list.iter()
            .map(|(m, r)| ((*m).to_owned(), r.clone()))
            .collect()
    }

    #[test]
    fn a_promotion_waits_until_the_new_champion_is_ready_on_enough_nodes() {
        let desired = routes(&[("m", route(2, None))]);
        let previous = routes(&[("m", route(1, None))]);
        // v2 loading everywhere: v1 keeps answering.
        let nodes = Nodes::default().with("m", 1, 2, 2);
        let p = plan(&desired, &previous, &nodes, 1);
        assert_eq!(p.routes["m"].champion_version, 1);
        assert_eq!(
            p.held,
            vec![Held {
                model: "m".into(),
                wanted: 2,
                answering: 1
            }]
        );
        // Ready on one of two nodes: enough with min 1, not with min 2.
        let nodes = nodes.with("m", 2, 1, 1);
        assert_eq!(
            plan(&desired, &previous, &nodes, 1).routes["m"],
            route(2, None)
        );
        assert_eq!(
            plan(&desired, &previous, &nodes, 2).routes["m"].champion_version,
            1
        );
        let nodes = nodes.with("m", 2, 2, 2);
        let p = plan(&desired, &previous, &nodes, 2);
        assert_eq!((p.routes["m"].champion_version, p.held.len()), (2, 0));
    }

    #[test]
    fn once_moved_a_champion_stays_and_a_first_route_is_taken_as_it_is() {
        let desired = routes(&[("m", route(2, None))]);
        let moved = routes(&[("m", route(2, None))]);
        // A node restarted: v2 ready nowhere for a moment; no move back.
        let nodes = Nodes::default().with("m", 1, 1, 1);
        assert_eq!(
            plan(&desired, &moved, &nodes, 1).routes["m"].champion_version,
            2
        );
        // No previous route: the registry's, ready or not.
        assert_eq!(
            plan(&desired, &Routes::new(), &Nodes::default(), 1).routes["m"].champion_version,
            2
        );
        // The previous champion answers nowhere: nothing to keep.
        let p = plan(
            &desired,
            &routes(&[("m", route(1, None))]),
            &Nodes::default(),
            1,
        );
        assert_eq!((p.routes["m"].champion_version, p.held.len()), (2, 0));
        // A model gone from the registry is gone from the routes.
        assert!(plan(&Routes::new(), &moved, &nodes, 1).routes.is_empty());
    }

    #[test]
    fn a_refused_champion_keeps_the_last_ready_one_across_promotions() {
        // 1 → 2 (refused everywhere) → 3 (refused too): 1 keeps answering.
        let nodes = Nodes::default().with("m", 1, 2, 2);
        let p = plan(
            &routes(&[("m", route(2, None))]),
            &routes(&[("m", route(1, None))]),
            &nodes,
            1,
        );
        let p = plan(&routes(&[("m", route(3, None))]), &p.routes, &nodes, 1);
        assert_eq!(p.routes["m"].champion_version, 1);
        assert_eq!(p.held[0].wanted, 3);
    }

    #[test]
    fn a_trial_waits_for_its_challenger_and_then_changes_apply_at_once() {
        let previous = routes(&[("m", route(1, None))]);
        let desired = routes(&[("m", route(1, Some(2)))]);
        let nodes = Nodes::default().with("m", 1, 2, 2);
        let p = plan(&desired, &previous, &nodes, 1);
        assert_eq!(p.routes["m"], route(1, None));
        assert_eq!(p.trials_waiting, vec![("m".to_owned(), 2)]);
        let nodes = nodes.with("m", 2, 1, 1);
        let p = plan(&desired, &previous, &nodes, 1);
        assert_eq!(p.routes["m"], route(1, Some(2)));
        // A weight change with the same challenger: at once, even if the
        // challenger's nodes are restarting.
        let mut heavier = desired.clone();
        if let Some(t) = heavier.get_mut("m").and_then(|r| r.trial.as_mut()) {
            t.weight = 0.5;
        }
        let p = plan(&heavier, &p.routes, &Nodes::default().with("m", 1, 2, 2), 1);
        assert_eq!(p.routes["m"].trial.as_ref().unwrap().weight, 0.5);
        // A trial on a champion that is held back waits with it.
        let p = plan(
            &routes(&[("m", route(3, Some(2)))]),
            &routes(&[("m", route(1, None))]),
            &nodes,
            1,
        );
        assert_eq!(p.routes["m"], route(1, None));
        assert_eq!(p.trials_waiting, vec![("m".to_owned(), 2)]);
    }

    #[test]
    fn stopping_a_trial_with_promotion_moves_at_once() {
        // Stop (promote): the challenger, ready, becomes champion.
        let previous = routes(&[("m", route(1, Some(2)))]);
        let desired = routes(&[("m", route(2, None))]);
        let nodes = Nodes::default().with("m", 1, 2, 2).with("m", 2, 2, 2);
        assert_eq!(
            plan(&desired, &previous, &nodes, 2).routes["m"],
            route(2, None)
        );
    }
}
