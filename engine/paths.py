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
    <root>/app/analyse_after.json               (the dashboard's own records)

The functions only join names: checking that a run id or a tag is safe to use as a folder
name is `engine.store.check_name`'s job, done by the callers that take names from outside.
Changing a name here moves data on disk, which a stored run written before would not follow.
"""

from __future__ import annotations

from pathlib import Path

# Folders of a run that are not branches.
ANALYSES = "analyses"
LOGS = "logs"
NOT_BRANCHES = (ANALYSES, LOGS)
LEVEL = "level_{:02d}"
LEVEL_GLOB = "level_[0-9][0-9]"


# --- the store ------------------------------------------------------------------------------
def runs(root: Path) -> Path:
    return root / "runs"


def index(root: Path) -> Path:
    """The run index's folder (`engine.run_index`)."""
    return root / "index"


def index_db(index_dir: Path) -> Path:
    return index_dir / "runs.sqlite3"


def jobs(root: Path) -> Path:
    """The job queue's folder (`engine.jobs.table`)."""
    return root / "jobs"


def queue_db(jobs_dir: Path) -> Path:
    return jobs_dir / "queue.sqlite3"


def logs(root: Path) -> Path:
    return root / LOGS


def worker_log(root: Path, worker_id: str) -> Path:
    return logs(root) / f"worker-{worker_id}.log"


def job_log(root: Path, job_id: str, run_id: str | None = None) -> Path:
    """A job's log: in its run's folder when it has one, so deleting the run deletes it."""
    return (logs(root) if run_id is None else run_logs(run(root, run_id))) / f"{job_id}.log"


def sweeps(root: Path) -> Path:
    return root / "sweeps"


def sweep(root: Path, sweep_id: str) -> Path:
    return sweeps(root) / f"{sweep_id}.json"


def reports(root: Path) -> Path:
    return root / "reports"


def app(root: Path) -> Path:
    """The dashboard's own records (never read by the engine's runs)."""
    return root / "app"


def analyse_after(root: Path) -> Path:
    return app(root) / "analyse_after.json"


# --- a run ----------------------------------------------------------------------------------
def run(root: Path, run_id: str) -> Path:
    return runs(root) / run_id


def spec(run_dir: Path) -> Path:
    return run_dir / "spec.json"


def annotations(run_dir: Path) -> Path:
    return run_dir / "annotations.json"


def run_logs(run_dir: Path) -> Path:
    return run_dir / LOGS


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


def analyses(run_dir: Path) -> Path:
    return run_dir / ANALYSES


def analysis(run_dir: Path, kind: str, key: str) -> Path:
    return analyses(run_dir) / f"{kind}-{key}.json"


def copy(run_dir: Path, name: str) -> Path:
    """A level trained again from its start (instability), kept with the analyses."""
    return analyses(run_dir) / "copies" / name


# --- a level (a folder returned by `level` or `copy`) ---------------------------------------
def mask(level_dir: Path) -> Path:
    return level_dir / "mask.pt"


def metrics(level_dir: Path) -> Path:
    return level_dir / "metrics.csv"


def done(level_dir: Path) -> Path:
    """The record that finishes a level and vouches for its files (`engine.integrity`)."""
    return level_dir / "done.json"


def state(level_dir: Path) -> Path:
    """The resume point of an unfinished level."""
    return level_dir / "state.pt"


def checkpoints(level_dir: Path) -> Path:
    return level_dir / "checkpoints"


def checkpoint(level_dir: Path, tag: str) -> Path:
    return checkpoints(level_dir) / f"{tag}.pt"
