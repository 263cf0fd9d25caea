"""A tiny run of benchmarks/job_queue.py: every depth measurement comes out, as JSON lines
with its reference and ratio, from real queue operations (the full run is the benchmark)."""

import json

import pytest

from benchmarks import job_queue


def test_the_queue_benchmark_reports_each_depth_against_its_reference(capsys):
    job_queue.main(["--depths", "5,40", "--samples", "20", "--seconds", "0.2", "--no-workers"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by = {(line["name"], line.get("queued")): line for line in lines}
    for depth in (5, 40):
        submit = by["submit_rate", depth]
        assert submit["reference"] == "bare_sqlite_insert" and submit["value"] > 0
        # the ratio of the unrounded values, to 3 decimals: within 1e-3 of the printed ones
        exact = submit["value"] / submit["reference_value"]
        assert submit["ratio"] == pytest.approx(exact, abs=1e-3)
        claim = by["claim_latency", depth]
        assert claim["reference"] == "claim_latency_at_5" and claim["p90_ms"] >= claim["value"]
        assert by["diskcache_list_rewrite", depth]["reference_value"] == submit["value"]
    assert by["claim_latency", 5]["ratio"] == 1.0
    assert {"write_floor", "progress_writes", "submit"} <= {line["name"] for line in lines}
    assert "submit_to_start_mean" not in {line["name"] for line in lines}  # --no-workers
