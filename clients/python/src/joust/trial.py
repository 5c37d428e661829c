"""A trial as the client returns it: mode, state, outcome, gates
(docs/trials.md explains them)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import Any, Optional, Union

from joust._wire import enum_from_wire, enum_to_wire, optional, timestamp
from joust.v1 import trials_pb2 as pb


class TrialMode(str, Enum):
    """``split``: the challenger answers a ``weight`` share of requests;
    ``shadow``: the champion answers, a ``sampling`` share is copied to the
    challenger; ``off``: the champion answers everything."""

    OFF = "off"
    SPLIT = "split"
    SHADOW = "shadow"


class TrialState(str, Enum):
    OPEN = "open"
    STOPPED = "stopped"


class TrialOutcome(str, Enum):
    """``promote``: the challenger becomes champion (the old one retired);
    ``reject`` / ``abort``: the challenger goes back to ``evaluated``."""

    PROMOTE = "promote"
    REJECT = "reject"
    ABORT = "abort"


def mode_to_wire(mode: Union[TrialMode, str], field_name: str = "mode") -> Any:
    return enum_to_wire(TrialMode, "TRIAL_MODE_", mode, pb.TrialMode, field_name)


def mode_from_wire(value: int) -> Optional[TrialMode]:
    return enum_from_wire(TrialMode, "TRIAL_MODE_", value, pb.TrialMode)


@dataclass(frozen=True)
class TrialGates:
    """Thresholds the verdict is judged against; ``None`` gates are not
    checked. ``min_samples`` 0 and ``confidence`` 0 mean the server's
    defaults (1000 and 0.95)."""

    min_samples: int = 0
    max_anomaly_rate_delta: Optional[float] = None
    min_agreement: Optional[float] = None
    max_p99_latency_ratio: Optional[float] = None
    max_error_rate: Optional[float] = None
    max_error_rate_delta: Optional[float] = None
    max_psi: Optional[float] = None
    min_duration_secs: Optional[int] = None
    confidence: float = 0.0

    def to_pb(self) -> pb.TrialGates:
        set_fields = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        return pb.TrialGates(**set_fields)

    @classmethod
    def from_pb(cls, g: pb.TrialGates) -> "TrialGates":
        return cls(
            min_samples=g.min_samples,
            max_anomaly_rate_delta=optional(g, "max_anomaly_rate_delta"),
            min_agreement=optional(g, "min_agreement"),
            max_p99_latency_ratio=optional(g, "max_p99_latency_ratio"),
            max_error_rate=optional(g, "max_error_rate"),
            max_error_rate_delta=optional(g, "max_error_rate_delta"),
            max_psi=optional(g, "max_psi"),
            min_duration_secs=optional(g, "min_duration_secs"),
            confidence=g.confidence,
        )


@dataclass(frozen=True)
class Trial:
    id: int
    model: str
    champion_version: int
    challenger_version: int
    mode: Optional[TrialMode]
    weight: float
    sampling: float
    sticky: bool
    gates: TrialGates
    state: Optional[TrialState]
    #: ``None`` while the trial is open.
    outcome: Optional[TrialOutcome]
    started_at: Optional[datetime]
    updated_at: Optional[datetime]
    stopped_at: Optional[datetime]
    started_by: str
    reason: str

    @property
    def open(self) -> bool:
        return self.state == TrialState.OPEN

    @classmethod
    def from_pb(cls, t: pb.Trial) -> "Trial":
        return cls(
            id=t.id,
            model=t.model,
            champion_version=t.champion_version,
            challenger_version=t.challenger_version,
            mode=mode_from_wire(t.mode),
            weight=t.weight,
            sampling=t.sampling,
            sticky=t.sticky,
            gates=TrialGates.from_pb(t.gates),
            state=enum_from_wire(TrialState, "TRIAL_STATE_", t.state, pb.TrialState),
            outcome=enum_from_wire(TrialOutcome, "TRIAL_OUTCOME_", t.outcome, pb.TrialOutcome),
            started_at=timestamp(t, "started_at"),
            updated_at=timestamp(t, "updated_at"),
            stopped_at=timestamp(t, "stopped_at"),
            started_by=t.started_by,
            reason=t.reason,
        )
