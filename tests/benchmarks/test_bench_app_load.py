"""benchmarks/app_load.py at its smoke size, so it cannot rot: AppTest renders of a small
store, then Home and Levels clicked in Chromium while a shortened demo trains beside them."""

from pathlib import Path

import pytest

from tests.benchmarks.runner import assert_against_reference, run_script

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium"),
]


def test_app_load_benchmark_runs_tiny():
    lines = run_script("app_load.py", "--quick")
    renders = [x for x in lines if "warm_s" in x]
    assert {x["page"] for x in renders} == {"home", "levels"}
    live = {x["name"]: x for x in lines if "name" in x}
    for page in ("home", "levels"):
        for case in ("the demo training beside it", "showing the demo run that is training"):
            line = live[f"{page} page drawn after a click, {case}"]
            assert line["never_drawn"] == 0 and line["value"] > 0
            assert_against_reference(line, rel=1e-2)
