"""A real ``joust up`` for the tests: the built binary ($JOUST_BIN, else
target/debug/joust) in a temporary data folder, every listener on port 0,
the addresses read from what it prints, stopped with SIGINT (it must
drain and exit 0)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

REPO = Path(__file__).resolve().parents[3]


def joust_bin() -> Path:
    path = Path(os.environ.get("JOUST_BIN") or REPO / "target" / "debug" / "joust")
    if not path.is_file():
        raise FileNotFoundError(f"JOUST_BIN {path}: no joust binary there; fix: cargo build -p joust (scripts/test does)")
    return path


@dataclass
class Up:
    process: subprocess.Popen
    registry: str
    node: str
    router: str
    data_dir: Path
    lines: list[str] = field(default_factory=list)

    def cli(self, *args: str, extra: Sequence[str] = ()) -> str:
        """``joust ARGS…`` against this platform's registry; its stdout. A
        failure raises with its stderr."""
        cmd, rest = args[0], args[1:]
        out = subprocess.run(
            [str(joust_bin()), cmd, "--registry", self.registry, *extra, *rest],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode != 0:
            raise RuntimeError(f"joust {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        return out.stdout

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                return self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return self.process.returncode


def start(data_dir: Path, extra: Sequence[str] = (), env: Optional[dict] = None) -> Up:
    """Starts ``joust up`` (``extra``: more flags, global or of ``up``) and
    waits for its ``ready`` line (it prints every
    address before it, so nothing is polled)."""
    cmd = [
        str(joust_bin()),
        "up",
        "--data-dir",
        str(data_dir),
        "--registry-listen",
        "127.0.0.1:0",
        "--node-listen",
        "127.0.0.1:0",
        "--node-metrics-listen",
        "off",
        "--node-http-listen",
        "off",
        "--router-listen",
        "127.0.0.1:0",
        "--router-metrics-listen",
        "off",
        "--router-http-listen",
        "off",
        "--ui-listen",
        "off",
        "--detect-listen",
        "off",
        "--unbound-grace",
        "1s",
        *extra,
    ]
    log = open(data_dir.parent / f"{data_dir.name}.log", "wb")
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    assert process.stdout is not None
    addrs: dict[str, str] = {}
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        for role in ("registry", "node", "router"):
            prefix = f"joust up: {role} "
            if line.startswith(prefix):
                addrs.setdefault(role, line[len(prefix) :].split(" ")[0].strip())
        if line.startswith("joust up: ready"):
            break
    else:
        process.wait()
        raise RuntimeError(
            f"joust up exited ({process.returncode}) before it was ready; "
            f"stdout: {lines}; stderr in {log.name}"
        )
    # Keep reading so the process never blocks on a full pipe.
    stdout = process.stdout
    threading.Thread(target=lambda: lines.extend(stdout), daemon=True).start()
    return Up(process, addrs["registry"], addrs["node"], addrs["router"], data_dir, lines)
