"""Every page under AppTest: an empty store, a finished demo run, failed and live jobs; and
the interactions that change the store or the queue (launch, cancel, delete, compute)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.jobs.follow_ups import first_look
from engine.jobs.queue import JobQueue
from engine.presets import preset
from engine.store import Store
from tests.app import apptest
from tests.app.conftest import short_demo

PAGES = [
    "home",
    "launch",
    "runs",
    "compare",
    "sweep",
    "levels",
    "baselines",
    "geometry",
    "spectra",
    "landscape",
    "sparsity",
    "report",
]
# Charts each results page draws for the demo run with every analysis stored.
CHARTS = {
    "levels": 3,
    "baselines": 3,
    "geometry": 6,  # with the instability chart
    "spectra": 5,  # with the loss-matched control
    "landscape": 1,
    "sparsity": 2,
}


def open_app(store: Path, monkeypatch, page: str = "home", **query) -> AppTest:
    monkeypatch.setenv("IMP_LAB_STORE", str(store))
    monkeypatch.setenv("IMP_LAB_EMBEDDED_WORKER", "0")
    at = apptest.run(apptest.session(page, **query))
    assert not at.exception, [e.message for e in at.exception]
    return at


def charts(at: AppTest) -> list:
    return list(at.get("vega_lite_chart"))


def texts(at: AppTest) -> str:
    parts = [*at.markdown, *at.caption, *at.info, *at.error, *at.warning, *at.success]
    return "\n".join(str(p.value) for p in parts)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_an_empty_store(page, empty_store, monkeypatch):
    at = open_app(empty_store, monkeypatch, page)
    assert not charts(at)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_a_finished_demo_run(page, demo_store, monkeypatch):
    at = open_app(demo_store, monkeypatch, page)
    assert len(charts(at)) == CHARTS.get(page, 0)
    assert at.multiselect(key="runs").value == [short_demo().run_id]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_beside_failed_and_live_jobs(page, jobs_store, monkeypatch):
    at = open_app(jobs_store, monkeypatch, page)
    assert len(charts(at)) == CHARTS.get(page, 0)


def test_empty_store_launches_the_demo_in_one_click(empty_store, monkeypatch):
    at = open_app(empty_store, monkeypatch)
    assert "is empty" in texts(at)
    at.button[0].click().run()
    assert at.title[0].value == "Runs"
    [job] = JobQueue(empty_store).list()
    assert job.kind == "run" and job.run_id == preset("demo").run_id
    assert job.then == first_look(preset("demo"))  # its worker queues them once it is trained


def _text_input(at: AppTest, path: str):
    return at.text_input(key=f"form-demo.{path}")


def test_launch_form_shows_each_error_under_its_field(empty_store, monkeypatch):
    at = open_app(empty_store, monkeypatch, "launch")
    assert "120 epochs" in texts(at)  # 6 IMP levels + 9 baseline trainings of 8 epochs
    _text_input(at, "train.lr").input("fast").run()
    _text_input(at, "prune.levels").input("1.5").run()
    errors = [e.value for e in at.error]
    assert "'fast' is not a number" in errors and "'1.5' is not a whole number" in errors
    launch = next(b for b in at.button if b.label == "Launch")
    assert launch.disabled
    _text_input(at, "train.lr").input("0.01").run()
    _text_input(at, "prune.levels").input("2").run()
    _text_input(at, "prune.rewind").input("9ep").run()  # beyond the 8-epoch length
    assert [e.value for e in at.error] == ["9ep lies beyond the training length 8ep"]


def _message_under(at: AppTest, key: str) -> str | None:
    """The message in the slot drawn right below widget `key` (None when it is empty)."""
    blocks = [at._tree]
    while blocks:
        block = blocks.pop()
        for i, child in getattr(block, "children", {}).items():  # leaves have none
            if getattr(child, "key", None) == key:
                below = block.children.get(i + 1)
                return getattr(below, "value", None) if below is not None else None
            blocks.append(child)
    raise AssertionError(f"no widget {key}")


def test_launch_form_shows_every_bad_field_at_once_each_under_its_own(empty_store, monkeypatch):
    at = open_app(empty_store, monkeypatch, "launch")
    bad = {"train.lr": "-0.001", "prune.levels": "0", "prune.rate": "1.5"}
    for path, text in bad.items():
        _text_input(at, path).input(text)
    at.run()
    assert "(0.0, 10.0]" in _message_under(at, "form-demo.train.lr")
    assert "no level for the baselines" in _message_under(at, "form-demo.prune.levels")
    assert "(0, 1)" in _message_under(at, "form-demo.prune.rate")
    assert len(at.error) == 3  # nothing under Baselines or anywhere else
    assert _message_under(at, "form-demo.baselines.kinds") is None


def test_launch_submits_the_spec_the_form_shows(empty_store, monkeypatch):
    at = open_app(empty_store, monkeypatch, "launch")
    _text_input(at, "seed").input("3").run()
    _text_input(at, "train.length").input("2ep").run()
    at.multiselect(key="form-demo.baselines.kinds").set_value(["ripn"]).run()
    next(b for b in at.button if b.label == "Launch").click().run()
    [job] = JobQueue(empty_store).list()
    assert job.payload["seed"] == 3
    assert job.payload["train"]["length"] == "2ep"
    assert job.payload["baselines"]["kinds"] == ["ripn"]
    assert at.title[0].value == "Runs"


def test_runs_page_cancels_a_queued_job(jobs_store, tmp_path, monkeypatch):
    store = tmp_path / "store"
    shutil.copytree(jobs_store, store)
    queued = next(j for j in JobQueue(store).list() if j.status == "queued")
    at = open_app(store, monkeypatch, "runs")
    at.selectbox(key="act-on").set_value(queued.id).run()
    next(b for b in at.button if b.label == "Cancel").click().run()
    assert JobQueue(store).get(queued.id).status == "cancelled"


def test_runs_page_shows_a_failed_jobs_error(jobs_store, monkeypatch):
    failed = next(j for j in JobQueue(jobs_store).list() if j.kind == "run" and j.error)
    at = open_app(jobs_store, monkeypatch, "runs", status="failed")
    assert at.multiselect(key="status").value == ["failed"]
    at.selectbox(key="act-on").set_value(failed.id).run()
    assert "out of memory while training level 1" in [e.value for e in at.error]


def test_delete_asks_first_then_removes_the_run_and_its_jobs(demo_store, tmp_path, monkeypatch):
    store = tmp_path / "store"
    shutil.copytree(demo_store, store)
    run_id = short_demo().run_id
    JobQueue(store).submit("analysis", {"run_id": run_id, "what": "distances", "levels": "1"})
    at = open_app(store, monkeypatch, "runs")
    at.selectbox(key="act-on").set_value(run_id).run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert Store(store).has_run(run_id)  # only the dialog opened
    at.button(key="confirm-delete").click().run()
    assert not Store(store).has_run(run_id)
    assert JobQueue(store).list() == []


def test_missing_analysis_is_offered_and_queued(demo_store, tmp_path, monkeypatch):
    store = tmp_path / "store"
    shutil.copytree(demo_store, store)
    run_id = short_demo().run_id
    shutil.rmtree(Store(store).run_path(run_id) / "analyses")
    at = open_app(store, monkeypatch, "geometry")
    assert not charts(at)
    at.button(key=f"compute-distances-{run_id}").click().run()
    [job] = JobQueue(store).list()
    assert job.kind == "analysis" and job.payload["what"] == "distances"


def test_a_training_runs_follow_ups_show_as_queued_in_its_sections(
    demo_store, tmp_path, monkeypatch
):
    store = tmp_path / "store"
    shutil.copytree(demo_store, store)
    spec = short_demo()
    shutil.rmtree(Store(store).run_path(spec.run_id) / "analyses")
    job = JobQueue(store).submit("run", spec.to_dict(), then=first_look(spec))
    assert job.status == "queued"  # its levels are stored, but not its job
    at = open_app(store, monkeypatch, "geometry")
    assert f"`distances` for **{spec.run_id}** is queued to run when its training ends" in texts(at)
    assert not [b for b in at.button if b.key == f"compute-distances-{spec.run_id}"]


def test_the_url_reopens_the_same_view(demo_store, monkeypatch):
    run_id = short_demo().run_id
    at = open_app(demo_store, monkeypatch, "levels", runs=run_id, loss="test_loss", log="0")
    assert at.selectbox(key="loss").value == "test_loss"
    assert at.toggle(key="log").value is False
    at.selectbox(key="acc").set_value("train_acc").run()
    assert at.query_params["acc"] == "train_acc"
    assert at.query_params["runs"] == run_id


def test_a_folder_that_is_not_a_run_is_reported_not_fatal(demo_store, tmp_path, monkeypatch):
    store = tmp_path / "store"
    shutil.copytree(demo_store, store)
    (store / "runs" / "stray-folder").mkdir()
    at = open_app(store, monkeypatch, "runs")
    assert any("stray-folder" in w.value for w in at.warning)
    assert at.multiselect(key="runs").value == [short_demo().run_id]


def test_open_charts_goes_to_the_levels_of_that_run(demo_store, monkeypatch):
    run_id = short_demo().run_id
    at = open_app(demo_store, monkeypatch, "runs", runs="no-such-run")
    at.selectbox(key="act-on").set_value(run_id).run()
    next(b for b in at.button if b.label == "Open charts").click().run()
    assert at.title[0].value == "Levels"
    assert at.multiselect(key="runs").value == [run_id]
    assert len(charts(at)) == CHARTS["levels"]


def test_selection_survives_a_run_that_lost_its_widget_state(demo_store, monkeypatch):
    # A run interrupted before a widget is drawn (a live fragment asking for a rerun on a busy
    # server) leaves Streamlit without the widget's value; the kept choice must win.
    monkeypatch.setenv("IMP_LAB_STORE", str(demo_store))
    monkeypatch.setenv("IMP_LAB_EMBEDDED_WORKER", "0")
    at = apptest.session("levels")
    at.session_state["_url.acc"] = "train_acc"  # kept from an earlier run; no widget state
    apptest.run(at)
    assert at.selectbox(key="acc").value == "train_acc"
    assert at.query_params["acc"] == "train_acc"


def test_sweep_page_previews_validates_and_queues(empty_store, monkeypatch):
    store = empty_store
    at = open_app(store, monkeypatch, "sweep")
    assert "6 runs in 2 group(s)" in texts(at)  # the example grid: 2 learning rates x 3 seeds
    at.text_area[0].set_value('base = "demo"\nseeds = [0]\n[grid]\n"prune.rate" = [0.2, 1.5]\n')
    at.run()
    assert "prune.rate" in "\n".join(str(e.value) for e in at.error)
    at.text_area[0].set_value('base = "demo"\nseeds = [0, 1]\n[set]\n"train.length" = "1ep"\n')
    at.run()
    next(b for b in at.button if b.label == "Queue the sweep").click().run()
    assert not at.exception
    jobs = JobQueue(store).list()
    assert len(jobs) == 2 and {j.payload["seed"] for j in jobs} == {0, 1}
    assert "No sweep stored yet." not in texts(at)


def test_a_damaged_file_is_named_on_the_page_not_raised(demo_store, tmp_path, monkeypatch):
    root = tmp_path / "store"
    shutil.copytree(demo_store, root)
    metrics = Store(root).run_path(short_demo().run_id) / "imp" / "level_01" / "metrics.csv"
    metrics.write_bytes(metrics.read_bytes()[:20])  # a killed copy, say
    at = open_app(root, monkeypatch, "levels")
    [warning] = [w.value for w in at.warning if "metrics.csv" in w.value]
    assert "level_01" in warning and "fsck" in warning
