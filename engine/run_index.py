"""The run index: one SQLite row per run in ``<store>/index/runs.sqlite3``, a cache of the
run folders that makes listing cheap and knows what only a job can tell (failed, cancelled).

The folders are the truth. A record that is missing (a run folder copied in, an index
deleted), unreadable, or behind its folder (levels done that it does not count) is rebuilt
from the folder by `list_runs`, with one warning on the ``engine`` logger naming the runs and
why; a damaged index file is moved aside and replaced (`engine.database`). A `touch` is one
transaction, so a process killed during it leaves the old record or the new, of any size.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import paths
from engine.database import Database, once_more, record_ok, scalar
from engine.legacy import RETIRED, has_legacy, legacy_runs, retire
from engine.plan import plan

if TYPE_CHECKING:
    from engine.store import Store

log = logging.getLogger("engine")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
"""
# A new index starts its version at the clock (ms), so a replaced index never goes back to a
# version a reader has already cached.
START_VERSION = "INSERT OR IGNORE INTO meta VALUES ('version', {now});"
SHOWN = 5  # runs named in a rebuild warning; the rest are counted


def _decode(raw: str | None, run_id: str) -> dict[str, Any] | None:
    """A stored record, or None when it is missing or unreadable."""
    try:
        rec = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return rec if isinstance(rec, dict) and rec.get("run_id") == run_id else None


