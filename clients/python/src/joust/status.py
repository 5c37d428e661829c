"""The per-model serving view that ``joust status`` prints: the
registry's champion, challenger, open trial and blocked rollout joined with
every router's routes and node states (the Rust
``joust_client::serving::model_status``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import grpc

from joust.errors import JoustError
from joust.serving import NodeStates, Phase, RouterClient, Routes


@dataclass(frozen=True)
class NodeVersion:
    """One version one node holds, as a router sees it (``version`` 0 and
    ``phase`` ``None``: the node holds no version of the model)."""

    node: str
    stream: str
    version: int
    phase: Optional[Phase]
    reason: str
    refs: list[str]


@dataclass(frozen=True)
class RouterView:
    """One router's view of one model; ``error`` when it did not answer."""

    router: str
    error: Optional[str]
    answering_champion: int
    answering_challenger: int
    registry_champion: int
    registry_challenger: int
    blocked: Optional[str]
    nodes: list[NodeVersion]

    @property
    def moving(self) -> bool:
        """The router answers with other versions than the registry names
        (the new ones are not ready on enough nodes yet, or blocked)."""
        return self.error is None and (
            self.answering_champion != self.registry_champion
            or self.answering_challenger != self.registry_challenger
        )


@dataclass(frozen=True)
class ModelStatus:
    """One model's serving view: the registry's champion and challenger,
    the open trial (described), a blocked rollout, and every router's
    view."""

    model: str
    champion: int
    challenger: int
    trial: Optional[str]
    rollout_blocked: Optional[str]
    routers: list[RouterView]


def describe_trial(t: Any) -> str:
    """``3 (split w=0.2 champion 1 vs challenger 2)`` (as ``joust status``)."""
    mode = t.mode.value if t.mode is not None else "off"
    if mode == "split":
        mode = f"split w={t.weight:g}"
    elif mode == "shadow":
        mode = f"shadow s={t.sampling:g}"
    return f"{t.id} ({mode} champion {t.champion_version} vs challenger {t.challenger_version})"


def router_view(model: str, router: str, answer: "tuple[Routes, NodeStates] | str") -> RouterView:
    """One router's view of ``model`` from its answer (or the reason it
    gave none)."""
    if isinstance(answer, str):
        return RouterView(router, answer, 0, 0, 0, 0, None, [])
    routes, states = answer
    r = routes.get(model)
    blocked = next((b for b in states.blocked if b.model == model), None)
    nodes: list[NodeVersion] = []
    for n in states.nodes:
        held = [v for v in n.versions if v.model == model]
        if not held:
            nodes.append(NodeVersion(n.address, n.stream, 0, None, "", []))
        nodes.extend(NodeVersion(n.address, n.stream, v.version, v.phase, v.reason, v.refs) for v in held)
    return RouterView(
        router=router,
        error=None,
        answering_champion=r.champion_version if r else 0,
        answering_challenger=r.challenger_version if r else 0,
        registry_champion=r.registry_champion_version if r else 0,
        registry_challenger=r.registry_challenger_version if r else 0,
        blocked=(
            f"version {blocked.version} (answering {blocked.answering_version}): "
            + "; ".join(f"{node}: {why}" for node, why in blocked.reasons)
            if blocked
            else None
        ),
        nodes=nodes,
    )


def serving_status(registry: Any, trials: Any, routers: Sequence[RouterClient], model: Optional[str] = None) -> list[ModelStatus]:
    """Per model (only ``model`` when given; NOT_FOUND if it does not
    exist): the registry's facts joined with every router's answer — ``joust
    status``. ``registry`` is a :class:`joust.RegistryClient`, ``trials`` a
    :class:`joust.TrialsClient`. An unreachable router is shown in its
    view's ``error``, not raised."""
    models = registry.list_models()
    if model is not None:
        models = [m for m in models if m.name == model]
        if not models:
            raise JoustError(grpc.StatusCode.NOT_FOUND, f"model: no model named {model!r}", "serving_status")
    open_trials = trials.list(model, open_only=True)
    answers: list[tuple[str, "tuple[Routes, NodeStates] | str"]] = []
    for r in routers:
        try:
            answers.append((r.url, (r.list_routes(), r.list_node_states())))
        except JoustError as e:
            answers.append((r.url, e.message))
    out = []
    for m in models:
        trial = next((t for t in open_trials if t.model == m.name), None)
        out.append(
            ModelStatus(
                model=m.name,
                champion=m.champion_version,
                challenger=m.challenger_version,
                trial=describe_trial(trial) if trial else None,
                rollout_blocked=(
                    f"version {m.rollout_blocked_version}: {m.rollout_blocked_reason}"
                    if m.rollout_blocked_version
                    else None
                ),
                routers=[router_view(m.name, url, a) for url, a in answers],
            )
        )
    return out
