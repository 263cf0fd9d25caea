"""The "report" job: a worker builds the report of some runs into the store, whole; asking again
for the same results returns that job, new results queue a rebuild that replaces the old
report; bad requests name the field and write nothing."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from engine import paths, report_store
from engine.cli import main
from engine.config import SpecError
from engine.figures.report import build_report
from engine.jobs.queue import JobQueue
from engine.jobs.worker import run_worker
from engine.store import Store
from tests.engine.conftest import tiny_spec


@pytest.fixture(scope="module")
def reported(tiny_run, tmp_path_factory):
    """The tiny run's report built by a worker through the queue, and one built directly."""
    store, spec, _ = tiny_run
    queue = JobQueue(store.root)
    job = queue.submit("report", {"runs": [spec.run_id]})
    assert run_worker(store.root, "cpu", max_jobs=1, worker_id="w1") == 1
    direct = build_report(store, [spec.run_id], tmp_path_factory.mktemp("direct"))
    return store, spec, queue.get(job.id), direct


def test_the_worker_publishes_the_report_the_figures_module_builds(reported):
    store, spec, job, direct = reported
    assert job.status == "done", job.error
    shown = report_store.latest(store, [spec.run_id])
    assert shown is not None and shown.runs == [spec.run_id]
    assert shown.inputs == report_store.inputs(store, [spec.run_id])  # current
    assert [f.name for f in shown.figures] == [f.name for f in direct.figures]
    for f in shown.figures:
        assert shown.path(f.files["png"]).read_bytes()[:4] == b"\x89PNG"
        assert shown.path(f.files["svg"]).read_text().lstrip().startswith("<svg")
    claims = pd.read_csv(shown.path(report_store.CLAIMS))
    expected = direct.claims_frame()
    assert list(claims["id"]) == list(expected["id"])
    assert list(claims["verdict"]) == list(expected["verdict"])
    assert shown.path(report_store.ARCHIVE).stat().st_size > 0
    assert job.result["folder"] == str(shown.folder.relative_to(store.root))


def test_the_same_results_return_the_done_job_new_ones_rebuild(reported):
    store, spec, job, _ = reported
    queue = JobQueue(store.root)
    assert queue.submit("report", {"runs": [spec.run_id]}).id == job.id  # nothing new
    first = report_store.latest(store, [spec.run_id])
    checkpoint = next(store.run_path(spec.run_id).rglob("checkpoints/*.pt"))
    os.utime(checkpoint, ns=(checkpoint.stat().st_atime_ns, checkpoint.stat().st_mtime_ns + 1))
    assert first.inputs == report_store.inputs(store, [spec.run_id])  # no report reads it
    metrics = next(store.run_path(spec.run_id).rglob("metrics*"))
    os.utime(metrics, ns=(metrics.stat().st_atime_ns, metrics.stat().st_mtime_ns + 10**9))
    assert first.inputs != report_store.inputs(store, [spec.run_id])  # stale now
    again = queue.submit("report", {"runs": [spec.run_id]})
    assert again.id != job.id and again.status == "queued"
    assert run_worker(store.root, "cpu", max_jobs=1, worker_id="w1") == 1
    now = report_store.latest(store, [spec.run_id])
    assert now.inputs == report_store.inputs(store, [spec.run_id])
    assert now.folder != first.folder and not first.folder.exists()  # replaced, not kept
    assert [p.name for p in now.folder.parent.iterdir()] == [now.folder.name]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"runs": []}, "runs"),
        ({"runs": "abc"}, "runs"),
        ({"runs": ["no-such-run"]}, "runs"),
        ({"runs": ["x"], "format": "pdf"}, "format"),
    ],
)
def test_a_bad_request_names_its_field_and_queues_nothing(tmp_path, payload, field):
    queue = JobQueue(tmp_path / "store")
    with pytest.raises(SpecError) as e:
        queue.submit("report", payload)
    assert e.value.field_path == field
    assert queue.list() == []
    assert not paths.reports(tmp_path / "store").exists()


def test_the_report_command_queues_the_job_with_submit_and_needs_out_without(tmp_path, capsys):
    store = Store(tmp_path / "store")
    run_id = store.create_run(tiny_spec())  # a run to report on (nothing trained yet)
    root = str(store.root)
    assert main(["report", "no-such-run", "--store", root]) == 2
    assert main(["report", run_id, "--store", root]) == 2
    assert "--out: name the folder" in capsys.readouterr().err
    assert JobQueue(root).list() == [] and not paths.reports(store.root).exists()
    assert main(["report", run_id, "--store", root, "--submit"]) == 0
    [job] = JobQueue(root).list()
    assert (job.kind, job.status, job.owner, job.payload["runs"]) == (
        "report",
        "queued",
        "cli",
        [run_id],
    )
    assert job.id in capsys.readouterr().out
