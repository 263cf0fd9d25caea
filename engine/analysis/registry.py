"""Every analysis as one registered object: what the CLI, the job kind, the tables and the app
need to know about it, in one place.

An analysis is one file in `engine/analysis/kinds/` that calls `register(Analysis(...))`; the
package is imported on the first look-up (`engine.plugins.import_submodules`), so there is no
list to extend. The descriptor is light: it names its options, plans its units and builds its
tables with the standard library and pandas, and its `compute` imports the numerics (torch,
scipy, PyHessian) only when it runs, so the Streamlit process can list, validate and show
analyses without loading a Hessian solver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.analysis.options import Option
from engine.plugins import import_submodules

if TYPE_CHECKING:
    import pandas as pd

    from engine.analysis.context import Context
    from engine.analysis.units import Unit
    from engine.bounds import SolverBounds
    from engine.store import Store

KINDS = "engine.analysis.kinds"
THREE = ("start", "projected_prev", "solution")  # the points of a level (METHOD.md §2)

Planner = Callable[["Store", Mapping[str, Any], dict[str, Any]], tuple[list["Unit"], list[str]]]
Compute = Callable[["Context", "Unit"], dict]
Rows = Callable[[dict], list[dict]]


@dataclass(frozen=True)
class Table:
    """One tidy table built from an analysis's stored records.

    `columns` fixes the frame's columns (None: whatever the rows hold); `keep` filters the
    records the app's table shows; `cli_columns` are the columns the CLI prints, where they
    differ.
    """

    name: str
    rows: Rows
    columns: tuple[str, ...] | None = None
    keep: Callable[[dict], bool] | None = None
    cli_columns: tuple[str, ...] | None = None


def _nan(result: dict) -> float:
    return float("nan")


@dataclass(frozen=True)
class Analysis:
    """One analysis of stored runs.

    - `options`: what a request may set (validated and defaulted by `normalize_request`).
    - `needs`: the points of a level it reads when it has no `points` option; a level
      lacking one is not selected. `default_points`: the `points` option's default.
      `imp_only`: it reads IMP-WR's own levels (no `branches`); `level_problem`: why a
      level cannot be used beyond that (or None); `select`: how a request picks what to
      analyse, if not by branches and levels (`requests.select_levels`).
    - `plan`: the request's units (`engine.analysis.units` has the usual planners);
      `compute`: one unit's result (plain data), importing its numerics when called.
    - `tables`: the tidy tables of its stored results (none: one generic table named after
      it); `summary`: what the CLI prints (default: its first table).
    - `headline`: one number per unit for progress lines; `version`: bump it when a change
      alters stored numbers (it enters every unit's cache key).
    - `first_look`: the options it is queued with once a launched run is trained (None: not
      queued); `trains`: it trains networks, not only measures stored ones (so it is left
      out of the first look, which holds every analysis that trains nothing).
    - `page`/`chart`: the app page that shows it, and whether that page draws its own chart
      (otherwise the page shows its table).
    - `order`: its place in lists (help, first look): cheapest first.
    - `bounds`: what its Hessian solver may be asked at a level (`engine.bounds`: k within
      the dimension, vectors within memory), checked before a request is queued or computed;
      None: no such solver.
    """

    name: str
    help: str
    options: tuple[Option, ...]
    plan: Planner
    compute: Compute
    tables: tuple[Table, ...] = ()
    headline: Callable[[dict], float] = _nan
    version: int = 1
    needs: tuple[str, ...] = THREE
    default_points: tuple[str, ...] = ("solution", "projected_prev")
    imp_only: bool = False
    trains: bool = False
    first_look: Callable[[Any], dict[str, Any]] | None = None
    level_problem: Callable[[Store, str, str, int], str | None] | None = None
    select: Callable[[Store, Analysis, Mapping[str, Any], dict[str, Any]], None] | None = None
    summary: Callable[[Mapping[str, Any], dict[str, pd.DataFrame]], pd.DataFrame] | None = None
    page: str = "geometry"
    chart: bool = False
    order: int = 1000
    bounds: SolverBounds | None = None
    option_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "option_names", tuple(o.name for o in self.options))

    def option(self, name: str) -> Option:
        return next(o for o in self.options if o.name == name)

    @property
    def table_specs(self) -> tuple[Table, ...]:
        """Its tables, or the generic one (every scalar of each unit's result)."""
        return self.tables or (Table(self.name, generic_rows),)


def generic_rows(rec: dict) -> list[dict]:
    """One row per unit: its run, what names it (branch, level, point or path) and every
    number or string of its result, for analyses without a table of their own."""
    plain = (int, float, str, bool)
    scalars = {k: v for k, v in rec["result"].items() if isinstance(v, plain) or v is None}
    return [{"run_id": rec["run_id"], **rec["unit"], **scalars}]


_REGISTRY: dict[str, Analysis] = {}
_found = False


def register(analysis: Analysis) -> Analysis:
    """Add `analysis`; its name, its tables' names and its options must not clash."""
    if analysis.name in _REGISTRY:
        raise ValueError(f"analysis {analysis.name!r} is registered twice")
    taken = {t.name: a.name for a in _REGISTRY.values() for t in a.table_specs}
    for t in analysis.table_specs:
        if t.name in taken:
            raise ValueError(f"table {t.name!r} of {analysis.name} is {taken[t.name]}'s")
    known = {o.name: o for a in _REGISTRY.values() for o in a.options}
    for o in analysis.options:
        if o.name in known and known[o.name] != o:
            raise ValueError(f"option {o.name!r} of {analysis.name} differs from another's")
    _REGISTRY[analysis.name] = analysis
    return analysis


def unregister(name: str) -> None:
    """Drop a registered analysis (tests register throwaway ones)."""
    _REGISTRY.pop(name, None)


def _discover() -> None:
    """Import every module of `KINDS` on the first look-up (again after a failed import, so
    a broken kind file is reported each time rather than leaving the registry short)."""
    global _found
    if not _found:
        import_submodules(KINDS)
        _found = True


def all() -> list[Analysis]:
    """Every registered analysis, in `order`."""
    _discover()
    return sorted(_REGISTRY.values(), key=lambda a: (a.order, a.name))


def names() -> list[str]:
    return [a.name for a in all()]


def get(name: str) -> Analysis:
    """The analysis called `name`; KeyError names the ones there are."""
    _discover()
    if name not in _REGISTRY:
        raise KeyError(f"{name!r} is not an analysis; choose one of: {', '.join(names())}")
    return _REGISTRY[name]


def options() -> dict[str, Option]:
    """Every option of some analysis, by name, in the order the analyses list them."""
    out: dict[str, Option] = {}
    for a in all():
        for o in a.options:
            out.setdefault(o.name, o)
    return out


def users(option: str) -> list[str]:
    """The analyses that take `option`."""
    return [a.name for a in all() if option in a.option_names]


def table_source(table: str) -> tuple[Analysis, Table]:
    """The analysis that fills `table`, and the table's spec."""
    for a in all():
        for t in a.table_specs:
            if t.name == table:
                return a, t
    raise KeyError(f"{table!r} is not an analysis table")


def first_look(spec: Any) -> list[tuple[str, dict[str, Any]]]:
    """The analyses queued once a launched run is trained, with their options, cheapest
    first; see each analysis's `first_look`."""
    return [(a.name, a.first_look(spec)) for a in all() if a.first_look is not None]
