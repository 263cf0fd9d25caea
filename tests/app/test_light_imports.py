"""The Streamlit process stays light: opening every page over a store with a finished run and
every analysis loads neither PyHessian nor scipy.sparse.linalg (the Hessian's solvers run in
workers), and the Report page loads no statistics and no PNG/SVG renderer (its job does that).

Each page runs in a fresh interpreter, as a server process would start, so a module one page
loads is not blamed on another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(p.stem for p in (ROOT / "app" / "views").glob("*.py"))
HEAVY = ("pyhessian", "scipy.sparse.linalg")
# What the Report page must leave to the report job: the claims' statistics, the figures'
# builders and their PNG/SVG renderer.
REPORT_ONLY_IN_JOBS = ("engine.claims", "engine.figures.report", "vl_convert")
PROBE = """
import json, os, sys, traceback
watched, chains = set(sys.argv[2:]), {}

class Witness:  # records which of our lines import a watched module first; loads nothing
    def find_spec(self, name, path=None, target=None):
        if name in watched and name not in chains:
            ours = [f for f in traceback.extract_stack() if "/app/" in f.filename
                    or "/engine/" in f.filename]
            chains[name] = " -> ".join(f"{os.path.relpath(f.filename)}:{f.lineno}"
                                       for f in ours)
        return None

sys.meta_path.insert(0, Witness())
from tests.app import apptest
at = apptest.run(apptest.session(sys.argv[1], timeout=120))
print(json.dumps({
    "exceptions": [e.message for e in at.exception],
    "loaded": {m: chains.get(m, "?") for m in sorted(watched & set(sys.modules))},
}))
"""


def loaded_by(page: str, store: Path, watched: tuple[str, ...]) -> dict[str, str]:
    """The `watched` modules in `sys.modules` after one session of `page` in a new process,
    each with the lines of ours that imported it."""
    env = {**os.environ, "IMP_LAB_STORE": str(store), "IMP_LAB_EMBEDDED_WORKER": "0"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, page, *watched],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert not out["exceptions"], out["exceptions"]
    return out["loaded"]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_no_page_loads_the_hessian_solvers(page, demo_store):
    assert loaded_by(page, demo_store, HEAVY) == {}


def test_the_report_page_leaves_statistics_and_rendering_to_its_job(demo_store):
    assert loaded_by("report", demo_store, HEAVY + REPORT_ONLY_IN_JOBS) == {}
