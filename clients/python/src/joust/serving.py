"""What serves: a router's routes and the node states it follows
(``RouterAdmin``), and a node's own serving state and loaded versions
(``ServingAdmin``). :mod:`joust.status` joins them with the registry's
facts into the ``joust status`` view."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Iterator, Optional

import grpc

from joust._wire import enum_from_wire, timestamp
from joust.connection import Client
from joust.errors import JoustError, call
from joust.v1 import router_admin_pb2 as rpb
from joust.v1 import router_admin_pb2_grpc
from joust.v1 import serving_admin_pb2 as spb
from joust.v1 import serving_admin_pb2_grpc


class Phase(str, Enum):
    """Where one (model, version) stands on a node: ``loading`` (answers
    nothing yet), ``ready``, ``refused`` (with a reason; retried with
    backoff), ``draining`` (no followed ref points at it; answers pinned
    requests until its grace ends)."""

    LOADING = "loading"
    READY = "ready"
    REFUSED = "refused"
    DRAINING = "draining"


@dataclass(frozen=True)
class VersionState:
    model: str
    version: int
    #: ``None`` for a phase this client does not know.
    phase: Optional[Phase]
    #: Why it was refused; empty otherwise.
    reason: str
    #: The followed refs pointing at it (``m@champion``…).
    refs: list[str]

    @classmethod
    def from_pb(cls, m: spb.VersionState) -> "VersionState":
        return cls(
            model=m.model,
            version=m.version,
            phase=enum_from_wire(Phase, "VERSION_PHASE_", m.phase, spb.VersionPhase),
            reason=m.reason,
            refs=list(m.refs),
        )


# --- router ------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """What a router answers with for one model. ``champion_version`` /
    ``challenger_version`` answer now; the ``registry_*`` ones are what the
    registry wants (they differ while a new version is not ready on enough
    nodes, or its rollout is blocked)."""

    model: str
    champion_version: int
    #: 0 without an open trial.
    trial_id: int
    #: ``off``, ``split`` or ``shadow``; empty without a trial.
    mode: str
    weight: float
    sampling: float
    sticky: bool
    challenger_version: int
    registry_champion_version: int
    registry_challenger_version: int

    @classmethod
    def from_pb(cls, m: rpb.RouteInfo) -> "Route":
        return cls(
            m.model,
            m.champion_version,
            m.trial_id,
            m.mode,
            m.weight,
            m.sampling,
            m.sticky,
            m.challenger_version,
            m.registry_champion_version,
            m.registry_challenger_version,
        )


@dataclass(frozen=True)
class Routes:
    routes: list[Route]
    #: Whether the router's Watch stream to the registry is up.
    registry_connected: bool
    #: Id of the last registry event the router saw.
    watch_cursor: int

    def get(self, model: str) -> Optional[Route]:
        return next((r for r in self.routes if r.model == model), None)


@dataclass(frozen=True)
class NodeServingState:
    """One node as a router follows it. ``stream``: ``reporting`` (its
    serving-state stream is up), ``down`` or ``unreported``."""

    address: str
    source: str
    stream: str
    node_id: str
    generation: int
    versions: list[VersionState]
    ejected: bool


@dataclass(frozen=True)
class BlockedRollout:
    """A champion no node can serve; ``answering_version`` answers instead.
    ``reasons``: ``(node, reason)`` pairs."""

    model: str
    version: int
    answering_version: int
    reasons: list[tuple[str, str]]


@dataclass(frozen=True)
class HeldRoute:
    """A registry champion not answering yet (not ready on enough nodes)."""

    model: str
    wanted_version: int
    answering_version: int


@dataclass(frozen=True)
class NodeStates:
    nodes: list[NodeServingState]
    held: list[HeldRoute]
    blocked: list[BlockedRollout]
    min_ready_nodes: int

    @classmethod
    def from_pb(cls, m: rpb.ListNodeStatesResponse) -> "NodeStates":
        return cls(
            nodes=[
                NodeServingState(
                    n.address,
                    n.source,
                    n.stream,
                    n.node_id,
                    n.generation,
                    [VersionState.from_pb(v) for v in n.versions],
                    n.ejected,
                )
                for n in m.nodes
            ],
            held=[HeldRoute(h.model, h.wanted_version, h.answering_version) for h in m.held],
            blocked=[
                BlockedRollout(b.model, b.version, b.answering_version, [(r.node, r.reason) for r in b.reasons])
                for b in m.blocked
            ],
            min_ready_nodes=m.min_ready_nodes,
        )


@dataclass(frozen=True)
class ArmStats:
    model: str
    #: ``champion``, ``challenger``, ``shadow`` or ``pinned``.
    arm: str
    requests: int
    errors: int


@dataclass(frozen=True)
class RouterStats:
    arms: list[ArmStats]
    records_buffered: int
    records_capacity: int
    records_sent: int
    records_dropped: int
    records_refused: int
    #: The router's node pool, as the wire carries it.
    raw: Any = field(repr=False)

    def requests(self, model: str, arm: str) -> int:
        return sum(a.requests for a in self.arms if a.model == model and a.arm == arm)


class RouterClient(Client):
    """A router's admin API (``RouterAdmin``) at ``url``."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._stub = router_admin_pb2_grpc.RouterAdminStub(self.channel)

    def _call(self, method: str, request: Any) -> Any:
        rpc = getattr(self._stub, method)
        return call(f"RouterAdmin/{method}", lambda: rpc(request, timeout=self.timeout))

    def list_routes(self) -> Routes:
        """Per model: what answers (champion, open trial) and what the
        registry wants."""
        r = self._call("ListRoutes", rpb.ListRoutesRequest())
        return Routes([Route.from_pb(x) for x in r.routes], r.registry_connected, r.watch_cursor)

    def list_node_states(self) -> NodeStates:
        """Per node: whether its serving-state stream is up and which
        version it holds in which phase; per model the champions held back
        and the rollouts blocked."""
        return NodeStates.from_pb(self._call("ListNodeStates", rpb.ListNodeStatesRequest()))

    def get_stats(self) -> RouterStats:
        """Request counts per model and arm, and the comparison-record
        shipper's counters."""
        r = self._call("GetStats", rpb.GetStatsRequest())
        return RouterStats(
            arms=[ArmStats(a.model, a.arm, a.requests, a.errors) for a in r.arms],
            records_buffered=r.records_buffered,
            records_capacity=r.records_capacity,
            records_sent=r.records_sent,
            records_dropped=r.records_dropped,
            records_refused=r.records_refused,
            raw=r,
        )


