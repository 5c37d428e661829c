"""The registry client: models, versions and their lifecycle (transition,
promote, rollback), aliases, annotations, artifact upload and verified
download, and the audit log (``ListEvents``, ``Watch``). Mirrors the Rust
``joust_client::RegistryClient``."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Union

import grpc

from joust._wire import enum_from_wire, enum_to_wire, timestamp
from joust.connection import Client
from joust.errors import JoustError, call
from joust.v1 import registry_pb2 as pb
from joust.v1 import registry_pb2_grpc

#: Upload chunk size (as the Rust client and the CLI).
CHUNK_BYTES = 1 << 20
PAGE_SIZE = 500


class VersionStatus(str, Enum):
    """A version's lifecycle status (docs/registry.md has the rules)."""

    CANDIDATE = "candidate"
    EVALUATED = "evaluated"
    CHALLENGER = "challenger"
    CHAMPION = "champion"
    RETIRED = "retired"


def _status_to_wire(status: Union[VersionStatus, str], field_name: str) -> Any:
    return enum_to_wire(VersionStatus, "VERSION_STATUS_", status, pb.VersionStatus, field_name)


@dataclass(frozen=True)
class Alias:
    model: str
    alias: str
    version: int

    @classmethod
    def from_pb(cls, m: pb.Alias) -> "Alias":
        return cls(model=m.model, alias=m.alias, version=m.version)


@dataclass(frozen=True)
class Model:
    """A named series of versions. Versions are 0 when absent (no champion,
    no challenger, no version yet)."""

    name: str
    description: str
    created_at: Optional[datetime]
    created_by: str
    latest_version: int
    champion_version: int
    challenger_version: int
    aliases: list[Alias]
    #: The champion whose rollout is blocked (no node can serve it), else 0.
    rollout_blocked_version: int
    rollout_blocked_reason: str

    @classmethod
    def from_pb(cls, m: pb.Model) -> "Model":
        return cls(
            name=m.name,
            description=m.description,
            created_at=timestamp(m, "created_at"),
            created_by=m.created_by,
            latest_version=m.latest_version,
            champion_version=m.champion_version,
            challenger_version=m.challenger_version,
            aliases=[Alias.from_pb(a) for a in m.aliases],
            rollout_blocked_version=m.rollout_blocked_version,
            rollout_blocked_reason=m.rollout_blocked_reason,
        )


@dataclass(frozen=True)
class ModelVersion:
    """One registered artifact of a model, with its status and lineage."""

    model: str
    version: int
    kind: str
    artifact_uri: str
    sha256: str
    size_bytes: int
    #: ``None`` only for a status this client does not know.
    status: Optional[VersionStatus]
    created_at: Optional[datetime]
    created_by: str
    annotations: dict[str, str]
    #: The metrics JSON object, parsed (``{}`` when none).
    metrics: dict[str, Any]
    #: Every alias resolving to this version (``champion``, custom ones).
    aliases: list[str]
    status_changed_at: Optional[datetime]

    @property
    def ref(self) -> str:
        """``model:version``, the ref naming exactly this version."""
        return f"{self.model}:{self.version}"

    @classmethod
    def from_pb(cls, v: pb.ModelVersion) -> "ModelVersion":
        try:
            metrics = json.loads(v.metrics_json) if v.metrics_json else {}
        except ValueError:
            metrics = {"_unparsed": v.metrics_json}
        return cls(
            model=v.model,
            version=v.version,
            kind=v.kind,
            artifact_uri=v.artifact_uri,
            sha256=v.sha256,
            size_bytes=v.size_bytes,
            status=enum_from_wire(VersionStatus, "VERSION_STATUS_", v.status, pb.VersionStatus),
            created_at=timestamp(v, "created_at"),
            created_by=v.created_by,
            annotations=dict(v.annotations),
            metrics=metrics,
            aliases=list(v.aliases),
            status_changed_at=timestamp(v, "status_changed_at"),
        )


@dataclass(frozen=True)
class Event:
    """One audit-log entry (``kind``: model_created, version_registered,
    transition, alias_set, rollback, trial_started, …)."""

    id: int
    time: Optional[datetime]
    actor: str
    model: str
    #: 0 when the event is not about one version.
    version: int
    kind: str
    from_: str
    to: str
    reason: str

    @classmethod
    def from_pb(cls, e: pb.Event) -> "Event":
        return cls(
            id=e.id,
            time=timestamp(e, "time"),
            actor=e.actor,
            model=e.model,
            version=e.version,
            kind=e.kind,
            from_=getattr(e, "from"),
            to=e.to,
            reason=e.reason,
        )


@dataclass(frozen=True)
class Rollback:
    """What a rollback did: ``retired`` was champion, ``champion`` is again."""

    retired: ModelVersion
    champion: ModelVersion


def _metrics_json(metrics: Union[None, str, Mapping[str, Any]], field_name: str) -> str:
    if metrics is None:
        return ""
    if isinstance(metrics, str):
        return metrics
    try:
        return json.dumps(dict(metrics))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{field_name}: expected a JSON-serialisable mapping ({e})") from None


ArtifactSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]


def _artifact_bytes(artifact: ArtifactSource) -> bytes:
    if isinstance(artifact, (bytes, bytearray, memoryview)):
        return bytes(artifact)
    path = Path(artifact)
    try:
        return path.read_bytes()
    except OSError as e:
        raise ValueError(f"artifact {path}: cannot read it ({e.strerror})") from None


class RegistryClient(Client):
    """The registry at ``url`` (``http://host:port``, ``https://host:port``
    or ``host:port``).

    ``security``: TLS and token (:class:`joust.Security`); ``actor``: the
    user named in audit events (``x-joust-actor``; with authentication on,
    the token's subject wins); ``timeout``: seconds per call (``None``: no
    deadline). Every failed call raises :class:`joust.JoustError`.
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._stub = registry_pb2_grpc.RegistryStub(self.channel)

    def _call(self, method: str, request: Any) -> Any:
        rpc = getattr(self._stub, method)
        return call(f"Registry/{method}", lambda: rpc(request, timeout=self.timeout))

    # --- models --------------------------------------------------------

    def create_model(self, name: str, description: str = "") -> Model:
        """Creates a model (ALREADY_EXISTS if it exists)."""
        return Model.from_pb(self._call("CreateModel", pb.CreateModelRequest(name=name, description=description)))

    def get_model(self, name: str) -> Model:
        return Model.from_pb(self._call("GetModel", pb.GetModelRequest(name=name)))

    def list_models(self) -> list[Model]:
        """Every model, following pages."""
        out: list[Model] = []
        token = ""
        while True:
            r = self._call("ListModels", pb.ListModelsRequest(page_size=PAGE_SIZE, page_token=token))
            out.extend(Model.from_pb(m) for m in r.models)
            if not r.next_page_token:
                return out
            token = r.next_page_token

    # --- versions ------------------------------------------------------

    def register_version(
        self,
        model: str,
        artifact: ArtifactSource,
        *,
        kind: str,
        annotations: Optional[Mapping[str, str]] = None,
        metrics: Union[None, str, Mapping[str, Any]] = None,
        create: bool = False,
    ) -> ModelVersion:
        """Uploads an artifact (bytes, or the path of a file) as a new
        ``candidate`` version of ``model``, with its client-side SHA-256
        (the registry refuses bytes that do not match it), as ``joust model
        register`` does.

        ``kind``: isolation_forest, one_class_svm, gaussian_mixture, noop, onnx
        (the registry checks the bytes are a joust artifact of that kind) or
        opaque (any bytes, never served). ``metrics``: a mapping or a JSON
        object string. ``create``: create the model first if it does not
        exist (``--create``). The same bytes registered again return the
        existing version.
        """
        data = _artifact_bytes(artifact)
        if create:
            try:
                self.create_model(model)
            except JoustError as e:
                if e.code != grpc.StatusCode.ALREADY_EXISTS:
                    raise
        meta = pb.VersionMetadata(
            model=model,
            kind=kind,
            sha256=hashlib.sha256(data).hexdigest(),
            annotations=dict(annotations or {}),
            metrics_json=_metrics_json(metrics, "metrics"),
        )

        def messages() -> Iterator[pb.RegisterVersionRequest]:
            yield pb.RegisterVersionRequest(metadata=meta)
            for i in range(0, len(data), CHUNK_BYTES):
                yield pb.RegisterVersionRequest(chunk=data[i : i + CHUNK_BYTES])

        return ModelVersion.from_pb(self._call("RegisterVersion", messages()))

    def get_version(self, ref: str) -> ModelVersion:
        """The version ``ref`` names: ``name`` (latest), ``name:N`` or
        ``name@alias`` (``@champion``, ``@challenger``, custom aliases)."""
        return ModelVersion.from_pb(self._call("GetVersion", pb.GetVersionRequest(ref=ref)))

    def list_versions(self, model: str, status: Union[None, VersionStatus, str] = None) -> list[ModelVersion]:
        """Every version of ``model`` (only those of ``status`` when given),
        following pages."""
        wire_status: Any = 0 if status is None else _status_to_wire(status, "status")
        out: list[ModelVersion] = []
        token = ""
        while True:
            r = self._call(
                "ListVersions",
                pb.ListVersionsRequest(model=model, status=wire_status, page_size=PAGE_SIZE, page_token=token),
            )
            out.extend(ModelVersion.from_pb(v) for v in r.versions)
            if not r.next_page_token:
                return out
            token = r.next_page_token

    def download_artifact(self, ref: str) -> tuple[ModelVersion, bytes]:
        """The version ``ref`` names and its artifact bytes, checked against
        its SHA-256 (a mismatch raises JoustError DATA_LOSS)."""
        method = "Registry/DownloadArtifact"

        def read() -> tuple[ModelVersion, bytes]:
            stream = self._stub.DownloadArtifact(pb.DownloadArtifactRequest(ref=ref), timeout=self.timeout)
            first = next(stream, None)
            if first is None or first.WhichOneof("part") != "version":
                raise JoustError(grpc.StatusCode.INTERNAL, f"{ref}: expected the version first", method)
            version = ModelVersion.from_pb(first.version)
            chunks = []
            for msg in stream:
                if msg.WhichOneof("part") != "chunk":
                    raise JoustError(grpc.StatusCode.INTERNAL, f"{ref}: expected chunks after the version", method)
                chunks.append(msg.chunk)
            return version, b"".join(chunks)

        version, data = call(method, read)
        actual = hashlib.sha256(data).hexdigest()
        if actual != version.sha256.lower():
            raise JoustError(
                grpc.StatusCode.DATA_LOSS,
                f"integrity: {version.ref} declared sha256 {version.sha256}, downloaded bytes hash to {actual}",
                method,
            )
        return version, data

    # --- lifecycle -----------------------------------------------------

    def transition(self, ref: str, to: Union[VersionStatus, str], reason: str = "") -> ModelVersion:
        """Moves a version as the lifecycle allows (FAILED_PRECONDITION
        names the allowed moves otherwise). ``evaluated`` needs a passing
        evaluation on the version, or :meth:`force_evaluated`."""
        request = pb.TransitionRequest(ref=ref, to=_status_to_wire(to, "to"), reason=reason)
        return ModelVersion.from_pb(self._call("Transition", request))

    def force_evaluated(self, ref: str, reason: str) -> ModelVersion:
        """Moves a candidate to ``evaluated`` without a recorded passing
        evaluation: an override that needs a reason and is audited
        (``evaluation_overridden``)."""
        request = pb.TransitionRequest(
            ref=ref, to=pb.VERSION_STATUS_EVALUATED, reason=reason, force_evaluated=True
        )
        return ModelVersion.from_pb(self._call("Transition", request))

    def promote(self, ref: str, reason: str = "") -> ModelVersion:
        """Makes an ``evaluated`` (or ``challenger``) version the champion;
        the previous champion is retired in the same transaction (``joust
        model promote``)."""
        return self.transition(ref, VersionStatus.CHAMPION, reason)

    def rollback(self, model: str, reason: str = "", *, to: Optional[int] = None) -> Rollback:
        """Retires the champion and makes the champion it replaced champion
        again (rollbacks walk back the chain of promotions), or ``to``: a
        named retired former champion."""
        r = self._call("Rollback", pb.RollbackRequest(model=model, reason=reason, to_version=to or 0))
        return Rollback(retired=ModelVersion.from_pb(r.retired), champion=ModelVersion.from_pb(r.champion))

    def set_alias(self, model: str, alias: str, version: int) -> Alias:
        return Alias.from_pb(self._call("SetAlias", pb.SetAliasRequest(model=model, alias=alias, version=version)))

    def delete_alias(self, model: str, alias: str) -> None:
        self._call("DeleteAlias", pb.DeleteAliasRequest(model=model, alias=alias))

    def annotate(
        self,
        ref: str,
        annotations: Optional[Mapping[str, str]] = None,
        metrics: Union[None, str, Mapping[str, Any]] = None,
    ) -> ModelVersion:
        """Merges annotations (same key: replaced) and metrics (top-level
        keys) into a version's."""
        request = pb.AnnotateRequest(
            ref=ref, annotations=dict(annotations or {}), metrics_json=_metrics_json(metrics, "metrics")
        )
        return ModelVersion.from_pb(self._call("Annotate", request))

    # --- audit log -----------------------------------------------------

    def list_events(self, model: str = "", after_id: int = 0) -> list[Event]:
        """Every audit event (of ``model``, or of every model when empty)
        after ``after_id``, oldest first, following pages — ``joust model
        history``."""
        out: list[Event] = []
        after = after_id
        while True:
            r = self._call("ListEvents", pb.ListEventsRequest(model=model, after_id=after, page_size=1000))
            out.extend(Event.from_pb(e) for e in r.events)
            if r.next_after_id == 0:
                return out
            after = r.next_after_id

    def watch(self, after_id: int = 0, models: Iterable[str] = (), timeout: Optional[float] = None) -> "EventStream":
        """Events after ``after_id``, then live ones as they happen (only
        about ``models`` when given). Iterate it; ``close()`` (or leaving a
        ``with`` block) ends the stream. Reconnect with the last event's id
        to miss nothing."""
        stream = self._stub.Watch(pb.WatchRequest(after_id=after_id, models=list(models)), timeout=timeout)
        return EventStream(stream)


@dataclass
class EventStream:
    """The live audit-event stream of :meth:`RegistryClient.watch`."""

    _stream: Any = field(repr=False)

    def __iter__(self) -> Iterator[Event]:
        try:
            for e in self._stream:
                yield Event.from_pb(e)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.CANCELLED:
                return
            raise JoustError.from_rpc_error(e, "Registry/Watch") from None

    def close(self) -> None:
        self._stream.cancel()

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
