"""Checking a store's files against what vouches for them, and repairing a run before it
trains again.

`check` is `python -m engine fsck`: every finished level's files against its done.json
(`engine.integrity`), every analysis result against the sha256 stored in it, and the temporary
files killed writes left behind. `repair_run` runs at the start of every training of a run: a
finished level with a missing or damaged file loses its done.json and the damaged files, so
the runner trains exactly that level again (its sound mask is kept; a damaged one is derived
again, as it was the first time); an unreadable resume point is dropped, so its level restarts.
Damaged analysis results need no repair: `Store.load_analysis` reads them as absent, so the
next request computes them again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine import atomic, integrity, paths
from engine.store import LevelDir, Store, StoreError, unsealed

DAMAGED, UNVERIFIED, STRAY = "damaged", "unverified", "stray"


@dataclass(frozen=True)
class Finding:
    """One line of `fsck`: `kind` is damaged (exit 1), unverified or stray (notes)."""

    kind: str
    text: str

    def __str__(self) -> str:  # a damaged file's text already starts with what is wrong
        return self.text if self.kind == DAMAGED else f"{self.kind}: {self.text}"


def _levels(store: Store, run_id: str) -> list[tuple[str, int, LevelDir]]:
    return [
        (branch, level, store.level(run_id, level, branch))
        for branch in store.branches(run_id)
        for level in store.levels(run_id, branch)
    ]


def _bad_files(lv: LevelDir, files: dict[str, str]) -> list[Path]:
    vouched = (Path(os.path.normpath(lv.path / rel)) for rel in sorted(files))
    return [p for p in vouched if integrity.file_problem(lv.path, p, files) is not None]


def level_findings(lv: LevelDir) -> tuple[list[Finding], bool]:
    """The level's problems, and whether it is finished but unverified (an older done.json)."""
    try:
        rec = lv.done_record()
    except StoreError as e:
        return [Finding(DAMAGED, str(e))], False
    if rec is None:
        return [], False
    files = rec.get(integrity.FILES)
    if files is None:  # older than hashes: the least a finished level must have
        needed = (paths.mask(lv.path), paths.metrics(lv.path), paths.checkpoint(lv.path, "final"))
        return [Finding(DAMAGED, f"missing {p}") for p in needed if not p.is_file()], True
    return [Finding(DAMAGED, line) for line in integrity.problems(lv.path, files)], False


def run_findings(store: Store, run_id: str) -> list[Finding]:
    """Every problem of one run: spec, levels, analysis results, leftover temporary files."""
    try:
        store.load_spec(run_id)
    except StoreError as e:
        return [Finding(DAMAGED, str(e))]
    out: list[Finding] = []
    unverified = 0
    for _, _, lv in _levels(store, run_id):
        found, old = level_findings(lv)
        out += found
        unverified += old
    if unverified:
        out.append(
            Finding(
                UNVERIFIED,
                f"run {run_id}: {unverified} finished level(s) have a done.json without file "
                "hashes (written by an older version); their files were only checked to exist",
            )
        )
    for path in sorted(paths.analyses(store.run_path(run_id)).glob("*.json")):
        problem = unsealed(path)[1]
        if problem is not None:
            out.append(Finding(DAMAGED, f"{problem}; the next request for it computes it again"))
    return out


def stray_findings(root: Path) -> list[Finding]:
    return [
        Finding(STRAY, f"{p} (left by a killed write; removed when a worker starts)")
        for p in atomic.stray_temp_files(root)
    ]


def check(store: Store, run_id: str | None = None) -> tuple[list[Finding], int]:
    """The findings for one run (or every run and the whole store), and how many runs."""
    if run_id is not None:
        store.load_spec(run_id)  # an unknown run is an error, not a finding
        return run_findings(store, run_id) + stray_findings(store.run_path(run_id)), 1
    run_ids = store.run_ids()
    found = [f for r in run_ids for f in run_findings(store, r)]
    return found + stray_findings(store.root), len(run_ids)


def _remove(*files: Path) -> None:
    for p in files:
        p.unlink(missing_ok=True)


def repair_run(store: Store, run_id: str) -> list[str]:
    """Make every damaged level of `run_id` unfinished again; one line per repair."""
    notes = []
    for branch, level, lv in _levels(store, run_id):
        name = f"{branch} level {level}"
        done, state = paths.done(lv.path), paths.state(lv.path)
        try:
            rec = lv.done_record()
        except StoreError as e:  # nothing vouches for the mask any more: derive it again
            _remove(done, state, paths.mask(lv.path))
            notes.append(f"{e}; training {name} again")
            continue
        if rec is None:
            if state.is_file():
                try:
                    lv.load_state()
                except StoreError as e:
                    _remove(state)
                    notes.append(f"{e}; {name} restarts from its start")
            continue
        bad = _bad_files(lv, rec.get(integrity.FILES) or {})
        if bad:
            _remove(done, state, *bad)
            notes.append(f"damaged or missing {', '.join(map(str, bad))}; training {name} again")
    return notes
