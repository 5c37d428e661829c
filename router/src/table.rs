//! The routing table: per model, the champion version and the open trial
//! if any. Readers `load()` an immutable snapshot; one updater (fed by
//! the registry's Watch and a periodic reconcile) `store()`s a new one.
//! Every change wakes `notifier()` (the make-before-break planner waits
//! on it).

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::Notify;

/// How a trial sends traffic to the challenger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialMode {
    Off,
    Split,
    Shadow,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrialRoute {
    pub trial_id: u64,
    pub challenger_version: u64,
    pub mode: TrialMode,
    pub weight: f64,
    pub sampling: f64,
    pub sticky: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub champion_version: u64,
    pub trial: Option<TrialRoute>,
}

/// Model name → route.
pub type Routes = BTreeMap<String, Route>;

#[derive(Debug, Default)]
pub struct RouteTable {
    current: ArcSwap<Routes>,
    changed: Arc<Notify>,
}

impl RouteTable {
    pub fn new(routes: Routes) -> Self {
        Self {
            current: ArcSwap::from_pointee(routes),
            changed: Arc::default(),
        }
    }

    /// Woken (`notify_one`) on every change.
    pub fn notifier(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Routes> {
        self.current.load_full()
    }

    pub fn route(&self, model: &str) -> Option<Route> {
        self.current.load().get(model).cloned()
    }

    /// Replaces the whole table (the reconcile path).
    pub fn replace(&self, routes: Routes) {
        self.current.store(Arc::new(routes));
        self.changed.notify_one();
    }

    /// Replaces one model's route (the Watch path); `None` removes it.
    pub fn set(&self, model: &str, route: Option<Route>) {
        self.current.rcu(|cur| {
            let mut next = Routes::clone(cur);
            match &route {
                Some(r) => next.insert(model.to_owned(), r.clone()),
                None => next.remove(model),
            };
            next
        });
        self.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn readers_keep_their_snapshot_while_the_table_changes() {
        let t = RouteTable::default();
        t.set(
            "m",
            Some(Route {
                champion_version: 1,
                trial: None,
            }),
        );
        let before = t.snapshot();
        t.set(
            "m",
            Some(Route {
                champion_version: 2,
                trial: Some(TrialRoute {
                    trial_id: 1,
                    challenger_version: 3,
                    mode: TrialMode::Split,
                    weight: 0.2,
                    sampling: 1.0,
                    sticky: true,
                }),
            }),
        );
        assert_eq!(before["m"].champion_version, 1);
        assert_eq!(t.route("m").unwrap().champion_version, 2);
        t.set("m", None);
        assert!(t.route("m").is_none());
    }
}
