"""The typed layer's hints hold: mypy checks src/joust (the generated
stubs are checked through their .pyi files) and these tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_type_checks() -> None:
    out = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--check-untyped-defs", "--ignore-missing-imports",
            "--follow-imports=silent", "--cache-dir=/dev/null", "src/joust", "tests",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
