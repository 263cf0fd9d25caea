"""One spectrum result as plain data: the top-k eigenvalues of the restricted Hessian at a
state, the log-volume proxy over them and the loss at the state, all on the same fixed
subset. The spectrum analysis and the loss-matched control both store this form, so every
spectrum in a report comes with its loss."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from engine.analysis import geometry
from engine.analysis.context import Context
from engine.analysis.hessian import top_eigenvalues
from engine.analysis.point import LossPoint
from engine.analysis.volume import log_volume


def plain(obj: Any) -> Any:
    """Dataclasses, tensors and arrays as JSON-able lists and numbers."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


def spectrum_result(
    ctx: Context, state: Mapping[str, Tensor], mask: Mapping[str, Tensor], opts: Mapping
) -> dict[str, Any]:
    """Top-`k` eigenvalues (options k, backend, tol, seed) on the subset (subset, seed), the
    volume proxy over the positive ones, and the loss at `state` on those examples."""
    x, y, record = ctx.examples(opts)
    spectrum = top_eigenvalues(
        LossPoint(ctx.model, state, mask, x, y, device=ctx.device),
        k=opts["k"],
        backend=opts["backend"],
        tol=opts["tol"],
        seed=opts["seed"],
    )
    volume = log_volume(spectrum.eigenvalues, k=spectrum.k)  # k is capped at the dimension
    loss = geometry.loss(ctx.model, state, x, y)
    return {**plain(spectrum), "volume": plain(volume), "loss": loss, "data": record}