class RunIndex:
    """Run records and the store version; see the module docstring."""

    def __init__(self, folder: Path):
        schema = SCHEMA + START_VERSION.format(now=time.time_ns() // 1_000_000)
        salvage = {"runs": record_ok, "meta": lambda row: True}
        self.folder = folder
        self.db = Database(paths.index_db(folder), schema, "run index", salvage)
        if has_legacy(folder):
            self._import_legacy()

    def close(self) -> None:
        self.db.close()

    def _import_legacy(self) -> None:
        """Copy in the records of the diskcache index that older versions kept here, once."""
        with self.db.write() as c:
            if scalar(c, "SELECT value FROM meta WHERE key = 'legacy_imported'") is None:
                records, version = legacy_runs(self.folder)
                for run_id, rec in records.items():
                    row = (run_id, json.dumps(rec, default=str))
                    c.execute("INSERT OR IGNORE INTO runs VALUES (?, ?)", row)
                c.execute("UPDATE meta SET value = max(value, ?) WHERE key = 'version'", (version,))
                c.execute("INSERT INTO meta VALUES ('legacy_imported', ?)", (time.time(),))
                log.warning(
                    f"moved {len(records)} run record(s) from the old diskcache index in "
                    f"{self.folder} into {self.db.path.name}; the old file is now {RETIRED}"
                )
        retire(self.folder)

    def version(self) -> int:
        def read() -> int:
            with self.db.read() as c:
                return int(scalar(c, "SELECT value FROM meta WHERE key = 'version'") or 0)

        return once_more(read)

    def bump(self) -> None:
        with self.db.write() as c:
            c.execute("UPDATE meta SET value = value + 1 WHERE key = 'version'")

    def merge(self, run_id: str, summary: dict[str, Any]) -> None:
        """Merge `summary` into a run's record (an unreadable one starts afresh); bump."""
        with self.db.write() as c:
            raw = scalar(c, "SELECT record FROM runs WHERE run_id = ?", run_id)
            rec = _decode(raw, run_id) or {"run_id": run_id}
            self._put(rec | summary | {"run_id": run_id})

    def _put(self, rec: dict[str, Any]) -> None:
        with self.db.write() as c:
            row = (rec["run_id"], json.dumps(rec, default=str))
            c.execute("INSERT OR REPLACE INTO runs VALUES (?, ?)", row)
            self.bump()

    def forget(self, run_id: str) -> None:
        with self.db.write() as c:
            c.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            self.bump()

    def raw(self) -> dict[str, str]:
        """Every stored record, undecoded, by run id."""
        with self.db.read() as c:
            return dict(c.execute("SELECT run_id, record FROM runs"))

    def raw_record(self, run_id: str) -> str | None:
        with self.db.read() as c:
            return scalar(c, "SELECT record FROM runs WHERE run_id = ?", run_id)

    def replace_if_unchanged(self, rec: dict[str, Any], seen: str | None) -> dict[str, Any]:
        """Store a rebuilt record unless a writer changed the old one (`seen`) meanwhile;
        return what is stored then."""
        run_id = rec["run_id"]
        with self.db.write() as c:
            now = scalar(c, "SELECT record FROM runs WHERE run_id = ?", run_id)
            if now != seen and _decode(now, run_id) is not None:
                return _decode(now, run_id)
            self._put(rec)
        return rec


# --- the folders are the truth -----------------------------------------------------------------
def progress(store: Store, run_id: str) -> dict[str, int]:
    """``<branch>_levels_done`` (the highest finished level + 1) of each branch on disk."""
    out = {}
    for branch in store.branches(run_id):
        done = [lv for lv in store.levels(run_id, branch) if store.level(run_id, lv, branch).done]
        if done:
            out[f"{branch}_levels_done"] = max(done) + 1
    return out


def _counted(rec: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in rec.items() if k.endswith("_levels_done") and k != "levels_done"}


def rebuild(store: Store, run_id: str, old: dict[str, Any] | None) -> dict[str, Any]:
    """A run's record from its folder, keeping what only the old record knew (its status,
    unless the folder shows the run finished or unfinished against it)."""
    spec = store.load_spec(run_id)  # a folder that is not a run raises StoreError here
    done = progress(store, run_id)
    finished = all(done.get(f"{t.branch}_levels_done", 0) > t.level for t in plan(spec))
    kept = {k: v for k, v in (old or {}).items() if k not in _counted(old or {})}
    status = kept.get("status")
    if finished:
        status = "done"
    elif status in (None, "done"):
        status = "stopped"
    return kept | {"run_id": run_id, "spec": spec.to_dict(), "status": status, **done}


def list_runs(store: Store) -> tuple[list[dict[str, Any]], list[str]]:
    """Records of valid runs (rebuilt where missing, unreadable or stale), and one-line
    problems for folders that are not runs."""
    return once_more(lambda: _list_runs(store))


def _list_runs(store: Store) -> tuple[list[dict[str, Any]], list[str]]:
    raw = store.index.raw()
    records, problems, rebuilt = [], [], []
    for run_id in store.run_ids():
        try:
            rec, why = _checked(store, run_id, raw.get(run_id))
        except (RuntimeError, OSError) as e:  # StoreError: not a run, or an unreadable spec
            problems.append(str(e))
            continue
        records.append(rec)
        if why:
            rebuilt.append(f"{run_id} ({why})")
    _warn(store, rebuilt)
    return records, problems


def run_record(store: Store, run_id: str) -> dict[str, Any]:
    """One run's record, rebuilt like `list_runs` does; StoreError if it is not a run."""
    rec, why = once_more(lambda: _checked(store, run_id, store.index.raw_record(run_id)))
    _warn(store, [f"{run_id} ({why})"] if why else [])
    return rec


def _checked(store: Store, run_id: str, seen: str | None) -> tuple[dict[str, Any], str]:
    """A run's usable record, and why it had to be rebuilt ("" when it did not)."""
    rec = _decode(seen, run_id)
    why = _fault(store, run_id, seen, rec)
    if why:
        rec = store.index.replace_if_unchanged(rebuild(store, run_id, rec), seen)
    return rec, why


def _warn(store: Store, rebuilt: list[str]) -> None:
    if rebuilt:
        more = f" and {len(rebuilt) - SHOWN} more" if len(rebuilt) > SHOWN else ""
        log.warning(
            f"rebuilt {len(rebuilt)} run index record(s) from the run folders in "
            f"{store.runs_dir}: {'; '.join(rebuilt[:SHOWN])}{more}"
        )


def _fault(store: Store, run_id: str, seen: str | None, rec: dict[str, Any] | None) -> str:
    """Why a stored record cannot be used as it is ("" when it can)."""
    if seen is None:
        return "no index record"
    if rec is None:
        return "unreadable index record"
    if not isinstance(rec.get("spec"), dict) or not rec["spec"]:
        return "index record without its spec"
    if _counted(rec) != progress(store, run_id):
        return "index record behind its folder"
    return ""
