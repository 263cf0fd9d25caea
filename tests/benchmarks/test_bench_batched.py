"""benchmarks/batched.py at its smoke size, so it cannot rot: it trains stacked and one by one
and prints one JSON line with its reference, the ratio and the two sides' agreement."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_batched_benchmark_runs_tiny():
    out = subprocess.run(
        [sys.executable, "benchmarks/batched.py", "--tiny"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (line,) = [json.loads(x) for x in out.stdout.splitlines()]
    assert line["name"] == "2 lenet_300_100 trainings stacked (train_batched)"
    assert line["value"] > 0 and line["reference_value"] > 0
    assert line["ratio"] == pytest.approx(line["value"] / line["reference_value"], abs=1e-3)
    assert line["length"] == "20it" and len(line["load_1m"]) == 2
    assert line["max_test_acc_difference"] <= 1e-3  # one test image in 1,000
