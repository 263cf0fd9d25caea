"""The Runs page's table: stored runs and queued jobs as rows (pure; no Streamlit here).

A run's row shows its newest training job (status, progress, ETA); an analysis job gets a
row of its own; a run trained outside the queue (the CLI) shows what the store says.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from engine.jobs.queue import Job

COLUMNS = [
    "id",
    "kind",
    "run_id",
    "what",
    "status",
    "progress",
    "where",
    "eta",
    "created",
    "error",
]


def spec_summary(spec: dict[str, Any]) -> str:
    """`lenet_300_100 · mnist5k · 5 levels × 8ep · seed 0 · 5 baselines`."""
    if not spec:
        return ""
    levels = spec.get("prune", {}).get("levels", "?")
    length = spec.get("train", {}).get("length", "?")
    parts = [
        spec.get("model", {}).get("name", "?"),
        spec.get("data", {}).get("name", "?"),
        f"{levels} levels × {length}",
        f"seed {spec.get('seed', '?')}",
    ]
    kinds = spec.get("baselines", {}).get("kinds") or []
    if kinds:
        parts.append(f"{len(kinds)} baselines")
    return " · ".join(parts)


def where(progress: dict[str, Any]) -> str:
    """`imp level 3 · epoch 5/8` from a job's progress."""
    if not progress:
        return ""
    out = progress.get("label") or ""
    if progress.get("epoch") is not None:
        epoch = f"epoch {progress['epoch']}"
        if progress.get("epochs"):
            epoch += f"/{progress['epochs']}"
        out = f"{out} · {epoch}" if out else epoch
    return out


def eta(seconds: Any) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return ""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _fraction(job: Job) -> float:
    if job.status == "done":
        return 1.0
    frac = (job.progress or {}).get("fraction")
    return min(max(float(frac), 0.0), 1.0) if frac is not None else 0.0


def _ts(seconds: float | None) -> pd.Timestamp | None:
    return pd.Timestamp(seconds, unit="s") if seconds else None


def job_row(job: Job, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = job.payload or {}
    active = job.status in ("running", "cancelling")
    what = spec_summary(spec or payload) if job.kind == "run" else str(payload.get("what", ""))
    return {
        "id": job.id,
        "kind": job.kind,
        "run_id": job.run_id or payload.get("run_id", ""),
        "what": what,
        "status": job.status,
        "progress": _fraction(job),
        "where": where(job.progress) if active else "",
        "eta": eta((job.progress or {}).get("eta")) if active else "",
        "created": _ts(job.created),
        "error": job.error or "",
    }


def rows(runs: pd.DataFrame, jobs: list[Job]) -> pd.DataFrame:
    """One row per run (merged with its newest training job) and per analysis job."""
    out = []
    newest: dict[str, Job] = {}
    for job in jobs:  # newest first
        if job.kind == "run" and job.run_id and job.run_id not in newest:
            newest[job.run_id] = job
    stored = set(runs["run_id"]) if len(runs) else set()
    for rec in runs.to_dict("records"):
        job = newest.get(rec["run_id"])
        if job is not None:
            row = job_row(job, rec.get("spec"))
        else:
            levels, done = rec.get("levels"), rec.get("levels_done") or 0
            total = (levels or 0) + 1
            row = {
                "id": "",
                "kind": "run",
                "run_id": rec["run_id"],
                "what": spec_summary(rec.get("spec") or {}),
                "status": rec.get("status") or ("done" if done >= total else "stopped"),
                "progress": min(done / total, 1.0) if total else 0.0,
                "where": "",
                "eta": "",
                "created": rec.get("created"),
                "error": "",
            }
        out.append(row)
    for job in jobs:
        if job.kind == "run" and (job.run_id in stored or newest.get(job.run_id) is not job):
            continue
        out.append(job_row(job))
    return pd.DataFrame(out, columns=COLUMNS)


def filter_sort(
    table: pd.DataFrame, statuses: list[str], text: str, by: str, descending: bool
) -> pd.DataFrame:
    """Rows whose status is in `statuses` (all when empty) and that mention `text`."""
    out = table
    if statuses:
        out = out[out["status"].isin(statuses)]
    if text.strip():
        needle = text.strip().lower()
        hay = out[["id", "run_id", "what", "status", "error"]].astype(str).agg(" ".join, axis=1)
        out = out[hay.str.lower().str.contains(needle, regex=False)]
    return out.sort_values(by, ascending=not descending, na_position="last", kind="stable")
