"""benchmarks/threads.py at its smoke size, so it cannot rot: it trains in a real worker
beside a busy process and prints one JSON line with its reference and ratio."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_threads_benchmark_runs_tiny():
    out = subprocess.run(
        [sys.executable, "benchmarks/threads.py", "--quick", "--no-default"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (line,) = [json.loads(x) for x in out.stdout.splitlines()]
    assert line["name"] == "demo beside one busy process, worker thread policy"
    assert line["value"] > 0 and line["reference_value"] > 0
    assert line["ratio"] == pytest.approx(line["value"] / line["reference_value"], abs=1e-3)
    assert line["demo"] == "1 levels x 20it, baselines []" and len(line["load_1m"]) == 2
