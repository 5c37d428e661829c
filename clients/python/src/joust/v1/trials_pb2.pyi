import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrialStepAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIAL_STEP_ACTION_UNSPECIFIED: _ClassVar[TrialStepAction]
    TRIAL_STEP_ACTION_ADVANCE: _ClassVar[TrialStepAction]
    TRIAL_STEP_ACTION_AWAIT_APPROVAL: _ClassVar[TrialStepAction]
    TRIAL_STEP_ACTION_PROMOTE: _ClassVar[TrialStepAction]

class TrialMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIAL_MODE_UNSPECIFIED: _ClassVar[TrialMode]
    TRIAL_MODE_OFF: _ClassVar[TrialMode]
    TRIAL_MODE_SPLIT: _ClassVar[TrialMode]
    TRIAL_MODE_SHADOW: _ClassVar[TrialMode]

class TrialState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIAL_STATE_UNSPECIFIED: _ClassVar[TrialState]
    TRIAL_STATE_OPEN: _ClassVar[TrialState]
    TRIAL_STATE_STOPPED: _ClassVar[TrialState]

class TrialOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIAL_OUTCOME_UNSPECIFIED: _ClassVar[TrialOutcome]
    TRIAL_OUTCOME_PROMOTE: _ClassVar[TrialOutcome]
    TRIAL_OUTCOME_REJECT: _ClassVar[TrialOutcome]
    TRIAL_OUTCOME_ABORT: _ClassVar[TrialOutcome]

class TrialArm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIAL_ARM_UNSPECIFIED: _ClassVar[TrialArm]
    TRIAL_ARM_CHAMPION: _ClassVar[TrialArm]
    TRIAL_ARM_CHALLENGER: _ClassVar[TrialArm]

class TrialVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIAL_VERDICT_UNSPECIFIED: _ClassVar[TrialVerdict]
    TRIAL_VERDICT_PROMOTE: _ClassVar[TrialVerdict]
    TRIAL_VERDICT_REJECT: _ClassVar[TrialVerdict]
    TRIAL_VERDICT_KEEP_RUNNING: _ClassVar[TrialVerdict]
TRIAL_STEP_ACTION_UNSPECIFIED: TrialStepAction
TRIAL_STEP_ACTION_ADVANCE: TrialStepAction
TRIAL_STEP_ACTION_AWAIT_APPROVAL: TrialStepAction
TRIAL_STEP_ACTION_PROMOTE: TrialStepAction
TRIAL_MODE_UNSPECIFIED: TrialMode
TRIAL_MODE_OFF: TrialMode
TRIAL_MODE_SPLIT: TrialMode
TRIAL_MODE_SHADOW: TrialMode
TRIAL_STATE_UNSPECIFIED: TrialState
TRIAL_STATE_OPEN: TrialState
TRIAL_STATE_STOPPED: TrialState
TRIAL_OUTCOME_UNSPECIFIED: TrialOutcome
TRIAL_OUTCOME_PROMOTE: TrialOutcome
TRIAL_OUTCOME_REJECT: TrialOutcome
TRIAL_OUTCOME_ABORT: TrialOutcome
TRIAL_ARM_UNSPECIFIED: TrialArm
TRIAL_ARM_CHAMPION: TrialArm
TRIAL_ARM_CHALLENGER: TrialArm
TRIAL_VERDICT_UNSPECIFIED: TrialVerdict
TRIAL_VERDICT_PROMOTE: TrialVerdict
TRIAL_VERDICT_REJECT: TrialVerdict
TRIAL_VERDICT_KEEP_RUNNING: TrialVerdict

class TrialPlanStep(_message.Message):
    __slots__ = ("mode", "weight", "sampling", "min_duration_ms", "min_samples", "action")
    MODE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    MIN_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    MIN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    mode: TrialMode
    weight: float
    sampling: float
    min_duration_ms: int
    min_samples: int
    action: TrialStepAction
    def __init__(self, mode: _Optional[_Union[TrialMode, str]] = ..., weight: _Optional[float] = ..., sampling: _Optional[float] = ..., min_duration_ms: _Optional[int] = ..., min_samples: _Optional[int] = ..., action: _Optional[_Union[TrialStepAction, str]] = ...) -> None: ...

