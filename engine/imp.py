"""The IMP-WR runner: trains every training of `engine.plan.plan(spec)` in its order, IMP's
levels with the code below and each baseline with its plugin (`engine.baselines`).

Every level is stored as soon as it finishes; running the same spec again skips finished
levels and resumes an unfinished one from its last epoch, so a killed run loses at most an
epoch. Reconstructed choices (METHOD.md says "reconstructed" where the paper is silent):

- Level L ≥ 1 trains from the rewind iteration k to the end of the recipe (as OpenLTH does).
- Baselines that keep the rewind-point weights (one-shot, RPN_1) and FT also train from k;
  those with freshly drawn weights (RIPN, RPN_2) start a fresh recipe at iteration 0.
- FT prunes its own chain of levels 1..L, each starting from the pruned previous solution.
- RPN_1 and RPN_2 share one random mask (IMP's per-layer counts), so they differ only in
  their weights.

The baselines that can run together train as one stack where `train.stack` says so
(`engine.stacking` groups them, `engine.stacked_levels` stores each as `train_level` would).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from engine import atomic
from engine import masks as M
from engine.baselines import Training, get
from engine.batched import stacked_path
from engine.config import RunSpec, SpecError
from engine.data import load_dataset
from engine.data.batches import num_batches
from engine.fsck import repair_run
from engine.models import prunable_names
from engine.plan import IMP, plan
from engine.run_context import (  # re-exported: the runner's callers name them from here
    Context,
    derived_seed,  # noqa: F401
    prunable,
    prune_next,
    resolve_device,
    seeded,  # noqa: F401
)
from engine.stacked_levels import train_levels
from engine.stacking import schedule
from engine.store import LevelDir, Store
from engine.train import LevelResult, Reporter, train_level


def _summary(
    level: int, branch: str, mask: dict[str, Tensor], result: LevelResult
) -> dict[str, Any]:
    metrics = result.metrics
    last = metrics[-1]
    report = M.sparsity_report(mask)
    return {
        "level": level,
        "branch": branch,
        "sparsity": report[-1]["sparsity"],
        "kept": report[-1]["kept"],
        "total": report[-1]["total"],
        "train_loss": last["train_loss"],
        "train_acc": last["train_acc"],
        "test_loss": last["test_loss"],
        "test_acc": last["test_acc"],
        "best_test_acc": max(r["test_acc"] for r in metrics),
        "epochs": last["epoch"],
        "iterations": last["iteration"],
        "seconds": result.seconds,
        "step": result.step.record(),
        "layers": report[:-1],
    }


def _train(
    ctx: Context,
    t: Training,
    lv: LevelDir,
    model: nn.Module,
    mask: dict[str, Tensor],
    start_state: dict[str, Tensor],
    on_iteration=None,
) -> dict:
    """Train one level (or resume it); store its mask, start point, metrics and summary."""
    model.load_state_dict(_prepare(ctx, t, lv, mask, start_state))
    result = train_level(
        model,
        mask,
        ctx.data,
        ctx.spec.train,
        lv,
        data_seed=ctx.spec.data_order_seed,
        start_iteration=t.start.iterations(ctx.iters_per_epoch),
        on_iteration=on_iteration,
        reporter=ctx.reporter,
        label=f"{t.branch} level {t.level}",
    )
    return _finish(ctx, t, lv, mask, result)


def _prepare(
    ctx: Context, t: Training, lv: LevelDir, mask: dict[str, Tensor], start_state: dict
) -> dict[str, Tensor]:
    """Store a training's mask and start point (once); return the start."""
    if not lv.has_mask():
        lv.save_mask(mask)
    start = M.project(start_state, mask)
    if not lv.has_checkpoint("start"):
        lv.save_checkpoint("start", start, iteration=t.start.iterations(ctx.iters_per_epoch))
    return start


def _finish(
    ctx: Context, t: Training, lv: LevelDir, mask: dict[str, Tensor], result: LevelResult
) -> dict:
    """Mark a trained level done with its summary, and count it in the run's record."""
    summary = _summary(t.level, t.branch, mask, result)
    lv.mark_done(summary)
    ctx.store.touch(ctx.run_id, **{f"{t.branch}_levels_done": t.level + 1})
    return summary


def _save_rewind(ctx: Context):
    """Level 0's per-iteration hook: save the weights at the rewind iteration, once."""
    path, k = ctx.store.rewind_path(ctx.run_id), ctx.rewind_iteration

    def save(iteration: int, m: nn.Module) -> None:
        if iteration == k and not path.is_file():
            atomic.torch_save({n: v.detach().cpu() for n, v in m.state_dict().items()}, path)

    return save


def open_run(
    spec: RunSpec,
    store: Store,
    device: str | torch.device | None = None,
    reporter: Reporter | None = None,
) -> Context:
    """Load data, check what depends on it, and register the run (nothing else is written)."""
    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    data = load_dataset(
        spec.data.name, spec.data.root, spec.data.download, dev, spec.data.normalize
    )
    ipe = num_batches(len(data.train_x), spec.train.batch_size, drop_last=False)
    total = spec.train.length.iterations(ipe)
    if spec.prune.rewind.iterations(ipe) >= total:
        raise SpecError(
            "prune.rewind",
            f"{spec.prune.rewind} is not before the end of training "
            f"({spec.train.length} = {total} iterations of {ipe} per epoch)",
        )
    run_id = store.create_run(spec)
    return Context(spec, store, run_id, data, dev, reporter, ipe)


