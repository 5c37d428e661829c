"""The checked-in stubs are what generate.py makes from the .proto files
today (a .proto change without regenerating fails here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GENERATE = Path(__file__).resolve().parents[1] / "generate.py"


def test_the_checked_in_stubs_are_current() -> None:
    out = subprocess.run([sys.executable, str(GENERATE), "--check"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr or out.stdout
    assert "are current" in out.stdout
