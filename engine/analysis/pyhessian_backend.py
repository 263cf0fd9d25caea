"""PyHessian 0.1 as an independent second backend, restricted to the unpruned coordinates.

PyHessian differentiates through every parameter that requires grad, pruned entries
included. `MaskedHessian` multiplies every vector it is given, and every product it returns,
by the 0/1 pattern of the unpruned coordinates, so its operator is `P H P`; the parameters
outside the coordinate set (`params="prunable"`) get `requires_grad=False`, which PyHessian
skips. Its products are its own (reverse-over-reverse autograd), not `HessianOperator`'s:
the point of a second backend is to share nothing but the model and the data.

`hessian.eigenvalues(top_n)` runs power iteration for one eigenvalue at a time and deflates
by orthogonalizing against the ones found: it converges to the eigenvalue of largest
*magnitude* left, so its list is ranked by |λ|, and errors in earlier vectors accumulate in
later ones (ANCHORS.md: its 100th value on LeNet-300-100 was −0.137 where the 100th largest
is +0.088).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from pyhessian import hessian
from pyhessian.utils import group_product, hessian_vector_product
from torch import Tensor

from engine.analysis.hvp import HessianOperator
from engine.imp import seeded


class MaskedHessian(hessian):
    """PyHessian's `hessian` whose every Hessian-vector product is `P H P v`.

    Always built in PyHessian's dataloader mode (all eigen routines then go through
    `dataloader_hv_product`, the one method to override); with a single chunk the gradient
    graph is built once and kept, as PyHessian's single-batch mode does.
    """

    def __init__(self, model, chunks, masks: list[Tensor], cuda: bool) -> None:
        super().__init__(model, F.cross_entropy, dataloader=chunks, cuda=cuda)
        self.masks = masks
        self.n_hvp = 0
        self._grads: list[Tensor] | None = None

    def dataloader_hv_product(self, v):
        v = [vi * m for vi, m in zip(v, self.masks, strict=True)]
        if len(self.data) == 1:
            if self._grads is None:
                inputs, targets = self.data[0]
                self.model.zero_grad()
                loss = self.criterion(self.model(inputs), targets)
                self._grads = list(torch.autograd.grad(loss, self.params, create_graph=True))
            hv = hessian_vector_product(self._grads, self.params, v)
        else:
            _, hv = super().dataloader_hv_product(v)
        hv = [h * m for h, m in zip(hv, self.masks, strict=True)]
        self.n_hvp += 1
        return group_product(hv, v).cpu().item(), hv


def masked_hessian(op: HessianOperator) -> MaskedHessian:
    """PyHessian on `op`'s model, point (`W ⊙ m`), data chunks and coordinates."""
    model = copy.deepcopy(op.model)
    model.load_state_dict({**op.fixed, **op.point})
    for name, p in model.named_parameters():
        p.requires_grad_(name in op.coords.shapes)
    ones = op.coords.unpack(torch.ones(op.dim, dtype=op.dtype, device=op.device))
    masks = [ones[name] for name, p in model.named_parameters() if p.requires_grad]
    return MaskedHessian(model, op.chunks, masks, cuda=op.device.type == "cuda")


def pyhessian_top(op: HessianOperator, k: int, tol: float, seed: int) -> tuple[list[float], int]:
    """PyHessian's `eigenvalues(top_n=k, tol=tol)` (ranked by magnitude) and its product count."""
    h = masked_hessian(op)
    with seeded(seed):
        values, _ = h.eigenvalues(maxIter=100, tol=tol, top_n=k)
    return [float(v) for v in values], h.n_hvp
