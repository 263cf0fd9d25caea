"""The run store: one folder per run, plus an SQLite index for fast listing.

The layout is `engine.paths`' (all writes atomic): ``runs/<run_id>/`` holds the spec, a
folder per branch of ``level_<LL>/`` folders (mask, metrics, done.json, checkpoints) and the
analyses; ``index/`` the run index (`engine.run_index`). A branch is ``imp`` for the IMP-WR
levels or a baseline's name. The folders are the truth; the index is a cache of them, rebuilt
from them wherever it is missing, stale or damaged.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine import atomic, integrity, paths
from engine.config import RunSpec, SpecError, content_hash
from engine.run_index import RunIndex, list_runs, run_record

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class StoreError(RuntimeError):
    """A run or file in the store is missing, foreign or corrupt; the message says which."""


def check_name(name: str, what: str = "run id") -> str:
    """Refuse names that could leave the store (``..``, slashes, absolute paths)."""
    if not isinstance(name, str) or not _SAFE_ID.match(name) or ".." in name:
        raise StoreError(
            f"{what} {name!r} is not allowed: use letters, digits, '.', '_' and '-' only"
        )
    return name


@dataclass(frozen=True)
class LevelDir:
    """One trained network (a level of a branch): its mask, metrics and checkpoints."""

    path: Path

    @property
    def ckpt_dir(self) -> Path:
        return paths.checkpoints(self.path)

    def save_mask(self, mask: dict[str, torch.Tensor]) -> None:
        atomic.torch_save(
            {k: v.detach().cpu().bool() for k, v in mask.items()}, paths.mask(self.path)
        )

    def load_mask(self) -> dict[str, torch.Tensor]:
        return {k: v.float() for k, v in _load(self.checked(paths.mask(self.path))).items()}

    def has_mask(self) -> bool:
        return paths.mask(self.path).is_file()

    def save_checkpoint(self, tag: str, state: dict[str, torch.Tensor], **meta: Any) -> None:
        check_name(tag, "checkpoint tag")
        weights = {k: v.detach().cpu() for k, v in state.items()}
        atomic.torch_save({"model": weights, **meta}, paths.checkpoint(self.path, tag))

    def load_checkpoint(self, tag: str) -> dict[str, torch.Tensor]:
        path = paths.checkpoint(self.path, check_name(tag, "checkpoint tag"))
        return _load(self.checked(path))["model"]

    def checkpoint_meta(self, tag: str) -> dict[str, Any]:
        path = paths.checkpoint(self.path, check_name(tag, "checkpoint tag"))
        return {k: v for k, v in _load(self.checked(path)).items() if k != "model"}

    def has_checkpoint(self, tag: str) -> bool:
        return paths.checkpoint(self.path, tag).is_file()

    def checkpoint_tags(self) -> list[str]:
        if not self.ckpt_dir.is_dir():
            return []
        return sorted(p.stem for p in self.ckpt_dir.glob("*.pt"))

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        atomic.write_text(paths.metrics(self.path), buf.getvalue())

    def read_metrics(self) -> list[dict[str, float]]:
        """Per-epoch rows; [] before the first epoch ends. A damaged file is a StoreError."""
        p = self.checked(paths.metrics(self.path))
        if not p.is_file():
            return []
        try:
            with p.open() as f:
                return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
        except (OSError, UnicodeDecodeError, TypeError, ValueError) as e:  # cut short or garbled
            raise StoreError(f"cannot read {p}: {e}") from None

    def save_state(self, state: dict[str, Any]) -> None:
        """The resume point: model, optimizer, iteration, metrics so far."""
        atomic.torch_save(state, paths.state(self.path))

    def load_state(self) -> dict[str, Any] | None:
        p = paths.state(self.path)
        return _load(p) if p.is_file() else None

    def mark_done(self, summary: dict[str, Any]) -> None:
        """Finish the level: done.json holds `summary` and vouches for the level's files."""
        files = integrity.vouch(self.path, integrity.level_files(self.path))
        atomic.write_json(paths.done(self.path), summary | {integrity.FILES: files})
        paths.state(self.path).unlink(missing_ok=True)

    def done_record(self) -> dict[str, Any] | None:
        """done.json as stored (None while the level is unfinished)."""
        p = paths.done(self.path)
        if not p.is_file():
            return None
        rec = _read_json(p)
        if not isinstance(rec, dict):
            raise StoreError(f"cannot read {p}: not a table of values")
        return rec

    def summary(self) -> dict[str, Any] | None:
        rec = self.done_record()
        return None if rec is None else {k: v for k, v in rec.items() if k != integrity.FILES}

    def files(self) -> dict[str, str] | None:
        """The sha256 done.json vouches for per file; None when unfinished or unverified."""
        rec = self.done_record()
        return None if rec is None else rec.get(integrity.FILES)

    def checked(self, path: Path) -> Path:
        """`path`, once its bytes are those done.json vouches for (else a StoreError)."""
        problem = integrity.file_problem(self.path, path, self.files())
        if problem is not None:
            raise StoreError(f"{problem}; {REPAIR}")
        return path

    @property
    def done(self) -> bool:
        return paths.done(self.path).is_file()


REPAIR = "running the run again (`python -m engine run` or submit) retrains the level"


