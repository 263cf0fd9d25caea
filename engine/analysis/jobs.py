"""Every analysis as a cached job: validate a request, plan its units, compute what is missing.

A request is plain data, ``{"run_id", "what", ...options}``. `normalize_request` (in
`engine.analysis.requests`, re-exported here) checks it against the store and fills every
default, so two requests for the same computation are the same dict and the job queue, which
keys jobs by its hash, runs it once. `execute` splits a request into units (one level's point
for the Hessian, landscape and pruned-start analyses; one level for distances, the projected
trajectory, the loss-matched control and instability; one path for interpolation). Each
unit is stored under the content hash of its inputs: the run, the bytes of every checkpoint
and mask it reads, the options that change its numbers and its kind's `version`. A repeated
request recomputes nothing; an interrupted one resumes at the first missing unit.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from engine import masks as M
from engine.analysis import geometry, instability, landscape, loss_match
from engine.analysis.context import Context
from engine.analysis.hessian import hutchinson_trace, spectral_density
from engine.analysis.options import ANALYSES, OPTIONS, options_for  # noqa: F401 (re-exported)
from engine.analysis.points import (
    Point,
    fingerprint,
    previous_level,
    trajectory_points,
)
from engine.analysis.requests import normalize_request
from engine.analysis.spectra import plain, spectrum_result
from engine.config import content_hash
from engine.store import Store
from engine.train import Cancelled, NullReporter, Reporter

# Bump a kind's version when a change alters its stored numbers, so old results are not
# reused. spectrum/density 2: full reorthogonalization (partial gave ghost eigenvalues).
# +1 for every kind measured at a point's weights: BatchNorm recalibrated at projected points
# (`bn_recalibrate`), recorded in each result; spectra also record their point's loss.
# +1 for spectrum, density, trace: block Lanczos, block SLQ where products batch, Hutch++.
VERSIONS = {
    "spectrum": 4,
    "density": 4,
    "trace": 3,
    "pruned_start": 2,
    "trajectory": 2,
    "landscape": 2,
}


def version(what: str) -> int:
    return VERSIONS.get(what, 1)


# --- units --------------------------------------------------------------------------------------


@dataclass
class Unit:
    """One cached piece of an analysis: what it is, the points it reads, its options."""

    what: str
    ident: dict[str, Any]  # the columns that name it in tables: branch/level/point or path
    points: dict[str, Point]  # role -> point; their fingerprints enter the key
    options: dict[str, Any]
    label: str
    extra: Any = None

    def key(self, store: Store, run_id: str) -> str:
        prints = {role: fingerprint(store, run_id, p) for role, p in self.points.items()}
        blob = [version(self.what), self.what, run_id, self.ident, self.options, prints]
        return content_hash(blob)[:32]


def plan(store: Store, request: Mapping[str, Any]) -> tuple[list[Unit], list[str]]:
    """The units of a normalised request, and the points skipped because they cannot exist."""
    what, run_id = request["what"], request["run_id"]
    opts = {k: v for k, v in request.items() if k in OPTIONS and OPTIONS[k].result}
    units, skipped = [], []
    if what == "interpolation":
        for path in request["paths"]:
            a, b = (Point.parse(p) for p in path.split("->"))
            units.append(Unit(what, {"path": path}, {"a": a, "b": b}, opts, path))
        return units, skipped
    for branch, levels in request["levels"].items():
        for level in levels:
            if what == "trajectory":
                units.append(_trajectory_unit(store, run_id, level, opts))
            elif what == "loss_matched":
                units.append(_loss_matched_unit(store, run_id, level, opts))
            elif what == "instability":
                pts = {w: Point("imp", level, w) for w in ("start", "solution")}
                units.append(Unit(what, {"level": level}, pts, opts, f"imp level {level}"))
            elif what == "distances":
                pts = {w: Point(branch, level, w) for w in ("start", "projected_prev", "solution")}
                ident = {"branch": branch, "level": level}
                units.append(Unit(what, ident, pts, opts, f"{branch} level {level}"))
            else:
                which = (
                    ("projected_prev", "solution") if what == "pruned_start" else request["points"]
                )
                for w in which:
                    p = Point(branch, level, w)
                    if (
                        w == "projected_prev"
                        and previous_level(store, run_id, branch, level) is None
                    ):
                        skipped.append(str(p))
                        continue
                    ident = {"branch": branch, "level": level, "point": w}
                    units.append(Unit(what, ident, {"point": p}, opts, str(p)))
    return units, skipped


def _loss_matched_unit(store: Store, run_id: str, level: int, opts: dict) -> Unit:
    """Level `level`'s control: Pr_L(min_(L−1)) and every stored checkpoint of the level."""
    own = trajectory_points(store, run_id, "imp", level)
    points = {"target": Point("imp", level, "projected_prev")}
    points |= {f"ckpt@{it}": p for it, p in own.items()}
    label = f"imp level {level}"
    return Unit("loss_matched", {"level": level}, points, opts, label, list(own.items()))


