//! The serving view an operator needs during an incident, per model: the
//! registry's champion and challenger (and a blocked rollout), what each
//! router answers with, and which node holds which version in which phase
//! (with refusal reasons), as the routers see the nodes' serving-state
//! streams. `joust status` prints it; the dashboard's serving page renders
//! it. One place joins the registry's facts with the routers' answers.

use joust_proto::v1 as pb;
use joust_proto::v1::router_admin_client::RouterAdminClient;
use joust_security::ClientSecurity;
use serde::Serialize;

/// What one router answered (its routes and the node states it follows),
/// or why it answered nothing.
#[derive(Debug, Clone)]
pub struct RouterAnswer {
    /// The router's address as asked.
    pub router: String,
    /// Routes and node states, or the reason the router gave none.
    pub answer: Result<(pb::ListRoutesResponse, pb::ListNodeStatesResponse), String>,
}

/// The registry's facts about one model (from `ListModels` and open
/// trials), the input to [`model_status`].
#[derive(Debug, Clone, Default)]
pub struct ModelFacts {
    pub model: String,
    pub champion: u64,
    pub challenger: u64,
    /// The open trial, described (`3 (shadow s=1 champion 1 vs challenger 2)`).
    pub trial: Option<String>,
    /// The registry's record of a blocked rollout (`version 4: reason`).
    pub rollout_blocked: Option<String>,
}

/// One version one node holds, as a router sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeVersion {
    pub node: String,
    pub stream: String,
    /// 0: the node holds no version of this model.
    pub version: u64,
    pub phase: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub refs: Vec<String>,
}

/// One router's view of one model.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouterView {
    pub router: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub answering_champion: u64,
    pub answering_challenger: u64,
    pub registry_champion: u64,
    pub registry_challenger: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    pub nodes: Vec<NodeVersion>,
}

impl RouterView {
    /// The router answers with other versions than the registry names:
    /// the new ones are not ready on enough nodes yet (or are blocked).
    pub fn moving(&self) -> bool {
        self.error.is_none()
            && (self.answering_champion != self.registry_champion
                || self.answering_challenger != self.registry_challenger)
    }
}

/// One model's serving view.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelStatus {
    pub model: String,
    pub champion: u64,
    pub challenger: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_blocked: Option<String>,
    pub routers: Vec<RouterView>,
}

/// Where one (model, version) stands on a node: the node's own state
/// (`ServingAdmin.WatchServingState`), what routers follow, what the
/// serving view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// A followed ref resolved to it; it is being downloaded, verified,
    /// decoded or warmed and answers nothing yet.
    Loading,
    /// Answers requests (pinned, and unpinned when its ref is the model's
    /// first).
    Ready,
    /// Its artifact was refused (with a reason); the load is retried with
    /// backoff and it stays refused until one succeeds.
    Refused,
    /// No followed ref points at it any more: it answers pinned requests
    /// until the unbound grace ends, then it is dropped.
    Draining,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Loading => "loading",
            Phase::Ready => "ready",
            Phase::Refused => "refused",
            Phase::Draining => "draining",
        }
    }

    /// The phase a wire value names; `None` for unspecified or unknown.
    pub fn from_proto(p: i32) -> Option<Self> {
        match pb::VersionPhase::try_from(p).ok()? {
            pb::VersionPhase::Loading => Some(Phase::Loading),
            pb::VersionPhase::Ready => Some(Phase::Ready),
            pb::VersionPhase::Refused => Some(Phase::Refused),
            pb::VersionPhase::Draining => Some(Phase::Draining),
            pb::VersionPhase::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> pb::VersionPhase {
        match self {
            Phase::Loading => pb::VersionPhase::Loading,
            Phase::Ready => pb::VersionPhase::Ready,
            Phase::Refused => pb::VersionPhase::Refused,
            Phase::Draining => pb::VersionPhase::Draining,
        }
    }
}

/// A wire phase's name (`loading`, `ready`, `refused`, `draining`), or
/// `unknown`.
pub fn phase_name(p: i32) -> &'static str {
    Phase::from_proto(p).map_or("unknown", Phase::as_str)
}

/// An open trial described in one line: `3 (split w=0.2 champion 1 vs
/// challenger 2)`; `mode` is `split`, `shadow` or `off`.
pub fn describe_trial(
    id: u64,
    mode: &str,
    weight: f64,
    sampling: f64,
    champion: u64,
    challenger: u64,
) -> String {
    let mode = match mode {
        "split" => format!("split w={weight}"),
        "shadow" => format!("shadow s={sampling}"),
        other => other.to_owned(),
    };
    format!("{id} ({mode} champion {champion} vs challenger {challenger})")
}

/// [`describe_trial`] of a trial as the wire carries it.
pub fn describe_pb_trial(t: &pb::Trial) -> String {
    let mode = match pb::TrialMode::try_from(t.mode) {
        Ok(pb::TrialMode::Split) => "split",
        Ok(pb::TrialMode::Shadow) => "shadow",
        _ => "off",
    };
    describe_trial(
        t.id,
        mode,
        t.weight,
        t.sampling,
        t.champion_version,
        t.challenger_version,
    )
}

/// Asks the router at `url` (gRPC URL or `host:port`) for its routes and
/// node states; an unreachable router is an answer too.
pub async fn ask_router(url: &str, security: &ClientSecurity) -> RouterAnswer {
    let full = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let answer = async {
        let channel = security.connect_lazy(&full).map_err(|e| e.to_string())?;
        let mut admin = RouterAdminClient::new(channel);
        let routes = admin
            .list_routes(pb::ListRoutesRequest {})
            .await
            .map_err(|s| s.message().to_owned())?
            .into_inner();
        let nodes = admin
            .list_node_states(pb::ListNodeStatesRequest {})
            .await
            .map_err(|s| s.message().to_owned())?
            .into_inner();
        Ok((routes, nodes))
    }
    .await;
    RouterAnswer {
        router: url.to_owned(),
        answer,
    }
}

