"""benchmarks/threads.py at its smoke size, so it cannot rot: it trains in a real worker
beside a busy process and prints one JSON line with its reference and ratio."""

import pytest

from tests.benchmarks.runner import assert_against_reference, run_script


@pytest.mark.slow
def test_threads_benchmark_runs_tiny():
    lines = run_script("threads.py", "--quick", "--no-default")
    (line,) = lines
    assert line["name"] == "demo beside one busy process, worker thread policy"
    assert_against_reference(line)
    assert line["demo"] == "1 levels x 20it, baselines []" and len(line["load_1m"]) == 2
