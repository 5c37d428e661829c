from joust.v1 import detection_rules_pb2 as _detection_rules_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Trigger(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIGGER_UNSPECIFIED: _ClassVar[Trigger]
    TRIGGER_CHART_REQUEST: _ClassVar[Trigger]
    TRIGGER_BACKFILL: _ClassVar[Trigger]
    TRIGGER_SCHEDULER: _ClassVar[Trigger]
    TRIGGER_VERIFICATION: _ClassVar[Trigger]
    TRIGGER_API: _ClassVar[Trigger]

class RunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATUS_UNSPECIFIED: _ClassVar[RunStatus]
    RUN_STATUS_IN_PROGRESS: _ClassVar[RunStatus]
    RUN_STATUS_COMPLETE: _ClassVar[RunStatus]
    RUN_STATUS_FAILED: _ClassVar[RunStatus]

class JobPriority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_PRIORITY_UNSPECIFIED: _ClassVar[JobPriority]
    JOB_PRIORITY_HIGH: _ClassVar[JobPriority]
    JOB_PRIORITY_NORMAL: _ClassVar[JobPriority]
    JOB_PRIORITY_LOW: _ClassVar[JobPriority]

class JobStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATUS_UNSPECIFIED: _ClassVar[JobStatus]
    JOB_STATUS_PENDING: _ClassVar[JobStatus]
    JOB_STATUS_PROCESSING: _ClassVar[JobStatus]
    JOB_STATUS_RETRYING: _ClassVar[JobStatus]
    JOB_STATUS_COMPLETED: _ClassVar[JobStatus]
    JOB_STATUS_FAILED: _ClassVar[JobStatus]
TRIGGER_UNSPECIFIED: Trigger
TRIGGER_CHART_REQUEST: Trigger
TRIGGER_BACKFILL: Trigger
TRIGGER_SCHEDULER: Trigger
TRIGGER_VERIFICATION: Trigger
TRIGGER_API: Trigger
RUN_STATUS_UNSPECIFIED: RunStatus
RUN_STATUS_IN_PROGRESS: RunStatus
RUN_STATUS_COMPLETE: RunStatus
RUN_STATUS_FAILED: RunStatus
JOB_PRIORITY_UNSPECIFIED: JobPriority
JOB_PRIORITY_HIGH: JobPriority
JOB_PRIORITY_NORMAL: JobPriority
JOB_PRIORITY_LOW: JobPriority
JOB_STATUS_UNSPECIFIED: JobStatus
JOB_STATUS_PENDING: JobStatus
JOB_STATUS_PROCESSING: JobStatus
JOB_STATUS_RETRYING: JobStatus
JOB_STATUS_COMPLETED: JobStatus
JOB_STATUS_FAILED: JobStatus

class IngestCsvRequest(_message.Message):
    __slots__ = ("interval", "csv")
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    CSV_FIELD_NUMBER: _ClassVar[int]
    interval: str
    csv: bytes
    def __init__(self, interval: _Optional[str] = ..., csv: _Optional[bytes] = ...) -> None: ...

class IngestSyntheticRequest(_message.Message):
    __slots__ = ("interval", "tickers", "rows", "seed", "start", "anomaly_rate")
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TICKERS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_RATE_FIELD_NUMBER: _ClassVar[int]
    interval: str
    tickers: int
    rows: int
    seed: int
    start: int
    anomaly_rate: float
    def __init__(self, interval: _Optional[str] = ..., tickers: _Optional[int] = ..., rows: _Optional[int] = ..., seed: _Optional[int] = ..., start: _Optional[int] = ..., anomaly_rate: _Optional[float] = ...) -> None: ...

class IngestedSeries(_message.Message):
    __slots__ = ("ticker", "interval", "rows", "inserted")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    INSERTED_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    interval: str
    rows: int
    inserted: int
    def __init__(self, ticker: _Optional[str] = ..., interval: _Optional[str] = ..., rows: _Optional[int] = ..., inserted: _Optional[int] = ...) -> None: ...

class IngestResponse(_message.Message):
    __slots__ = ("series",)
    SERIES_FIELD_NUMBER: _ClassVar[int]
    series: _containers.RepeatedCompositeFieldContainer[IngestedSeries]
    def __init__(self, series: _Optional[_Iterable[_Union[IngestedSeries, _Mapping]]] = ...) -> None: ...

class DetectRequest(_message.Message):
    __slots__ = ("ticker", "interval", "trigger")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    interval: str
    trigger: Trigger
    def __init__(self, ticker: _Optional[str] = ..., interval: _Optional[str] = ..., trigger: _Optional[_Union[Trigger, str]] = ...) -> None: ...

class DetectResponse(_message.Message):
    __slots__ = ("run", "anomalies")
    RUN_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_FIELD_NUMBER: _ClassVar[int]
    run: DetectionRun
    anomalies: _containers.RepeatedCompositeFieldContainer[Anomaly]
    def __init__(self, run: _Optional[_Union[DetectionRun, _Mapping]] = ..., anomalies: _Optional[_Iterable[_Union[Anomaly, _Mapping]]] = ...) -> None: ...

class DetectionRun(_message.Message):
    __slots__ = ("id", "trigger", "ticker", "interval", "model_name", "model_version", "model_sha256", "started_at_ms", "completed_at_ms", "rows_loaded", "rows_preprocessed", "rows_scored", "anomalies_found", "status", "error", "warnings", "rules_applied", "whitelist_entries", "anomalies_whitelisted", "evidence_uri", "verified_anomaly_id", "anomaly_ids")
    ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    TICKER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_SHA256_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ROWS_LOADED_FIELD_NUMBER: _ClassVar[int]
    ROWS_PREPROCESSED_FIELD_NUMBER: _ClassVar[int]
    ROWS_SCORED_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_FOUND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    RULES_APPLIED_FIELD_NUMBER: _ClassVar[int]
    WHITELIST_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_WHITELISTED_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_URI_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_ANOMALY_ID_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_IDS_FIELD_NUMBER: _ClassVar[int]
    id: int
    trigger: Trigger
    ticker: str
    interval: str
    model_name: str
    model_version: str
    model_sha256: str
    started_at_ms: int
    completed_at_ms: int
    rows_loaded: int
    rows_preprocessed: int
    rows_scored: int
    anomalies_found: int
    status: RunStatus
    error: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    rules_applied: _containers.RepeatedCompositeFieldContainer[_detection_rules_pb2.Rule]
    whitelist_entries: int
    anomalies_whitelisted: int
    evidence_uri: str
    verified_anomaly_id: int
    anomaly_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, id: _Optional[int] = ..., trigger: _Optional[_Union[Trigger, str]] = ..., ticker: _Optional[str] = ..., interval: _Optional[str] = ..., model_name: _Optional[str] = ..., model_version: _Optional[str] = ..., model_sha256: _Optional[str] = ..., started_at_ms: _Optional[int] = ..., completed_at_ms: _Optional[int] = ..., rows_loaded: _Optional[int] = ..., rows_preprocessed: _Optional[int] = ..., rows_scored: _Optional[int] = ..., anomalies_found: _Optional[int] = ..., status: _Optional[_Union[RunStatus, str]] = ..., error: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ..., rules_applied: _Optional[_Iterable[_Union[_detection_rules_pb2.Rule, _Mapping]]] = ..., whitelist_entries: _Optional[int] = ..., anomalies_whitelisted: _Optional[int] = ..., evidence_uri: _Optional[str] = ..., verified_anomaly_id: _Optional[int] = ..., anomaly_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class Anomaly(_message.Message):
    __slots__ = ("id", "ticker", "interval", "timestamp", "close", "volume", "features", "score", "label", "model_name", "model_version", "model_sha256", "run_id", "created_at_ms", "types", "whitelisted", "run_trigger", "run_started_at_ms", "evidence_uri", "notification_state")
    ID_FIELD_NUMBER: _ClassVar[int]
    TICKER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_SHA256_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    WHITELISTED_FIELD_NUMBER: _ClassVar[int]
    RUN_TRIGGER_FIELD_NUMBER: _ClassVar[int]
    RUN_STARTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_URI_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_STATE_FIELD_NUMBER: _ClassVar[int]
    id: int
    ticker: str
    interval: str
    timestamp: int
    close: float
    volume: float
    features: _containers.RepeatedScalarFieldContainer[float]
    score: float
    label: bool
    model_name: str
    model_version: str
    model_sha256: str
    run_id: int
    created_at_ms: int
    types: _containers.RepeatedCompositeFieldContainer[_detection_rules_pb2.RuleMatch]
    whitelisted: bool
    run_trigger: Trigger
    run_started_at_ms: int
    evidence_uri: str
    notification_state: str
    def __init__(self, id: _Optional[int] = ..., ticker: _Optional[str] = ..., interval: _Optional[str] = ..., timestamp: _Optional[int] = ..., close: _Optional[float] = ..., volume: _Optional[float] = ..., features: _Optional[_Iterable[float]] = ..., score: _Optional[float] = ..., label: _Optional[bool] = ..., model_name: _Optional[str] = ..., model_version: _Optional[str] = ..., model_sha256: _Optional[str] = ..., run_id: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., types: _Optional[_Iterable[_Union[_detection_rules_pb2.RuleMatch, _Mapping]]] = ..., whitelisted: _Optional[bool] = ..., run_trigger: _Optional[_Union[Trigger, str]] = ..., run_started_at_ms: _Optional[int] = ..., evidence_uri: _Optional[str] = ..., notification_state: _Optional[str] = ...) -> None: ...

class ListAnomaliesRequest(_message.Message):
    __slots__ = ("ticker", "interval", "to", "min_score", "model_version", "limit", "page_token", "anomaly_type", "whitelisted", "run_id")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_TYPE_FIELD_NUMBER: _ClassVar[int]
    WHITELISTED_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    interval: str
    to: int
    min_score: float
    model_version: str
    limit: int
    page_token: str
    anomaly_type: str
    whitelisted: bool
    run_id: int
    def __init__(self, ticker: _Optional[str] = ..., interval: _Optional[str] = ..., to: _Optional[int] = ..., min_score: _Optional[float] = ..., model_version: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ..., anomaly_type: _Optional[str] = ..., whitelisted: _Optional[bool] = ..., run_id: _Optional[int] = ..., **kwargs) -> None: ...

class ListAnomaliesResponse(_message.Message):
    __slots__ = ("anomalies", "next_page_token")
    ANOMALIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    anomalies: _containers.RepeatedCompositeFieldContainer[Anomaly]
    next_page_token: str
    def __init__(self, anomalies: _Optional[_Iterable[_Union[Anomaly, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("ticker", "interval", "limit", "page_token")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    interval: str
    limit: int
    page_token: str
    def __init__(self, ticker: _Optional[str] = ..., interval: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[DetectionRun]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[DetectionRun, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("anomaly_id",)
    ANOMALY_ID_FIELD_NUMBER: _ClassVar[int]
    anomaly_id: int
    def __init__(self, anomaly_id: _Optional[int] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("original", "current_score", "current_label", "current_features", "current_model_version", "current_model_sha256", "still_anomaly", "current_types", "run")
    ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    CURRENT_SCORE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_LABEL_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FEATURES_FIELD_NUMBER: _ClassVar[int]
    CURRENT_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CURRENT_MODEL_SHA256_FIELD_NUMBER: _ClassVar[int]
    STILL_ANOMALY_FIELD_NUMBER: _ClassVar[int]
    CURRENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    original: Anomaly
    current_score: float
    current_label: bool
    current_features: _containers.RepeatedScalarFieldContainer[float]
    current_model_version: str
    current_model_sha256: str
    still_anomaly: bool
    current_types: _containers.RepeatedCompositeFieldContainer[_detection_rules_pb2.RuleMatch]
    run: DetectionRun
    def __init__(self, original: _Optional[_Union[Anomaly, _Mapping]] = ..., current_score: _Optional[float] = ..., current_label: _Optional[bool] = ..., current_features: _Optional[_Iterable[float]] = ..., current_model_version: _Optional[str] = ..., current_model_sha256: _Optional[str] = ..., still_anomaly: _Optional[bool] = ..., current_types: _Optional[_Iterable[_Union[_detection_rules_pb2.RuleMatch, _Mapping]]] = ..., run: _Optional[_Union[DetectionRun, _Mapping]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ("ticker", "to")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    to: int
    def __init__(self, ticker: _Optional[str] = ..., to: _Optional[int] = ..., **kwargs) -> None: ...

class StatCount(_message.Message):
    __slots__ = ("key", "count")
    KEY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    key: str
    count: int
    def __init__(self, key: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("total_anomalies", "anomalies_by_ticker", "anomalies_by_day", "runs_by_status", "anomalies_by_type", "anomalies_by_whitelist", "runs_by_trigger", "runs_by_day")
    TOTAL_ANOMALIES_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_BY_TICKER_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_BY_DAY_FIELD_NUMBER: _ClassVar[int]
    RUNS_BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_BY_TYPE_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_BY_WHITELIST_FIELD_NUMBER: _ClassVar[int]
    RUNS_BY_TRIGGER_FIELD_NUMBER: _ClassVar[int]
    RUNS_BY_DAY_FIELD_NUMBER: _ClassVar[int]
    total_anomalies: int
    anomalies_by_ticker: _containers.RepeatedCompositeFieldContainer[StatCount]
    anomalies_by_day: _containers.RepeatedCompositeFieldContainer[StatCount]
    runs_by_status: _containers.RepeatedCompositeFieldContainer[StatCount]
    anomalies_by_type: _containers.RepeatedCompositeFieldContainer[StatCount]
    anomalies_by_whitelist: _containers.RepeatedCompositeFieldContainer[StatCount]
    runs_by_trigger: _containers.RepeatedCompositeFieldContainer[StatCount]
    runs_by_day: _containers.RepeatedCompositeFieldContainer[StatCount]
    def __init__(self, total_anomalies: _Optional[int] = ..., anomalies_by_ticker: _Optional[_Iterable[_Union[StatCount, _Mapping]]] = ..., anomalies_by_day: _Optional[_Iterable[_Union[StatCount, _Mapping]]] = ..., runs_by_status: _Optional[_Iterable[_Union[StatCount, _Mapping]]] = ..., anomalies_by_type: _Optional[_Iterable[_Union[StatCount, _Mapping]]] = ..., anomalies_by_whitelist: _Optional[_Iterable[_Union[StatCount, _Mapping]]] = ..., runs_by_trigger: _Optional[_Iterable[_Union[StatCount, _Mapping]]] = ..., runs_by_day: _Optional[_Iterable[_Union[StatCount, _Mapping]]] = ...) -> None: ...

class ListNotificationsRequest(_message.Message):
    __slots__ = ("status", "run_id", "limit", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: str
    run_id: int
    limit: int
    page_token: str
    def __init__(self, status: _Optional[str] = ..., run_id: _Optional[int] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class Notification(_message.Message):
    __slots__ = ("id", "delivery_id", "kind", "run_id", "status", "attempts", "next_attempt_at_ms", "http_status", "last_error", "created_at_ms", "updated_at_ms", "body")
    ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_MS_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    id: int
    delivery_id: str
    kind: str
    run_id: int
    status: str
    attempts: int
    next_attempt_at_ms: int
    http_status: int
    last_error: str
    created_at_ms: int
    updated_at_ms: int
    body: str
    def __init__(self, id: _Optional[int] = ..., delivery_id: _Optional[str] = ..., kind: _Optional[str] = ..., run_id: _Optional[int] = ..., status: _Optional[str] = ..., attempts: _Optional[int] = ..., next_attempt_at_ms: _Optional[int] = ..., http_status: _Optional[int] = ..., last_error: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., body: _Optional[str] = ...) -> None: ...

class ListNotificationsResponse(_message.Message):
    __slots__ = ("notifications", "next_page_token")
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    notifications: _containers.RepeatedCompositeFieldContainer[Notification]
    next_page_token: str
    def __init__(self, notifications: _Optional[_Iterable[_Union[Notification, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PurgeRunsRequest(_message.Message):
    __slots__ = ("completed_before_ms", "anomalies_created_before_ms")
    COMPLETED_BEFORE_MS_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_CREATED_BEFORE_MS_FIELD_NUMBER: _ClassVar[int]
    completed_before_ms: int
    anomalies_created_before_ms: int
    def __init__(self, completed_before_ms: _Optional[int] = ..., anomalies_created_before_ms: _Optional[int] = ...) -> None: ...

class PurgeRunsResponse(_message.Message):
    __slots__ = ("purged", "anomalies_purged", "stale_runs_failed")
    PURGED_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_PURGED_FIELD_NUMBER: _ClassVar[int]
    STALE_RUNS_FAILED_FIELD_NUMBER: _ClassVar[int]
    purged: int
    anomalies_purged: int
    stale_runs_failed: int
    def __init__(self, purged: _Optional[int] = ..., anomalies_purged: _Optional[int] = ..., stale_runs_failed: _Optional[int] = ...) -> None: ...

class BackfillRequest(_message.Message):
    __slots__ = ("ticker", "period", "interval", "force", "priority")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    period: str
    interval: str
    force: bool
    priority: JobPriority
    def __init__(self, ticker: _Optional[str] = ..., period: _Optional[str] = ..., interval: _Optional[str] = ..., force: _Optional[bool] = ..., priority: _Optional[_Union[JobPriority, str]] = ...) -> None: ...

class BackfillJob(_message.Message):
    __slots__ = ("id", "ticker", "interval", "period", "force", "priority", "status", "attempts", "max_attempts", "rows_loaded", "rows_to_score", "rows_scored", "anomalies_found", "error", "next_attempt_at_ms", "run_id", "worker", "lease_expires_at_ms", "created_at_ms", "started_at_ms", "completed_at_ms", "updated_at_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    TICKER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ROWS_LOADED_FIELD_NUMBER: _ClassVar[int]
    ROWS_TO_SCORE_FIELD_NUMBER: _ClassVar[int]
    ROWS_SCORED_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_FOUND_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_MS_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    id: int
    ticker: str
    interval: str
    period: str
    force: bool
    priority: JobPriority
    status: JobStatus
    attempts: int
    max_attempts: int
    rows_loaded: int
    rows_to_score: int
    rows_scored: int
    anomalies_found: int
    error: str
    next_attempt_at_ms: int
    run_id: int
    worker: str
    lease_expires_at_ms: int
    created_at_ms: int
    started_at_ms: int
    completed_at_ms: int
    updated_at_ms: int
    def __init__(self, id: _Optional[int] = ..., ticker: _Optional[str] = ..., interval: _Optional[str] = ..., period: _Optional[str] = ..., force: _Optional[bool] = ..., priority: _Optional[_Union[JobPriority, str]] = ..., status: _Optional[_Union[JobStatus, str]] = ..., attempts: _Optional[int] = ..., max_attempts: _Optional[int] = ..., rows_loaded: _Optional[int] = ..., rows_to_score: _Optional[int] = ..., rows_scored: _Optional[int] = ..., anomalies_found: _Optional[int] = ..., error: _Optional[str] = ..., next_attempt_at_ms: _Optional[int] = ..., run_id: _Optional[int] = ..., worker: _Optional[str] = ..., lease_expires_at_ms: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., started_at_ms: _Optional[int] = ..., completed_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("ticker", "interval", "status", "limit", "page_token")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    interval: str
    status: JobStatus
    limit: int
    page_token: str
    def __init__(self, ticker: _Optional[str] = ..., interval: _Optional[str] = ..., status: _Optional[_Union[JobStatus, str]] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[BackfillJob]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[BackfillJob, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StartWorkersRequest(_message.Message):
    __slots__ = ("concurrency", "batch_size")
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    concurrency: int
    batch_size: int
    def __init__(self, concurrency: _Optional[int] = ..., batch_size: _Optional[int] = ...) -> None: ...

class StopWorkersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueueAlert(_message.Message):
    __slots__ = ("waiting", "alert_length", "max_queue_length", "at_ms")
    WAITING_FIELD_NUMBER: _ClassVar[int]
    ALERT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    waiting: int
    alert_length: int
    max_queue_length: int
    at_ms: int
    def __init__(self, waiting: _Optional[int] = ..., alert_length: _Optional[int] = ..., max_queue_length: _Optional[int] = ..., at_ms: _Optional[int] = ...) -> None: ...

class WorkerStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerStatusResponse(_message.Message):
    __slots__ = ("running", "worker_id", "concurrency", "batch_size", "active_job_ids", "peak_active_jobs", "attempts_completed", "attempts_failed", "jobs_by_status", "queue_length", "max_queue_length", "queue_alert_length", "last_queue_alert")
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    PEAK_ACTIVE_JOBS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FAILED_FIELD_NUMBER: _ClassVar[int]
    JOBS_BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    QUEUE_ALERT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    LAST_QUEUE_ALERT_FIELD_NUMBER: _ClassVar[int]
    running: bool
    worker_id: str
    concurrency: int
    batch_size: int
    active_job_ids: _containers.RepeatedScalarFieldContainer[int]
    peak_active_jobs: int
    attempts_completed: int
    attempts_failed: int
    jobs_by_status: _containers.RepeatedCompositeFieldContainer[StatCount]
    queue_length: int
    max_queue_length: int
    queue_alert_length: int
    last_queue_alert: QueueAlert
    def __init__(self, running: _Optional[bool] = ..., worker_id: _Optional[str] = ..., concurrency: _Optional[int] = ..., batch_size: _Optional[int] = ..., active_job_ids: _Optional[_Iterable[int]] = ..., peak_active_jobs: _Optional[int] = ..., attempts_completed: _Optional[int] = ..., attempts_failed: _Optional[int] = ..., jobs_by_status: _Optional[_Iterable[_Union[StatCount, _Mapping]]] = ..., queue_length: _Optional[int] = ..., max_queue_length: _Optional[int] = ..., queue_alert_length: _Optional[int] = ..., last_queue_alert: _Optional[_Union[QueueAlert, _Mapping]] = ...) -> None: ...
