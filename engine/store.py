"""The run store: one folder per run, plus a diskcache index for fast listing.

Layout (all writes atomic)::

    <root>/runs/<run_id>/spec.json
    <root>/runs/<run_id>/<branch>/level_<LL>/mask.pt, metrics.csv, done.json, state.pt,
                                             checkpoints/<tag>.pt
    <root>/runs/<run_id>/imp/rewind.pt          (level 0's weights at the rewind point)
    <root>/runs/<run_id>/analyses/<kind>-<key>.json
    <root>/index/                               (diskcache: run summaries, store version)

`branch` is ``imp`` for the IMP-WR levels or a baseline's name. The folders are the truth;
the index is a cache of them that can always be rebuilt.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache
import torch

from engine import atomic
from engine.config import RunSpec, SpecError

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
        return self.path / "checkpoints"

    def save_mask(self, mask: dict[str, torch.Tensor]) -> None:
        atomic.torch_save(
            {k: v.detach().cpu().bool() for k, v in mask.items()}, self.path / "mask.pt"
        )

    def load_mask(self) -> dict[str, torch.Tensor]:
        return {k: v.float() for k, v in _load(self.path / "mask.pt").items()}

    def has_mask(self) -> bool:
        return (self.path / "mask.pt").is_file()

    def save_checkpoint(self, tag: str, state: dict[str, torch.Tensor], **meta: Any) -> None:
        check_name(tag, "checkpoint tag")
        weights = {k: v.detach().cpu() for k, v in state.items()}
        atomic.torch_save({"model": weights, **meta}, self.ckpt_dir / f"{tag}.pt")

    def load_checkpoint(self, tag: str) -> dict[str, torch.Tensor]:
        return _load(self.ckpt_dir / f"{check_name(tag, 'checkpoint tag')}.pt")["model"]

    def checkpoint_meta(self, tag: str) -> dict[str, Any]:
        return {k: v for k, v in _load(self.ckpt_dir / f"{tag}.pt").items() if k != "model"}

    def has_checkpoint(self, tag: str) -> bool:
        return (self.ckpt_dir / f"{tag}.pt").is_file()

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
        atomic.write_text(self.path / "metrics.csv", buf.getvalue())

    def read_metrics(self) -> list[dict[str, float]]:
        p = self.path / "metrics.csv"
        if not p.is_file():
            return []
        with p.open() as f:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]

    def save_state(self, state: dict[str, Any]) -> None:
        """The resume point: model, optimizer, iteration, metrics so far."""
        atomic.torch_save(state, self.path / "state.pt")

    def load_state(self) -> dict[str, Any] | None:
        p = self.path / "state.pt"
        return _load(p) if p.is_file() else None

    def mark_done(self, summary: dict[str, Any]) -> None:
        atomic.write_json(self.path / "done.json", summary)
        (self.path / "state.pt").unlink(missing_ok=True)

    def summary(self) -> dict[str, Any] | None:
        p = self.path / "done.json"
        return _read_json(p) if p.is_file() else None

    @property
    def done(self) -> bool:
        return (self.path / "done.json").is_file()


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
    except (OSError, json.JSONDecodeError) as e:
        raise StoreError(f"cannot read {path}: {e}") from None


class Store:
    """Runs on disk, addressed by run id; the index makes listing cheap."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._index: diskcache.Cache | None = None

    @property
    def index(self) -> diskcache.Cache:
        if self._index is None:
            self._index = diskcache.Cache(str(self.root / "index"))
        return self._index

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    # --- runs -----------------------------------------------------------------------------
    def run_path(self, run_id: str) -> Path:
        return self.runs_dir / check_name(run_id)

    def has_run(self, run_id: str) -> bool:
        return (self.run_path(run_id) / "spec.json").is_file()

    def create_run(self, spec: RunSpec) -> str:
        """Register a run (idempotent). A stored spec with the same id must be identical."""
        run_id = spec.run_id
        path = self.run_path(run_id) / "spec.json"
        if path.is_file():
            stored = self.load_spec(run_id)
            if stored.identity() != spec.identity():
                raise StoreError(f"{path} holds a different spec; delete the run or rename it")
        else:
            atomic.write_json(path, spec.identity() | {"baselines": spec.baselines.to_dict()})
        self.touch(run_id)
        return run_id

    def load_spec(self, run_id: str) -> RunSpec:
        path = self.run_path(run_id) / "spec.json"
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
        return LevelDir(self.run_path(run_id) / branch / f"level_{level:02d}")

    def branches(self, run_id: str) -> list[str]:
        path = self.run_path(run_id)
        skip = {"analyses", "logs"}
        return sorted(p.name for p in path.iterdir() if p.is_dir() and p.name not in skip)

    def levels(self, run_id: str, branch: str = "imp") -> list[int]:
        base = self.run_path(run_id) / branch
        if not base.is_dir():
            return []
        return sorted(int(p.name[6:]) for p in base.glob("level_[0-9][0-9]"))

    def rewind_path(self, run_id: str) -> Path:
        return self.run_path(run_id) / "imp" / "rewind.pt"

    def delete_run(self, run_id: str) -> None:
        path = self.run_path(run_id)
        if path.is_dir():
            shutil.rmtree(path)
        self.index.pop(("run", run_id), None)
        self.bump_version()

    # --- analyses -------------------------------------------------------------------------
    def analysis_path(self, run_id: str, kind: str, key: str) -> Path:
        check_name(kind, "analysis kind")
        check_name(key, "analysis key")
        return self.run_path(run_id) / "analyses" / f"{kind}-{key}.json"

    def load_analysis(self, run_id: str, kind: str, key: str) -> Any | None:
        p = self.analysis_path(run_id, kind, key)
        return _read_json(p) if p.is_file() else None

    def save_analysis(self, run_id: str, kind: str, key: str, result: Any) -> None:
        atomic.write_json(self.analysis_path(run_id, kind, key), result)
        self.bump_version()

    # --- index ----------------------------------------------------------------------------
    def version(self) -> int:
        """Bumped on every stored change, so readers (the app) know when to reload."""
        return int(self.index.get("version", 0))

    def bump_version(self) -> None:
        self.index.incr("version", default=0)

    def touch(self, run_id: str, **summary: Any) -> None:
        """Merge `summary` into the run's index record and bump the store version."""
        with self.index.transact():
            rec = self.index.get(("run", run_id), {"run_id": run_id})
            rec.update(summary)
            self.index[("run", run_id)] = rec
            self.index.incr("version", default=0)

    def run_record(self, run_id: str) -> dict[str, Any]:
        rec = self.index.get(("run", run_id))
        return rec if rec is not None else self.reindex(run_id)

    def reindex(self, run_id: str) -> dict[str, Any]:
        """Rebuild a run's index record from its folder (the folder is the truth)."""
        spec = self.load_spec(run_id)
        levels_done = [lv for lv in self.levels(run_id) if self.level(run_id, lv).done]
        rec = {"run_id": run_id, "spec": spec.to_dict(), "levels_done": len(levels_done)}
        self.touch(run_id, **rec)
        return self.index[("run", run_id)]

    def list_runs(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Records of valid runs, and one-line problems for folders that are not runs."""
        records, problems = [], []
        for run_id in self.run_ids():
            try:
                records.append(self.run_record(run_id))
            except StoreError as e:
                problems.append(str(e))
        return records, problems
