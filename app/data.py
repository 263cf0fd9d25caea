"""Everything the pages read, cached by the store's version so a rerun never re-reads disk.

Tables are cached per (store, version, table, run): a new result bumps the version and the
next rerun reads again; until then every rerun and every page reuses the frames. The
metrics of a run that is training right now are cached per level instead: per-epoch metrics
are written without a version bump, so the level its job is training keys on the job's
epoch and is re-read once per epoch, while its other levels (finished: they change only with
the version) are not read again. Jobs are read fresh on every call (they are small and
live). The app only reads here and submits jobs; it never trains or computes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app import auth
from engine import paths
from engine.analysis import registry
from engine.analysis import tables as analysis_tables
from engine.config import RunSpec
from engine.jobs.queue import ACTIVE, Job, JobQueue
from engine.presets import PRESETS
from engine.results import (
    LAYER_COLUMNS,
    METRIC_COLUMNS,
    SUMMARY_COLUMNS,
    layers_table,
    level_metrics,
    metrics_table,
    stack_metrics,
    summary_table,
)
from engine.settings import data_root, store_root
from engine.store import Store, StoreError

# The training tables; every other name is a registered analysis's (`engine.analysis.registry`).
TABLES: dict[str, Callable[[Store, str], pd.DataFrame]] = {
    "metrics": metrics_table,
    "summary": summary_table,
    "layers": layers_table,
}
COLUMNS = {"metrics": METRIC_COLUMNS, "summary": SUMMARY_COLUMNS, "layers": LAYER_COLUMNS}


def columns(name: str) -> list[str]:
    return list(COLUMNS[name]) if name in COLUMNS else analysis_tables.columns(name)


def producer(name: str) -> str:
    """The analysis job that fills table `name` (one job can fill several tables)."""
    return registry.table_source(name)[0].name


def root() -> str:
    return str(Path(store_root()).resolve())


@st.cache_resource(show_spinner=False)
def _store(root: str) -> Store:
    return Store(root)


@st.cache_resource(show_spinner=False)
def _queue(root: str) -> JobQueue:
    return JobQueue(root)


def store() -> Store:
    return _store(root())


def queue() -> JobQueue:
    return _queue(root())


def version() -> int:
    return store().version()


def jobs() -> list[Job]:
    """Every job, newest first (read live: progress changes between reruns)."""
    return queue().list()


def run_jobs(all_jobs: list[Job]) -> dict[str, Job]:
    """The newest training job of each run."""
    out: dict[str, Job] = {}
    for job in all_jobs:
        if job.kind == "run" and job.run_id and job.run_id not in out:
            out[job.run_id] = job
    return out


_RUN_COLUMNS = [
    "run_id",
    "model",
    "data",
    "seed",
    "levels",
    "length",
    "levels_done",
    "status",
    "created",
    "spec",
]


@st.cache_data(show_spinner=False, max_entries=32)
def _runs(root: str, version: int) -> pd.DataFrame:
    records, problems = _store(root).list_runs()
    rows = []
    for rec in records:
        spec = rec.get("spec") or {}
        path = paths.spec(_store(root).run_path(rec["run_id"]))
        rows.append(
            {
                "run_id": rec["run_id"],
                "model": spec.get("model", {}).get("name", ""),
                "data": spec.get("data", {}).get("name", ""),
                "seed": spec.get("seed"),
                "levels": spec.get("prune", {}).get("levels"),
                "length": spec.get("train", {}).get("length", ""),
                "levels_done": rec.get("imp_levels_done", rec.get("levels_done", 0)),
                "status": rec.get("status", ""),
                "created": pd.Timestamp(path.stat().st_mtime, unit="s") if path.exists() else None,
                "spec": spec,
            }
        )
    frame = pd.DataFrame(rows, columns=_RUN_COLUMNS)
    frame.attrs["problems"] = problems
    return frame.sort_values("created", ascending=False, ignore_index=True)


def runs() -> pd.DataFrame:
    """One row per stored run (newest first); `attrs["problems"]` lists unreadable folders."""
    return _runs(root(), version())


@st.cache_data(show_spinner=False, max_entries=1024)
def _table(root: str, version: int, name: str, run_id: str) -> pd.DataFrame:
    if name in TABLES:
        return TABLES[name](_store(root), run_id)
    return analysis_tables.table(name, _store(root), run_id)


@st.cache_data(show_spinner=False, max_entries=4096)
def _level_metrics(root: str, token: Any, run_id: str, branch: str, level: int) -> pd.DataFrame:
    return level_metrics(_store(root), run_id, branch, level)


def _training_metrics(run_id: str, version: int, job: Job) -> pd.DataFrame:
    """The metrics of a run whose job is training: only the level in training is re-read
    each epoch (what `level_token` says)."""
    store = _store(root())
    levels = [(b, lv) for b in store.branches(run_id) for lv in store.levels(run_id, b)]
    return stack_metrics(
        [
            _level_metrics(root(), level_token(version, job, b, lv), run_id, b, lv)
            for b, lv in levels
        ]
    )


def level_token(version: int, job: Job, branch: str, level: int) -> Any:
    """The cache key of one level's metrics while `job` trains its run: the level it is
    training changes each epoch; the others only with the store's version."""
    p = job.progress or {}
    if (p.get("branch"), p.get("level")) == (branch, level):
        return (version, p.get("epoch"))
    return version


