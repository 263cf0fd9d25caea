"""What every training of one run shares, and the helpers that build a training's start.

The runner (`engine.imp`) and every baseline plugin (`engine.baselines`) make their masks and
start weights with these, so a seed purpose ("prune-3", "ripn", "rpn") or the pruning rule of
the next level is written once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from engine import masks as M
from engine.identity import content_hash
from engine.models import build_model, output_name
from engine.models.init import initialize

if TYPE_CHECKING:  # annotations only: the plan and the plugins need no store or data
    from engine.config import RunSpec
    from engine.data.bundle import DataBundle
    from engine.store import LevelDir, Store
    from engine.train import Reporter

State = dict[str, Tensor]


def resolve_device(name: str | None = None) -> torch.device:
    """`auto` (or None): CUDA when present, else CPU; otherwise the device named."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def derived_seed(seed: int, purpose: str) -> int:
    """An independent, reproducible seed for one purpose (fresh init, random masks)."""
    return int(content_hash([seed, purpose])[:8], 16)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def prunable(state: State, names: list[str]) -> State:
    return {k: state[k] for k in names}


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

    def fresh_state(self, purpose: str) -> State:
        """Newly drawn weights, from the run's seed and `purpose` (RIPN, RPN_2)."""
        return self.fresh_model(derived_seed(self.spec.seed, purpose)).state_dict()

    def generator(self, purpose: str) -> torch.Generator:
        """A generator for one random choice of the run (a random mask, ties, `random`)."""
        return torch.Generator().manual_seed(derived_seed(self.spec.seed, purpose))

    def layer_rates(self, model: nn.Module) -> dict[str, float]:
        rate = self.spec.prune.output_rate
        return {} if rate is None else {output_name(model): rate}

    def level(self, level: int, branch: str = "imp") -> LevelDir:
        return self.store.level(self.run_id, level, branch)

    def rewind(self) -> State:
        """The weights at the rewind point, saved while level 0 trained."""
        return self.store.load_rewind(self.run_id)


def prune_next(
    ctx: Context, prev: LevelDir, names: list[str], rates: dict[str, float], purpose: str
) -> M.Mask:
    """The mask of the level after `prev`: its solution pruned by the spec's rate and rule."""
    p = ctx.spec.prune
    final = prev.load_checkpoint("final")
    return M.prune(
        prunable(final, names),
        prev.load_mask(),
        p.rate,
        p.scope,
        p.criterion,
        rates,
        ctx.generator(purpose),
    )
