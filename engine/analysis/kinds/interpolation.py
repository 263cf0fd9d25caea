"""Linear interpolation between two stored points, and the loss and test-error barriers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.analysis.options import BN_RESET, BRANCHES, LEVELS, N, Option, as_list
from engine.analysis.points import Point, exists
from engine.analysis.registry import Analysis, Table, register
from engine.analysis.requests import select_levels
from engine.analysis.tables import PATH_ROW, each_row, ident
from engine.analysis.units import Unit
from engine.config import SpecError
from engine.store import Store

if TYPE_CHECKING:
    from engine.analysis.context import Context

PATHS = Option(
    "paths",
    "Interpolation paths A->B with points as branch:level:which; default: "
    "projected_prev->solution at every level, and consecutive IMP solutions.",
    None,
    result=False,
)
BARRIERS = ("barrier_train_loss", "barrier_test_error")


def select(store: Store, analysis: Analysis, request: Mapping[str, Any], opts: dict) -> None:
    """Explicit paths, or the default paths of the selected branches' levels."""
    run_id = request["run_id"]
    if opts["paths"] is not None:
        if request.get("levels") is not None or request.get("branches") is not None:
            raise SpecError("paths", "give either paths or branches/levels, not both")
        opts.pop("branches"), opts.pop("levels")
        opts["paths"] = [_check_path(store, run_id, p) for p in as_list("paths", opts["paths"])]
        if not opts["paths"]:
            raise SpecError(
                "paths", "name at least one path, e.g. imp:1:projected_prev->imp:1:solution"
            )
        return
    select_levels(store, analysis, request, opts)
    opts["paths"] = _default_paths(opts.pop("levels"))
    opts.pop("branches")


def _check_path(store: Store, run_id: str, text: Any) -> str:
    parts = str(text).split("->")
    if len(parts) != 2:
        raise SpecError(
            "paths",
            f"{text!r} is not a path; write A->B, e.g. imp:1:projected_prev->imp:1:solution",
        )
    try:
        a, b = (Point.parse(p) for p in parts)
    except ValueError as e:
        raise SpecError("paths", str(e)) from None
    for p in (a, b):
        if not exists(store, run_id, p):
            raise SpecError("paths", f"{p} is not stored in {run_id}")
    return f"{a}->{b}"


def _default_paths(levels: dict[str, list[int]]) -> list[str]:
    out = []
    for b, lvs in levels.items():
        for lv in lvs:
            out.append(f"{b}:{lv}:projected_prev->{b}:{lv}:solution")
            if b == "imp":
                out.append(f"imp:{lv - 1}:solution->imp:{lv}:solution")
    return out


def plan(store: Store, request: Mapping[str, Any], opts: dict) -> tuple[list[Unit], list[str]]:
    """One unit per path."""
    units = []
    for path in request["paths"]:
        a, b = (Point.parse(p) for p in path.split("->"))
        units.append(Unit("interpolation", {"path": path}, {"a": a, "b": b}, opts, path))
    return units, []


def compute(ctx: Context, unit: Unit) -> dict:
    from engine.analysis import geometry

    o = unit.options
    a, b = ctx.resolve(unit.points["a"]), ctx.resolve(unit.points["b"])
    alphas = [i / (o["n"] - 1) for i in range(o["n"])]
    bs = ctx.spec.train.batch_size
    rows = geometry.interpolate(ctx.model, a.state, b.state, ctx.data, alphas, o["bn_reset"], bs)
    return {"rows": rows, **geometry.barrier(rows)}


def barrier(rec: dict) -> list[dict]:
    r = rec["result"]
    return [ident(rec, "path") | {k: r[k] for k in BARRIERS}]


register(
    Analysis(
        name="interpolation",
        help="Loss and accuracy along straight lines between two stored points, "
        "and the loss and test-error barriers.",
        options=(BRANCHES, LEVELS, PATHS, N, BN_RESET),
        plan=plan,
        compute=compute,
        tables=(
            Table("interpolation", each_row("path"), ("run_id", "path", "alpha", *PATH_ROW)),
            Table("barrier", barrier, ("run_id", "path", *BARRIERS)),
        ),
        headline=lambda r: r["barrier_train_loss"],
        select=select,
        summary=lambda request, frames: frames["barrier"].drop(columns="run_id"),
        first_look=lambda spec: {},
        chart=True,
        order=80,
    )
)
