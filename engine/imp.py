"""The IMP-WR runner and the paper's baselines, as sequences of `train_level` calls.

Every level is stored as soon as it finishes; running the same spec again skips finished
levels and resumes an unfinished one from its last epoch, so a killed run loses at most an
epoch. Reconstructed choices (METHOD.md says "reconstructed" where the paper is silent):

- Level L ≥ 1 trains from the rewind iteration k to the end of the recipe (as OpenLTH does).
- Baselines that keep the rewind-point weights (one-shot, RPN_1) and FT also train from k;
  those with freshly drawn weights (RIPN, RPN_2) start a fresh recipe at iteration 0.
- FT prunes its own chain of levels 1..L, each starting from the pruned previous solution.
- RPN_1 and RPN_2 share one random mask (IMP's per-layer counts), so they differ only in
  their weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from engine import masks as M
from engine.config import RunSpec, SpecError, content_hash
from engine.data import load_dataset
from engine.data.batches import num_batches
from engine.data.bundle import DataBundle
from engine.fsck import repair_run
from engine.models import build_model, output_name, prunable_names
from engine.models.init import initialize
from engine.store import LevelDir, Store
from engine.train import Reporter, train_level


def resolve_device(name: str | None = None) -> torch.device:
    """`auto` (or None): CUDA when present, else CPU; otherwise the device named."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def derived_seed(seed: int, purpose: str) -> int:
    """An independent, reproducible seed for one purpose (fresh init, random masks)."""
    return int(content_hash([seed, purpose])[:8], 16)


def _generator(seed: int, purpose: str) -> torch.Generator:
    return torch.Generator().manual_seed(derived_seed(seed, purpose))


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@dataclass
class Context:
    """What every level of one run shares."""

    spec: RunSpec
    store: Store
    run_id: str
    data: DataBundle
    device: torch.device
    reporter: Reporter | None
    iters_per_epoch: int

    @property
    def rewind_iteration(self) -> int:
        return self.spec.prune.rewind.iterations(self.iters_per_epoch)

    def fresh_model(self, seed: int) -> nn.Module:
        with seeded(seed):
            model = build_model(self.spec.model.name, self.data.in_shape, self.data.num_classes)
            initialize(model, self.spec.model.init)
        return model.to(self.device)

    def layer_rates(self, model: nn.Module) -> dict[str, float]:
        rate = self.spec.prune.output_rate
        return {} if rate is None else {output_name(model): rate}


def prunable(state: dict[str, Tensor], names: list[str]) -> dict[str, Tensor]:
    return {k: state[k] for k in names}


def _summary(
    lv: LevelDir,
    level: int,
    branch: str,
    mask: dict[str, Tensor],
    metrics: list[dict],
    seconds: float,
) -> dict[str, Any]:
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
        "seconds": seconds,
        "layers": report[:-1],
    }


def _train(
    ctx: Context,
    branch: str,
    level: int,
    model: nn.Module,
    mask: dict[str, Tensor],
    start_state: dict[str, Tensor],
    start_iteration: int,
    on_iteration=None,
) -> dict:
    """Train one level (or resume it); store its mask, start point, metrics and summary."""
    lv = ctx.store.level(ctx.run_id, level, branch)
    if lv.done:
        return lv.summary()  # type: ignore[return-value]
    if not lv.has_mask():
        lv.save_mask(mask)
    start = M.project(start_state, mask)
    if not lv.has_checkpoint("start"):
        lv.save_checkpoint("start", start, iteration=start_iteration)
    model.load_state_dict(start)
    label = f"{branch} level {level}"
    result = train_level(
        model,
        mask,
        ctx.data,
        ctx.spec.train,
        lv,
        data_seed=ctx.spec.data_order_seed,
        start_iteration=start_iteration,
        on_iteration=on_iteration,
        reporter=ctx.reporter,
        label=label,
    )
    summary = _summary(lv, level, branch, mask, result.metrics, result.seconds)
    lv.mark_done(summary)
    ctx.store.touch(ctx.run_id, **{f"{branch}_levels_done": level + 1})
    return summary


def _level0(ctx: Context, model: nn.Module, init: dict[str, Tensor], names: list[str]) -> dict:
    rewind_path = ctx.store.rewind_path(ctx.run_id)
    k = ctx.rewind_iteration

    def save_rewind(iteration: int, m: nn.Module) -> None:
        if iteration == k and not rewind_path.is_file():
            from engine import atomic

            atomic.torch_save(
                {k_: v.detach().cpu() for k_, v in m.state_dict().items()}, rewind_path
            )

    mask = M.ones_mask(prunable(init, names))
    return _train(ctx, "imp", 0, model, mask, init, 0, on_iteration=save_rewind)