def _load(path: Path) -> Any:
    if not path.is_file():
        raise StoreError(f"missing file {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise StoreError(f"cannot read {path}: {e}") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StoreError(f"cannot read {path}: {e}") from None


def _sealed(record: Any) -> dict[str, Any]:
    """An analysis record with the sha256 of its own content, as it will read back."""
    plain = json.loads(json.dumps(record, default=str))
    return plain | {"sha256": content_hash(plain)}


def unsealed(path: Path) -> tuple[Any, str | None]:
    """An analysis record read back, and why it is not sound (None: sound or unverified)."""
    try:
        rec = _read_json(path)
    except StoreError as e:
        return None, str(e)
    if not isinstance(rec, dict):
        return None, f"damaged {path}: not a table of values"
    expected = rec.pop("sha256", None)
    if expected is not None and content_hash(rec) != expected:
        return None, f"damaged {path}: its content does not match the sha256 stored in it"
    return rec, None


class Store:
    """Runs on disk, addressed by run id; the index makes listing cheap."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.runs_dir = paths.runs(self.root)
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(
                f"store {self.root} is a file; name a folder (--store or IMP_LAB_STORE)"
            )
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot use {self.root} as the store: {e.strerror or e}") from None
        self._index: RunIndex | None = None

    @property
    def index(self) -> RunIndex:
        if self._index is None:
            self._index = RunIndex(paths.index(self.root))
        return self._index

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    # --- runs -----------------------------------------------------------------------------
    def run_path(self, run_id: str) -> Path:
        return paths.run(self.root, check_name(run_id))

    def has_run(self, run_id: str) -> bool:
        return paths.spec(self.run_path(run_id)).is_file()

    def create_run(self, spec: RunSpec) -> str:
        """Register a run (idempotent). A stored spec with the same id must be identical."""
        run_id = spec.run_id
        path = paths.spec(self.run_path(run_id))
        if path.is_file():
            stored = self.load_spec(run_id)
            if stored.identity() != spec.identity():
                raise StoreError(f"{path} holds a different spec; delete the run or rename it")
        else:
            atomic.write_json(path, spec.identity() | {"baselines": spec.baselines.to_dict()})
        self.touch(run_id, spec=spec.to_dict())
        return run_id

    def load_spec(self, run_id: str) -> RunSpec:
        path = paths.spec(self.run_path(run_id))
        if not path.is_file():
            if self.run_path(run_id).is_dir():
                raise StoreError(f"{self.run_path(run_id)} is not an IMP Lab run (no spec.json)")
            raise StoreError(f"no run {run_id!r} in {self.runs_dir}")
        try:
            return RunSpec.from_dict(_read_json(path))
        except SpecError as e:
            raise StoreError(f"{path} is not a valid run spec: {e}") from None

    def run_ids(self) -> list[str]:
        return sorted(
            p.name for p in self.runs_dir.iterdir() if p.is_dir() and _SAFE_ID.match(p.name)
        )

    def level(self, run_id: str, level: int, branch: str = "imp") -> LevelDir:
        check_name(branch, "branch")
        return LevelDir(paths.level(self.run_path(run_id), branch, level))

    def branches(self, run_id: str) -> list[str]:
        path = self.run_path(run_id)
        skip = paths.NOT_BRANCHES
        return sorted(p.name for p in path.iterdir() if p.is_dir() and p.name not in skip)

    def levels(self, run_id: str, branch: str = "imp") -> list[int]:
        base = paths.branch(self.run_path(run_id), branch)
        if not base.is_dir():
            return []
        return sorted(paths.level_number(p) for p in base.glob(paths.LEVEL_GLOB))

    def rewind_path(self, run_id: str) -> Path:
        return paths.rewind(self.run_path(run_id))

    def load_rewind(self, run_id: str) -> dict[str, torch.Tensor]:
        """Level 0's weights at the rewind point, checked against level 0's done.json."""
        return _load(self.level(run_id, 0).checked(self.rewind_path(run_id)))

    def delete_run(self, run_id: str) -> bool:
        """Take the run out of the store: its folder is renamed out of ``runs/`` into the
        trash (atomic: a crash leaves the whole run or none of it), then its index row goes.
        Returns whether it had a folder; `empty_trash` removes the files for good."""
        path = self.run_path(run_id)
        files = path.is_dir()
        if files:
            trash = paths.trash(self.root)
            trash.mkdir(exist_ok=True)
            path.rename(trash / f"{run_id}.{time.time_ns()}")
        self.index.forget(run_id)
        return files

    def empty_trash(self) -> None:
        """Remove what deleted runs left in the trash (an interrupted deletion's too): slow
        for a large run, so done outside the queue's lock."""
        trash = paths.trash(self.root)
        for old in trash.iterdir() if trash.is_dir() else []:
            shutil.rmtree(old, ignore_errors=True)

    # --- analyses -------------------------------------------------------------------------
    def analysis_path(self, run_id: str, kind: str, key: str) -> Path:
        check_name(kind, "analysis kind")
        check_name(key, "analysis key")
        return paths.analysis(self.run_path(run_id), kind, key)

    def load_analysis(self, run_id: str, kind: str, key: str) -> Any | None:
        """The stored result, or None when absent or damaged (so it is computed again)."""
        p = self.analysis_path(run_id, kind, key)
        return unsealed(p)[0] if p.is_file() else None

    def save_analysis(self, run_id: str, kind: str, key: str, result: Any) -> None:
        atomic.write_json(self.analysis_path(run_id, kind, key), _sealed(result))
        self.bump_version()

    # --- index (engine.run_index) --------------------------------------------------------
    def version(self) -> int:
        """Bumped on every stored change, so readers (the app) know when to reload."""
        return self.index.version()

    def bump_version(self) -> None:
        self.index.bump()

    def touch(self, run_id: str, **summary: Any) -> None:
        """Merge `summary` into the run's index record and bump the store version."""
        self.index.merge(run_id, summary)

    def run_record(self, run_id: str) -> dict[str, Any]:
        """A run's index record, rebuilt from its folder if missing, stale or unreadable."""
        return run_record(self, run_id)

    def list_runs(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Records of valid runs (any missing, stale or unreadable one rebuilt from its
        folder, with a warning), and one-line problems for folders that are not runs."""
        return list_runs(self)
