"""Registry of data sets: each loader turns a name into a DataBundle on the requested device.

Adding a data set is adding one file here that decorates its loader with `register`: every
module of this package is imported below (`engine.plugins`), so there is no list to edit.
"""

from collections.abc import Callable
from pathlib import Path

import torch

from engine.data.batches import batches, crop_flip, num_batches
from engine.data.bundle import DataBundle
from engine.data.errors import DataNotFoundError
from engine.data.normalize import normalize_inputs
from engine.plugins import import_submodules, lookup, registrar

Loader = Callable[[Path, bool], DataBundle]

DATASETS: dict[str, Loader] = {}


def register(name: str) -> Callable[[Loader], Loader]:
    """Add a loader `fn(root, download) -> DataBundle` (CPU tensors) under `name`."""
    return registrar(DATASETS, "dataset", name)


def dataset_names() -> list[str]:
    """Registered names, sorted, for help texts and choice lists."""
    return sorted(DATASETS)


def load_dataset(
    name: str,
    root: Path | str,
    download: bool = False,
    device: torch.device | str = "cpu",
    normalize: str = "loader",
) -> DataBundle:
    """Load `name` from the data folder `root`, normalise its inputs as `normalize` says
    (`engine.data.normalize`) and move it to `device`.

    Nothing is cached here: a worker holds the bundle for the run it trains.
    """
    loader = lookup(DATASETS, "dataset", name)
    return normalize_inputs(loader(Path(root), download), normalize).to(device)


# Last, because the loader modules import `register` from here.
import_submodules(__name__)

__all__ = [
    "DATASETS",
    "DataBundle",
    "DataNotFoundError",
    "batches",
    "crop_flip",
    "dataset_names",
    "load_dataset",
    "num_batches",
    "register",
]
