"""benchmarks/first_look.py at its smoke size, so it cannot rot: a tiny demo submitted as Home
submits it, trained and analysed by the app's embedded worker, one JSON line per measurement."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.analysis import registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_first_look_benchmark_runs_tiny():
    out = subprocess.run(
        [sys.executable, "benchmarks/first_look.py", "--tiny", "--timeout", "240"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = {x["name"]: x for x in map(json.loads, out.stdout.splitlines())}
    analyses = [a.name for a in registry.all() if a.first_look is not None]
    assert set(lines) == {
        "demo training",
        *(f"first look: {a}" for a in analyses),
        "first look",
        "demo and first look, end to end",
    }
    assert lines["first look"]["analyses"] == len(analyses)
    parts = [lines[f"first look: {a}"]["value"] for a in analyses]
    total, end_to_end = lines["first look"]["value"], lines["demo and first look, end to end"]
    # The analyses run one after another in one worker, after the training.
    assert sum(parts) <= total <= end_to_end["value"] - lines["demo training"]["value"]
    assert lines["first look: spectrum"]["options"]["k"] == 20  # the first look's, not 100
    for line in (lines["first look"], end_to_end, lines["first look: density"]):
        assert line["ratio"] == pytest.approx(line["value"] / line["reference_value"], abs=1e-3)
    assert end_to_end["reference_value"] == 240 and lines["first look"]["reference_value"] == 180
    assert "kept for the app" in end_to_end["worker"] and len(end_to_end["load_1m"]) == 3
