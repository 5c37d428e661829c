from joust.v1 import serving_admin_pb2 as _serving_admin_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListRoutesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RouteInfo(_message.Message):
    __slots__ = ("model", "champion_version", "trial_id", "mode", "weight", "sampling", "sticky", "challenger_version", "registry_champion_version", "registry_challenger_version")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_VERSION_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    STICKY_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_VERSION_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_CHAMPION_VERSION_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_CHALLENGER_VERSION_FIELD_NUMBER: _ClassVar[int]
    model: str
    champion_version: int
    trial_id: int
    mode: str
    weight: float
    sampling: float
    sticky: bool
    challenger_version: int
    registry_champion_version: int
    registry_challenger_version: int
    def __init__(self, model: _Optional[str] = ..., champion_version: _Optional[int] = ..., trial_id: _Optional[int] = ..., mode: _Optional[str] = ..., weight: _Optional[float] = ..., sampling: _Optional[float] = ..., sticky: _Optional[bool] = ..., challenger_version: _Optional[int] = ..., registry_champion_version: _Optional[int] = ..., registry_challenger_version: _Optional[int] = ...) -> None: ...

class ListRoutesResponse(_message.Message):
    __slots__ = ("routes", "registry_connected", "watch_cursor")
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_CONNECTED_FIELD_NUMBER: _ClassVar[int]
    WATCH_CURSOR_FIELD_NUMBER: _ClassVar[int]
    routes: _containers.RepeatedCompositeFieldContainer[RouteInfo]
    registry_connected: bool
    watch_cursor: int
    def __init__(self, routes: _Optional[_Iterable[_Union[RouteInfo, _Mapping]]] = ..., registry_connected: _Optional[bool] = ..., watch_cursor: _Optional[int] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ArmStats(_message.Message):
    __slots__ = ("model", "arm", "requests", "errors")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    model: str
    arm: str
    requests: int
    errors: int
    def __init__(self, model: _Optional[str] = ..., arm: _Optional[str] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ...) -> None: ...

class NodeStats(_message.Message):
    __slots__ = ("address", "source", "ejected", "consecutive_failures", "in_flight", "ejections")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    EJECTED_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    EJECTIONS_FIELD_NUMBER: _ClassVar[int]
    address: str
    source: str
    ejected: bool
    consecutive_failures: int
    in_flight: int
    ejections: int
    def __init__(self, address: _Optional[str] = ..., source: _Optional[str] = ..., ejected: _Optional[bool] = ..., consecutive_failures: _Optional[int] = ..., in_flight: _Optional[int] = ..., ejections: _Optional[int] = ...) -> None: ...

class RouterStats(_message.Message):
    __slots__ = ("arms", "records_buffered", "records_capacity", "records_sent", "records_dropped", "nodes", "records_refused")
    ARMS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_BUFFERED_FIELD_NUMBER: _ClassVar[int]
    RECORDS_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    RECORDS_SENT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_DROPPED_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    RECORDS_REFUSED_FIELD_NUMBER: _ClassVar[int]
    arms: _containers.RepeatedCompositeFieldContainer[ArmStats]
    records_buffered: int
    records_capacity: int
    records_sent: int
    records_dropped: int
    nodes: _containers.RepeatedCompositeFieldContainer[NodeStats]
    records_refused: int
    def __init__(self, arms: _Optional[_Iterable[_Union[ArmStats, _Mapping]]] = ..., records_buffered: _Optional[int] = ..., records_capacity: _Optional[int] = ..., records_sent: _Optional[int] = ..., records_dropped: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[NodeStats, _Mapping]]] = ..., records_refused: _Optional[int] = ...) -> None: ...

class ListNodeStatesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeServingState(_message.Message):
    __slots__ = ("address", "source", "stream", "node_id", "generation", "versions", "ejected")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    EJECTED_FIELD_NUMBER: _ClassVar[int]
    address: str
    source: str
    stream: str
    node_id: str
    generation: int
    versions: _containers.RepeatedCompositeFieldContainer[_serving_admin_pb2.VersionState]
    ejected: bool
    def __init__(self, address: _Optional[str] = ..., source: _Optional[str] = ..., stream: _Optional[str] = ..., node_id: _Optional[str] = ..., generation: _Optional[int] = ..., versions: _Optional[_Iterable[_Union[_serving_admin_pb2.VersionState, _Mapping]]] = ..., ejected: _Optional[bool] = ...) -> None: ...

class BlockedRollout(_message.Message):
    __slots__ = ("model", "version", "answering_version", "reasons")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ANSWERING_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    answering_version: int
    reasons: _containers.RepeatedCompositeFieldContainer[NodeReason]
    def __init__(self, model: _Optional[str] = ..., version: _Optional[int] = ..., answering_version: _Optional[int] = ..., reasons: _Optional[_Iterable[_Union[NodeReason, _Mapping]]] = ...) -> None: ...

class NodeReason(_message.Message):
    __slots__ = ("node", "reason")
    NODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    node: str
    reason: str
    def __init__(self, node: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class HeldRoute(_message.Message):
    __slots__ = ("model", "wanted_version", "answering_version")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WANTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ANSWERING_VERSION_FIELD_NUMBER: _ClassVar[int]
    model: str
    wanted_version: int
    answering_version: int
    def __init__(self, model: _Optional[str] = ..., wanted_version: _Optional[int] = ..., answering_version: _Optional[int] = ...) -> None: ...

class ListNodeStatesResponse(_message.Message):
    __slots__ = ("nodes", "held", "blocked", "min_ready_nodes")
    NODES_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    MIN_READY_NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeServingState]
    held: _containers.RepeatedCompositeFieldContainer[HeldRoute]
    blocked: _containers.RepeatedCompositeFieldContainer[BlockedRollout]
    min_ready_nodes: int
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeServingState, _Mapping]]] = ..., held: _Optional[_Iterable[_Union[HeldRoute, _Mapping]]] = ..., blocked: _Optional[_Iterable[_Union[BlockedRollout, _Mapping]]] = ..., min_ready_nodes: _Optional[int] = ...) -> None: ...
