#!/usr/bin/env python3
"""Regenerates the gRPC stubs of the Python client from proto/proto/joust/v1.

    python3 clients/python/generate.py          # rewrite src/joust/v1/
    python3 clients/python/generate.py --check  # fail if they are stale

The stubs are checked in, so `pip install ./clients/python` needs no
protoc. They are generated with the grpcio-tools pinned in
requirements-dev.txt (its version is stamped in every file); scripts/test
runs `--check`, so a .proto change without regenerating fails CI.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE.parent.parent / "proto" / "proto"
OUT = HERE / "src" / "joust" / "v1"
INIT = '"""Generated gRPC stubs of joust.v1 (clients/python/generate.py). Do not edit."""\n'


def generate(into: Path) -> None:
    """Writes the generated package joust/v1/ under `into`."""
    try:
        from grpc_tools import protoc
    except ImportError:
        sys.exit("generate.py: grpc_tools is missing; fix: pip install -r clients/python/requirements-dev.txt")
    import grpc_tools

    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / "joust" / "v1").glob("*.proto"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={into}",
        f"--pyi_out={into}",
        f"--grpc_python_out={into}",
        *protos,
    ]
    if protoc.main(args) != 0:
        sys.exit(f"generate.py: protoc failed on {protos}")
    (into / "joust" / "v1" / "__init__.py").write_text(INIT)


def stale(fresh: Path, current: Path) -> list[str]:
    """Files that differ, are missing or are extra in `current`."""
    names = {p.name for p in fresh.iterdir()} | ({p.name for p in current.iterdir()} if current.exists() else set())
    out = []
    for name in sorted(names):
        if name == "__pycache__":
            continue
        a, b = fresh / name, current / name
        if not a.exists() or not b.exists() or not filecmp.cmp(a, b, shallow=False):
            out.append(name)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the checked-in stubs; exit 1 on drift")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = Path(tmp) / "joust" / "v1"
        if args.check:
            drift = stale(fresh, OUT)
            if drift:
                sys.exit(
                    f"clients/python/src/joust/v1 is stale ({', '.join(drift)}); "
                    "fix: python3 clients/python/generate.py"
                )
            print(f"clients/python/src/joust/v1: {len(list(fresh.iterdir()))} generated files are current")
            return
        if OUT.exists():
            shutil.rmtree(OUT)
        shutil.copytree(fresh, OUT)
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
