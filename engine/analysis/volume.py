"""Basin volume proxy from the top of the Hessian spectrum (METHOD.md §5).

Under the quadratic model a basin's volume scales with ∏ λ_i^(-1/2), so its log is
-½ Σ log λ_i. Only the top k eigenvalues are known, and only positive ones have a log: the
proxy sums over the positive values among the top k and says how many that was, so two
proxies are comparable only when their k (and k_positive) match. Larger means flatter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class VolumeProxy:
    """-½ Σ log λ_i over the `k_positive` positive values among the top `k`; `n_negative`
    of those k are negative (zeros count as neither). 0.0 when none is positive."""

    log_volume: float
    k: int
    k_positive: int
    n_negative: int


def log_volume(eigenvalues: Sequence[float], k: int | None = None) -> VolumeProxy:
    """The proxy over the k largest of `eigenvalues` (all of them when k is None)."""
    values = sorted((float(v) for v in eigenvalues), reverse=True)
    if k is None:
        k = len(values)
    if not 1 <= k <= len(values):
        raise ValueError(f"k must be between 1 and {len(values)} (eigenvalues given), got {k}")
    top = values[:k]
    positive = [v for v in top if v > 0]
    return VolumeProxy(
        log_volume=-0.5 * math.fsum(math.log(v) for v in positive),
        k=k,
        k_positive=len(positive),
        n_negative=sum(v < 0 for v in top),
    )