/// Asks every router in `urls`, concurrently.
pub async fn ask_routers(urls: &[String], security: &ClientSecurity) -> Vec<RouterAnswer> {
    futures::future::join_all(urls.iter().map(|u| ask_router(u, security))).await
}

/// One router's view of `model`.
pub fn router_view(model: &str, answer: &RouterAnswer) -> RouterView {
    let mut view = RouterView {
        router: answer.router.clone(),
        error: None,
        answering_champion: 0,
        answering_challenger: 0,
        registry_champion: 0,
        registry_challenger: 0,
        blocked: None,
        nodes: Vec::new(),
    };
    let (routes, nodes) = match &answer.answer {
        Ok(a) => a,
        Err(e) => {
            view.error = Some(e.clone());
            return view;
        }
    };
    if let Some(r) = routes.routes.iter().find(|r| r.model == model) {
        view.answering_champion = r.champion_version;
        view.answering_challenger = r.challenger_version;
        view.registry_champion = r.registry_champion_version;
        view.registry_challenger = r.registry_challenger_version;
    }
    view.blocked = nodes.blocked.iter().find(|b| b.model == model).map(|b| {
        let why: Vec<String> = b
            .reasons
            .iter()
            .map(|r| format!("{}: {}", r.node, r.reason))
            .collect();
        format!(
            "version {} (answering {}): {}",
            b.version,
            b.answering_version,
            why.join("; ")
        )
    });
    for n in &nodes.nodes {
        let held: Vec<&pb::VersionState> = n.versions.iter().filter(|v| v.model == model).collect();
        if held.is_empty() {
            view.nodes.push(NodeVersion {
                node: n.address.clone(),
                stream: n.stream.clone(),
                version: 0,
                phase: "-",
                reason: String::new(),
                refs: Vec::new(),
            });
        }
        for v in held {
            view.nodes.push(NodeVersion {
                node: n.address.clone(),
                stream: n.stream.clone(),
                version: v.version,
                phase: phase_name(v.phase),
                reason: v.reason.clone(),
                refs: v.refs.clone(),
            });
        }
    }
    view
}

/// One model's view: the registry's facts joined with every router's.
pub fn model_status(facts: ModelFacts, answers: &[RouterAnswer]) -> ModelStatus {
    ModelStatus {
        routers: answers
            .iter()
            .map(|a| router_view(&facts.model, a))
            .collect(),
        model: facts.model,
        champion: facts.champion,
        challenger: facts.challenger,
        trial: facts.trial,
        rollout_blocked: facts.rollout_blocked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> RouterAnswer {
        RouterAnswer {
            router: "r1".to_owned(),
            answer: Ok((
                pb::ListRoutesResponse {
                    routes: vec![pb::RouteInfo {
                        model: "m".to_owned(),
                        champion_version: 1,
                        registry_champion_version: 2,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                pb::ListNodeStatesResponse {
                    nodes: vec![
                        pb::NodeServingState {
                            address: "n1".to_owned(),
                            stream: "reporting".to_owned(),
                            versions: vec![
                                pb::VersionState {
                                    model: "m".to_owned(),
                                    version: 1,
                                    phase: pb::VersionPhase::Ready as i32,
                                    refs: vec!["m@champion".to_owned()],
                                    ..Default::default()
                                },
                                pb::VersionState {
                                    model: "m".to_owned(),
                                    version: 2,
                                    phase: pb::VersionPhase::Refused as i32,
                                    reason: "bad bytes".to_owned(),
                                    ..Default::default()
                                },
                            ],
                            ..Default::default()
                        },
                        pb::NodeServingState {
                            address: "n2".to_owned(),
                            stream: "reporting".to_owned(),
                            versions: vec![],
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                },
            )),
        }
    }

    #[test]
    fn joins_routes_and_node_states_per_model() {
        let facts = ModelFacts {
            model: "m".to_owned(),
            champion: 2,
            ..Default::default()
        };
        let s = model_status(facts, &[answer()]);
        let r = &s.routers[0];
        assert_eq!((r.answering_champion, r.registry_champion), (1, 2));
        assert!(r.moving());
        let phases: Vec<_> = r
            .nodes
            .iter()
            .map(|n| (n.node.as_str(), n.version, n.phase, n.reason.as_str()))
            .collect();
        assert_eq!(
            phases,
            [
                ("n1", 1, "ready", ""),
                ("n1", 2, "refused", "bad bytes"),
                ("n2", 0, "-", "")
            ]
        );
    }

    #[test]
    fn phases_round_trip_through_the_wire() {
        for p in [
            Phase::Loading,
            Phase::Ready,
            Phase::Refused,
            Phase::Draining,
        ] {
            assert_eq!(Phase::from_proto(p.to_proto() as i32), Some(p));
            assert_eq!(phase_name(p.to_proto() as i32), p.as_str());
        }
        assert_eq!(
            Phase::from_proto(pb::VersionPhase::Unspecified as i32),
            None
        );
        assert_eq!(phase_name(99), "unknown");
    }

    #[test]
    fn an_unreachable_router_is_shown_not_hidden() {
        let down = RouterAnswer {
            router: "r9".to_owned(),
            answer: Err("connection refused".to_owned()),
        };
        let v = router_view("m", &down);
        assert_eq!(v.error.as_deref(), Some("connection refused"));
        assert!(!v.moving());
    }
}
