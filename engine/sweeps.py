"""Sweeps: a grid of spec fields × seeds expanded into runs, queued, and grouped for plots.

A grid file (TOML or JSON, parsed as data, never executed)::

    name = "lr"                    # optional; default: the file's name
    base = "demo"                  # a preset, a spec file (.toml/.json, relative to this
                                   # file), or a [base] table holding a spec
    seeds = [0, 1, 2]
    [set]                          # optional: fields fixed in every run
    "train.length" = "2ep"
    [grid]                         # each field's values; the runs are the cartesian product
    "train.lr" = [0.0012, 0.0006]
    "prune.rate" = [0.2, 0.4]

Every run is validated before anything is queued (one bad cell: an error naming it, nothing
queued). The sweep is recorded in ``<store>/sweeps/<sweep_id>.json``: its grid and members
(run id, job id, seed, group). Runs that differ only in the seed form one group, which the
dashboard overlays as a mean with a band.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from engine import atomic, paths
from engine.config import RunSpec, SpecError, content_hash
from engine.jobs.queue import JobQueue
from engine.presets import PRESETS, preset
from engine.results import metrics_table, summary_table
from engine.settings import data_root
from engine.spec_files import load_spec_file
from engine.spec_text import SECTIONS
from engine.store import Store, StoreError, check_name

_FIELD = re.compile(rf"^({'|'.join(SECTIONS)})\.[A-Za-z_]\w*$")
_TOP = ("name", "base", "seeds", "set", "grid")


@dataclass(frozen=True)
class Grid:
    """A sweep as data: the base spec (a full spec dict), seeds, fixed fields and axes."""

    name: str
    base: dict[str, Any]
    seeds: tuple[int, ...] = (0,)
    fixed: dict[str, Any] = field(default_factory=dict)
    axes: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def with_overrides(
        self, fixed: dict[str, Any] | None = None, seeds: tuple[int, ...] | None = None
    ) -> Grid:
        """The same grid with more fixed fields (command-line flags) or other seeds."""
        for key in fixed or {}:
            _check_field(key, "set")
        return replace(
            self, fixed={**self.fixed, **(fixed or {})}, seeds=seeds or self.seeds
        )._checked()

    def _checked(self) -> Grid:
        check_name(self.name, "sweep name")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise SpecError("seeds", f"{list(self.seeds)!r}: give distinct seeds, e.g. [0, 1, 2]")
        for s in self.seeds:
            if isinstance(s, bool) or not isinstance(s, int):
                raise SpecError("seeds", f"{s!r} is not a whole number")
        clash = [key for key, _ in self.axes if key in self.fixed]
        if clash:
            raise SpecError(f"grid.{clash[0]}", "is also fixed in [set] or by a flag; keep one")
        return self


def _check_field(key: str, table: str) -> None:
    if key == "seed":
        raise SpecError(f"{table}.seed", "seeds are listed in `seeds = [...]`, not here")
    if not _FIELD.match(key):
        raise SpecError(
            f"{table}.{key}",
            f"not a spec field; write section.field with a section of {', '.join(SECTIONS)}, "
            "e.g. train.lr",
        )


def grid_from_dict(data: dict[str, Any], name: str, where: Path | None = None) -> Grid:
    """Validate a grid file's table (see the module docstring); `where`: its folder."""
    if not isinstance(data, dict):
        raise SpecError("grid", "expected a table with base, seeds, [set] and [grid]")
    unknown = sorted(set(data) - set(_TOP))
    if unknown:
        raise SpecError(unknown[0], f"unknown key; a grid file has: {', '.join(_TOP)}")
    base = _base_spec(data.get("base", "demo"), where)
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list):
        raise SpecError("seeds", f"{seeds!r}: write a list, e.g. seeds = [0, 1, 2]")
    fixed, grid = data.get("set", {}), data.get("grid", {})
    for table, value in (("set", fixed), ("grid", grid)):
        if not isinstance(value, dict):
            raise SpecError(table, f"expected a table of dotted fields, got {value!r}")
        for key in value:
            _check_field(key, table)
    axes = []
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SpecError(f"grid.{key}", f"{values!r}: give a non-empty list of values")
        axes.append((key, tuple(values)))
    name = str(data.get("name", name))
    return Grid(name, base, tuple(seeds), dict(fixed), tuple(axes))._checked()