def table(name: str, run_ids: list[str], live: dict[str, Job] | None = None) -> pd.DataFrame:
    """Table `name` for several runs, stacked; each run's frame is cached on its own.

    `live` (run id -> its training job) makes the metrics of runs that are training
    re-read each epoch, one level at a time.
    """
    v, live = version(), live or {}
    frames = []
    for r in run_ids:
        job = live.get(r)
        try:
            if name == "metrics" and job is not None and job.status in ACTIVE:
                frames.append(_training_metrics(r, v, job))
            else:
                frames.append(_table(root(), v, name, r))
        except StoreError as e:  # a damaged file: say which, show the other runs
            damaged(r, e)
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=columns(name))
    return pd.concat(frames, ignore_index=True)


DAMAGED = "_damaged"  # (run, message) already warned about in this script run


def begin() -> None:
    """Start a script run: damaged files are warned about again, once."""
    st.session_state[DAMAGED] = set()


def damaged(run_id: str, error: StoreError) -> None:
    """One warning per damaged run and script run, with the command that repairs it."""
    seen = st.session_state.setdefault(DAMAGED, set())
    if (run_id, str(error)) in seen:
        return
    seen.add((run_id, str(error)))
    st.warning(
        f"{error}. Its results are left out; `python -m engine fsck {run_id}` lists the "
        f"damage and `python -m engine run` on its spec recomputes exactly what is damaged.",
        icon=":material/broken_image:",
    )


def analysis_jobs(all_jobs: list[Job], what: str) -> dict[str, Job]:
    """The newest analysis job of kind `what` per run."""
    out: dict[str, Job] = {}
    for job in all_jobs:
        payload = job.payload or {}
        if job.kind == "analysis" and payload.get("what") == what:
            out.setdefault(payload.get("run_id", ""), job)
    return out


def preset_spec(name: str) -> RunSpec:
    """A preset (or the defaults), reading data from this installation's data folder."""
    spec = PRESETS[name][1] if name in PRESETS else RunSpec()
    return spec.replace(data=spec.data.replace(root=data_root()))


def submit_run(spec: RunSpec, then: Sequence[dict] = ()) -> Job:
    """Queue a run; `then` are follow-ups its worker queues once it is trained."""
    return queue().submit("run", spec.to_dict(), owner=auth.owner(), then=then)


def follow_ups(all_jobs: list[Job], what: str) -> set[str]:
    """Runs whose active training job will queue analysis `what` when it is done."""
    return {
        run_id
        for run_id, job in run_jobs(all_jobs).items()
        if job.status in ACTIVE
        and any(t["kind"] == "analysis" and t["payload"].get("what") == what for t in job.then)
    }


def submit_analysis(run_id: str, what: str, **options: Any) -> Job:
    request = {"run_id": run_id, "what": what, **options}
    return queue().submit("analysis", request, owner=auth.owner())
