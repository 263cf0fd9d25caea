"""benchmarks/compile.py at its smoke size, so it cannot rot: it compiles LeNet-300-100's
masked step, times it against the eager step and prints one JSON line with its reference,
the ratio, the compile times and the two sides' agreement."""

import pytest

from tests.benchmarks.runner import assert_against_reference, run_script


@pytest.mark.slow
def test_compile_benchmark_runs_tiny():
    lines = run_script("compile.py", "--tiny")
    (line,) = lines
    assert line["name"] == "lenet_300_100 masked step compiled (train.compile=on)"
    assert_against_reference(line)
    assert line["path"].startswith("compiled (inductor;"), line["path"]
    assert line["compile_s"] > 0 and line["timed_steps"] == 3
    assert line["max_weight_difference"] < 1e-4  # 6 Adam steps: float rounding only
