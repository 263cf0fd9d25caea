"""Where things live: the store and the data folder, from the environment or defaults."""

from __future__ import annotations

import os
from pathlib import Path


def store_root() -> Path:
    return Path(os.environ.get("IMP_LAB_STORE", "store"))


def data_root() -> str:
    return os.environ.get("IMP_LAB_DATA", "data")
