"""Every training a run does, read from its spec alone: IMP-WR's levels 0..N, then each
requested baseline's trainings, in the order the runner trains them.

The runner (`engine.imp`), the run's progress (`engine.jobs.kinds`), the operator limits
(`engine.limits`), the Launch form's estimate and `reproduce --plan` (`engine.work_plan`)
all count from this one list, so they cannot disagree about what a run trains.
"""

from __future__ import annotations

from engine.baselines import Training, get
from engine.baselines.base import IMP, WHOLE_RECIPE
from engine.config import RunSpec


def imp_trainings(spec: RunSpec) -> list[Training]:
    """Level 0 trains the dense network for the whole recipe; level L >= 1 prunes level
    L-1's solution and trains from the rewind point to the end (as OpenLTH does)."""
    end, rewind, rate = spec.train.length, spec.prune.rewind, spec.prune.rate
    out = [Training(IMP, 0, WHOLE_RECIPE, end, "init", "dense")]
    for level in range(1, spec.prune.levels + 1):
        mask = f"level {level - 1}'s solution pruned by {rate:g}"
        out.append(Training(IMP, level, rewind, end, "rewind point", mask))
    return out


def plan(spec: RunSpec) -> list[Training]:
    """IMP's trainings, then those of each of `spec.baselines.kinds`, in that order."""
    out = imp_trainings(spec)
    for name in spec.baselines.kinds:
        out += get(name).trainings(spec)
    return out
