"""What one seed of a `reproduce` experiment will compute, counted from its spec before
anything is queued, and a rough estimate of the GPU hours it takes.

The estimate counts floating-point operations: a training epoch is three forward passes'
worth per training example (forward and backward) plus a forward pass over the test set; a
Hessian-vector product six per subset example (a gradient, then its forward-mode derivative);
a top-k spectrum `HVP_PER_K`·k products; every point of an interpolation path or a pruned
start one forward pass over both splits (and one more over the training set where BatchNorm is
recomputed). The forward pass of one example is counted by `torch.utils.flop_counter`. The
hours are those FLOPs at an *assumed* sustained rate (`--gpu-tflops`): small CIFAR networks at
batch 128 keep a GPU far from its peak, so measure an epoch on the GPU and pass the rate it
implies. Nothing here was timed on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine import threads
from engine.baselines import Training
from engine.config import RunSpec
from engine.plan import plan

HVP_PER_K = 3.0  # products per eigenvalue: Conv-2's top-10 took 30 (docs/reproduction)
HVP_FLOPS = 6.0  # per subset example, in forward passes
TRAIN_FLOPS = 3.0  # per training example and epoch, in forward passes
DEFAULT_TFLOPS = 4.0  # assumed sustained rate; see the module docstring
N_INTERPOLATION = 11  # points per path (the interpolation and instability default)

# Shapes and sizes of the data sets the paper's experiments use, so a plan needs no download.
SHAPES: dict[str, tuple[tuple[int, int, int], int, int, int]] = {
    "cifar10": ((3, 32, 32), 10, 50_000, 10_000),
    "cifar100": ((3, 32, 32), 100, 50_000, 10_000),
    "mnist": ((1, 28, 28), 10, 60_000, 10_000),
    "fashion_mnist": ((1, 28, 28), 10, 60_000, 10_000),
    "mnist5k": ((1, 28, 28), 10, 4_000, 1_000),
}


@dataclass(frozen=True)
class Work:
    """Per seed: the networks trained and their epochs, the analyses' units, the FLOPs."""

    trainings: int  # IMP levels and baselines
    copies: int  # instability copies
    epochs: float  # summed over trainings (an upper bound where the rewind is in iterations)
    spectra: int  # top-k spectra: IMP points, baselines' solutions, loss-matched points
    path_points: int  # points on interpolation and instability paths
    k: int
    subset: int
    forward_gflops: float  # one example's forward pass
    flops: float  # everything above, in FLOPs

    def gpu_hours(self, tflops: float = DEFAULT_TFLOPS) -> float:
        return self.flops / (tflops * 1e12) / 3600

    def epoch_seconds(self, n_train: int, n_test: int, tflops: float = DEFAULT_TFLOPS) -> float:
        """One training epoch at `tflops`, for checking the assumed rate against a GPU."""
        fwd = self.forward_gflops * 1e9
        return (TRAIN_FLOPS * n_train + n_test) * fwd / (tflops * 1e12)


def data_shape(name: str) -> tuple[tuple[int, int, int], int, int, int]:
    """(input shape, classes, training size, test size) of data set `name`."""
    if name in SHAPES:
        return SHAPES[name]
    from engine.data import load_dataset  # synthetic sets are made in a moment

    d = load_dataset(name, "unused")
    return d.in_shape, d.num_classes, len(d.train_x), len(d.test_x)


def forward_flops(spec: RunSpec) -> float:
    """FLOPs of one example's forward pass through the spec's model, on its data's shape."""
    shape, classes, _, _ = data_shape(spec.data.name)
    return threads.forward_flops(spec.model.name, 1, tuple(shape), classes)


def _trainings(spec: RunSpec) -> tuple[int, int, float]:
    """(trainings of the run, instability copies, epochs of them all)."""
    t, k = spec.train.length, spec.prune.rewind
    runs = plan(spec)
    copies = spec.prune.levels + 1 + (1 if k.value > 0 else 0)  # level 0's copy A if k > 0
    if t.unit != "ep":  # a length in iterations counts no epochs
        return len(runs), copies, 0.0
    copy = Training("copy", 0, k, t, "a level's start", "the level's mask")  # from the rewind
    return len(runs), copies, float(sum(r.units for r in runs) + copies * copy.units)


def plan_work(spec: RunSpec, k: int, subset: int) -> Work:
    """The work `engine.reproduce` does for one seed of `spec` with top-`k` on `subset`."""
    _, _, n_train, n_test = data_shape(spec.data.name)
    levels, baselines = spec.prune.levels, len(spec.baselines.kinds)
    trainings, copies, epochs = _trainings(spec)
    spectra = 1 + 2 * levels + baselines + levels  # min_0, min_L and Pr_L, baselines, matched
    paths = 2 * levels + levels + 1  # Pr_L -> min_L and min_(L-1) -> min_L; copies
    pruned = 2 * levels
    fwd = forward_flops(spec)
    flops = epochs * (TRAIN_FLOPS * n_train + n_test) * fwd
    flops += spectra * HVP_PER_K * k * HVP_FLOPS * subset * fwd
    flops += (paths * N_INTERPOLATION + pruned) * (2 * n_train + n_test) * fwd
    points = paths * N_INTERPOLATION
    return Work(trainings, copies, epochs, spectra, points, k, subset, fwd / 1e9, flops)


def describe(spec: RunSpec, work: Work, seeds: int, tflops: float) -> list[str]:
    """The plan in lines for the terminal: per seed, for all seeds, and the estimate."""
    _, _, n_train, n_test = data_shape(spec.data.name)
    epoch_s = work.epoch_seconds(n_train, n_test, tflops)
    hours = work.gpu_hours(tflops)
    return [
        f"per seed: {work.trainings} trainings ({spec.prune.levels + 1} IMP levels and the "
        f"baselines: {', '.join(spec.baselines.kinds) or 'none'}) and {work.copies} "
        f"instability copies, about {work.epochs:,.0f} epochs of {n_train:,} images",
        f"per seed: {work.spectra} top-{work.k} Hessian spectra on {work.subset:,} images, "
        f"{work.path_points} interpolation points, distances, trajectories, pruned starts",
        f"model: {work.forward_gflops:.3g} GFLOP per image forward; at an assumed "
        f"{tflops:g} TFLOP/s sustained an epoch takes {epoch_s:.1f} s (if yours takes "
        "longer, pass --gpu-tflops with the rate it implies)",
        f"estimate: {hours:.3g} GPU hours per seed, {hours * seeds:.3g} for {seeds} seed(s) "
        "(not measured on a GPU: a FLOP count at the assumed rate)",
    ]
