"""Every place in the store, as one function each (OpenLTH's `foundations/paths.py` does this
for its runs), so the layout on disk is written down once and every reader and writer agrees::

    <root>/runs/<run_id>/spec.json, annotations.json
    <root>/runs/<run_id>/<branch>/level_<LL>/mask.pt, metrics.csv, done.json, state.pt,
                                             checkpoints/<tag>.pt
    <root>/runs/<run_id>/imp/rewind.pt          (level 0's weights at the rewind point)
    <root>/runs/<run_id>/analyses/<kind>-<key>.json
    <root>/runs/<run_id>/analyses/copies/<name>/ (a level trained again: instability)
    <root>/runs/<run_id>/logs/<job_id>.log      (the log of a job of this run)
    <root>/index/runs.sqlite3                   (run summaries, store version)
    <root>/jobs/queue.sqlite3                   (the job queue and worker heartbeats)
    <root>/logs/<job_id>.log, worker-<id>.log   (jobs of no run, and workers)
    <root>/sweeps/<sweep_id>.json
    <root>/reports/                             (published reports)
    <root>/trash/<run_id>.<ns>/                 (a deleted run's folder on its way out)
    <root>/app/analyse_after.json               (an old app's list of first looks: a worker
                                                 reads it once, to follow-ups, and removes it)

The functions only join names: checking that a run id or a tag is safe to use as a folder
name is `engine.store.check_name`'s job, done by the callers that take names from outside.
Changing a name here moves data on disk, which a stored run written before would not follow.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

# Folders of a run that are not branches.
ANALYSES = "analyses"
LOGS = "logs"
NOT_BRANCHES = (ANALYSES, LOGS)
LEVEL = "level_{:02d}"
LEVEL_GLOB = "level_[0-9][0-9]"


def _place(name: str, doc: str | None = None) -> Callable[[Path], Path]:
    """The function naming `name` inside a folder: most places are one name in a folder."""

    def place(folder: Path) -> Path:
        return folder / name

    place.__doc__ = doc
    return place


# --- the store ------------------------------------------------------------------------------
runs = _place("runs")
index = _place("index", "The run index's folder (`engine.run_index`).")
index_db = _place("runs.sqlite3", "The run index in its folder (`index`).")
jobs = _place("jobs", "The job queue's folder (`engine.jobs.table`).")
queue_db = _place("queue.sqlite3", "The job queue in its folder (`jobs`).")
logs = _place(LOGS)
sweeps = _place("sweeps")
reports = _place("reports")
trash = _place(
    "trash", "Deleted runs' folders, renamed here before removal (`engine.jobs.removal`)."
)
app = _place("app", "The dashboard's own records (never read by the engine's runs).")


def worker_log(root: Path, worker_id: str) -> Path:
    return logs(root) / f"worker-{worker_id}.log"


def job_log(root: Path, job_id: str, run_id: str | None = None) -> Path:
    """A job's log: in its run's folder when it has one, so deleting the run deletes it."""
    return (logs(root) if run_id is None else run_logs(run(root, run_id))) / f"{job_id}.log"


def sweep(root: Path, sweep_id: str) -> Path:
    return sweeps(root) / f"{sweep_id}.json"


def analyse_after(root: Path) -> Path:
    """The runs an older app had yet to analyse; `engine.jobs.follow_ups` adopts them once."""
    return app(root) / "analyse_after.json"


# --- a run ----------------------------------------------------------------------------------
def run(root: Path, run_id: str) -> Path:
    return runs(root) / run_id


spec = _place("spec.json")
annotations = _place("annotations.json")
run_logs = _place(LOGS, "The logs of the run's jobs (`job_log`).")
analyses = _place(ANALYSES)


def branch(run_dir: Path, name: str) -> Path:
    """A branch's level folders: ``imp`` for IMP-WR, else a baseline's name."""
    return run_dir / name


def level(run_dir: Path, branch_name: str, number: int) -> Path:
    return branch(run_dir, branch_name) / LEVEL.format(number)


def level_number(level_dir: Path) -> int:
    """The level a folder matching `LEVEL_GLOB` holds."""
    return int(level_dir.name.removeprefix("level_"))


def is_first_level(level_dir: Path) -> bool:
    """Level 0 of a branch, whose training also wrote the branch's own files (`rewind`)."""
    return level_dir.name == LEVEL.format(0)


def rewind(run_dir: Path) -> Path:
    """Level 0's weights at the rewind point, beside IMP's level folders."""
    return branch(run_dir, "imp") / "rewind.pt"


def analysis(run_dir: Path, kind: str, key: str) -> Path:
    return analyses(run_dir) / f"{kind}-{key}.json"


def copy(run_dir: Path, name: str) -> Path:
    """A level trained again from its start (instability), kept with the analyses."""
    return analyses(run_dir) / "copies" / name


# --- a level (a folder returned by `level` or `copy`) ---------------------------------------
mask = _place("mask.pt")
metrics = _place("metrics.csv")
done = _place("done.json", "What finishes a level and vouches for its files (`engine.integrity`).")
state = _place("state.pt", "The resume point of an unfinished level.")
checkpoints = _place("checkpoints")


def checkpoint(level_dir: Path, tag: str) -> Path:
    return checkpoints(level_dir) / f"{tag}.pt"
