"""One-shot: prune the dense level-0 solution straight to IMP's per-layer counts at the
baseline level, rewind to the rewind point, train (METHOD.md, the comparisons)."""

from __future__ import annotations

from engine import masks as M
from engine.baselines import register
from engine.baselines.base import Baseline, Context, RunSpec, State, Training
from engine.run_context import prunable


@register
class OneShot(Baseline):
    name, label = "one_shot", "one-shot"
    help = "Prune the level-0 solution to IMP's sparsity in one step, rewind, train."

    def trainings(self, spec: RunSpec) -> list[Training]:
        level = spec.baseline_level
        return [self.at_level(spec, level, False, "rewind point", "level 0 pruned in one step")]

    def mask(self, ctx: Context, t: Training, names: list[str], rates: dict[str, float]) -> M.Mask:
        p = ctx.spec.prune
        final0 = ctx.level(0).load_checkpoint("final")
        counts = M.kept_counts(ctx.level(t.level).load_mask())
        pooled = frozenset(n for n in names if n not in rates)  # layers with no rate of their own
        gen = ctx.generator(self.name)
        return M.prune_to_counts(prunable(final0, names), counts, p.scope, p.criterion, pooled, gen)

    def weights(self, ctx: Context, t: Training) -> State:
        return ctx.rewind()
