"""benchmarks/first_look.py at its smoke size, so it cannot rot: a tiny demo submitted as Home
submits it, trained and analysed by the app's embedded worker, one JSON line per measurement."""

import pytest

from engine.analysis import registry
from tests.benchmarks.runner import assert_against_reference, run_script


@pytest.mark.slow
def test_first_look_benchmark_runs_tiny():
    lines = run_script("first_look.py", "--tiny", "--timeout", "240")
    lines = {x["name"]: x for x in lines}
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
        assert_against_reference(line)
    assert end_to_end["reference_value"] == 240 and lines["first look"]["reference_value"] == 180
    assert "kept for the app" in end_to_end["worker"] and len(end_to_end["load_1m"]) == 3
