"""Instability analysis (Frankle et al. 2020, "Linear Mode Connectivity and the Lottery
Ticket Hypothesis"): train two copies of a network from the same point on different data
orders and measure the error barrier on the straight line between their solutions. A level
is *stable* when the barrier is about zero: SGD's noise then leads to one linearly connected
basin, which Frankle et al. find is when IMP's subnetworks train to full accuracy.

Per IMP level L the two copies start at the level's start (start_L, the rewind point
projected on m_L, at the rewind iteration k; at level 0 the rewind point itself) with a fresh
optimizer, and train with the level's mask and recipe. Copy A is the level's own solution
min_L (data order: the run's `data_order_seed`), which trained exactly so; only level 0 with
k > 0 reached the rewind point with momentum already built up, so there copy A is trained
here too. Copy B is trained here with the order of
`derived_seed(data_order_seed, "instability-<copy>")`. It is stored beside the analyses
(`analyses/copies/`, not a branch of the run), keyed by the bytes of its start, mask and
rewind point, its recipe and its data seed, and resumes like any level. The barrier is
`geometry.barrier` over `geometry.interpolate` from min_L to copy B (BatchNorm recomputed on
the training set at every point with `bn_reset`).
"""

from __future__ import annotations

from typing import Any

from engine import atomic, paths
from engine.analysis import geometry
from engine.analysis.context import Context
from engine.analysis.points import fingerprint
from engine.config import content_hash
from engine.imp import derived_seed
from engine.models import build_model
from engine.store import LevelDir
from engine.train import train_level


def copy_seed(data_order_seed: int, copy: int) -> int:
    """The data-order seed of second copy number `copy`."""
    return derived_seed(data_order_seed, f"instability-{copy}")


class _Progress:
    """Training progress of copy B as the analysis's own progress lines (and its cancel)."""

    def __init__(self, inner: Any, label: str):
        self.inner, self.label = inner, label

    def progress(self, **f: Any) -> None:
        self.inner.progress(
            label="instability: training a copy",  # its own bar, apart from the units'
            unit=f"{self.label}, epoch {f['epoch']}",
            iteration=f["iteration"],
            total=f["total"],
            fraction=f["iteration"] / max(f["total"], 1),
            loss=f["loss"],
            seconds=f["seconds"],
        )

    def epoch_done(self, row: dict[str, float], label: str) -> None:
        pass

    def cancelled(self) -> bool:
        return self.inner.cancelled()


def train_copy(ctx: Context, unit: Any, seed: int) -> tuple[LevelDir, dict]:
    """Copy B of the unit's level (trained now unless stored), and its final weights."""
    level = unit.ident["level"]
    store, run_id, spec = ctx.store, ctx.run_id, ctx.spec
    lv = store.level(run_id, level)
    rewind = store.rewind_path(run_id)
    ident = [fingerprint(store, run_id, unit.points["start"]), atomic.digest(rewind)]
    ident += [seed, spec.train.to_dict()]
    name = f"{paths.LEVEL.format(level)}-{content_hash(ident)[:16]}"
    copy = LevelDir(paths.copy(store.run_path(run_id), name))
    if copy.done:
        return copy, copy.load_checkpoint("final")
    mask = lv.load_mask()
    start = store.load_rewind(run_id) if level == 0 else lv.load_checkpoint("start")
    if not copy.has_mask():
        copy.save_mask(mask)
    model = build_model(spec.model.name, ctx.data.in_shape, ctx.data.num_classes)
    model = model.to(ctx.device)
    model.load_state_dict(start)
    k = spec.prune.rewind.iterations(ctx.iters_per_epoch)
    result = train_level(
        model,
        mask,
        ctx.data,
        spec.train.replace(checkpoint_every=0),  # only its end is needed
        copy,
        data_seed=seed,
        start_iteration=k,
        reporter=_Progress(ctx.reporter, f"copy B of level {level}"),
        label=f"instability copy level {level}",
    )
    last = result.metrics[-1]
    copy.mark_done({"level": level, "data_order_seed": seed, **last})
    return copy, result.state


def compute(ctx: Context, unit: Any) -> dict[str, Any]:
    """Copy B (trained if missing), the path from min_L to it and its barriers."""
    o, level = unit.options, unit.ident["level"]
    seed_a = ctx.spec.data_order_seed
    seed_b = copy_seed(seed_a, o["copy"])
    copy, final_b = train_copy(ctx, unit, seed_b)
    a: dict[str, Any] = {"point": str(unit.points["solution"]), "data_order_seed": seed_a}
    if level == 0 and ctx.spec.prune.rewind.value > 0:
        # min_0 reached the rewind point with its optimizer's momentum: copy A starts afresh
        # from there too, so the two copies differ only in their data order
        copy_a, final_a = train_copy(ctx, unit, seed_a)
        a = {**a, "point": "trained here", "folder": _folder(ctx, copy_a)}
    else:
        final_a = ctx.resolve(unit.points["solution"]).state
    alphas = [i / (o["n"] - 1) for i in range(o["n"])]
    bs = ctx.spec.train.batch_size
    rows = geometry.interpolate(ctx.model, final_a, final_b, ctx.data, alphas, o["bn_reset"], bs)
    return {
        "rows": rows,
        **geometry.barrier(rows),
        "start": "the rewind point" if level == 0 else str(unit.points["start"]),
        "copies": {"a": a, "b": {"folder": _folder(ctx, copy), "data_order_seed": seed_b}},
    }


def _folder(ctx: Context, copy: LevelDir) -> str:
    return str(copy.path.relative_to(ctx.store.run_path(ctx.run_id)))
