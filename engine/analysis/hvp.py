"""The training-loss Hessian as a linear operator on the unpruned coordinates (METHOD.md §4).

The operator's vector space is the packed vector of the coordinates that are *not* pruned: a
pruned coordinate has no slot, so it cannot contribute, whatever the model's weights hold
there. Products are `P H P` at the point `W ⊙ m`, taken in eval mode (BatchNorm uses its
running statistics) for the mean cross-entropy over a fixed data subset, summed over chunks
so memory stays bounded by `chunk_size` examples.

Two ways to take a product, the same Hessian (they agree to float rounding):
- ``"forward"``: forward-over-reverse, `torch.func.jvp` of `torch.func.grad` with
  `functional_call`, recomputing each chunk's forward and backward pass per product.
  Fastest on CUDA (ANCHORS.md: 105 ms against 155 ms for the cached reverse product).
- ``"reverse"``: reverse-over-reverse with each chunk's gradient graph built once and kept,
  so a product only differentiates that graph again. Fastest on CPU (LeNet-300-100, 1,000
  images, one core: 20–33 ms against 49–113 ms forward-over-reverse, and 50 ms for reverse
  with the graph rebuilt), but it keeps *every* chunk's graph (ResNet-20: ~3 MB an image).
``"auto"`` picks ``"reverse"`` on a CPU when the data are one chunk (memory then stays
bounded by `chunk_size` either way), ``"forward"`` otherwise.

`compile=True` takes forward-mode products through torch.compile (engine.compiled.Guarded:
one graph for the batch of tangents, eager again if compiling fails; `compiled` says which
ran). Reverse mode differentiates a gradient graph again, and a compiled backward cannot be
(double backward through a compiled loss did not connect, torch 2.14).
On a CPU it does not beat the reverse mode `auto` picks there (LeNet-300-100, 1,000
images, one thread, three runs of benchmarks/compile.py: 15.9-25.1 ms a product compiled,
17.8-30.2 eager forward, 14.9-23.6 eager reverse, after 10-13 s compiling), so nothing
turns it on there. Products never run
under autocast: a caller's bf16 region stops here.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, jvp, vmap

from engine.analysis.point import LossPoint
from engine.compiled import Guarded
from engine.models import prunable_names

MODES = ("auto", "forward", "reverse")
PARAM_SETS = ("all", "prunable")


@contextlib.contextmanager
def no_tf32(device: torch.device | str) -> Iterator[bool]:
    """Switch TF32 off for CUDA matmuls and cuDNN convolutions; yield whether it was on.

    TF32 limits an HVP's agreement with an fp32 reference to ~1e-3 (ANCHORS.md), so Hessian
    work runs without it and restores the caller's settings afterwards. "On" means on for
    `device`: never on a CPU, where TF32 does not exist.
    """
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield torch.device(device).type == "cuda" and (matmul or cudnn)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


@dataclass(frozen=True)
class Coordinates:
    """Which entries of which parameters form the packed vector, in parameter order.

    `index[name]` holds the flat indices of the kept entries of a partly pruned tensor, or is
    None when the whole tensor is kept (a non-prunable parameter, or a fully kept layer).
    """

    shapes: dict[str, torch.Size]
    index: dict[str, Tensor | None]

    @property
    def dim(self) -> int:
        return sum(
            s.numel() if self.index[k] is None else len(self.index[k])
            for k, s in self.shapes.items()
        )

    def pack(self, tensors: Mapping[str, Tensor]) -> Tensor:
        """The kept entries of `tensors` (one per parameter, full shape after any leading
        batch dimensions) as flat vectors: shape (*batch, dim)."""
        parts = []
        for k, idx in self.index.items():
            t = tensors[k]
            flat = t.reshape(*t.shape[: t.dim() - len(self.shapes[k])], -1)
            parts.append(flat if idx is None else flat[..., idx])
        return torch.cat(parts, dim=-1)

    def unpack(self, vector: Tensor) -> dict[str, Tensor]:
        """Full-shape tensors holding `vector` (shape (*batch, dim)) at the kept entries and
        exact zeros elsewhere, with the same leading batch dimensions."""
        out, start, batch = {}, 0, vector.shape[:-1]
        for k, shape in self.shapes.items():
            idx = self.index[k]
            n = shape.numel() if idx is None else len(idx)
            seg = vector[..., start : start + n]
            start += n
            if idx is not None:
                seg = vector.new_zeros(*batch, shape.numel()).index_copy_(-1, idx, seg)
            out[k] = seg.reshape(*batch, *shape)
        return out


def coordinates(
    model: nn.Module, mask: Mapping[str, Tensor], params: str, device: torch.device
) -> Coordinates:
    """The unpruned coordinates: masked entries of prunable weights, plus every other
    parameter when `params="all"` (biases and BatchNorm are never pruned)."""
    if params not in PARAM_SETS:
        raise ValueError(f"params must be one of {PARAM_SETS}, got {params!r}")
    prunable = set(prunable_names(model))
    unknown = set(mask) - prunable
    if unknown:
        raise ValueError(f"mask names {sorted(unknown)} are not prunable weights of the model")
    shapes, index = {}, {}
    for name, p in model.named_parameters():
        if params == "prunable" and name not in prunable:
            continue
        shapes[name] = p.shape
        m = mask.get(name)
        if m is not None and not bool((m != 0).all()):
            index[name] = torch.nonzero(m.reshape(-1) != 0).flatten().to(device)
        else:
            index[name] = None
    return Coordinates(shapes, index)


class HessianOperator:
    """`v ↦ P H P v` on the packed unpruned coordinates; counts its products in `n_hvp`.

    Built from a `LossPoint` (a copy of its model supplies the architecture; its weights are
    never read) with the data subset as its `(x, y)`. Vectors live on the point's `device`
    in the state's floating dtype; `matvec` accepts and returns packed vectors,
    `matmat` rows of them, `batch` rows per pass through the graph.
    """

    def __init__(
        self,
        at: LossPoint,
        params: str = "all",
        chunk_size: int = 2048,
        mode: str = "auto",
        batch: int = 8,
        compile: bool = False,
    ) -> None:
        model, state, mask, x, y, device = at.model, at.state, at.mask, at.x, at.y, at.device
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"need as many labels as inputs, at least one: {len(x)}, {len(y)}")
        self.device = torch.device(device) if device is not None else x.device
        self.model = copy.deepcopy(model).to(self.device).eval()
        self.coords = coordinates(model, mask, params, self.device)
        tensors = {k: v.detach().to(self.device) for k, v in state.items()}
        for k, m in mask.items():  # evaluate at W ⊙ m: the point lies on the mask
            tensors[k] = tensors[k] * m.to(self.device, tensors[k].dtype)
        self.point = {k: tensors.pop(k) for k in self.coords.shapes}
        self.fixed = tensors  # other parameters (params="prunable") and buffers
        self.dtype = next(iter(self.point.values())).dtype
        self.dim = self.coords.dim
        self.chunks = [
            (x[i : i + chunk_size].to(self.device), y[i : i + chunk_size].to(self.device))
            for i in range(0, len(x), chunk_size)
        ]
        if mode == "auto":
            one_chunk = len(self.chunks) == 1
            mode = "reverse" if self.device.type == "cpu" and one_chunk else "forward"
        self.mode = mode
        self._forward_hv = self._forward_products
        if compile and mode == "forward":
            self._forward_hv = Guarded(self._forward_products)
        self.n_examples = len(x)
        self.batch = batch
        self.n_hvp = 0
        self._graph: tuple[list[Tensor], list[Tensor]] | None = None

    def loss(self, point: Mapping[str, Tensor], xb: Tensor, yb: Tensor) -> Tensor:
        """This chunk's share of the mean cross-entropy: summing over chunks gives the mean."""
        out = functional_call(self.model, {**self.fixed, **point}, (xb,))
        return F.cross_entropy(out, yb, reduction="sum") / self.n_examples

    def _reverse_graph(self) -> tuple[list[Tensor], list[Tensor]]:
        """The gradient of the whole loss, with its graph kept for repeated differentiation."""
        if self._graph is None:
            leaves = [t.clone().requires_grad_(True) for t in self.point.values()]
            point = dict(zip(self.point, leaves, strict=True))
            total: list[Tensor] | None = None
            with torch.enable_grad():
                for xb, yb in self.chunks:
                    g = torch.autograd.grad(self.loss(point, xb, yb), leaves, create_graph=True)
                    total = (
                        list(g) if total is None else [a + b for a, b in zip(total, g, strict=True)]
                    )
            self._graph = (leaves, total)
        return self._graph

    def _hvp_block(self, tangents: dict[str, Tensor]) -> list[Tensor]:
        """H times each of a batch of full-shape tangents (leading dimension: the batch).

        Forward-over-reverse takes the batch through one graph (`vmap` over `jvp`): on a CPU
        8 tangents cost 17 ms each against 42 ms one at a time (LeNet-300-100, 1,000
        images). The kept reverse graph is differentiated once per tangent: batching it
        (`is_grads_batched`, or `vmap` over a `torch.func.vjp`) measured no faster there
        (15–17 ms a product either way), so the plain loop stays.
        """
        if self.mode == "reverse":
            leaves, g = self._reverse_graph()
            parts = list(tangents.values())
            rows = [
                torch.autograd.grad(g, leaves, [t[i] for t in parts], retain_graph=True)
                for i in range(len(parts[0]))
            ]
            return [torch.stack(per_leaf) for per_leaf in zip(*rows, strict=True)]
        return self._forward_hv(tangents)

    def _forward_products(self, tangents: dict[str, Tensor]) -> list[Tensor]:
        """Forward-over-reverse: `vmap` of `jvp` of `grad`, summed over the chunks."""
        total = None
        for xb, yb in self.chunks:
            loss_grad = grad(lambda p, xb=xb, yb=yb: self.loss(p, xb, yb))
            hv = vmap(lambda t, f=loss_grad: jvp(f, (self.point,), (t,))[1])(tangents)
            total = hv if total is None else {k: total[k] + hv[k] for k in total}
        return list(total.values())

    def matmat(self, vectors: Tensor) -> Tensor:
        """`H vᵢ` for each row vᵢ of `vectors` (b × dim), up to `batch` rows per pass.

        Memory grows with `batch` in forward mode: one set of activations per row.
        """
        vectors = vectors.to(self.device, self.dtype)
        out = []
        with no_tf32(self.device), torch.autocast(self.device.type, enabled=False):
            for rows in vectors.split(self.batch):
                hv = self._hvp_block(self.coords.unpack(rows))
                out.append(self.coords.pack(dict(zip(self.coords.shapes, hv, strict=True))))
        self.n_hvp += len(vectors)
        return torch.cat(out)

    @property
    def compiled(self) -> str:
        """Which product ran: eager, compiled, or eager after a failed compile (and why)."""
        forward = self._forward_hv
        return forward.path if isinstance(forward, Guarded) else "eager"

    def matvec(self, v: Tensor) -> Tensor:
        """`H v` restricted to the unpruned coordinates; `v` packed, any dtype or device."""
        return self.matmat(v.reshape(1, -1))[0]

    def random_vector(self, generator: torch.Generator, kind: str = "gaussian") -> Tensor:
        """A random packed vector drawn on the CPU from `generator` (the same on any device)."""
        if kind == "rademacher":
            v = torch.randint(0, 2, (self.dim,), generator=generator).to(self.dtype) * 2 - 1
        else:
            v = torch.randn(self.dim, generator=generator, dtype=torch.float64).to(self.dtype)
        return v.to(self.device)
