"""The registry client end to end against a real ``joust up``: models,
register a file, versions, transitions, promote, aliases, annotations,
rollback, download, the audit log and its live stream, and errors."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Iterator

import grpc
import pytest

import joust
from joust import JoustError, RegistryClient, VersionStatus


@pytest.fixture()
def registry(up) -> Iterator[RegistryClient]:
    with RegistryClient(up.registry, actor="pytest") as client:
        yield client


def test_models_are_created_listed_and_fetched(registry: RegistryClient) -> None:
    created = registry.create_model("reg_models", description="for the list test")
    assert (created.name, created.description, created.created_by) == ("reg_models", "for the list test", "pytest")
    assert created.latest_version == 0 and created.champion_version == 0
    assert created.created_at is not None
    names = [m.name for m in registry.list_models()]
    assert "reg_models" in names
    assert registry.get_model("reg_models") == created


def test_a_file_registers_as_a_candidate_with_its_lineage(registry: RegistryClient, artifacts) -> None:
    v1, v2 = artifacts
    registry.create_model("reg_file")
    v = registry.register_version(
        "reg_file", v1, kind="isolation_forest", annotations={"dataset": "market:1"}, metrics={"auc": 0.9}
    )
    assert (v.model, v.version, v.kind, v.status) == ("reg_file", 1, "isolation_forest", VersionStatus.CANDIDATE)
    assert v.sha256 == hashlib.sha256(Path(v1).read_bytes()).hexdigest()
    assert v.size_bytes == Path(v1).stat().st_size
    assert v.annotations == {"dataset": "market:1"} and v.metrics == {"auc": 0.9}
    assert v.ref == "reg_file:1"
    # Bytes register too; the same bytes again are the same version
    # (idempotent); the registry checks the bytes against the kind.
    assert registry.register_version("reg_file", Path(v2).read_bytes(), kind="isolation_forest").version == 2
    assert registry.register_version("reg_file", v1, kind="isolation_forest").version == 1
    # create=True creates a missing model first (the CLI's --create), and
    # leaves an existing one alone.
    with pytest.raises(JoustError) as e:
        registry.register_version("reg_file_new", v1, kind="isolation_forest")
    assert e.value.code == grpc.StatusCode.NOT_FOUND, e.value
    assert registry.register_version("reg_file_new", v1, kind="isolation_forest", create=True).ref == "reg_file_new:1"
    assert registry.register_version("reg_file_new", v2, kind="isolation_forest", create=True).ref == "reg_file_new:2"
    with pytest.raises(ValueError, match=r"artifact .*missing\.bin: cannot read it"):
        registry.register_version("reg_file", Path(v1).parent / "missing.bin", kind="isolation_forest")
    with pytest.raises(JoustError) as e:
        registry.register_version("reg_file", b"not a model", kind="isolation_forest")
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT, e.value
    assert "isolation_forest" in e.value.message or "magic" in e.value.message.lower(), e.value.message


def test_versions_move_through_the_lifecycle(registry: RegistryClient, artifacts) -> None:
    v1, v2 = artifacts
    registry.create_model("reg_life")
    registry.register_version("reg_life", v1, kind="isolation_forest")
    registry.register_version("reg_life", v2, kind="isolation_forest")

    # evaluated needs a passing evaluation, or an audited override.
    with pytest.raises(JoustError) as e:
        registry.transition("reg_life:1", "evaluated")
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert e.value.method == "Registry/Transition"
    evaluated = registry.force_evaluated("reg_life:1", "reviewed offline")
    assert evaluated.status == VersionStatus.EVALUATED

    champion = registry.promote("reg_life:1", reason="first")
    assert champion.status == VersionStatus.CHAMPION and "champion" in champion.aliases
    assert registry.get_version("reg_life@champion").version == 1
    assert registry.get_model("reg_life").champion_version == 1

    registry.force_evaluated("reg_life:2", "reviewed offline")
    registry.promote("reg_life:2", reason="better")
    assert registry.get_version("reg_life:1").status == VersionStatus.RETIRED
    assert [v.version for v in registry.list_versions("reg_life", VersionStatus.CHAMPION)] == [2]
    assert [v.version for v in registry.list_versions("reg_life", "retired")] == [1]
    assert [v.version for v in registry.list_versions("reg_life")] == [1, 2]

    back = registry.rollback("reg_life", reason="v2 regressed")
    assert (back.retired.version, back.champion.version) == (2, 1)
    assert back.champion.status == VersionStatus.CHAMPION
    again = registry.rollback("reg_life", reason="fixed", to=2)
    assert (again.retired.version, again.champion.version) == (1, 2)

    with pytest.raises(ValueError, match="to: expected one of candidate"):
        registry.transition("reg_life:1", "winner")


def test_aliases_and_annotations(registry: RegistryClient, artifacts) -> None:
    v1, _ = artifacts
    registry.create_model("reg_alias")
    registry.register_version("reg_alias", v1, kind="isolation_forest", annotations={"a": "1"})
    alias = registry.set_alias("reg_alias", "staging", 1)
    assert (alias.model, alias.alias, alias.version) == ("reg_alias", "staging", 1)
    assert registry.get_version("reg_alias@staging").version == 1
    assert [a.alias for a in registry.get_model("reg_alias").aliases] == ["staging"]
    registry.delete_alias("reg_alias", "staging")
    with pytest.raises(JoustError) as e:
        registry.get_version("reg_alias@staging")
    assert e.value.code == grpc.StatusCode.NOT_FOUND
    v = registry.annotate("reg_alias:1", {"b": "2", "a": "3"}, metrics={"precision": 0.5})
    assert v.annotations == {"a": "3", "b": "2"} and v.metrics == {"precision": 0.5}


def test_a_download_is_the_registered_bytes(registry: RegistryClient, artifacts) -> None:
    v1, _ = artifacts
    registry.create_model("reg_download")
    registry.register_version("reg_download", v1, kind="isolation_forest")
    version, data = registry.download_artifact("reg_download:1")
    assert version.version == 1 and data == Path(v1).read_bytes()


def test_a_download_whose_bytes_changed_is_refused(registry: RegistryClient, up) -> None:
    data = b"opaque bytes for the integrity test"
    v = registry.register_version("reg_corrupt", data, kind="opaque", create=True)
    [blob] = [p for p in (up.data_dir / "blobs").rglob("*") if p.is_file() and v.sha256 in p.name]
    blob.write_bytes(b"X" * len(data))  # the registry streams blobs as stored
    with pytest.raises(JoustError) as e:
        registry.download_artifact(v.ref)
    assert e.value.code == grpc.StatusCode.DATA_LOSS, e.value
    assert f"declared sha256 {v.sha256}" in e.value.message and hashlib.sha256(b"X" * len(data)).hexdigest() in e.value.message


def test_the_audit_log_lists_and_streams_events(registry: RegistryClient, artifacts) -> None:
    v1, _ = artifacts
    registry.create_model("reg_audit")
    registry.register_version("reg_audit", v1, kind="isolation_forest")
    registry.force_evaluated("reg_audit:1", "reviewed")
    registry.promote("reg_audit:1", reason="go")
    events = registry.list_events("reg_audit")
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["model_created", "version_registered"], kinds
    assert "evaluation_overridden" in kinds
    promote = [e for e in events if e.kind == "transition" and e.to == "champion"]
    assert len(promote) == 1 and promote[0].reason == "go" and promote[0].actor == "pytest"
    assert promote[0].from_ == "evaluated" and promote[0].version == 1
    assert [e.id for e in registry.list_events("reg_audit", after_id=events[0].id)] == [e.id for e in events[1:]]

    # Watch replays what is after the cursor, then streams live events.
    seen: list[joust.Event] = []
    done = threading.Event()
    with registry.watch(after_id=events[-1].id, models=["reg_audit"]) as stream:

        def read() -> None:
            for e in stream:
                seen.append(e)
                if e.kind == "alias_set":
                    done.set()
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        registry.set_alias("reg_audit", "live", 1)
        assert done.wait(20), f"the alias_set event never arrived: {seen}"
    assert [e.kind for e in seen] == ["alias_set"] and seen[0].model == "reg_audit"


def test_errors_carry_the_code_and_the_message(registry: RegistryClient, up) -> None:
    with pytest.raises(JoustError) as e:
        registry.get_model("no_such_model")
    assert e.value.code == grpc.StatusCode.NOT_FOUND
    assert "no_such_model" in e.value.message
    assert str(e.value).startswith("Registry/GetModel: NOT_FOUND: ")
    registry.create_model("reg_dup")
    with pytest.raises(JoustError) as e:
        registry.create_model("reg_dup")
    assert e.value.code == grpc.StatusCode.ALREADY_EXISTS
    # Nothing listening: UNAVAILABLE, as a JoustError too.
    with RegistryClient("127.0.0.1:1", timeout=5) as down:
        with pytest.raises(JoustError) as e:
            down.list_models()
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
