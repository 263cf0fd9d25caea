"""Stores for the page tests: empty, a finished (shortened) demo run with every analysis, and
the same run beside failed, queued and running jobs. Built once per session through the
engine's own API, so the pages read exactly what a real run and a real worker leave."""

from __future__ import annotations

import shutil
import traceback
from pathlib import Path

import pytest

from engine.analysis import jobs as analyses
from engine.imp import run_imp
from engine.jobs.queue import JobQueue
from engine.jobs.triage import Ending
from engine.presets import preset
from engine.store import Store

# Small options so every analysis takes a second or two on the demo's LeNet.
QUICK = {
    "distances": {},
    "pruned_start": {},
    "trajectory": {"subset": 256},
    "spectrum": {"k": 5, "subset": 256},
    "trace": {"samples": 4, "subset": 256},
    "density": {"vectors": 1, "steps": 8, "subset": 256},
    "landscape": {"grid": 5, "subset": 256},
    "interpolation": {"n": 3, "levels": "1"},
    "loss_matched": {"k": 5, "subset": 256},
    "instability": {"n": 3},
}


def short_demo():
    """The demo preset cut to 2 levels of 2 epochs (all five baselines kept)."""
    spec = preset("demo")
    return spec.replace(train=spec.train.replace(length="2ep"), prune=spec.prune.replace(levels=2))


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> Path:
    """A store holding one finished short demo run and every analysis of it."""
    root = tmp_path_factory.mktemp("demo-store")
    store = Store(root)
    spec = short_demo()
    run_imp(spec, store, "cpu")
    for what, options in QUICK.items():
        analyses.execute(store, {"run_id": spec.run_id, "what": what, **options}, "cpu")
    store.close()
    return root


@pytest.fixture(scope="session")
def jobs_store(demo_store, tmp_path_factory) -> Path:
    """The demo store plus a failed run job, a failed analysis, a queued and a running job."""
    root = tmp_path_factory.mktemp("jobs-store") / "store"
    shutil.copytree(demo_store, root)
    queue = JobQueue(root)
    bad = short_demo().replace(seed=7)
    failed = queue.submit("run", bad.to_dict(), owner="test")
    queue.claim("w1")
    try:
        raise RuntimeError("out of memory while training level 1")
    except RuntimeError as e:
        queue.settle(failed.id, "w1", Ending("error", str(e), traceback.format_exc(), retry=False))
    run_id = short_demo().run_id
    broken = queue.submit("analysis", {"run_id": run_id, "what": "distances", "levels": "1"})
    queue.claim("w1")
    broke = Ending("error", "ValueError: broken", "Traceback...", retry=False)
    queue.settle(broken.id, "w1", broke)
    running = queue.submit("run", short_demo().replace(seed=8).to_dict())
    queue.claim("w2")
    queue.progress(
        running.id, "w2", label="imp level 1", level=1, epoch=1, epochs=2, fraction=0.4, eta=12.0
    )
    queue.submit("run", short_demo().replace(seed=9).to_dict())
    queue.close()
    return root


@pytest.fixture
def empty_store(tmp_path) -> Path:
    return tmp_path / "empty-store"
