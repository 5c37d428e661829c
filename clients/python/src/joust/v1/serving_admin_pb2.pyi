import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VersionPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERSION_PHASE_UNSPECIFIED: _ClassVar[VersionPhase]
    VERSION_PHASE_LOADING: _ClassVar[VersionPhase]
    VERSION_PHASE_READY: _ClassVar[VersionPhase]
    VERSION_PHASE_REFUSED: _ClassVar[VersionPhase]
    VERSION_PHASE_DRAINING: _ClassVar[VersionPhase]
VERSION_PHASE_UNSPECIFIED: VersionPhase
VERSION_PHASE_LOADING: VersionPhase
VERSION_PHASE_READY: VersionPhase
VERSION_PHASE_REFUSED: VersionPhase
VERSION_PHASE_DRAINING: VersionPhase

class WatchServingStateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VersionState(_message.Message):
    __slots__ = ("model", "version", "phase", "reason", "refs")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REFS_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    phase: VersionPhase
    reason: str
    refs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model: _Optional[str] = ..., version: _Optional[int] = ..., phase: _Optional[_Union[VersionPhase, str]] = ..., reason: _Optional[str] = ..., refs: _Optional[_Iterable[str]] = ...) -> None: ...

class ServingState(_message.Message):
    __slots__ = ("node_id", "generation", "full", "versions")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    generation: int
    full: bool
    versions: _containers.RepeatedCompositeFieldContainer[VersionState]
    def __init__(self, node_id: _Optional[str] = ..., generation: _Optional[int] = ..., full: _Optional[bool] = ..., versions: _Optional[_Iterable[_Union[VersionState, _Mapping]]] = ...) -> None: ...

class ReloadRequest(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class ReloadResponse(_message.Message):
    __slots__ = ("ref", "model", "old_version", "new_version", "sha256", "load_ms")
    REF_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OLD_VERSION_FIELD_NUMBER: _ClassVar[int]
    NEW_VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    LOAD_MS_FIELD_NUMBER: _ClassVar[int]
    ref: str
    model: str
    old_version: int
    new_version: int
    sha256: str
    load_ms: int
    def __init__(self, ref: _Optional[str] = ..., model: _Optional[str] = ..., old_version: _Optional[int] = ..., new_version: _Optional[int] = ..., sha256: _Optional[str] = ..., load_ms: _Optional[int] = ...) -> None: ...

class UnloadRequest(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class UnloadResponse(_message.Message):
    __slots__ = ("ref", "model", "version")
    REF_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ref: str
    model: str
    version: int
    def __init__(self, ref: _Optional[str] = ..., model: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ListLoadedRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LoadedModel(_message.Message):
    __slots__ = ("model", "version", "sha256", "state", "loaded_at", "load_ms", "requests", "last_error", "refs", "kind")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LOADED_AT_FIELD_NUMBER: _ClassVar[int]
    LOAD_MS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    REFS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    sha256: str
    state: str
    loaded_at: _timestamp_pb2.Timestamp
    load_ms: int
    requests: int
    last_error: str
    refs: _containers.RepeatedScalarFieldContainer[str]
    kind: str
    def __init__(self, model: _Optional[str] = ..., version: _Optional[int] = ..., sha256: _Optional[str] = ..., state: _Optional[str] = ..., loaded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., load_ms: _Optional[int] = ..., requests: _Optional[int] = ..., last_error: _Optional[str] = ..., refs: _Optional[_Iterable[str]] = ..., kind: _Optional[str] = ...) -> None: ...

class FollowedRef(_message.Message):
    __slots__ = ("ref", "model", "version", "state", "last_error", "failures")
    REF_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    ref: str
    model: str
    version: int
    state: str
    last_error: str
    failures: int
    def __init__(self, ref: _Optional[str] = ..., model: _Optional[str] = ..., version: _Optional[int] = ..., state: _Optional[str] = ..., last_error: _Optional[str] = ..., failures: _Optional[int] = ...) -> None: ...

class ListLoadedResponse(_message.Message):
    __slots__ = ("models", "refs", "watch_cursor", "registry_connected")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    REFS_FIELD_NUMBER: _ClassVar[int]
    WATCH_CURSOR_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_CONNECTED_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[LoadedModel]
    refs: _containers.RepeatedCompositeFieldContainer[FollowedRef]
    watch_cursor: int
    registry_connected: bool
    def __init__(self, models: _Optional[_Iterable[_Union[LoadedModel, _Mapping]]] = ..., refs: _Optional[_Iterable[_Union[FollowedRef, _Mapping]]] = ..., watch_cursor: _Optional[int] = ..., registry_connected: _Optional[bool] = ...) -> None: ...
