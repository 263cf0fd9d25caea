"""The "report" job: the reproduction report of some runs (`engine.figures.report`: every
figure as PNG, SVG and CSV, each claim with its numbers and verdict, `report.md`), built in a
worker and published in the store (`engine.report_store`) for the Report page to show.

Its payload is ``{"runs": [run ids]}``; at submit it also records the fingerprint of the runs'
stored results, so asking again after new results land queues a new build, while asking again
for the same results returns the job (and the report) already there.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

from engine import atomic, report_store
from engine.config import SpecError
from engine.jobs.records import Job, JobKind, Prepared, register_kind
from engine.store import Store

FIELDS = ("runs", "inputs")  # "inputs" is recorded at submit; a caller gives only "runs"


def _prepare(store: Store, payload: dict[str, Any]) -> Prepared:
    unknown = sorted(set(payload) - set(FIELDS))
    if unknown:
        raise SpecError(unknown[0], f"not a report setting; give only: {FIELDS[0]}")
    runs = payload.get("runs")
    if isinstance(runs, str) or not isinstance(runs, list | tuple):
        raise SpecError("runs", f"{runs!r} is not a list of run ids; name the runs to report on")
    runs = list(dict.fromkeys(str(r) for r in runs))
    if not runs:
        raise SpecError("runs", "name at least one run to report on")
    missing = [r for r in runs if not store.has_run(r)]
    if missing:
        raise SpecError("runs", f"not in {store.root}: {', '.join(missing)} (see `ls`)")
    request = {"runs": runs, "inputs": report_store.inputs(store, runs)}
    return Prepared(request, request)


def _is_stored(store: Store, job: Job) -> bool:
    runs, built_from = job.payload["runs"], job.payload["inputs"]
    return report_store.read(report_store.report_folder(store, runs, built_from)) is not None


def _zip(folder: Path) -> None:
    """Every file of the report in one archive beside them (what the page offers)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    target = folder / report_store.ARCHIVE
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for p in files:
            z.write(p, p.relative_to(folder))


def build(store: Store, runs: list[str], built_from: str, out: Path) -> report_store.StoredReport:
    """Write the report of `runs` into the empty folder `out`, its manifest last."""
    from engine.figures.export import to_csv  # Altair and vl-convert: only in the worker
    from engine.figures.report import build_report

    report = build_report(store, runs, out)
    atomic.write_text(out / report_store.CLAIMS, to_csv(report.claims_frame()))
    _zip(out)
    figures = [
        report_store.StoredFigure(
            f.name, f.title, {k: str(p.relative_to(out)) for k, p in f.files.items()}
        )
        for f in report.figures
    ]
    sections = "\n".join(report.sections)
    stored = report_store.StoredReport(
        out, runs, built_from, report.groups, figures, sections, time.time()
    )
    atomic.write_json(out / report_store.MANIFEST, stored.to_dict())
    return stored


def publish(store: Store, runs: list[str], built_from: str) -> report_store.StoredReport:
    """Build beside the final folder, rename it into place, then drop the runs' older
    reports: a reader sees the previous report or the new one, never a part of one."""
    final = report_store.report_folder(store, runs, built_from)
    tmp = atomic.temp_dir(final.parent, final.name)  # a killed build's is swept as stray
    try:
        stored = build(store, runs, built_from, tmp)
        if final.exists():  # the same inputs built again (its manifest was unreadable)
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in final.parent.iterdir():
        if old != final and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return dataclasses.replace(stored, folder=final)


def _execute(job: Job, store: Store, device: Any, reporter: Any) -> dict[str, Any]:
    runs = job.payload["runs"]
    reporter.log(f"report of {len(runs)} run(s): {', '.join(runs)}")
    published = publish(store, runs, job.payload["inputs"])
    store.bump_version()  # pages reading the store redraw
    folder = published.folder.relative_to(store.root)
    reporter.log(f"{len(published.figures)} figures in {folder}")
    return {"folder": str(folder), "figures": len(published.figures)}


register_kind(JobKind("report", _prepare, _execute, _is_stored))
