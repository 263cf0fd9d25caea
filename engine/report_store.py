"""Reports kept in the store: where the report of some runs lives, what it was built from, and
the manifest that lists its files.

The "report" job (`engine.jobs.kinds.report`) builds a report with `engine.figures.report` and
publishes it here; the app's Report page only reads it (no statistics, no PNG or SVG rendering
in the Streamlit process). A report of runs R lives under ``<store>/reports/<hash of R>/<hash
of its inputs>/`` (`engine.paths.reports`), where the inputs are the stored result files of R
(names, sizes and modification times): a report of the same runs built from newer results
replaces the older one, and a reader can tell whether the report it shows is still current.
A report folder appears whole or not at all (it is built beside its final place and renamed
into it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine import paths
from engine.identity import content_hash
from engine.store import Store

MANIFEST = "report.json"
ARCHIVE = "report.zip"
CLAIMS = "claims.csv"
SKIPPED = (".pt", ".tmp", ".log")  # weights, half-written files, logs: not report inputs
UNREAD = ("checkpoints", paths.LOGS)  # folders of a run that no report reads


@dataclass(frozen=True)
class StoredFigure:
    name: str
    title: str
    files: dict[str, str]  # "png", "svg", "csv" -> path relative to the report folder


@dataclass(frozen=True)
class StoredReport:
    """A published report: what it covers, what it was built from, and its files."""

    folder: Path
    runs: list[str]
    inputs: str
    groups: dict[str, list[str]]  # group label -> its run ids (replicates)
    figures: list[StoredFigure]
    sections: str  # Markdown: the controls' tables (instability, barriers, BatchNorm)
    built: float  # when it was published (seconds since the epoch)

    def path(self, relative: str) -> Path:
        return self.folder / relative

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["folder"]
        return d

    @classmethod
    def from_dict(cls, folder: Path, d: dict[str, Any]) -> StoredReport:
        figures = [StoredFigure(**f) for f in d["figures"]]
        fields = {k: d[k] for k in ("runs", "inputs", "groups", "sections", "built")}
        return cls(folder=folder, figures=figures, **fields)


def inputs(store: Store, runs: Sequence[str]) -> str:
    """A fingerprint of everything a report of `runs` reads: each run's stored files (spec,
    metrics, level records, analyses) by name, size and modification time. Checkpoints and
    logs are not read by a report, and their folders are not even listed (thousands of files
    in a long run)."""
    seen = []
    for run_id in runs:
        base = store.run_path(run_id)
        for folder, subfolders, names in os.walk(base):
            subfolders[:] = sorted(d for d in subfolders if d not in UNREAD)
            for name in sorted(n for n in names if not n.endswith(SKIPPED)):
                st = os.stat(os.path.join(folder, name))
                rel = os.path.relpath(os.path.join(folder, name), base)
                seen.append((run_id, rel, st.st_size, st.st_mtime_ns))
    return content_hash(seen)


def runs_folder(store: Store, runs: Sequence[str]) -> Path:
    """Where the reports of exactly these runs (in this order) live."""
    return paths.reports(store.root) / content_hash(list(runs))[:16]


def report_folder(store: Store, runs: Sequence[str], built_from: str) -> Path:
    return runs_folder(store, runs) / built_from[:16]


def read(folder: Path) -> StoredReport | None:
    """The report published in `folder`; None when there is none (or it cannot be read)."""
    try:
        return StoredReport.from_dict(folder, json.loads((folder / MANIFEST).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def latest(store: Store, runs: Sequence[str]) -> StoredReport | None:
    """The newest published report of `runs`, current or not (compare its `inputs` with
    `inputs(store, runs)`); None before the first one is published."""
    base = runs_folder(store, runs)
    folders = [p for p in base.iterdir() if not p.name.startswith(".")] if base.is_dir() else []
    reports = [r for r in map(read, folders) if r is not None]
    return max(reports, key=lambda r: r.built, default=None)
