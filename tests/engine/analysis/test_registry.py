"""An analysis is one registered object: a throwaway `weight_norm` registered here appears in
the CLI's help and runs from it, is a job the queue accepts and a worker executes, fills its
(generic) table, and gets a section in the app; listing analyses loads no Hessian solver."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.analysis import registry, tables
from engine.analysis.options import BRANCHES, LEVELS, Option, boolean
from engine.analysis.registry import Analysis
from engine.analysis.units import at_points
from engine.cli import main
from engine.config import SpecError
from engine.jobs.queue import JobQueue
from engine.jobs.worker import run_worker
from tests.app import apptest

REPO = Path(__file__).resolve().parents[3]
SQUARED = Option("squared", "Report ‖w‖² instead of ‖w‖.", False, boolean)


def _norm(ctx, unit) -> dict:
    """‖w‖ over the prunable weights of the unit's point."""
    r = ctx.resolve(unit.points["point"])
    total = sum(float((r.state[name].double() ** 2).sum()) for name in r.mask)
    return {"norm": total if unit.options["squared"] else total**0.5}


@pytest.fixture
def weight_norm():
    analysis = registry.register(
        Analysis(
            name="weight_norm",
            help="The Euclidean norm of each level's solution over its prunable weights.",
            options=(BRANCHES, LEVELS, SQUARED),
            plan=at_points(("solution",)),
            compute=_norm,
            needs=("solution",),
        )
    )
    yield analysis
    registry.unregister("weight_norm")


def reference(store, run_id: str, level: int) -> float:
    """‖w‖ from the level's checkpoint file, read without the analysis code."""
    lv = store.level(run_id, level)
    state, mask = lv.load_checkpoint("final"), lv.load_mask()
    return float(np.linalg.norm(np.concatenate([state[n].numpy().ravel() for n in mask])))


def test_listing_validating_and_reading_analyses_loads_no_solver():
    code = (
        "import sys\n"
        "from engine.analysis import jobs, registry, requests, tables\n"
        "import app.data, app.ui\n"
        "assert len(registry.all()) >= 10, registry.names()\n"
        "heavy = [m for m in ('scipy.sparse.linalg', 'pyhessian') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_registered_analysis_is_in_the_cli_help(weight_norm, capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "weight_norm: The Euclidean norm of each level's solution" in out
    assert "--squared V Report ‖w‖² instead of ‖w‖. Default: False. For: weight_norm." in out


def test_a_registered_analysis_runs_from_the_cli(weight_norm, fresh_run, capsys):
    store, rid, _ = fresh_run
    args = ["analyze", rid, "--what", "weight_norm", "--store", str(store.root)]
    assert main([*args, "--device", "cpu", "--json"]) == 0
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    rows = json.loads(line)["weight_norm"]
    assert [r["level"] for r in rows] == [0, 1, 2]  # a solution needs no previous level
    for r in rows:
        assert r["norm"] == pytest.approx(reference(store, rid, r["level"]), rel=1e-6)
    assert main([*args, "--k", "3"]) == 2
    assert "k: does not apply to weight_norm" in capsys.readouterr().err


def test_a_registered_analysis_is_a_job_a_worker_runs(weight_norm, fresh_run):
    store, rid, _ = fresh_run
    queue = JobQueue(store.root)
    try:
        with pytest.raises(SpecError, match="squared"):
            queue.submit("analysis", {"run_id": rid, "what": "weight_norm", "squared": "maybe"})
        job = queue.submit("analysis", {"run_id": rid, "what": "weight_norm", "squared": "yes"})
        assert job.payload["levels"] == {"imp": [0, 1, 2]} and job.payload["squared"] is True
    finally:
        queue.close()
    assert run_worker(store.root, "cpu", max_jobs=1, worker_id="w1") == 1
    queue = JobQueue(store.root)
    try:
        done = queue.get(job.id)
    finally:
        queue.close()
    assert done.status == "done" and done.result["computed"] == 3
    table = tables.table("weight_norm", store, rid)
    assert list(table.columns[:4]) == ["run_id", "branch", "level", "point"]
    expected = [reference(store, rid, lv) ** 2 for lv in (0, 1, 2)]
    assert table["norm"].tolist() == pytest.approx(expected, rel=1e-6)


def test_a_registered_analysis_has_a_section_in_the_app(weight_norm, fresh_run, monkeypatch):
    store, rid, _ = fresh_run
    monkeypatch.setenv("IMP_LAB_STORE", str(store.root))
    monkeypatch.setenv("IMP_LAB_EMBEDDED_WORKER", "0")
    at = apptest.run(apptest.session("geometry", runs=rid))
    assert not at.exception, [e.message for e in at.exception]
    assert "Weight norm" in [h.value for h in at.subheader]
    assert f"compute-weight_norm-{rid}" in [b.key for b in at.button]  # nothing stored yet
    main(["analyze", rid, "--what", "weight_norm", "--store", str(store.root), "--device", "cpu"])
    at = apptest.run(apptest.session("geometry", runs=rid))
    shown = [d.value for d in at.dataframe if "norm" in d.value.columns]
    assert len(shown) == 1 and shown[0]["level"].tolist() == [0, 1, 2]


def test_clashing_registrations_are_refused(weight_norm):
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(weight_norm)
    other = Option("squared", "Something else.", True, boolean)
    clash = Analysis("other_norm", "", (other,), at_points(("solution",)), _norm)
    with pytest.raises(ValueError, match="option 'squared'"):
        registry.register(clash)
    assert "other_norm" not in registry.names()
