"""What a baseline is: a class that says what it trains and how each of its trainings starts.

As in OpenLTH's `lottery/branch/`, one class per file describes one comparison; the package
imports every file, so a new baseline is one file. A baseline never trains by itself: it
lists its `Training`s (branch, level, the point of the recipe they train from) and gives each
one a mask and start weights; the runner trains them all the same way, so a baseline's results
are stored, resumed and counted (progress, limits, the Launch estimate) like IMP's levels.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

# What a plugin's methods take and return, named here so each plugin imports them from one place.
from engine.config import RunSpec
from engine.masks import Mask
from engine.run_context import Context, State
from engine.steps import Step

IMP, IMP_LABEL = "imp", "IMP-WR"  # IMP-WR's branch and its name, beside every baseline's
WHOLE_RECIPE = Step(0, "it")


@dataclass(frozen=True)
class Training:
    """One network a run trains: branch and level (its folder), from which point of the
    recipe to the end, and, for people reading a plan, what its weights and mask are."""

    branch: str
    level: int
    start: Step  # the recipe's point it trains from: 0it for a whole recipe, else the rewind
    end: Step  # the recipe's length; every training ends there
    weights: str
    mask: str

    @property
    def units(self) -> int:
        """Its length in the recipe's unit: from `start` to `end` when both are in that unit,
        else the whole recipe (an upper bound: a rewind in iterations is not converted)."""
        if self.start.unit == self.end.unit:
            return self.end.value - self.start.value
        return self.end.value

    @property
    def unit(self) -> str:
        return "epochs" if self.end.unit == "ep" else "iterations"

    def iterations(self, per_epoch: int) -> int:
        """Its exact length in iterations, given the data set's iterations per epoch."""
        return self.end.iterations(per_epoch) - self.start.iterations(per_epoch)


class Baseline(abc.ABC):
    """One comparison trained beside IMP-WR. Subclass it in a file of this package and
    decorate it with `engine.baselines.register`; set `name` (the branch its levels are
    stored under, and the value of `baselines.kinds`), `label` (its name in the paper, which
    claims, charts and tables show) and `help`.

    `trainings` lists what it trains, in order; for each, `mask` and `weights` give the
    mask and the start weights (before the mask is applied). A training already stored is
    never asked for its start again, and a stored mask is reused as it is. A training's
    start may use IMP's levels and the earlier trainings of its own branch, never another
    baseline's: `engine.stacking` trains different branches' trainings together."""

    name: ClassVar[str]
    label: ClassVar[str]
    help: ClassVar[str]

    @abc.abstractmethod
    def trainings(self, spec: RunSpec) -> list[Training]:
        """What this baseline trains for `spec`, in the order it trains them."""

    @abc.abstractmethod
    def mask(self, ctx: Context, t: Training, names: list[str], rates: dict[str, float]) -> Mask:
        """The mask of training `t` (`names`: the prunable weights; `rates`: layers pruned
        at a rate of their own)."""

    @abc.abstractmethod
    def weights(self, ctx: Context, t: Training) -> State:
        """The weights training `t` starts from, before its mask is applied."""

    def at_level(self, spec: RunSpec, level: int, fresh: bool, weights: str, mask: str) -> Training:
        """A training of this baseline at `level`: from the rewind point, or a whole recipe
        when its weights are freshly drawn (they have no rewind point)."""
        start = WHOLE_RECIPE if fresh else spec.prune.rewind
        return Training(self.name, level, start, spec.train.length, weights, mask)
