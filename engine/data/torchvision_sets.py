"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 through torchvision, in `root/<name>`.

Each set is converted to tensors in one go from the dataset's `.data`/`.targets` arrays:
no per-image PIL transforms. torchvision is imported on first use so that importing the
registry (and using mnist5k or synthetic sets) stays fast.
"""

import functools
import shutil
from pathlib import Path
from typing import NamedTuple

import torch

from engine.data import register
from engine.data.bundle import DataBundle
from engine.data.errors import DataNotFoundError


class _Set(NamedTuple):
    cls: str  # class name in torchvision.datasets
    mean: tuple[float, ...]  # per-channel mean and std of the train split, pixels in [0, 1]
    std: tuple[float, ...]
    num_classes: int
    augment: bool
    layout: str  # what torchvision expects under the folder, for the error message


_SETS = {
    "mnist": _Set("MNIST", (0.1307,), (0.3081,), 10, False, "MNIST/raw/*-ubyte"),
    "fashion_mnist": _Set(
        "FashionMNIST", (0.2860,), (0.3530,), 10, False, "FashionMNIST/raw/*-ubyte"
    ),
    "cifar10": _Set(
        "CIFAR10", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 10, True,
        "cifar-10-batches-py/",
    ),
    "cifar100": _Set(
        "CIFAR100", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 100, True,
        "cifar-100-python/",
    ),
}  # fmt: skip


def split_tensors(
    ds: object, mean: tuple[float, ...], std: tuple[float, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """A torchvision split's whole `.data`/`.targets` as normalised float32 NCHW and int64."""
    x = torch.as_tensor(ds.data)
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)  # MNIST NHW, CIFAR NHWC
    x = x.float().div_(255).sub_(torch.tensor(mean).view(1, -1, 1, 1))
    x = x.div_(torch.tensor(std).view(1, -1, 1, 1)).contiguous()
    return x, torch.as_tensor(ds.targets, dtype=torch.int64)


def _load(name: str, root: Path, download: bool) -> DataBundle:
    """Read (or first download) both splits into `root/name` and build the bundle."""
    from torchvision import datasets

    spec = _SETS[name]
    folder = root / name
    cls = getattr(datasets, spec.cls)
    new = [p for p in (root, folder) if not p.exists()]  # what a failed download leaves
    try:
        train, test = (cls(folder, train=t, download=download) for t in (True, False))
    except (RuntimeError, OSError) as e:
        if new:  # made by this attempt: nothing of the user's is in them
            shutil.rmtree(new[0], ignore_errors=True)
        what = "download failed" if download else f"expected {folder / spec.layout}"
        raise DataNotFoundError(name, folder, f"{what}; torchvision said: {e}", download) from e
    train_x, train_y = split_tensors(train, spec.mean, spec.std)
    test_x, test_y = split_tensors(test, spec.mean, spec.std)
    return DataBundle.of_splits(
        name,
        (train_x, train_y),
        (test_x, test_y),
        spec.num_classes,
        spec.augment,
        {
            "source": f"torchvision.datasets.{spec.cls} in {folder}",
            "real": True,
            "split": "official train/test",
            "n_train": len(train_y),
            "n_test": len(test_y),
            "mean": spec.mean,
            "std": spec.std,
        },
    )


for _name in _SETS:  # each loader is `_load` for its name
    register(_name)(functools.partial(_load, _name))
