"""RPN_2: RPN_1's random mask (IMP-WR's per-layer counts) with freshly drawn weights, so a
whole recipe (METHOD.md: reconstructed)."""

from __future__ import annotations

from engine.baselines import register
from engine.baselines.rpn1 import RandomPrune


@register
class RandomPruneReinit(RandomPrune):
    name, label = "rpn2", "RPN_2"
    help = "RPN_1's random mask with freshly drawn weights, trained for the whole recipe."
    fresh = True
