"""Trials and serving status end to end against a real ``joust up``: a
champion served through the router, a shadow trial under traffic, its
report as objects, a switch to split, a stop that promotes, a rollback;
the router's routes and node states, the node's own serving state, and
the ``joust status`` view."""

from __future__ import annotations

import grpc
import pytest

from conftest import eventually
from joust import (
    InferenceClient,
    JoustError,
    NodeClient,
    Phase,
    RegistryClient,
    RouterClient,
    TrialGates,
    TrialMode,
    TrialOutcome,
    TrialsClient,
    TrialState,
    VersionStatus,
    serving_status,
)

ROW = [0.1] * 14  # the 14 market features (docs/models.md)


@pytest.fixture()
def clients(up):
    with RegistryClient(up.registry, actor="pytest") as registry, TrialsClient(
        up.registry, actor="pytest"
    ) as trials, RouterClient(up.router) as router, NodeClient(up.node) as node, InferenceClient(
        up.router
    ) as inference:
        yield registry, trials, router, node, inference


def champion_and_challenger(registry: RegistryClient, model: str, artifacts) -> None:
    v1, v2 = artifacts
    registry.create_model(model)
    for path in (v1, v2):
        v = registry.register_version(model, path, kind="isolation_forest")
        registry.force_evaluated(v.ref, "trained by the fixture")
    registry.promote(f"{model}:1")


def test_a_trial_from_start_to_promotion(clients, artifacts) -> None:
    registry, trials, router, node, inference = clients
    champion_and_challenger(registry, "tri", artifacts)
    eventually("the router answers with tri:1", lambda: inference.predict("tri", [ROW]).version == 1)

    trial = trials.start(
        "tri", 2, mode="shadow", gates=TrialGates(min_samples=20, min_agreement=0.5), reason="try v2"
    )
    assert (trial.model, trial.champion_version, trial.challenger_version) == ("tri", 1, 2)
    assert trial.mode == TrialMode.SHADOW and trial.sampling == 1.0 and trial.state == TrialState.OPEN
    assert trial.open and trial.outcome is None and trial.started_by == "pytest" and trial.reason == "try v2"
    assert trial.gates.min_samples == 20 and trial.gates.min_agreement == 0.5 and trial.gates.max_psi is None
    assert registry.get_version("tri:2").status == VersionStatus.CHALLENGER
    assert trials.get(model="tri") == trial == trials.get(id=trial.id)
    assert [t.id for t in trials.list("tri")] == [trial.id]
    assert trial.id in [t.id for t in trials.list_open()]

    # While it is open, its versions move only through stop.
    with pytest.raises(JoustError) as e:
        registry.promote("tri:2")
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION and "trial" in e.value.message

    def routed() -> bool:
        r = router.list_routes().get("tri")
        return r is not None and r.trial_id == trial.id and r.challenger_version == 2 and r.mode == "shadow"

    eventually("the router routes tri's trial", routed)
    eventually("the node holds tri:2 ready", lambda: node.serving_state().phase_of("tri", 2) == Phase.READY)
    for i in range(40):
        p = inference.predict("tri", [ROW, [0.2] * 14], request_id=f"r{i}")
        assert (p.model, p.version, p.arm, p.request_id) == ("tri", 1, "champion", f"r{i}")
        assert len(p.scores) == 2 and len(p.labels) == 2

    report = eventually("40 records in the report", lambda: (r := trials.report(model="tri")).records >= 40 and r)
    assert report.trial.id == trial.id
    assert (report.champion.version, report.challenger.version) == (1, 2)
    assert report.champion.requests >= 40 and report.challenger.requests >= 40
    assert report.paired_rows >= 80 and 0.0 <= report.agreement.estimate <= 1.0
    assert report.champion.latency_p50_us is not None and report.champion.score_quantiles
    assert report.verdict is not None and report.reasons
    assert [c.gate for c in report.checks][0] == "min_samples"
    assert {c.state for c in report.checks} <= {"satisfied", "violated", "undecided"}
    assert len(report.periods) == 1 and report.periods[0].mode == TrialMode.SHADOW
    assert report.sequential.confidence > 0
    assert report.raw.records == report.records

    # No plan, so nothing awaits approval.
    with pytest.raises(JoustError) as pending:
        trials.approve("tri", reason="nothing to approve")
    assert pending.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "no pending approval" in pending.value.message

    changed = trials.update("tri", mode=TrialMode.SPLIT, weight=0.5, reason="half")
    assert changed.mode == TrialMode.SPLIT and changed.weight == 0.5 and changed.id == trial.id
    eventually("the router splits tri", lambda: router.list_routes().get("tri").mode == "split")
    arms = {inference.predict("tri", [ROW], routing_key=f"k{i}").arm for i in range(60)}
    assert arms == {"champion", "challenger"}, arms
    assert router.get_stats().requests("tri", "challenger") > 0
    assert len(trials.report(trial.id).periods) == 2

    stopped = trials.stop("tri", TrialOutcome.PROMOTE, reason="v2 holds up")
    assert stopped.state == TrialState.STOPPED and stopped.outcome == TrialOutcome.PROMOTE
    assert stopped.stopped_at is not None and not stopped.open
    assert registry.get_model("tri").champion_version == 2
    assert registry.get_version("tri:1").status == VersionStatus.RETIRED
    assert trials.list("tri", open_only=True) == []
    eventually("the router answers with tri:2", lambda: inference.predict("tri", [ROW]).version == 2)

    back = registry.rollback("tri", reason="drill")
    assert back.champion.version == 1
    kinds = [e.kind for e in registry.list_events("tri")]
    for kind in ("trial_started", "trial_updated", "trial_stopped", "rollback"):
        assert kind in kinds, kinds

    with pytest.raises(JoustError) as e:
        trials.stop("tri", "promote")
    assert e.value.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION)
    with pytest.raises(ValueError, match="outcome: expected one of promote, reject, abort"):
        trials.stop("tri", "win")


