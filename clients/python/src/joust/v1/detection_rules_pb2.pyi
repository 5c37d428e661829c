from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Rule(_message.Message):
    __slots__ = ("anomaly_type", "operator", "threshold", "enabled", "description", "updated_at_ms")
    ANOMALY_TYPE_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    anomaly_type: str
    operator: str
    threshold: float
    enabled: bool
    description: str
    updated_at_ms: int
    def __init__(self, anomaly_type: _Optional[str] = ..., operator: _Optional[str] = ..., threshold: _Optional[float] = ..., enabled: _Optional[bool] = ..., description: _Optional[str] = ..., updated_at_ms: _Optional[int] = ...) -> None: ...

class RuleMatch(_message.Message):
    __slots__ = ("anomaly_type", "value", "operator", "threshold")
    ANOMALY_TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    anomaly_type: str
    value: float
    operator: str
    threshold: float
    def __init__(self, anomaly_type: _Optional[str] = ..., value: _Optional[float] = ..., operator: _Optional[str] = ..., threshold: _Optional[float] = ...) -> None: ...

class AnomalyTypeInfo(_message.Message):
    __slots__ = ("name", "measure")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEASURE_FIELD_NUMBER: _ClassVar[int]
    name: str
    measure: str
    def __init__(self, name: _Optional[str] = ..., measure: _Optional[str] = ...) -> None: ...

class WhitelistEntry(_message.Message):
    __slots__ = ("ticker", "interval", "reason", "created_by", "created_at_ms")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    interval: str
    reason: str
    created_by: str
    created_at_ms: int
    def __init__(self, ticker: _Optional[str] = ..., interval: _Optional[str] = ..., reason: _Optional[str] = ..., created_by: _Optional[str] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

class ListRulesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRulesResponse(_message.Message):
    __slots__ = ("rules", "types")
    RULES_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[Rule]
    types: _containers.RepeatedCompositeFieldContainer[AnomalyTypeInfo]
    def __init__(self, rules: _Optional[_Iterable[_Union[Rule, _Mapping]]] = ..., types: _Optional[_Iterable[_Union[AnomalyTypeInfo, _Mapping]]] = ...) -> None: ...

class SetRuleRequest(_message.Message):
    __slots__ = ("anomaly_type", "operator", "threshold", "enabled", "description")
    ANOMALY_TYPE_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    anomaly_type: str
    operator: str
    threshold: float
    enabled: bool
    description: str
    def __init__(self, anomaly_type: _Optional[str] = ..., operator: _Optional[str] = ..., threshold: _Optional[float] = ..., enabled: _Optional[bool] = ..., description: _Optional[str] = ...) -> None: ...

class DeleteRuleRequest(_message.Message):
    __slots__ = ("anomaly_type",)
    ANOMALY_TYPE_FIELD_NUMBER: _ClassVar[int]
    anomaly_type: str
    def __init__(self, anomaly_type: _Optional[str] = ...) -> None: ...

class DeleteRuleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWhitelistRequest(_message.Message):
    __slots__ = ("ticker",)
    TICKER_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    def __init__(self, ticker: _Optional[str] = ...) -> None: ...

class ListWhitelistResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[WhitelistEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[WhitelistEntry, _Mapping]]] = ...) -> None: ...

class AddWhitelistRequest(_message.Message):
    __slots__ = ("ticker", "interval", "reason", "created_by")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    interval: str
    reason: str
    created_by: str
    def __init__(self, ticker: _Optional[str] = ..., interval: _Optional[str] = ..., reason: _Optional[str] = ..., created_by: _Optional[str] = ...) -> None: ...

class RemoveWhitelistRequest(_message.Message):
    __slots__ = ("ticker", "interval")
    TICKER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    ticker: str
    interval: str
    def __init__(self, ticker: _Optional[str] = ..., interval: _Optional[str] = ...) -> None: ...

class RemoveWhitelistResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetEvidenceRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: int
    def __init__(self, run_id: _Optional[int] = ...) -> None: ...

class GetEvidenceResponse(_message.Message):
    __slots__ = ("uri", "document", "sha256", "consistent")
    URI_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CONSISTENT_FIELD_NUMBER: _ClassVar[int]
    uri: str
    document: bytes
    sha256: str
    consistent: bool
    def __init__(self, uri: _Optional[str] = ..., document: _Optional[bytes] = ..., sha256: _Optional[str] = ..., consistent: _Optional[bool] = ...) -> None: ...
