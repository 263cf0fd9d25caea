#!/usr/bin/env python3
"""Bootstrap and start IMP Lab with nothing but Python 3.11.

    python3 lab.py app     # the dashboard with an embedded worker, on http://127.0.0.1:8501
    python3 lab.py test    # the whole test suite
    python3 lab.py engine ARGS...   # the engine's CLI, e.g. `engine run --preset demo`

Creates `.venv/` beside this file and installs the pinned requirements into it the first
time (and again whenever a requirements file changes), then runs the command inside it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("IMP_LAB_VENV", ROOT / ".venv"))
PY = VENV / "bin" / "python"


def _ensure_env(requirements: str) -> None:
    if sys.version_info[:2] < (3, 11):  # noqa: UP036 - users may run an older python3
        sys.exit(f"IMP Lab needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    files = sorted(ROOT.glob("requirements*.txt"))  # -r includes chain them
    stamp = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    marker = VENV / f".installed-{requirements}"
    if marker.is_file() and marker.read_text() == stamp and PY.exists():
        return
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    print(f"installing {requirements} (first run takes a few minutes)", flush=True)
    subprocess.run(
        [str(PY), "-m", "pip", "install", "-q", "-r", str(ROOT / requirements)], check=True
    )
    marker.write_text(stamp)


def address_flags(rest: list[str]) -> list[str]:
    """`--server.address` for the app unless the user names one: this machine only, or every
    interface when hosted mode (sign-in) guards it (`python -m engine.settings address`)."""
    given = any(a == "--server.address" or a.startswith("--server.address=") for a in rest)
    if given or os.environ.get("STREAMLIT_SERVER_ADDRESS"):
        return []
    out = subprocess.run(
        [str(PY), "-m", "engine.settings", "address"], capture_output=True, text=True
    )
    if out.returncode:  # a bad setting: its one-line reason
        sys.exit(out.stderr.strip() or out.returncode)
    return [f"--server.address={out.stdout.strip()}"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test", "engine"):
        print(__doc__)
        return 2
    cmd, rest = argv[0], argv[1:]
    os.chdir(ROOT)
    if cmd == "app":
        _ensure_env("requirements.txt")
        args = [str(PY), "-m", "streamlit", "run", "app/main.py", *address_flags(rest), *rest]
    elif cmd == "test":
        _ensure_env("requirements-dev.txt")
        lint = subprocess.run([str(PY), "-m", "ruff", "check", "."])
        fmt = subprocess.run([str(PY), "-m", "ruff", "format", "--check", "."])
        if lint.returncode or fmt.returncode:
            print("ruff found problems (run: .venv/bin/ruff format . && .venv/bin/ruff check .)")
            return 1
        args = [str(PY), "-m", "pytest", *rest]
    else:
        _ensure_env("requirements.txt")
        args = [str(PY), "-m", "engine", *rest]
    return subprocess.call(args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