def test_serving_status_from_the_router_and_the_node(clients, artifacts, up) -> None:
    registry, trials, router, node, inference = clients
    champion_and_challenger(registry, "srv", artifacts)
    eventually("the router answers with srv:1", lambda: inference.predict("srv", [ROW]).version == 1)

    state = node.serving_state()
    assert state.node_id and state.generation > 0
    assert state.phase_of("srv", 1) == Phase.READY
    ready = [v for v in state.versions if v.model == "srv" and v.version == 1][0]
    assert "srv@champion" in ready.refs and ready.reason == ""

    loaded = node.list_loaded()
    assert loaded.registry_connected
    srv = [m for m in loaded.models if m.model == "srv"]
    assert [(m.version, m.state, m.kind) for m in srv] == [(1, "serving", "isolation_forest")]
    assert any(r.ref == "srv@champion" and r.version == 1 and r.state == "ready" for r in loaded.refs)

    routes = router.list_routes()
    assert routes.registry_connected and routes.watch_cursor > 0
    route = routes.get("srv")
    assert route is not None and (route.champion_version, route.registry_champion_version) == (1, 1)
    assert route.trial_id == 0

    states = router.list_node_states()
    assert len(states.nodes) == 1 and states.nodes[0].stream == "reporting"
    assert any(v.model == "srv" and v.phase == Phase.READY for v in states.nodes[0].versions)
    assert states.blocked == [] and states.min_ready_nodes >= 1

    with RouterClient("127.0.0.1:1", timeout=5) as down:
        [status] = serving_status(registry, trials, [router, down], model="srv")
    assert (status.model, status.champion, status.challenger, status.trial) == ("srv", 1, 0, None)
    live, unreachable = status.routers
    assert live.error is None and not live.moving
    assert (live.answering_champion, live.registry_champion) == (1, 1)
    assert [(n.version, n.phase) for n in live.nodes] == [(1, Phase.READY)]
    assert unreachable.router == "127.0.0.1:1" and unreachable.error
    with pytest.raises(JoustError) as e:
        serving_status(registry, trials, [router], model="no_such_model")
    assert e.value.code == grpc.StatusCode.NOT_FOUND

    # A promotion moves the node, and a reload answers what it loaded.
    registry.promote("srv:2")
    eventually("the node serves srv:2", lambda: node.serving_state().phase_of("srv", 2) == Phase.READY)
    reload = node.reload("srv@champion")
    assert (reload.model, reload.new_version) == ("srv", 2) and reload.sha256
    with pytest.raises(JoustError) as e:
        node.reload("no_such_model@champion")
    assert e.value.code == grpc.StatusCode.NOT_FOUND, e.value
