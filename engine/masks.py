"""Masks over a model's prunable weights, and the pruning rules that produce them.

A mask is a plain ``dict[str, Tensor]`` of 0/1 float tensors keyed by parameter name, so it
saves, loads and compares like any state dict. All functions are pure: they return new masks.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

Mask = dict[str, Tensor]


def ones_mask(weights: Mapping[str, Tensor]) -> Mask:
    """Level 0: every prunable weight is kept."""
    return {k: torch.ones_like(w) for k, w in weights.items()}


def _scores(weights: Mapping[str, Tensor], criterion: str, generator: torch.Generator | None):
    """Per-weight keep scores: higher is kept longer."""
    out = {}
    for k, w in weights.items():
        if criterion == "smallest":
            out[k] = w.detach().abs().float()
        elif criterion == "largest":
            out[k] = -w.detach().abs().float()
        elif criterion == "random":
            out[k] = torch.rand(w.shape, generator=generator).to(w.device)
        else:
            raise ValueError(f"unknown criterion {criterion!r}; choose smallest, largest or random")
    return out


def _keep_top(scores: Tensor, alive: Tensor, keep: int) -> Tensor:
    """A 0/1 tensor keeping the `keep` highest-scoring alive entries (ties broken by index)."""
    flat_scores = torch.where(alive.flatten() > 0, scores.flatten(), torch.tensor(-torch.inf))
    order = torch.argsort(flat_scores, descending=True, stable=True)
    out = torch.zeros_like(flat_scores)
    out[order[:keep]] = 1.0
    return out.view_as(scores)


def prune(
    weights: Mapping[str, Tensor],
    mask: Mapping[str, Tensor],
    rate: float,
    scope: str = "global",
    criterion: str = "smallest",
    layer_rates: Mapping[str, float] | None = None,
    generator: torch.Generator | None = None,
) -> Mask:
    """Prune a fraction `rate` of the *remaining* weights.

    `scope="global"` ranks all layers together; `"layer"` prunes each layer by the same rate.
    `layer_rates` gives some layers their own rate, pruned within the layer (the output layer
    of LeNet at 10% in Frankle & Carbin); those layers are left out of the global ranking.
    """
    layer_rates = dict(layer_rates or {})
    scores = _scores(weights, criterion, generator)
    new: Mask = {}
    pooled = [k for k in weights if k not in layer_rates] if scope == "global" else []
    for k in weights:
        if k in pooled:
            continue
        alive = mask[k].to(scores[k].device)
        n_alive = int(alive.sum().item())
        keep = n_alive - round(layer_rates.get(k, rate) * n_alive)
        new[k] = _keep_top(scores[k], alive, keep).to(mask[k].device)
    if pooled:
        flat_s = torch.cat([scores[k].flatten().cpu() for k in pooled])
        flat_a = torch.cat([mask[k].flatten().cpu() for k in pooled])
        n_alive = int(flat_a.sum().item())
        kept = _keep_top(flat_s, flat_a, n_alive - round(rate * n_alive))
        i = 0
        for k in pooled:
            n = mask[k].numel()
            new[k] = kept[i : i + n].view_as(mask[k]).to(mask[k].device)
            i += n
    return {k: new[k] for k in weights}


def prune_to_counts(
    weights: Mapping[str, Tensor],
    counts: Mapping[str, int],
    scope: str = "global",
    criterion: str = "smallest",
    pooled: frozenset[str] | None = None,
    generator: torch.Generator | None = None,
) -> Mask:
    """One-shot pruning of dense weights straight to a target number of kept weights.

    With `scope="global"` the layers in `pooled` (default: all) share one ranking and keep
    `sum(counts[pooled])` weights between them; every other layer keeps exactly `counts[k]`.
    """
    scores = _scores(weights, criterion, generator)
    pooled = frozenset(weights) if pooled is None else pooled
    pooled = pooled if scope == "global" else frozenset()
    new: Mask = {}
    for k in weights:
        if k not in pooled:
            new[k] = _keep_top(scores[k], torch.ones_like(scores[k]), counts[k])
    if pooled:
        names = [k for k in weights if k in pooled]
        flat = torch.cat([scores[k].flatten().cpu() for k in names])
        kept = _keep_top(flat, torch.ones_like(flat), sum(counts[k] for k in names))
        i = 0
        for k in names:
            n = weights[k].numel()
            new[k] = kept[i : i + n].view_as(weights[k]).to(weights[k].device)
            i += n
    return {k: new[k].to(weights[k].device).float() for k in weights}


def random_mask_like(
    counts: Mapping[str, int], shapes: Mapping[str, torch.Size], generator: torch.Generator
) -> Mask:
    """A random mask keeping exactly `counts[k]` weights in each layer (RPN baselines)."""
    out: Mask = {}
    for k, shape in shapes.items():
        n = int(torch.Size(shape).numel())
        idx = torch.randperm(n, generator=generator)[: counts[k]]
        m = torch.zeros(n)
        m[idx] = 1.0
        out[k] = m.view(shape)
    return out


def kept_counts(mask: Mapping[str, Tensor]) -> dict[str, int]:
    return {k: int(m.sum().item()) for k, m in mask.items()}


def project(weights: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """`Pr_L(W) = W ⊙ m_L`; entries without a mask (biases, BatchNorm) pass through."""
    return {k: (w * mask[k].to(w.device, w.dtype) if k in mask else w) for k, w in weights.items()}


def sparsity_report(mask: Mapping[str, Tensor]) -> list[dict[str, float | int | str]]:
    """Per-layer and total kept/total counts and sparsity, for tables and summaries."""
    rows: list[dict[str, float | int | str]] = []
    total_kept = total = 0
    for k, m in mask.items():
        kept, n = int(m.sum().item()), m.numel()
        rows.append({"layer": k, "kept": kept, "total": n, "sparsity": 1 - kept / n})
        total_kept += kept
        total += n
    rows.append(
        {
            "layer": "(all)",
            "kept": total_kept,
            "total": total,
            "sparsity": 1 - total_kept / max(total, 1),
        }
    )
    return rows


def sparsity(mask: Mapping[str, Tensor]) -> float:
    """Fraction of prunable weights that are pruned."""
    kept = sum(int(m.sum().item()) for m in mask.values())
    total = sum(m.numel() for m in mask.values())
    return 1 - kept / max(total, 1)
