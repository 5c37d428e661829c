"""The trial report as objects: per-arm figures, agreement, tests, PSI,
the always-valid sequential figures, gate checks, periods and the verdict
(docs/trials.md says what each figure means and which are approximate)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Optional

from joust._wire import enum_from_wire, optional, timestamp
from joust.trial import Trial, TrialMode, mode_from_wire
from joust.v1 import trials_pb2 as pb


class TrialArm(str, Enum):
    CHAMPION = "champion"
    CHALLENGER = "challenger"


class TrialVerdict(str, Enum):
    PROMOTE = "promote"
    REJECT = "reject"
    KEEP_RUNNING = "keep_running"


def _arm(value: int) -> Optional[TrialArm]:
    return enum_from_wire(TrialArm, "TRIAL_ARM_", value, pb.TrialArm)


@dataclass(frozen=True)
class Interval:
    """A proportion ``successes / trials`` with its confidence interval."""

    estimate: float
    low: float
    high: float
    successes: int
    trials: int

    @classmethod
    def from_pb(cls, m: pb.TrialInterval) -> "Interval":
        return cls(m.estimate, m.low, m.high, m.successes, m.trials)


@dataclass(frozen=True)
class Test:
    statistic: float
    p_value: float

    @classmethod
    def from_pb(cls, m: pb.TrialTest) -> "Test":
        return cls(m.statistic, m.p_value)


@dataclass(frozen=True)
class ArmReport:
    """One arm's figures over the whole trial."""

    arm: Optional[TrialArm]
    version: int
    requests: int
    errors: int
    error_rate: float
    anomaly_rate: Interval
    #: ``(q, value)`` pairs of the arm's scores.
    score_quantiles: list[tuple[float, float]]
    latency_p50_us: Optional[float]
    latency_p95_us: Optional[float]
    latency_p99_us: Optional[float]
    refused: int
    dropped: int

    @classmethod
    def from_pb(cls, m: pb.TrialArmReport) -> "ArmReport":
        return cls(
            arm=_arm(m.arm),
            version=m.version,
            requests=m.requests,
            errors=m.errors,
            error_rate=m.error_rate,
            anomaly_rate=Interval.from_pb(m.anomaly_rate),
            score_quantiles=[(q.q, q.value) for q in m.score_quantiles],
            latency_p50_us=optional(m, "latency_p50_us"),
            latency_p95_us=optional(m, "latency_p95_us"),
            latency_p99_us=optional(m, "latency_p99_us"),
            refused=m.refused,
            dropped=m.dropped,
        )


@dataclass(frozen=True)
class RecordLoss:
    """Records lost on the way: ``kind`` ``refused`` (by the registry) or
    ``dropped`` (by a router), with the reason."""

    arm: Optional[TrialArm]
    kind: str
    reason: str
    count: int


@dataclass(frozen=True)
class Sequence:
    """A confidence sequence: ``[low, high]`` covers the true value at every
    report simultaneously with probability at least ``1 - alpha``."""

    estimate: float
    low: float
    high: float
    alpha: float

    @classmethod
    def from_pb(cls, m: pb.TrialSequence) -> "Sequence":
        return cls(m.estimate, m.low, m.high, m.alpha)


@dataclass(frozen=True)
class ServedShare:
    period: int
    weight: float
    champion_served: int
    challenger_served: int
    share: Sequence


@dataclass(frozen=True)
class Sequential:
    """The always-valid figures the verdict is judged on."""

    confidence: float
    gate_alpha: float
    challenger_error_rate: Sequence
    error_rate_delta: Sequence
    anomaly_rate_delta: Sequence
    agreement: Sequence
    p99_latency_ratio: Sequence
    served_share: list[ServedShare]

    @classmethod
    def from_pb(cls, m: pb.TrialSequential) -> "Sequential":
        return cls(
            confidence=m.confidence,
            gate_alpha=m.gate_alpha,
            challenger_error_rate=Sequence.from_pb(m.challenger_error_rate),
            error_rate_delta=Sequence.from_pb(m.error_rate_delta),
            anomaly_rate_delta=Sequence.from_pb(m.anomaly_rate_delta),
            agreement=Sequence.from_pb(m.agreement),
            p99_latency_ratio=Sequence.from_pb(m.p99_latency_ratio),
            served_share=[
                ServedShare(s.period, s.weight, s.champion_served, s.challenger_served, Sequence.from_pb(s.share))
                for s in m.served_share
            ],
        )


