"""Upper bounds every analysis request obeys, whatever limits an operator set: a Hessian
cannot have more eigenvalues than it has coordinates, and a Lanczos basis that cannot fit in
this machine's largest memory (its RAM or a GPU's) would only fail hours later.

Checked where requests enter: the queue's `analysis` kind, `analyze` in the terminal and the
`reproduce` job before its analyses. Which bounds apply is the analysis's own declaration (its
registered `Analysis.bounds`, a `SolverBounds`), so this module names no analysis.

The dimension of a level is its kept prunable weights plus the parameters that are never
pruned (counted from a checkpoint's tensor shapes, read without loading the data); BatchNorm
running statistics are counted too, so the bound errs on the side of allowing a request, which
the solver then caps at the true dimension.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from engine import paths
from engine.config import SpecError
from engine.store import Store, StoreError

BYTES = 4  # float32 vectors, as the models are stored
BLOCK = 64  # the Lanczos basis grows in blocks of this many vectors (analysis.lanczos)
_BUFFERS = ("running_mean", "running_var")


def _never_pruned(store: Store, run_id: str, branch: str, level: int) -> int:
    """Parameters outside the mask, from the level's final checkpoint (memory-mapped)."""
    lv = store.level(run_id, level, branch)
    path = paths.checkpoint(lv.path, "final")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)["model"]
        masked = set(torch.load(paths.mask(lv.path), weights_only=True, mmap=True))
    except Exception as e:  # a truncated or foreign file: its readers say which
        raise StoreError(f"cannot read {path}: {e}") from None
    return sum(
        t.numel()
        for name, t in state.items()
        if name not in masked and t.is_floating_point() and not name.endswith(_BUFFERS)
    )


def dimensions(store: Store, run_id: str, levels: Mapping[str, list[int]]) -> dict[str, int]:
    """The Hessian's dimension at each finished level named in `levels` ({branch: [level]})."""
    out: dict[str, int] = {}
    extra: int | None = None
    for branch, lvs in levels.items():
        for level in lvs:
            summary = store.level(run_id, level, branch).summary()
            if summary is None:
                continue
            if extra is None:  # the same architecture at every level of the run
                extra = _never_pruned(store, run_id, branch, level)
            out[f"{branch} level {level}"] = int(summary["kept"]) + extra
    return out


def capacity() -> int:
    """Bytes of this machine's largest memory: its RAM or its largest GPU's."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    count = torch.cuda.device_count()
    gpus = [torch.cuda.get_device_properties(i).total_memory for i in range(count)]
    return max([ram, *gpus])


def basis_bytes(request: Mapping[str, Any], dim: int) -> tuple[str, int]:
    """A top-k solve's vectors at dimension `dim`: the option that sizes them (`k`) and their
    bytes, for the request's `backend`."""
    k = min(request["k"], dim)
    if request.get("backend") == "arpack":  # host float64; eigsh's default ncv = 2k + 1
        return "k", min(dim, max(2 * k + 1, 20)) * dim * 8
    if request.get("backend") == "pyhessian":
        return "k", k * dim * BYTES
    rows = min(max(8 * k, k), dim)  # hessian.top_eigenvalues' default step cap
    return "k", math.ceil(rows / BLOCK) * BLOCK * dim * BYTES


def density_bytes(request: Mapping[str, Any], dim: int) -> tuple[str, int]:
    """Stochastic Lanczos quadrature's vectors at dimension `dim` (sized by `steps`): its
    starts go as blocks of up to 8 (hessian.FORWARD_BLOCK)."""
    rows = min(request["steps"] * min(request["vectors"], 8), dim)
    return "steps", math.ceil(rows / BLOCK) * BLOCK * dim * BYTES


@dataclass(frozen=True)
class SolverBounds:
    """What bounds an analysis's Hessian solver at a level of dimension d: `basis(request, d)`
    gives the option that sizes its vectors and their bytes; with `top_k`, its `k` option
    counts eigenvalues, so k <= d at every level asked."""

    basis: Callable[[Mapping[str, Any], int], tuple[str, int]]
    top_k: bool = False


TOP_K_BOUNDS = SolverBounds(basis_bytes, top_k=True)
DENSITY_BOUNDS = SolverBounds(density_bytes)


def check_analysis(store: Store, request: Mapping[str, Any], bounds: SolverBounds | None) -> None:
    """Raise SpecError naming the option when a normalised request exceeds `bounds` (its
    analysis's; None: an analysis with no Hessian solver, nothing to check)."""
    if bounds is None:
        return
    dims = dimensions(store, request["run_id"], request["levels"])
    if not dims:
        return
    if bounds.top_k:
        where, smallest = min(dims.items(), key=lambda kv: kv[1])
        if request["k"] > smallest:
            raise SpecError(
                "k",
                f"{request['k']} is more than the {smallest} unpruned coordinates of {where}; "
                f"use k <= {smallest} (or fewer levels)",
            )
    where, largest = max(dims.items(), key=lambda kv: kv[1])
    option, need = bounds.basis(request, largest)
    have = capacity()
    if need > have:
        raise SpecError(
            option,
            f"{request[option]} needs about {need / 2**30:.1f} GiB of solver vectors at {where} "
            f"({largest} coordinates), more than this machine's {have / 2**30:.1f} GiB; "
            f"lower {option}",
        )
