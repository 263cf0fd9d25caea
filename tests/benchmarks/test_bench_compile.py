"""benchmarks/compile.py at its smoke size, so it cannot rot: it compiles LeNet-300-100's
masked step, times it against the eager step and prints one JSON line with its reference,
the ratio, the compile times and the two sides' agreement."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_compile_benchmark_runs_tiny():
    out = subprocess.run(
        [sys.executable, "benchmarks/compile.py", "--tiny"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (line,) = [json.loads(x) for x in out.stdout.splitlines()]
    assert line["name"] == "lenet_300_100 masked step compiled (train.compile=on)"
    assert line["value"] > 0 and line["reference_value"] > 0
    assert line["ratio"] == pytest.approx(line["value"] / line["reference_value"], abs=1e-3)
    assert line["path"].startswith("compiled (inductor;"), line["path"]
    assert line["compile_s"] > 0 and line["timed_steps"] == 3
    assert line["max_weight_difference"] < 1e-4  # 6 Adam steps: float rounding only