def _base_spec(base: Any, where: Path | None) -> dict[str, Any]:
    if isinstance(base, dict):
        try:
            return RunSpec.from_dict(base).to_dict()
        except SpecError as e:
            raise SpecError(f"base.{e.field_path}", _message(e)) from None
    if not isinstance(base, str):
        raise SpecError("base", f"{base!r}: name a preset, a spec file, or write a [base] table")
    if base in PRESETS:
        spec = preset(base).to_dict()
        spec["data"]["root"] = data_root()  # as `engine run --preset` does
        return spec
    if base.endswith((".toml", ".json")):
        return load_spec_file((where or Path()) / base).to_dict()
    raise SpecError("base", f"{base!r} is neither a preset ({', '.join(PRESETS)}) nor a spec file")


def load_grid(path: str | Path, base: str | None = None) -> Grid:
    """Parse a grid file (.toml or .json) as data; `base` (a preset or spec file) replaces
    the file's own base."""
    p = Path(path)
    if not p.is_file():
        raise SpecError("grid", f"no such file {str(p)!r}")
    try:
        if p.suffix == ".toml":
            data = tomllib.loads(p.read_text())
        elif p.suffix == ".json":
            data = json.loads(p.read_text())
        else:
            raise SpecError("grid", f"{p.name}: use a .toml or .json file")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise SpecError("grid", f"{p.name} is not valid {p.suffix[1:].upper()}: {e}") from None
    if base is not None and isinstance(data, dict):
        data["base"] = base
    return grid_from_dict(data, p.stem, p.parent)


# --- expansion ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: its group (the grid values), seed and validated spec."""

    group: str
    values: dict[str, Any]
    seed: int
    spec: RunSpec


def _message(e: SpecError) -> str:
    return str(e)[len(e.field_path) + 2 :]


def _set(spec: dict[str, Any], key: str, value: Any) -> None:
    section, name = key.split(".")
    spec[section][name] = value


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)


def group_label(values: dict[str, Any]) -> str:
    """A group's name from its grid values, e.g. ``train.lr=0.1, prune.rate=0.2``."""
    return ", ".join(f"{k}={_shown(v)}" for k, v in values.items()) or "all"


def expand_grid(grid: Grid) -> list[Cell]:
    """Every (grid cell, seed) as a validated spec, seed by seed; raises on the first bad one.

    Two cells that would compute the same run (they differ only in fields that do not change
    results, such as the data folder) are refused: each run belongs to one group.
    """
    keys = [key for key, _ in grid.axes]
    combos = list(itertools.product(*(values for _, values in grid.axes)))
    cells: list[Cell] = []
    seen: dict[str, str] = {}
    for seed in grid.seeds:
        for combo in combos:
            spec = json.loads(json.dumps(grid.base))
            for key, value in [*grid.fixed.items(), *zip(keys, combo, strict=True)]:
                _set(spec, key, value)
            spec["seed"] = seed
            raw = dict(zip(keys, combo, strict=True))
            try:
                run = RunSpec.from_dict(spec)
            except SpecError as e:
                cell = f"grid cell {group_label(raw)}, seed {seed}"
                raise SpecError(e.field_path, f"{_message(e)} (in {cell})") from None
            values = {k: _field_value(run, k) for k in keys}  # as validated: 1 → 1.0
            label = group_label(values)
            where = f"{label}, seed {seed}"
            if run.run_id in seen:
                raise SpecError(
                    "grid",
                    f"cells {seen[run.run_id]} and {where} compute the same run {run.run_id}: "
                    "vary fields that change results",
                )
            seen[run.run_id] = where
            cells.append(Cell(label, values, seed, run))
    return cells


def _field_value(spec: RunSpec, key: str) -> Any:
    section, name = key.split(".")
    return getattr(spec, section).to_dict()[name]


# --- submitting and the record --------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    run_id: str
    job_id: str
    seed: int
    group: str
    values: dict[str, Any]