@dataclass(frozen=True)
class GateCheck:
    """One gate as judged: ``state`` is satisfied, violated or undecided;
    ``value`` is NaN until measured; ``low``/``high`` the confidence
    sequence of sequential gates."""

    gate: str
    value: float
    limit: float
    is_max: bool
    low: Optional[float]
    high: Optional[float]
    state: str

    @classmethod
    def from_pb(cls, m: pb.TrialGateCheck) -> "GateCheck":
        return cls(m.gate, m.value, m.limit, m.is_max, optional(m, "low"), optional(m, "high"), m.state)


@dataclass(frozen=True)
class PeriodArm:
    requests: int
    errors: int
    rows: int
    anomalies: int

    @classmethod
    def from_pb(cls, m: pb.TrialPeriodArm) -> "PeriodArm":
        return cls(m.requests, m.errors, m.rows, m.anomalies)


@dataclass(frozen=True)
class Period:
    """The figures of one period (every mode, weight or sampling change
    starts one)."""

    period: int
    started_at: Optional[datetime]
    mode: Optional[TrialMode]
    weight: float
    sampling: float
    records: int
    champion_served: int
    challenger_served: int
    champion: PeriodArm
    challenger: PeriodArm
    paired_rows: int
    agreeing_rows: int

    @classmethod
    def from_pb(cls, m: pb.TrialPeriod) -> "Period":
        return cls(
            period=m.period,
            started_at=timestamp(m, "started_at"),
            mode=mode_from_wire(m.mode),
            weight=m.weight,
            sampling=m.sampling,
            records=m.records,
            champion_served=m.champion_served,
            challenger_served=m.challenger_served,
            champion=PeriodArm.from_pb(m.champion),
            challenger=PeriodArm.from_pb(m.challenger),
            paired_rows=m.paired_rows,
            agreeing_rows=m.agreeing_rows,
        )


@dataclass(frozen=True)
class TrialReport:
    """A trial's report, computed by the registry from every stored
    comparison record (every router replica's). ``verdict`` is judged on
    the sequential figures; ``reasons`` says why."""

    trial: Trial
    records: int
    champion: ArmReport
    challenger: ArmReport
    anomaly_rate_delta: float
    anomaly_rate_test: Test
    paired_rows: int
    agreement: Interval
    mcnemar: Test
    mean_abs_score_diff: Optional[float]
    psi: Optional[float]
    sample_ratio_mismatch: Test
    verdict: Optional[TrialVerdict]
    reasons: list[str]
    refused: int
    dropped: int
    losses: list[RecordLoss]
    sequential: Sequential
    checks: list[GateCheck]
    periods: list[Period]
    #: The report as the wire carried it (``joust.v1.TrialReport``).
    raw: Any

    @classmethod
    def from_pb(cls, m: pb.TrialReport) -> "TrialReport":
        return cls(
            trial=Trial.from_pb(m.trial),
            records=m.records,
            champion=ArmReport.from_pb(m.champion),
            challenger=ArmReport.from_pb(m.challenger),
            anomaly_rate_delta=m.anomaly_rate_delta,
            anomaly_rate_test=Test.from_pb(m.anomaly_rate_test),
            paired_rows=m.paired_rows,
            agreement=Interval.from_pb(m.agreement),
            mcnemar=Test.from_pb(m.mcnemar),
            mean_abs_score_diff=optional(m, "mean_abs_score_diff"),
            psi=optional(m, "psi"),
            sample_ratio_mismatch=Test.from_pb(m.sample_ratio_mismatch),
            verdict=enum_from_wire(TrialVerdict, "TRIAL_VERDICT_", m.verdict, pb.TrialVerdict),
            reasons=list(m.reasons),
            refused=m.refused,
            dropped=m.dropped,
            losses=[RecordLoss(_arm(x.arm), x.kind, x.reason, x.count) for x in m.losses],
            sequential=Sequential.from_pb(m.sequential),
            checks=[GateCheck.from_pb(c) for c in m.checks],
            periods=[Period.from_pb(p) for p in m.periods],
            raw=m,
        )
