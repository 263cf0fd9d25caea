"""FT: iterative pruning without rewinding; each of its levels 1..L prunes the previous FT
solution (level 0's for the first) by IMP's rate and keeps training it (METHOD.md)."""

from __future__ import annotations

from engine.baselines import register
from engine.baselines.base import Baseline, Context, Mask, RunSpec, State, Training
from engine.run_context import prune_next


@register
class FineTune(Baseline):
    name, label = "ft", "FT"
    help = "Prune and keep training the pruned previous solution, no rewinding (levels 1..L)."

    def trainings(self, spec: RunSpec) -> list[Training]:
        return [
            self.at_level(spec, lvl, False, f"FT level {lvl - 1}'s solution", "pruned from it")
            for lvl in range(1, spec.baseline_level + 1)
        ]

    def _previous(self, ctx: Context, t: Training):
        return ctx.level(0) if t.level == 1 else ctx.level(t.level - 1, self.name)

    def mask(self, ctx: Context, t: Training, names: list[str], rates: dict[str, float]) -> Mask:
        return prune_next(ctx, self._previous(ctx, t), names, rates, f"ft-{t.level}")

    def weights(self, ctx: Context, t: Training) -> State:
        return self._previous(ctx, t).load_checkpoint("final")
