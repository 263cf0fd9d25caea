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


def _gaussian_cifar(name: str, n_train: int, n_test: int, purpose: str) -> DataBundle:
    """Standard gaussian 3x32x32 images with uniformly random labels, CIFAR-10's augmentation."""
    g = torch.Generator().manual_seed(SEED)
    classes = 10
    return DataBundle(
        name=name,
        train_x=torch.randn(n_train, 3, 32, 32, generator=g),
        train_y=torch.randint(0, classes, (n_train,), generator=g),
        test_x=torch.randn(n_test, 3, 32, 32, generator=g),
        test_y=torch.randint(0, classes, (n_test,), generator=g),
        num_classes=classes,
        in_shape=(3, 32, 32),
        augment=True,
        info={
            "source": "SYNTHETIC: standard gaussian images, uniformly random labels",
            "real": False,
            "purpose": purpose,
            "seed": SEED,
            "n_train": n_train,
            "n_test": n_test,
        },
    )


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
    return DataBundle(
        name="synthetic_tiny",
        train_x=x[:n_train],
        train_y=y[:n_train],
        test_x=x[n_train:],
        test_y=y[n_train:],
        num_classes=classes,
        in_shape=(1, 8, 8),
        augment=False,
        info={
            "source": "SYNTHETIC: gaussian images, label = argmax of a fixed random linear map",
            "real": False,
            "purpose": "fast tests: labels are a linear function of the inputs, so learnable",
            "seed": SEED,
            "n_train": n_train,
            "n_test": n_test,
        },
    )
