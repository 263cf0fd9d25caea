"""Where this code lives, for a process started to run it (the embedded worker, a Ray task):
such a process may start in another working directory, or on a node whose interpreter has
not installed the lab, so it is told the folder holding ``engine/`` on its ``PYTHONPATH``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # holds engine/


def pythonpath(env: Mapping[str, str]) -> str:
    """`env`'s ``PYTHONPATH`` with this code's folder first."""
    return os.pathsep.join(p for p in (str(PACKAGE_PARENT), env.get("PYTHONPATH")) if p)