# --- node --------------------------------------------------------------


@dataclass(frozen=True)
class ServingState:
    """A node's serving state: stable ``node_id`` for the process's life,
    ``generation`` increasing per change, every version it holds."""

    node_id: str
    generation: int
    versions: list[VersionState]

    @classmethod
    def from_pb(cls, m: spb.ServingState) -> "ServingState":
        return cls(m.node_id, m.generation, [VersionState.from_pb(v) for v in m.versions])

    def phase_of(self, model: str, version: int) -> Optional[Phase]:
        return next((v.phase for v in self.versions if v.model == model and v.version == version), None)


@dataclass(frozen=True)
class LoadedModel:
    model: str
    version: int
    sha256: str
    #: ``serving`` (answers unpinned requests) or ``loaded`` (pinned only).
    state: str
    loaded_at: Optional[datetime]
    load_ms: int
    requests: int
    last_error: str
    refs: list[str]
    kind: str


@dataclass(frozen=True)
class FollowedRef:
    ref: str
    model: str
    version: int
    #: ``loading``, ``ready``, ``failed`` or ``absent``.
    state: str
    last_error: str
    failures: int


@dataclass(frozen=True)
class Loaded:
    """A node's model-stats table: every loaded version and followed ref."""

    models: list[LoadedModel]
    refs: list[FollowedRef]
    watch_cursor: int
    registry_connected: bool


@dataclass(frozen=True)
class Reload:
    ref: str
    model: str
    old_version: int
    new_version: int
    sha256: str
    load_ms: int


class NodeClient(Client):
    """A serving node's admin API (``ServingAdmin``) at ``url``."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._stub = serving_admin_pb2_grpc.ServingAdminStub(self.channel)

    def _call(self, method: str, request: Any) -> Any:
        rpc = getattr(self._stub, method)
        return call(f"ServingAdmin/{method}", lambda: rpc(request, timeout=self.timeout))

    def serving_state(self) -> ServingState:
        """The node's serving state now (the first message of its
        ``WatchServingState`` stream)."""
        with self.watch_serving_state(timeout=self.timeout) as states:
            for s in states:
                return s
        raise JoustError(grpc.StatusCode.INTERNAL, "the stream ended before its first state", "ServingAdmin/WatchServingState")

    def watch_serving_state(self, timeout: Optional[float] = None) -> "ServingStateStream":
        """The whole state now, then again on every change, until the node
        stops or ``close()``."""
        return ServingStateStream(self._stub.WatchServingState(spb.WatchServingStateRequest(), timeout=timeout))

    def list_loaded(self) -> Loaded:
        r = self._call("ListLoaded", spb.ListLoadedRequest())
        return Loaded(
            models=[
                LoadedModel(
                    m.model,
                    m.version,
                    m.sha256,
                    m.state,
                    timestamp(m, "loaded_at"),
                    m.load_ms,
                    m.requests,
                    m.last_error,
                    list(m.refs),
                    m.kind,
                )
                for m in r.models
            ],
            refs=[FollowedRef(f.ref, f.model, f.version, f.state, f.last_error, f.failures) for f in r.refs],
            watch_cursor=r.watch_cursor,
            registry_connected=r.registry_connected,
        )

    def reload(self, ref: str) -> Reload:
        """Resolves ``ref`` now, loads that version and swaps it in (a
        refused artifact: FAILED_PRECONDITION; what served keeps serving)."""
        r = self._call("Reload", spb.ReloadRequest(ref=ref))
        return Reload(r.ref, r.model, r.old_version, r.new_version, r.sha256, r.load_ms)

    def unload(self, ref: str) -> int:
        """Stops following ``ref``; the version it pointed at (0: none)."""
        return int(self._call("Unload", spb.UnloadRequest(ref=ref)).version)


@dataclass
class ServingStateStream:
    _stream: Any = field(repr=False)

    def __iter__(self) -> Iterator[ServingState]:
        try:
            for s in self._stream:
                yield ServingState.from_pb(s)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.CANCELLED:
                return
            raise JoustError.from_rpc_error(e, "ServingAdmin/WatchServingState") from None

    def close(self) -> None:
        self._stream.cancel()

    def __enter__(self) -> "ServingStateStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