def _trajectory_unit(store: Store, run_id: str, level: int, opts: dict) -> Unit:
    cur = trajectory_points(store, run_id, "imp", level)
    prev = trajectory_points(store, run_id, "imp", level - 1)
    pairs = [(it, cur[it], prev[it]) for it in cur if it in prev]
    points = {f"{role}@{it}": p for it, a, b in pairs for role, p in (("cur", a), ("prev", b))}
    return Unit("trajectory", {"level": level}, points, opts, f"imp level {level}", pairs)


# --- computing ----------------------------------------------------------------------------------


def compute_distances(ctx: Context, unit: Unit) -> dict:
    start, prev, sol = (
        ctx.resolve(unit.points[w]) for w in ("start", "projected_prev", "solution")
    )
    names = {"prunable": list(start.mask), "all": geometry.parameter_names(ctx.model)}
    targets = {"projected_prev": prev.state, "solution": sol.state}
    return {"rows": geometry.distances(start.state, targets, names)}


def compute_pruned_start(ctx: Context, unit: Unit) -> dict:
    state = ctx.at(unit.points["point"], unit.options).state
    return geometry.metrics(ctx.model, state, ctx.data)


def compute_trajectory(ctx: Context, unit: Unit) -> dict:
    x, y, record = ctx.examples(unit.options)
    ipe, rows = ctx.iters_per_epoch, []
    for it, cur_point, prev_point in unit.extra:
        cur, prev = ctx.at(cur_point, unit.options), ctx.resolve(prev_point)
        projected = M.project(prev.state, cur.mask)
        projected = ctx.batchnorm(projected, unit.options, True, f"{prev_point} on m_L")
        for series, state in (("level L", cur.state), ("level L-1 projected", projected)):
            loss = geometry.loss(ctx.model, state, x, y)
            rows.append({"iteration": it, "epoch": it / ipe, "series": series, "train_loss": loss})
    return {"rows": rows, "data": record}


def compute_spectrum(ctx: Context, unit: Unit) -> dict:
    r = ctx.at(unit.points["point"], unit.options)
    return spectrum_result(ctx, r.state, r.mask, unit.options)


def compute_trace(ctx: Context, unit: Unit) -> dict:
    o, r = unit.options, ctx.at(unit.points["point"], unit.options)
    x, y, record = ctx.examples(o)
    trace = hutchinson_trace(
        ctx.model, r.state, r.mask, x, y, n_samples=o["samples"], seed=o["seed"], device=ctx.device
    )
    return {**plain(trace), "data": record}


def compute_density(ctx: Context, unit: Unit) -> dict:
    o, r = unit.options, ctx.at(unit.points["point"], unit.options)
    x, y, record = ctx.examples(o)
    density = spectral_density(
        ctx.model,
        r.state,
        r.mask,
        x,
        y,
        n_vectors=o["vectors"],
        steps=o["steps"],
        seed=o["seed"],
        device=ctx.device,
    )
    return {**plain(density), "data": record}


def compute_interpolation(ctx: Context, unit: Unit) -> dict:
    o = unit.options
    a, b = ctx.resolve(unit.points["a"]), ctx.resolve(unit.points["b"])
    alphas = [i / (o["n"] - 1) for i in range(o["n"])]
    bs = ctx.spec.train.batch_size
    rows = geometry.interpolate(ctx.model, a.state, b.state, ctx.data, alphas, o["bn_reset"], bs)
    return {"rows": rows, **geometry.barrier(rows)}


def compute_landscape(ctx: Context, unit: Unit) -> dict:
    o, r = unit.options, ctx.at(unit.points["point"], unit.options)
    x, y, record = ctx.examples(o)
    surf = landscape.surface(ctx.model, r.state, r.mask, x, y, o["grid"], o["span"], o["seed"])
    return {**surf, "data": record}


