"""benchmarks/app_load.py at its smoke size, so it cannot rot: AppTest renders of a small
store, then Home and Levels clicked in Chromium while a shortened demo trains beside them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium"),
]


def test_app_load_benchmark_runs_tiny():
    out = subprocess.run(
        [sys.executable, "benchmarks/app_load.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    renders = [x for x in lines if "warm_s" in x]
    assert {x["page"] for x in renders} == {"home", "levels"}
    live = {x["name"]: x for x in lines if "name" in x}
    for page in ("home", "levels"):
        for case in ("the demo training beside it", "showing the demo run that is training"):
            line = live[f"{page} page drawn after a click, {case}"]
            assert line["never_drawn"] == 0 and line["value"] > 0
            assert line["ratio"] == pytest.approx(line["value"] / line["reference_value"], 1e-2)