def rewind_state(ctx: Context) -> dict[str, Tensor]:
    return ctx.store.load_rewind(ctx.run_id)


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
    """The levels and baselines of an opened run (see `open_run`)."""
    spec = ctx.spec
    log = getattr(ctx.reporter, "log", None)
    for note in repair_run(ctx.store, ctx.run_id):  # damaged levels are trained again
        if log is not None:
            log(note)
    ctx.store.touch(ctx.run_id, spec=spec.to_dict(), status="running")
    model = ctx.fresh_model(spec.seed)
    names = prunable_names(model)
    init = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    summaries = [_level0(ctx, model, init, names)]
    rewind = rewind_state(ctx)
    rates = ctx.layer_rates(model)
    p = spec.prune
    for level in range(1, p.levels + 1):
        lv = ctx.store.level(ctx.run_id, level)
        if lv.has_mask():
            mask = lv.load_mask()
        else:
            prev = ctx.store.level(ctx.run_id, level - 1)
            final = prev.load_checkpoint("final")
            mask = M.prune(
                prunable(final, names),
                prev.load_mask(),
                p.rate,
                p.scope,
                p.criterion,
                rates,
                _generator(spec.seed, f"prune-{level}"),
            )
        summaries.append(_train(ctx, "imp", level, model, mask, rewind, ctx.rewind_iteration))
    summaries += run_baselines(ctx, model, names, rates)
    ctx.store.touch(ctx.run_id, status="done", summaries=summaries)
    return summaries


def run_baselines(
    ctx: Context, model: nn.Module, names: list[str], rates: dict[str, float]
) -> list[dict]:
    """The Fig. 2 comparisons at the baseline level, each trained with the same recipe."""
    spec, p = ctx.spec, ctx.spec.prune
    level = spec.baseline_level
    kinds = spec.baselines.kinds
    if not kinds:
        return []
    imp_mask = ctx.store.level(ctx.run_id, level).load_mask()
    counts = M.kept_counts(imp_mask)
    rewind = rewind_state(ctx)
    k = ctx.rewind_iteration
    shapes = {n: imp_mask[n].shape for n in names}
    out = []
    for kind in kinds:
        if kind == "one_shot":
            final0 = ctx.store.level(ctx.run_id, 0).load_checkpoint("final")
            pooled = frozenset(n for n in names if n not in rates)
            mask = M.prune_to_counts(
                prunable(final0, names),
                counts,
                p.scope,
                p.criterion,
                pooled,
                _generator(spec.seed, kind),
            )
            out.append(_train(ctx, kind, level, model, mask, rewind, k))
        elif kind == "ft":
            out.append(_fine_tune_chain(ctx, model, names, rates, level))
        elif kind == "ripn":
            fresh = ctx.fresh_model(derived_seed(spec.seed, kind)).state_dict()
            out.append(_train(ctx, kind, level, model, imp_mask, fresh, 0))
        else:  # rpn1 / rpn2 share one random mask with IMP's per-layer counts
            mask = M.random_mask_like(counts, shapes, _generator(spec.seed, "rpn"))
            if kind == "rpn1":
                out.append(_train(ctx, kind, level, model, mask, rewind, k))
            else:
                fresh = ctx.fresh_model(derived_seed(spec.seed, kind)).state_dict()
                out.append(_train(ctx, kind, level, model, mask, fresh, 0))
    return out


def _fine_tune_chain(
    ctx: Context, model: nn.Module, names: list[str], rates: dict[str, float], level: int
) -> dict:
    """FT: prune and keep training from the pruned previous solution, no rewinding."""
    p = ctx.spec.prune
    prev = ctx.store.level(ctx.run_id, 0)
    summary: dict = {}
    for lvl in range(1, level + 1):
        lv = ctx.store.level(ctx.run_id, lvl, "ft")
        final = prev.load_checkpoint("final")
        if lv.has_mask():
            mask = lv.load_mask()
        else:
            mask = M.prune(
                prunable(final, names),
                prev.load_mask(),
                p.rate,
                p.scope,
                p.criterion,
                rates,
                _generator(ctx.spec.seed, f"ft-{lvl}"),
            )
        summary = _train(ctx, "ft", lvl, model, mask, final, ctx.rewind_iteration)
        prev = lv
    return summary