class TrialPlan(_message.Message):
    __slots__ = ("steps", "watch")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    WATCH_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[TrialPlanStep]
    watch: bool
    def __init__(self, steps: _Optional[_Iterable[_Union[TrialPlanStep, _Mapping]]] = ..., watch: _Optional[bool] = ...) -> None: ...

class TrialPlanState(_message.Message):
    __slots__ = ("plan", "step", "step_started_at", "paused", "approval", "note")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    STEP_STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    plan: TrialPlan
    step: int
    step_started_at: _timestamp_pb2.Timestamp
    paused: bool
    approval: str
    note: str
    def __init__(self, plan: _Optional[_Union[TrialPlan, _Mapping]] = ..., step: _Optional[int] = ..., step_started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., paused: _Optional[bool] = ..., approval: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class DecideApprovalRequest(_message.Message):
    __slots__ = ("model", "reason")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    model: str
    reason: str
    def __init__(self, model: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class TrialGates(_message.Message):
    __slots__ = ("min_samples", "max_anomaly_rate_delta", "min_agreement", "max_p99_latency_ratio", "max_error_rate", "max_error_rate_delta", "max_psi", "min_duration_secs", "confidence")
    MIN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_ANOMALY_RATE_DELTA_FIELD_NUMBER: _ClassVar[int]
    MIN_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    MAX_P99_LATENCY_RATIO_FIELD_NUMBER: _ClassVar[int]
    MAX_ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    MAX_ERROR_RATE_DELTA_FIELD_NUMBER: _ClassVar[int]
    MAX_PSI_FIELD_NUMBER: _ClassVar[int]
    MIN_DURATION_SECS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    min_samples: int
    max_anomaly_rate_delta: float
    min_agreement: float
    max_p99_latency_ratio: float
    max_error_rate: float
    max_error_rate_delta: float
    max_psi: float
    min_duration_secs: int
    confidence: float
    def __init__(self, min_samples: _Optional[int] = ..., max_anomaly_rate_delta: _Optional[float] = ..., min_agreement: _Optional[float] = ..., max_p99_latency_ratio: _Optional[float] = ..., max_error_rate: _Optional[float] = ..., max_error_rate_delta: _Optional[float] = ..., max_psi: _Optional[float] = ..., min_duration_secs: _Optional[int] = ..., confidence: _Optional[float] = ...) -> None: ...

class Trial(_message.Message):
    __slots__ = ("id", "model", "champion_version", "challenger_version", "mode", "weight", "sampling", "sticky", "gates", "state", "outcome", "started_at", "updated_at", "stopped_at", "started_by", "reason", "plan")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    STICKY_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    STOPPED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    id: int
    model: str
    champion_version: int
    challenger_version: int
    mode: TrialMode
    weight: float
    sampling: float
    sticky: bool
    gates: TrialGates
    state: TrialState
    outcome: TrialOutcome
    started_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    stopped_at: _timestamp_pb2.Timestamp
    started_by: str
    reason: str
    plan: TrialPlanState
    def __init__(self, id: _Optional[int] = ..., model: _Optional[str] = ..., champion_version: _Optional[int] = ..., challenger_version: _Optional[int] = ..., mode: _Optional[_Union[TrialMode, str]] = ..., weight: _Optional[float] = ..., sampling: _Optional[float] = ..., sticky: _Optional[bool] = ..., gates: _Optional[_Union[TrialGates, _Mapping]] = ..., state: _Optional[_Union[TrialState, str]] = ..., outcome: _Optional[_Union[TrialOutcome, str]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stopped_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_by: _Optional[str] = ..., reason: _Optional[str] = ..., plan: _Optional[_Union[TrialPlanState, _Mapping]] = ...) -> None: ...

class StartTrialRequest(_message.Message):
    __slots__ = ("model", "challenger_version", "mode", "weight", "sampling", "sticky", "gates", "reason", "plan")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    STICKY_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    model: str
    challenger_version: int
    mode: TrialMode
    weight: float
    sampling: float
    sticky: bool
    gates: TrialGates
    reason: str
    plan: TrialPlan
    def __init__(self, model: _Optional[str] = ..., challenger_version: _Optional[int] = ..., mode: _Optional[_Union[TrialMode, str]] = ..., weight: _Optional[float] = ..., sampling: _Optional[float] = ..., sticky: _Optional[bool] = ..., gates: _Optional[_Union[TrialGates, _Mapping]] = ..., reason: _Optional[str] = ..., plan: _Optional[_Union[TrialPlan, _Mapping]] = ...) -> None: ...

class UpdateTrialRequest(_message.Message):
    __slots__ = ("model", "mode", "weight", "sampling", "gates", "reason")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    model: str
    mode: TrialMode
    weight: float
    sampling: float
    gates: TrialGates
    reason: str
    def __init__(self, model: _Optional[str] = ..., mode: _Optional[_Union[TrialMode, str]] = ..., weight: _Optional[float] = ..., sampling: _Optional[float] = ..., gates: _Optional[_Union[TrialGates, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class StopTrialRequest(_message.Message):
    __slots__ = ("model", "outcome", "reason")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    model: str
    outcome: TrialOutcome
    reason: str
    def __init__(self, model: _Optional[str] = ..., outcome: _Optional[_Union[TrialOutcome, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class GetTrialRequest(_message.Message):
    __slots__ = ("id", "model")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    id: int
    model: str
    def __init__(self, id: _Optional[int] = ..., model: _Optional[str] = ...) -> None: ...

class ListTrialsRequest(_message.Message):
    __slots__ = ("model", "open_only", "after_id", "limit")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OPEN_ONLY_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    model: str
    open_only: bool
    after_id: int
    limit: int
    def __init__(self, model: _Optional[str] = ..., open_only: _Optional[bool] = ..., after_id: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListTrialsResponse(_message.Message):
    __slots__ = ("trials",)
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[Trial]
    def __init__(self, trials: _Optional[_Iterable[_Union[Trial, _Mapping]]] = ...) -> None: ...

class TrialArmResult(_message.Message):
    __slots__ = ("version", "scores", "labels", "latency_us", "status_code")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_US_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    version: int
    scores: _containers.RepeatedScalarFieldContainer[float]
    labels: _containers.RepeatedScalarFieldContainer[bool]
    latency_us: int
    status_code: int
    def __init__(self, version: _Optional[int] = ..., scores: _Optional[_Iterable[float]] = ..., labels: _Optional[_Iterable[bool]] = ..., latency_us: _Optional[int] = ..., status_code: _Optional[int] = ...) -> None: ...

class ComparisonRecord(_message.Message):
    __slots__ = ("record_id", "trial_id", "request_id", "time", "routing_key_hash", "served", "champion", "challenger")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ROUTING_KEY_HASH_FIELD_NUMBER: _ClassVar[int]
    SERVED_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    trial_id: int
    request_id: str
    time: _timestamp_pb2.Timestamp
    routing_key_hash: int
    served: TrialArm
    champion: TrialArmResult
    challenger: TrialArmResult
    def __init__(self, record_id: _Optional[str] = ..., trial_id: _Optional[int] = ..., request_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., routing_key_hash: _Optional[int] = ..., served: _Optional[_Union[TrialArm, str]] = ..., champion: _Optional[_Union[TrialArmResult, _Mapping]] = ..., challenger: _Optional[_Union[TrialArmResult, _Mapping]] = ...) -> None: ...

class RecordComparisonsRequest(_message.Message):
    __slots__ = ("records", "dropped")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ComparisonRecord]
    dropped: _containers.RepeatedCompositeFieldContainer[RecordDrops]
    def __init__(self, records: _Optional[_Iterable[_Union[ComparisonRecord, _Mapping]]] = ..., dropped: _Optional[_Iterable[_Union[RecordDrops, _Mapping]]] = ...) -> None: ...

class RecordDrops(_message.Message):
    __slots__ = ("trial_id", "arm", "reason", "count")
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    trial_id: int
    arm: TrialArm
    reason: str
    count: int
    def __init__(self, trial_id: _Optional[int] = ..., arm: _Optional[_Union[TrialArm, str]] = ..., reason: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class RecordRefusal(_message.Message):
    __slots__ = ("index", "record_id", "trial_id", "arm", "reason", "message")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    index: int
    record_id: str
    trial_id: int
    arm: TrialArm
    reason: str
    message: str
    def __init__(self, index: _Optional[int] = ..., record_id: _Optional[str] = ..., trial_id: _Optional[int] = ..., arm: _Optional[_Union[TrialArm, str]] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class RecordComparisonsResponse(_message.Message):
    __slots__ = ("accepted", "duplicates", "refusals")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REFUSALS_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    refusals: _containers.RepeatedCompositeFieldContainer[RecordRefusal]
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., refusals: _Optional[_Iterable[_Union[RecordRefusal, _Mapping]]] = ...) -> None: ...

class GetTrialReportRequest(_message.Message):
    __slots__ = ("id", "model")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    id: int
    model: str
    def __init__(self, id: _Optional[int] = ..., model: _Optional[str] = ...) -> None: ...

class TrialInterval(_message.Message):
    __slots__ = ("estimate", "low", "high", "successes", "trials")
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    SUCCESSES_FIELD_NUMBER: _ClassVar[int]
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    estimate: float
    low: float
    high: float
    successes: int
    trials: int
    def __init__(self, estimate: _Optional[float] = ..., low: _Optional[float] = ..., high: _Optional[float] = ..., successes: _Optional[int] = ..., trials: _Optional[int] = ...) -> None: ...

class TrialTest(_message.Message):
    __slots__ = ("statistic", "p_value")
    STATISTIC_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    statistic: float
    p_value: float
    def __init__(self, statistic: _Optional[float] = ..., p_value: _Optional[float] = ...) -> None: ...

class TrialQuantile(_message.Message):
    __slots__ = ("q", "value")
    Q_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    q: float
    value: float
    def __init__(self, q: _Optional[float] = ..., value: _Optional[float] = ...) -> None: ...

class TrialArmReport(_message.Message):
    __slots__ = ("arm", "version", "requests", "errors", "error_rate", "anomaly_rate", "score_quantiles", "latency_p50_us", "latency_p95_us", "latency_p99_us", "refused", "dropped")
    ARM_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_RATE_FIELD_NUMBER: _ClassVar[int]
    SCORE_QUANTILES_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_US_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P95_US_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_US_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    arm: TrialArm
    version: int
    requests: int
    errors: int
    error_rate: float
    anomaly_rate: TrialInterval
    score_quantiles: _containers.RepeatedCompositeFieldContainer[TrialQuantile]
    latency_p50_us: float
    latency_p95_us: float
    latency_p99_us: float
    refused: int
    dropped: int
    def __init__(self, arm: _Optional[_Union[TrialArm, str]] = ..., version: _Optional[int] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., error_rate: _Optional[float] = ..., anomaly_rate: _Optional[_Union[TrialInterval, _Mapping]] = ..., score_quantiles: _Optional[_Iterable[_Union[TrialQuantile, _Mapping]]] = ..., latency_p50_us: _Optional[float] = ..., latency_p95_us: _Optional[float] = ..., latency_p99_us: _Optional[float] = ..., refused: _Optional[int] = ..., dropped: _Optional[int] = ...) -> None: ...

class TrialRecordLoss(_message.Message):
    __slots__ = ("arm", "kind", "reason", "count")
    ARM_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    arm: TrialArm
    kind: str
    reason: str
    count: int
    def __init__(self, arm: _Optional[_Union[TrialArm, str]] = ..., kind: _Optional[str] = ..., reason: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class TrialReport(_message.Message):
    __slots__ = ("trial", "records", "champion", "challenger", "anomaly_rate_delta", "anomaly_rate_test", "paired_rows", "agreement", "mcnemar", "mean_abs_score_diff", "psi", "sample_ratio_mismatch", "verdict", "reasons", "refused", "dropped", "losses", "sequential", "checks", "periods")
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_RATE_DELTA_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_RATE_TEST_FIELD_NUMBER: _ClassVar[int]
    PAIRED_ROWS_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    MCNEMAR_FIELD_NUMBER: _ClassVar[int]
    MEAN_ABS_SCORE_DIFF_FIELD_NUMBER: _ClassVar[int]
    PSI_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATIO_MISMATCH_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    SEQUENTIAL_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    trial: Trial
    records: int
    champion: TrialArmReport
    challenger: TrialArmReport
    anomaly_rate_delta: float
    anomaly_rate_test: TrialTest
    paired_rows: int
    agreement: TrialInterval
    mcnemar: TrialTest
    mean_abs_score_diff: float
    psi: float
    sample_ratio_mismatch: TrialTest
    verdict: TrialVerdict
    reasons: _containers.RepeatedScalarFieldContainer[str]
    refused: int
    dropped: int
    losses: _containers.RepeatedCompositeFieldContainer[TrialRecordLoss]
    sequential: TrialSequential
    checks: _containers.RepeatedCompositeFieldContainer[TrialGateCheck]
    periods: _containers.RepeatedCompositeFieldContainer[TrialPeriod]
    def __init__(self, trial: _Optional[_Union[Trial, _Mapping]] = ..., records: _Optional[int] = ..., champion: _Optional[_Union[TrialArmReport, _Mapping]] = ..., challenger: _Optional[_Union[TrialArmReport, _Mapping]] = ..., anomaly_rate_delta: _Optional[float] = ..., anomaly_rate_test: _Optional[_Union[TrialTest, _Mapping]] = ..., paired_rows: _Optional[int] = ..., agreement: _Optional[_Union[TrialInterval, _Mapping]] = ..., mcnemar: _Optional[_Union[TrialTest, _Mapping]] = ..., mean_abs_score_diff: _Optional[float] = ..., psi: _Optional[float] = ..., sample_ratio_mismatch: _Optional[_Union[TrialTest, _Mapping]] = ..., verdict: _Optional[_Union[TrialVerdict, str]] = ..., reasons: _Optional[_Iterable[str]] = ..., refused: _Optional[int] = ..., dropped: _Optional[int] = ..., losses: _Optional[_Iterable[_Union[TrialRecordLoss, _Mapping]]] = ..., sequential: _Optional[_Union[TrialSequential, _Mapping]] = ..., checks: _Optional[_Iterable[_Union[TrialGateCheck, _Mapping]]] = ..., periods: _Optional[_Iterable[_Union[TrialPeriod, _Mapping]]] = ...) -> None: ...

class TrialPeriodArm(_message.Message):
    __slots__ = ("requests", "errors", "rows", "anomalies")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_FIELD_NUMBER: _ClassVar[int]
    requests: int
    errors: int
    rows: int
    anomalies: int
    def __init__(self, requests: _Optional[int] = ..., errors: _Optional[int] = ..., rows: _Optional[int] = ..., anomalies: _Optional[int] = ...) -> None: ...

class TrialPeriod(_message.Message):
    __slots__ = ("period", "started_at", "mode", "weight", "sampling", "records", "champion_served", "challenger_served", "champion", "challenger", "paired_rows", "agreeing_rows")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_SERVED_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_SERVED_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_FIELD_NUMBER: _ClassVar[int]
    PAIRED_ROWS_FIELD_NUMBER: _ClassVar[int]
    AGREEING_ROWS_FIELD_NUMBER: _ClassVar[int]
    period: int
    started_at: _timestamp_pb2.Timestamp
    mode: TrialMode
    weight: float
    sampling: float
    records: int
    champion_served: int
    challenger_served: int
    champion: TrialPeriodArm
    challenger: TrialPeriodArm
    paired_rows: int
    agreeing_rows: int
    def __init__(self, period: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mode: _Optional[_Union[TrialMode, str]] = ..., weight: _Optional[float] = ..., sampling: _Optional[float] = ..., records: _Optional[int] = ..., champion_served: _Optional[int] = ..., challenger_served: _Optional[int] = ..., champion: _Optional[_Union[TrialPeriodArm, _Mapping]] = ..., challenger: _Optional[_Union[TrialPeriodArm, _Mapping]] = ..., paired_rows: _Optional[int] = ..., agreeing_rows: _Optional[int] = ...) -> None: ...

class TrialSequence(_message.Message):
    __slots__ = ("estimate", "low", "high", "alpha")
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    estimate: float
    low: float
    high: float
    alpha: float
    def __init__(self, estimate: _Optional[float] = ..., low: _Optional[float] = ..., high: _Optional[float] = ..., alpha: _Optional[float] = ...) -> None: ...

class TrialServedShare(_message.Message):
    __slots__ = ("period", "weight", "champion_served", "challenger_served", "share")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_SERVED_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_SERVED_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    period: int
    weight: float
    champion_served: int
    challenger_served: int
    share: TrialSequence
    def __init__(self, period: _Optional[int] = ..., weight: _Optional[float] = ..., champion_served: _Optional[int] = ..., challenger_served: _Optional[int] = ..., share: _Optional[_Union[TrialSequence, _Mapping]] = ...) -> None: ...

class TrialSequential(_message.Message):
    __slots__ = ("confidence", "gate_alpha", "challenger_error_rate", "error_rate_delta", "anomaly_rate_delta", "agreement", "p99_latency_ratio", "served_share")
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    GATE_ALPHA_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_DELTA_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_RATE_DELTA_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    P99_LATENCY_RATIO_FIELD_NUMBER: _ClassVar[int]
    SERVED_SHARE_FIELD_NUMBER: _ClassVar[int]
    confidence: float
    gate_alpha: float
    challenger_error_rate: TrialSequence
    error_rate_delta: TrialSequence
    anomaly_rate_delta: TrialSequence
    agreement: TrialSequence
    p99_latency_ratio: TrialSequence
    served_share: _containers.RepeatedCompositeFieldContainer[TrialServedShare]
    def __init__(self, confidence: _Optional[float] = ..., gate_alpha: _Optional[float] = ..., challenger_error_rate: _Optional[_Union[TrialSequence, _Mapping]] = ..., error_rate_delta: _Optional[_Union[TrialSequence, _Mapping]] = ..., anomaly_rate_delta: _Optional[_Union[TrialSequence, _Mapping]] = ..., agreement: _Optional[_Union[TrialSequence, _Mapping]] = ..., p99_latency_ratio: _Optional[_Union[TrialSequence, _Mapping]] = ..., served_share: _Optional[_Iterable[_Union[TrialServedShare, _Mapping]]] = ...) -> None: ...

class TrialGateCheck(_message.Message):
    __slots__ = ("gate", "value", "limit", "is_max", "low", "high", "state")
    GATE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    IS_MAX_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    gate: str
    value: float
    limit: float
    is_max: bool
    low: float
    high: float
    state: str
    def __init__(self, gate: _Optional[str] = ..., value: _Optional[float] = ..., limit: _Optional[float] = ..., is_max: _Optional[bool] = ..., low: _Optional[float] = ..., high: _Optional[float] = ..., state: _Optional[str] = ...) -> None: ...
