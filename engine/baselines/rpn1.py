"""RPN_1: a random mask with IMP-WR's per-layer counts at the baseline level, from the
rewind-point weights. RPN_2 (rpn2.py) shares the mask and differs only in its weights."""

from __future__ import annotations

from engine import masks as M
from engine.baselines import register
from engine.baselines.base import Baseline, Context, RunSpec, State, Training

SHARED_MASK = "rpn"  # the seed purpose RPN_1 and RPN_2 draw their one random mask from


@register
class RandomPrune(Baseline):
    name, label = "rpn1", "RPN_1"
    help = "A random mask with IMP's per-layer sparsity, from the rewind point."
    fresh = False  # whether its weights are drawn afresh (RPN_2) or the rewind point's

    def trainings(self, spec: RunSpec) -> list[Training]:
        weights = "fresh init" if self.fresh else "rewind point"
        mask = "random, IMP's per-layer counts"
        return [self.at_level(spec, spec.baseline_level, self.fresh, weights, mask)]

    def mask(self, ctx: Context, t: Training, names: list[str], rates: dict[str, float]) -> M.Mask:
        imp = ctx.level(t.level).load_mask()
        shapes = {n: imp[n].shape for n in names}
        return M.random_mask_like(M.kept_counts(imp), shapes, ctx.generator(SHARED_MASK))

    def weights(self, ctx: Context, t: Training) -> State:
        return ctx.fresh_state(self.name) if self.fresh else ctx.rewind()
