"""benchmarks/batched.py at its smoke size, so it cannot rot: it trains stacked and one by one
and prints one JSON line with its reference, the ratio and the two sides' agreement."""

import pytest

from tests.benchmarks.runner import assert_against_reference, run_script


@pytest.mark.slow
def test_batched_benchmark_runs_tiny():
    lines = run_script("batched.py", "--tiny")
    (line,) = lines
    assert line["name"] == "2 lenet_300_100 trainings stacked (train_batched)"
    assert_against_reference(line)
    assert line["length"] == "20it" and len(line["load_1m"]) == 2
    assert line["max_test_acc_difference"] <= 1e-3  # one test image in 1,000
