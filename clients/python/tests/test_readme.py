"""The README's example runs as written: the block after
``<!-- example -->`` in clients/python/README.md, in a fresh interpreter,
against the test platform, with the artifact files it names in its
working directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def example() -> str:
    text = README.read_text()
    match = re.search(r"<!-- example -->\n```python\n(.*?)\n```", text, re.S)
    assert match, f"{README}: no ```python block after <!-- example -->"
    return match.group(1)


def test_the_readme_example_runs_as_written(up, artifacts, tmp_path: Path) -> None:
    v1, v2 = artifacts
    shutil.copy(v1, tmp_path / "v1.bin")
    shutil.copy(v2, tmp_path / "v2.bin")
    env = dict(os.environ, JOUST_REGISTRY=up.registry, JOUST_ROUTER=up.router)
    out = subprocess.run(
        [sys.executable, "-c", example()], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, f"the example failed:\n{out.stdout}\n{out.stderr}"
    assert "champion: anomaly_detector:1" in out.stdout, out.stdout
    assert re.search(r"verdict: (promote|reject|keep_running)", out.stdout), out.stdout
    assert "stopped: " in out.stdout and "trial_stopped" in out.stdout, out.stdout
