"""Pages stay live while runs train without restarting themselves: the redraw decision, the
full run that never asks for a rerun, per-level metrics of a training run, and the worker's
threads in the sidebar."""

from __future__ import annotations

from pathlib import Path

import pytest

import app.data
import app.live
from app import data
from app.live import page_token, rerun_due, wants_rerun
from engine.jobs.queue import Job, JobQueue
from engine.presets import preset
from engine.results import metrics_table
from engine.store import Store
from tests.app import apptest


def job(run_id: str, status: str = "running", jid: str = "j1", **progress) -> Job:
    return Job(jid, "run", {}, jid, status=status, progress=progress, run_id=run_id)


def test_page_token_changes_only_with_what_the_page_shows():
    mine = job("a", branch="imp", level=1, epoch=3, label="imp level 1", fraction=0.4)
    other = job("b", jid="j2", epoch=7, label="imp level 4")
    base = page_token(5, [mine, other], ["a"])
    # another run's epochs, and progress within an epoch, are not what this page shows
    assert page_token(5, [mine, job("b", jid="j2", epoch=8)], ["a"]) == base
    assert page_token(5, [job("a", epoch=3, label="imp level 1", fraction=0.5)], ["a"]) == (
        page_token(5, [job("a", epoch=3, label="imp level 1", fraction=0.1)], ["a"])
    )
    assert page_token(5, [job("a", epoch=4, label="imp level 1"), other], ["a"]) != base
    assert page_token(6, [mine, other], ["a"]) != base  # a level or an analysis stored
    assert page_token(5, [job("a", "queued"), other], ["a"]) != (
        page_token(5, [job("a", "running"), other], ["a"])
    )
    assert page_token(5, [mine, job("b", jid="j2", status="done")], ["a"]) == base
    # Home (None) shows every run: any run's epoch counts
    assert page_token(5, [mine, other], None) != (
        page_token(5, [mine, job("b", jid="j2", epoch=8, label="imp level 4")], None)
    )


@pytest.mark.parametrize(
    ("now", "drawn", "due"),
    [
        (100.0, None, True),  # never drawn in this session
        (10.0, (0.0, 5.0), True),  # ended 5 s ago after taking 5 s
        (9.9, (0.0, 5.0), False),  # a busy server: wait as long as the page took
        (8.2, (5.0, 5.2), True),  # a quick page: the next tick (3 s on) may redraw it
    ],
)
def test_rerun_due(now, drawn, due):
    assert rerun_due(now, drawn) is due


def test_wants_rerun():
    drawn = (0.0, 1.0)
    assert wants_rerun(True, (2,), (1,), 5.0, drawn)
    assert not wants_rerun(False, (2,), (1,), 5.0, drawn)  # not a live page
    assert not wants_rerun(True, (1,), (1,), 5.0, drawn)  # nothing changed
    assert not wants_rerun(True, (2,), None, 5.0, drawn)  # not drawn yet: leave it be
    assert not wants_rerun(True, (2,), (1,), 1.5, drawn)  # too soon after the last run


def training_store(root: Path) -> tuple[str, Job]:
    """A run with IMP levels 0 and 1 done and level 2 at its second epoch, and its job."""
    store = Store(root)
    spec = preset("demo")
    run_id = store.create_run(spec)
    for level, epochs in ((0, 3), (1, 3), (2, 2)):
        rows = [
            {"epoch": float(e), "iteration": float(e * 84), "lr": 1e-3, "train_loss": 1.0 / e}
            | {"train_acc": 0.9, "test_loss": 1.1 / e, "test_acc": 0.8 + 0.01 * e}
            | {"seconds": float(e)}
            for e in range(1, epochs + 1)
        ]
        lv = store.level(run_id, level)
        lv.write_metrics(rows)
        if level < 2:
            lv.mark_done({"level": level, "branch": "imp", "sparsity": 1 - 0.8**level})
    store.close()
    return run_id, job(run_id, branch="imp", level=2, epoch=2, label="imp level 2")


def test_training_run_rereads_only_the_level_in_training(tmp_path, monkeypatch):
    monkeypatch.setenv("IMP_LAB_STORE", str(tmp_path))
    run_id, live = training_store(tmp_path)
    reads = []

    def counted(store, run_id, branch, level):
        reads.append((branch, level))
        return read(store, run_id, branch, level)

    read = app.data.level_metrics
    monkeypatch.setattr(app.data, "level_metrics", counted)
    data._level_metrics.clear()
    first = data.table("metrics", [run_id], {run_id: live})
    assert sorted(reads) == [("imp", 0), ("imp", 1), ("imp", 2)]
    expected = metrics_table(Store(tmp_path), run_id)  # the engine's own table, read whole
    assert first.reset_index(drop=True).equals(expected)

    Store(tmp_path).level(run_id, 2).write_metrics(
        [dict(r) for r in expected[expected["level"] == 2].drop(
            columns=["run_id", "branch", "level", "sparsity"]
        ).to_dict("records")]
        + [{"epoch": 3.0, "iteration": 252.0, "lr": 1e-3, "train_loss": 0.3}
           | {"train_acc": 0.9, "test_loss": 0.4, "test_acc": 0.83, "seconds": 3.0}]
    )  # fmt: skip
    reads.clear()
    later = job(run_id, branch="imp", level=2, epoch=3, label="imp level 2")
    second = data.table("metrics", [run_id], {run_id: later})
    assert reads == [("imp", 2)]  # the finished levels came from the cache
    assert len(second) == len(first) + 1
    assert second.reset_index(drop=True).equals(metrics_table(Store(tmp_path), run_id))


def test_a_full_run_never_restarts_itself_while_a_run_trains(tmp_path, monkeypatch):
    """Opening a page while epochs end must draw it in one script run. Before, the sidebar's
    check ran inline, saw an epoch end since its last look and restarted the run."""
    monkeypatch.setenv("IMP_LAB_STORE", str(tmp_path))
    monkeypatch.setenv("IMP_LAB_EMBEDDED_WORKER", "0")
    run_id, _ = training_store(tmp_path)
    queue = JobQueue(tmp_path)
    running = queue.submit("run", preset("demo").to_dict())
    queue.claim("w1")
    runs = []
    full_run = app.live.full_run

    def counted(live, shown):
        runs.append(shown)
        return full_run(live, shown)

    monkeypatch.setattr(app.live, "full_run", counted)
    at = apptest.session("levels", runs=[run_id])
    for epoch in (1, 2, 3):  # an epoch ends between every two visits
        queue.heartbeat(running.id, "w1", {"branch": "imp", "level": 2, "epoch": epoch})
        apptest.run(at)
        assert not at.exception, [e.message for e in at.exception]
    assert runs == [[run_id]] * 3  # one script run per visit, showing the chosen run
    assert [c.value for c in at.get("vega_lite_chart")]


def test_sidebar_says_how_many_threads_the_worker_uses(tmp_path, monkeypatch):
    monkeypatch.setenv("IMP_LAB_STORE", str(tmp_path))
    monkeypatch.setenv("IMP_LAB_EMBEDDED_WORKER", "0")
    text = "1 thread (2 cores, 1 worker, 1 kept for the app, small model, passive wait)"
    JobQueue(tmp_path).worker_heartbeat("w1", host="h", device="cpu", threads={"text": text})
    at = apptest.run(apptest.session("home"))
    captions = " ".join(str(c.value) for c in at.sidebar.caption)
    assert f"1 worker(s) on cpu, {text}" in captions
