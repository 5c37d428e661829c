"""Fixtures: one real ``joust up`` for the module's tests, and two model
artifacts trained by the joust CLI (``joust data ingest`` + ``joust model
train`` in a scratch model, then ``joust model download``), so the
client registers real files as a user would."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import joust_up  # noqa: E402

T = TypeVar("T")


@pytest.fixture(scope="session")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[joust_up.Up]:
    platform = joust_up.start(tmp_path_factory.mktemp("up") / "data")
    yield platform
    assert platform.stop() == 0, "joust up did not drain and exit 0 on SIGINT"


@pytest.fixture(scope="session")
def artifacts(up: joust_up.Up, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two isolation-forest artifacts (seeds 1 and 2) on the 14 market
    features."""
    out = tmp_path_factory.mktemp("artifacts")
    up.cli("data", "ingest", "--synthetic", "--tickers", "2", "--rows", "300", "--seed", "7", "--name", "market")
    paths = []
    for seed in (1, 2):
        up.cli("model", "train", "--dataset", "market@latest", "--model", "scratch", "--seed", str(seed), "--param", "n_trees=20")
        path = out / f"v{seed}.bin"
        up.cli("model", "download", f"scratch:{seed}", str(path))
        paths.append(path)
    return paths[0], paths[1]


def eventually(what: str, check: Callable[[], T], timeout: float = 30.0) -> T:
    """``check()`` once it returns something truthy, retrying for up to
    ``timeout`` seconds (for state that follows a change feed: a router or
    node catching up with the registry); else fails naming ``what`` and the
    last result."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = check()
            if last:
                return last  # type: ignore[return-value]
        except Exception as e:  # noqa: BLE001 - reported below if it persists
            last = e
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout}s (last: {last!r})")
        time.sleep(0.05)
