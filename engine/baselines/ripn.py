"""RIPN: IMP-WR's mask at the baseline level with weights drawn afresh from the initializer
(random re-initialisation); fresh weights have no rewind point, so a whole recipe."""

from __future__ import annotations

from engine.baselines import register
from engine.baselines.base import Baseline, Context, Mask, RunSpec, State, Training


@register
class RandomReinit(Baseline):
    name, label = "ripn", "RIPN"
    help = "IMP's mask with freshly drawn weights, trained for the whole recipe."

    def trainings(self, spec: RunSpec) -> list[Training]:
        return [self.at_level(spec, spec.baseline_level, True, "fresh init", "IMP's mask")]

    def mask(self, ctx: Context, t: Training, names: list[str], rates: dict[str, float]) -> Mask:
        return ctx.level(t.level).load_mask()

    def weights(self, ctx: Context, t: Training) -> State:
        return ctx.fresh_state(self.name)
