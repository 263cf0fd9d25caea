"""Running a benchmark script at its smoke size, the way a user runs it (a subprocess from the
repository root), and the checks every measurement line must pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_script(script: str, *args: str, timeout: int = 300) -> list[dict]:
    """The JSON lines `benchmarks/<script>` prints; fails the test with its stderr's tail if
    it exits non-zero."""
    out = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return [json.loads(x) for x in out.stdout.splitlines()]


def assert_against_reference(line: dict, rel: float | None = None) -> None:
    """Ours and the reference were measured, and the printed ratio is theirs: that of the
    unrounded values, so within 1e-3 of the printed values' ratio (or `rel` of it)."""
    assert line["value"] > 0 and line["reference_value"] > 0
    exact = line["value"] / line["reference_value"]
    assert line["ratio"] == (pytest.approx(exact, rel) if rel else pytest.approx(exact, abs=1e-3))