def run_imp(
    spec: RunSpec,
    store: Store,
    device: str | torch.device | None = None,
    reporter: Reporter | None = None,
) -> list[dict]:
    """Train (or resume) every IMP-WR level, then the requested baselines; return summaries."""
    return train_run(open_run(spec, store, device, reporter))


def train_run(ctx: Context) -> list[dict]:
    """Every training of `plan(spec)` for an opened run (see `open_run`): IMP's levels in
    order, then the baselines as `engine.stacking.schedule` groups them (the plan's order
    where nothing stacks), logging which could stack and whether they did.

    Returns the summary of every IMP level and each baseline's result: its last training
    (FT's chain ends at the baseline level)."""
    spec = ctx.spec
    log = getattr(ctx.reporter, "log", None)
    for note in repair_run(ctx.store, ctx.run_id):  # damaged levels are trained again
        if log is not None:
            log(note)
    ctx.store.touch(ctx.run_id, spec=spec.to_dict(), status="running")
    model = ctx.fresh_model(spec.seed)
    names = prunable_names(model)
    init = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    rates = ctx.layer_rates(model)
    trainings = plan(spec)
    done: dict[tuple[str, int], dict] = {}
    for t in trainings:  # IMP's levels first, each from the one before
        if t.branch == IMP:
            done[t.branch, t.level] = _train_one(ctx, t, model, names, rates, init)
    groups, notes = schedule(ctx, model, [t for t in trainings if t.branch != IMP])
    for note in notes:
        if log is not None:
            log(note)
    for group in groups:
        if group.stacked:
            done |= _train_stacked(ctx, group.trainings, model, names, rates)
        else:
            for t in group.trainings:
                done[t.branch, t.level] = _train_one(ctx, t, model, names, rates, init)
    last = {t.branch: i for i, t in enumerate(trainings)}
    summaries = [
        done.get((t.branch, t.level)) or ctx.level(t.level, t.branch).summary()
        for i, t in enumerate(trainings)
        if t.branch == IMP or last[t.branch] == i
    ]
    ctx.store.touch(ctx.run_id, status="done", summaries=summaries)
    return summaries


def _train_one(
    ctx: Context,
    t: Training,
    model: nn.Module,
    names: list[str],
    rates: dict[str, float],
    init: dict[str, Tensor],
) -> dict:
    """Train `t` unless it is stored: a stored mask is reused, else it is made (IMP's from
    the previous level, a baseline's by its plugin), and the training starts from its
    start weights projected on the mask."""
    lv = ctx.level(t.level, t.branch)
    if lv.done:
        return lv.summary()  # type: ignore[return-value]
    if t.branch == IMP and t.level == 0:
        mask = M.ones_mask(prunable(init, names))
        return _train(ctx, t, lv, model, mask, init, on_iteration=_save_rewind(ctx))
    if t.branch == IMP:
        prev = ctx.level(t.level - 1)
        mask = (
            lv.load_mask()
            if lv.has_mask()
            else prune_next(ctx, prev, names, rates, f"prune-{t.level}")
        )
        return _train(ctx, t, lv, model, mask, ctx.rewind())
    mask, weights = _baseline_start(ctx, t, lv, names, rates)
    return _train(ctx, t, lv, model, mask, weights)


def _baseline_start(
    ctx: Context, t: Training, lv: LevelDir, names: list[str], rates: dict[str, float]
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """A baseline training's mask (stored, else its plugin's) and start weights."""
    baseline = get(t.branch)
    mask = lv.load_mask() if lv.has_mask() else baseline.mask(ctx, t, names, rates)
    return mask, baseline.weights(ctx, t)


def _train_stacked(
    ctx: Context,
    group: tuple[Training, ...],
    model: nn.Module,
    names: list[str],
    rates: dict[str, float],
) -> dict[tuple[str, int], dict]:
    """Train baselines that can run together (`engine.stacking`) as one stack; each is
    stored and summarised as `_train` stores one."""
    lvs = [ctx.level(t.level, t.branch) for t in group]
    masks, starts = [], []
    for t, lv in zip(group, lvs, strict=True):
        mask, weights = _baseline_start(ctx, t, lv, names, rates)
        masks.append(mask)
        starts.append(_prepare(ctx, t, lv, mask, weights))
    results = train_levels(
        model,
        masks,
        starts,
        ctx.data,
        ctx.spec.train,
        lvs,
        data_seeds=[ctx.spec.data_order_seed] * len(group),
        start_iteration=group[0].start.iterations(ctx.iters_per_epoch),
        path=stacked_path(len(group), ctx.spec.train.stack),
        reporter=ctx.reporter,
        labels=[f"{t.branch} level {t.level}" for t in group],
    )
    return {
        (t.branch, t.level): _finish(ctx, t, lv, mask, result)
        for t, lv, mask, result in zip(group, lvs, masks, results, strict=True)
    }
