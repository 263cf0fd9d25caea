"""SYNTHETIC data sets, made from a fixed seed: never a stand-in for real results.

`synthetic_cifar10` has CIFAR-10's shapes and sizes with random labels, for timing GPU runs
where CIFAR-10 can't be downloaded; nothing can be learned from it. `synthetic_cifar10_small`
has the same shapes at 128 / 32 images, for smoke tests of CIFAR pipelines on a CPU.
`synthetic_tiny` is a small learnable problem for fast tests.
"""

from pathlib import Path

import torch

from engine.data import register
from engine.data.bundle import DataBundle

SEED = 0


def _bundle(
    name: str,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    classes: int,
    augment: bool,
    source: str,
    purpose: str,
) -> DataBundle:
    """A synthetic set's bundle, with the record every one carries: what it is (`source`),
    what it is for (`purpose`), its seed and sizes, and that it is not real data."""
    return DataBundle.of_splits(
        name,
        train,
        test,
        classes,
        augment,
        {
            "source": f"SYNTHETIC: {source}",
            "real": False,
            "purpose": purpose,
            "seed": SEED,
            "n_train": len(train[1]),
            "n_test": len(test[1]),
        },
    )


def _gaussian_cifar(name: str, n_train: int, n_test: int, purpose: str) -> DataBundle:
    """Standard gaussian 3x32x32 images with uniformly random labels, CIFAR-10's augmentation."""
    g = torch.Generator().manual_seed(SEED)
    classes = 10
    train = (
        torch.randn(n_train, 3, 32, 32, generator=g),
        torch.randint(0, classes, (n_train,), generator=g),
    )
    test = (
        torch.randn(n_test, 3, 32, 32, generator=g),
        torch.randint(0, classes, (n_test,), generator=g),
    )
    source = "standard gaussian images, uniformly random labels"
    return _bundle(name, train, test, classes, True, source, purpose)


@register("synthetic_cifar10")
def synthetic_cifar10(root: Path, download: bool) -> DataBundle:
    """50,000 / 10,000 images; ~1.5 s and 740 MB to make."""
    purpose = "timing only: labels are random, accuracy stays at chance"
    return _gaussian_cifar("synthetic_cifar10", 50_000, 10_000, purpose)


@register("synthetic_cifar10_small")
def synthetic_cifar10_small(root: Path, download: bool) -> DataBundle:
    """128 / 32 images: CPU smoke tests of the CIFAR pipelines (`reproduce --smoke`)."""
    purpose = "smoke tests only: CIFAR-10's shapes, a few images, chance accuracy"
    return _gaussian_cifar("synthetic_cifar10_small", 128, 32, purpose)


@register("synthetic_tiny")
def synthetic_tiny(root: Path, download: bool) -> DataBundle:
    """Gaussian 1x8x8 images labelled by the argmax of a fixed random linear map: learnable."""
    g = torch.Generator().manual_seed(SEED)
    n_train, n_test, classes = 512, 128, 4
    x = torch.randn(n_train + n_test, 1, 8, 8, generator=g)
    w = torch.randn(64, classes, generator=g)
    y = (x.flatten(1) @ w).argmax(1)
    return _bundle(
        "synthetic_tiny",
        (x[:n_train], y[:n_train]),
        (x[n_train:], y[n_train:]),
        classes,
        False,
        "gaussian images, label = argmax of a fixed random linear map",
        "fast tests: labels are a linear function of the inputs, so learnable",
    )
