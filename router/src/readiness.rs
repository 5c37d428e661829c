//! What one node serves, as its `ServingAdmin.WatchServingState` stream
//! last said: per (model, version) a phase (loading, ready, refused with a
//! reason, draining). Transport-free: the node follower converts the
//! stream's messages here, the pool reads the result on the request path
//! (an `ArcSwap` snapshot per node: no lock, no allocation).

use std::collections::BTreeMap;

use joust_proto::v1 as pb;

/// Where one (model, version) stands on a node.
pub use joust_client::serving::Phase;

/// One (model, version) on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionState {
    pub phase: Phase,
    /// Why it was refused; empty otherwise.
    pub reason: String,
    /// The node's followed refs that point at it.
    pub refs: Vec<String>,
}

/// Model → version → state.
pub type Versions = BTreeMap<String, BTreeMap<u64, VersionState>>;

/// How well a node can answer a request pinning (model, version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Ready: the node takes it.
    Ready,
    /// Still answers it until its grace period ends (used when no ready
    /// node has it: a pinned request, or the previous version a
    /// make-before-break change keeps answering with).
    Draining,
    /// Loading, refused, absent, or the node's stream is down.
    No,
}

/// A node's serving state as the router knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NodeServing {
    /// No stream (not connected yet, or broken): the node takes no
    /// traffic until it reports again.
    #[default]
    Down,
    /// The node does not serve `WatchServingState` (an older node, or a
    /// router token without the reader role): it is taken as ready for
    /// every version, as routers did before the stream existed.
    Unreported,
    /// What the stream last said.
    Reported {
        node_id: String,
        generation: u64,
        versions: Versions,
    },
}

impl NodeServing {
    /// The state a `ServingState` message describes (each message is the
    /// whole state). Versions of an unspecified phase are left out.
    pub fn from_proto(state: pb::ServingState) -> Self {
        let pb::ServingState {
            node_id,
            generation,
            full: _,
            versions: list,
        } = state;
        let mut versions = Versions::new();
        for v in list {
            let pb::VersionState {
                model,
                version,
                phase,
                reason,
                refs,
            } = v;
            let Some(phase) = Phase::from_proto(phase) else {
                continue;
            };
            versions.entry(model).or_default().insert(
                version,
                VersionState {
                    phase,
                    reason,
                    refs,
                },
            );
        }
        NodeServing::Reported {
            node_id,
            generation,
            versions,
        }
    }

    /// True when the node may take traffic at all.
    pub fn is_up(&self) -> bool {
        !matches!(self, NodeServing::Down)
    }

    /// How the node answers a request pinning `model` `version`.
    pub fn fit(&self, model: &str, version: u64) -> Fit {
        match self {
            NodeServing::Down => Fit::No,
            NodeServing::Unreported => Fit::Ready,
            NodeServing::Reported { versions, .. } => {
                match versions.get(model).and_then(|v| v.get(&version)) {
                    Some(VersionState {
                        phase: Phase::Ready,
                        ..
                    }) => Fit::Ready,
                    Some(VersionState {
                        phase: Phase::Draining,
                        ..
                    }) => Fit::Draining,
                    _ => Fit::No,
                }
            }
        }
    }

    /// The reported state of `model` `version`, if the node reports it.
    pub fn state(&self, model: &str, version: u64) -> Option<&VersionState> {
        match self {
            NodeServing::Reported { versions, .. } => versions.get(model)?.get(&version),
            NodeServing::Down | NodeServing::Unreported => None,
        }
    }

    /// What the node holds of `model`, for error messages: `down`,
    /// `unreported`, or `generation G: v1 draining, v2 ready` (`nothing`
    /// when it reports no version of it).
    pub fn describe_model(&self, model: &str) -> String {
        match self {
            NodeServing::Reported {
                generation,
                versions,
                ..
            } => {
                let held: Vec<String> = versions
                    .get(model)
                    .into_iter()
                    .flatten()
                    .map(|(v, s)| format!("v{v} {}", s.phase.as_str()))
                    .collect();
                let held = if held.is_empty() {
                    "nothing".to_owned()
                } else {
                    held.join(", ")
                };
                format!("generation {generation}: {held}")
            }
            NodeServing::Down | NodeServing::Unreported => self.describe().to_owned(),
        }
    }

    /// "down", "unreported" or "reporting" (for status and logs).
    pub fn describe(&self) -> &'static str {
        match self {
            NodeServing::Down => "down",
            NodeServing::Unreported => "unreported",
            NodeServing::Reported { .. } => "reporting",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vs(model: &str, version: u64, phase: pb::VersionPhase) -> pb::VersionState {
        pb::VersionState {
            model: model.into(),
            version,
            phase: phase as i32,
            reason: if phase == pb::VersionPhase::Refused {
                "checksum mismatch".into()
            } else {
                String::new()
            },
            refs: vec![format!("{model}@champion")],
        }
    }

    #[test]
    fn only_ready_and_draining_versions_fit() {
        let s = NodeServing::from_proto(pb::ServingState {
            node_id: "n1".into(),
            generation: 3,
            full: true,
            versions: vec![
                vs("m", 1, pb::VersionPhase::Draining),
                vs("m", 2, pb::VersionPhase::Ready),
                vs("m", 3, pb::VersionPhase::Loading),
                vs("m", 4, pb::VersionPhase::Refused),
                vs("m", 5, pb::VersionPhase::Unspecified),
            ],
        });
        assert!(s.is_up());
        assert_eq!(s.fit("m", 1), Fit::Draining);
        assert_eq!(s.fit("m", 2), Fit::Ready);
        assert_eq!(s.fit("m", 3), Fit::No);
        assert_eq!(s.fit("m", 4), Fit::No);
        assert_eq!(s.fit("m", 5), Fit::No);
        assert_eq!(s.fit("other", 2), Fit::No);
        assert_eq!(s.state("m", 4).unwrap().reason, "checksum mismatch");
        assert!(s.state("m", 5).is_none());
    }

    #[test]
    fn a_down_node_fits_nothing_and_an_unreported_one_everything() {
        assert!(!NodeServing::Down.is_up());
        assert_eq!(NodeServing::Down.fit("m", 1), Fit::No);
        assert_eq!(NodeServing::Unreported.fit("m", 1), Fit::Ready);
        assert!(NodeServing::Unreported.state("m", 1).is_none());
    }
}