@dataclass(frozen=True)
class Sweep:
    """A submitted sweep, as stored in ``<store>/sweeps/<id>.json``."""

    id: str
    name: str
    created: float
    grid: dict[str, Any]  # base, seeds, fixed, axes: what was expanded
    members: tuple[Member, ...]

    def groups(self) -> dict[str, list[str]]:
        """Group label → run ids (in seed order), groups in grid order."""
        out: dict[str, list[str]] = {}
        for m in sorted(self.members, key=lambda m: m.seed):
            out.setdefault(m.group, []).append(m.run_id)
        order = {m.group: i for i, m in enumerate(self.members)}
        return dict(sorted(out.items(), key=lambda kv: order[kv[0]]))

    @property
    def job_ids(self) -> list[str]:
        return [m.job_id for m in self.members]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sweep:
        members = tuple(Member(**m) for m in data["members"])
        return cls(data["id"], data["name"], data["created"], data["grid"], members)


def sweep_path(store: Store, sweep_id: str) -> Path:
    return paths.sweep(store.root, check_name(sweep_id, "sweep id"))


def submit_sweep(queue: JobQueue, grid: Grid, owner: str = "") -> Sweep:
    """Validate every run, queue them as "run" jobs (whichever backend runs the queue), and
    record the sweep. Submitting the same grid again returns the same sweep and jobs."""
    cells = expand_grid(grid)
    grid_data = {
        "base": grid.base,
        "seeds": list(grid.seeds),
        "fixed": grid.fixed,
        "axes": [[k, list(v)] for k, v in grid.axes],
    }
    what = [[c.group, c.seed, c.spec.identity(), c.spec.baselines.to_dict()] for c in cells]
    sweep_id = f"{grid.name}-{content_hash(what)[:8]}"
    jobs = [queue.submit("run", c.spec.to_dict(), owner=owner) for c in cells]
    members = tuple(
        Member(c.spec.run_id, j.id, c.seed, c.group, c.values)
        for c, j in zip(cells, jobs, strict=True)
    )
    path = sweep_path(queue.store, sweep_id)
    created = load_sweep(queue.store, sweep_id).created if path.is_file() else time.time()
    sweep = Sweep(sweep_id, grid.name, created, grid_data, members)
    atomic.write_json(path, sweep.to_dict())
    queue.store.bump_version()
    return sweep


def load_sweep(store: Store, sweep_id: str) -> Sweep:
    path = sweep_path(store, sweep_id)
    if not path.is_file():
        raise StoreError(f"no sweep {sweep_id!r} in {path.parent}")
    try:
        return Sweep.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise StoreError(f"cannot read {path}: {e}") from None


def list_sweeps(store: Store) -> tuple[list[Sweep], list[str]]:
    """Stored sweeps, newest first, and one-line problems for files that are not sweeps."""
    folder = paths.sweeps(store.root)
    sweeps, problems = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            sweeps.append(load_sweep(store, path.stem))
        except StoreError as e:
            problems.append(str(e))
    return sorted(sweeps, key=lambda s: s.created, reverse=True), problems


def sweep_groups(store: Store, sweep_id: str) -> dict[str, list[str]]:
    """Group label → the run ids of its seeds: the runs to overlay as one mean and band."""
    return load_sweep(store, sweep_id).groups()


# --- tables for the dashboard ---------------------------------------------------------------


def sweep_table(store: Store, sweep_id: str, kind: str = "summary") -> pd.DataFrame:
    """Per-run rows of the members' stored results ("summary": one per finished level,
    "metrics": one per epoch), with `group` and `seed` columns; unstarted runs add none."""
    tables = {"summary": summary_table, "metrics": metrics_table}
    if kind not in tables:
        raise SpecError("kind", f"{kind!r}: choose summary or metrics")
    frames = []
    for m in load_sweep(store, sweep_id).members:
        if store.has_run(m.run_id):
            frames.append(tables[kind](store, m.run_id).assign(group=m.group, seed=m.seed))
    if not frames:
        return pd.DataFrame(columns=["group", "seed"])
    return pd.concat([f for f in frames if not f.empty] or frames, ignore_index=True)