COMPUTE: dict[str, Callable[[Context, Unit], dict]] = {
    "distances": compute_distances,
    "trajectory": compute_trajectory,
    "pruned_start": compute_pruned_start,
    "spectrum": compute_spectrum,
    "trace": compute_trace,
    "density": compute_density,
    "interpolation": compute_interpolation,
    "landscape": compute_landscape,
    "loss_matched": loss_match.compute,
    "instability": instability.compute,
}


def headline(what: str, result: dict) -> float:
    """One number per unit for progress lines: a loss where there is one."""
    if what in ("pruned_start",):
        return result["train_loss"]
    if what == "spectrum":
        return result["eigenvalues"][0] if result["eigenvalues"] else float("nan")
    if what == "trace":
        return result["mean"]
    if what == "interpolation":
        return result["barrier_train_loss"]
    if what == "instability":
        return result["barrier_test_error"]
    if what == "loss_matched":
        return result.get("loss", float("nan"))  # at the matched point; NaN: none matched
    if what == "landscape":
        values = result["train_loss"]
        return values[len(values) // 2][len(values) // 2]
    if what in ("trajectory", "distances"):
        return result["rows"][-1]["train_loss" if what == "trajectory" else "distance"]
    return float("nan")


@dataclass
class Summary:
    run_id: str
    what: str
    units: int = 0
    computed: int = 0
    cached: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def execute(
    store: Store, request: Mapping[str, Any], device: Any = None, reporter: Reporter | None = None
) -> dict[str, Any]:
    """Compute every unit of `request` that is not stored yet; return a small summary.

    Checks `reporter.cancelled()` before each unit (raising `Cancelled`) and reports progress
    after each; data and model are loaded only if something has to be computed.
    """
    reporter = reporter or NullReporter()
    t0 = time.perf_counter()
    req = normalize_request(store, request)
    run_id, what = req["run_id"], req["what"]
    units, skipped = plan(store, req)
    summary = Summary(run_id, what, len(units), skipped=skipped)
    ctx: Context | None = None
    for i, unit in enumerate(units):
        if reporter.cancelled():
            raise Cancelled(f"cancelled after {i} of {len(units)} {what} units")
        key = unit.key(store, run_id)
        stored = store.load_analysis(run_id, what, key)
        if stored is not None:
            summary.cached += 1
            value = headline(what, stored["result"])
        else:
            ctx = ctx or Context(store, run_id, device)
            ctx.reporter = reporter
            t1 = time.perf_counter()
            ctx.recalibrated = []
            result = COMPUTE[what](ctx, unit)
            record = _record(run_id, unit, result, t1, ctx.device)
            if "bn_recalibrate" in unit.options:  # what was done at the unit's points
                record["batchnorm"] = ctx.batchnorm_record(unit.options)
            store.save_analysis(run_id, what, key, record)
            summary.computed += 1
            value = headline(what, result)
        reporter.progress(
            label=what,
            unit=unit.label,
            iteration=i + 1,
            total=len(units),
            fraction=(i + 1) / len(units),
            loss=value,
            seconds=time.perf_counter() - t0,
            **{k: v for k, v in unit.ident.items() if k in ("branch", "level")},
        )
    summary.seconds = time.perf_counter() - t0
    return dataclasses.asdict(summary)


def _record(run_id: str, unit: Unit, result: dict, t1: float, device: torch.device) -> dict:
    return {
        "version": version(unit.what),
        "what": unit.what,
        "run_id": run_id,
        "unit": unit.ident,
        "points": {role: str(p) for role, p in unit.points.items()},
        "options": unit.options,
        "result": result,
        "seconds": time.perf_counter() - t1,
        "computed_at": time.time(),
        "device": str(device),
    }


def stored_results(store: Store, request: Mapping[str, Any]) -> list[dict]:
    """The stored records of a request's units (those computed so far), in plan order."""
    req = normalize_request(store, request)
    units, _ = plan(store, req)
    found = (
        store.load_analysis(req["run_id"], req["what"], u.key(store, req["run_id"])) for u in units
    )
    return [r for r in found if r is not None]


def is_stored(store: Store, request: Mapping[str, Any]) -> bool:
    """Whether every unit of `request` is in the store (a finished job's result still holds)."""
    req = normalize_request(store, request)
    units, _ = plan(store, req)
    return all(
        store.load_analysis(req["run_id"], req["what"], u.key(store, req["run_id"])) is not None
        for u in units
    )
