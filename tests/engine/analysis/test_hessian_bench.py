"""A tiny run of benchmarks/hessian.py (the full run is the benchmark): every comparison comes
out as a JSON line with its reference and ratio, from real solver runs on a trained LeNet."""

import json

import pytest

from benchmarks import hessian


def test_the_hessian_benchmark_reports_each_comparison_against_its_reference(capsys):
    hessian.main(["--tiny", "--threads", "1"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    setup = lines[0]
    assert setup["what"] == "setup" and setup["threads"] == 1 and setup["dim"] > 0
    tops = {line["backend"]: line for line in lines if line.get("what") == "top_k"}
    assert set(tops) == {"arpack", "lanczos", "lanczos1"}
    for backend in ("lanczos", "lanczos1"):  # the same eigenvalues as ARPACK's at tol 1e-10
        assert tops[backend]["converged"] and tops[backend]["max_rel_err"] < 1e-5
        assert tops[backend]["products_per_s"] > 0
    named = {}
    for line in lines:
        if "name" in line:
            named.setdefault(line["name"], []).append(line)
            # the ratio of the unrounded values, to 3 decimals: within 1e-3 of the printed ones
            assert line["ratio"] == pytest.approx(line["value"] / line["reference_value"], abs=1e-3)
            assert {"load_before", "load_after"} <= set(line)
    assert {line["reference"] for line in named["top_k_seconds"]} == {"arpack", "lanczos1"}
    assert {line["mode"] for line in named["hvp_ms"]} == {"forward", "reverse"}
    assert named["trace_stderr"][0]["reference"] == "hutchinson"
    assert named["density_seconds"][0]["vectors"] == 2
