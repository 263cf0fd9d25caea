"""Which execution backend runs a store's jobs, and where a store must live to be shared.

The queue in the store is the source of truth whatever the backend: `local` means worker
processes on this machine (`python -m engine worker`, or the app's embedded one); `ray` means a
dispatcher (`python -m engine ray-dispatch`) that turns queued jobs into Ray tasks. Settings
come from, in order of precedence: command-line flags, the environment (`ENV`), the
``[cluster]`` table of ``imp-lab.toml`` (`engine.settings_loader`), the deprecated
``<store>/cluster.toml`` (still read, with a notice), the defaults::

    [cluster]
    backend = "ray"
    address = "10.0.0.1:6379"   # the Ray head; "auto" = the cluster this node belongs to
    device = "auto"             # auto: a GPU per task when the cluster has GPUs, else a CPU
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config import SpecError
from engine.settings_loader import Layer, load_section, read_toml

BACKENDS = ("local", "ray")
DEVICES = ("auto", "cpu", "cuda")
LEGACY_FILE = "cluster.toml"  # before imp-lab.toml had a [cluster] table
ENV = {
    "backend": "IMP_LAB_BACKEND",
    "address": "IMP_LAB_RAY_ADDRESS",
    "device": "IMP_LAB_RAY_DEVICE",
}
INSTALL_HINT = "install it with `pip install -r requirements-cluster.txt`"


@dataclass(frozen=True)
class ClusterConfig:
    backend: str = "local"
    address: str | None = None  # None: start a Ray instance on this machine (tests, laptops)
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise SpecError("backend", f"{self.backend!r}: choose one of {', '.join(BACKENDS)}")
        if self.device not in DEVICES:
            raise SpecError("device", f"{self.device!r}: choose one of {', '.join(DEVICES)}")


def load_cluster_config(store_root: str | Path, **flags: Any) -> ClusterConfig:
    """Flags that are not None, then $IMP_LAB_*, then imp-lab.toml's [cluster], then the
    deprecated ``<store>/cluster.toml``, then the defaults."""
    legacy = Path(store_root) / LEGACY_FILE
    below = []
    if legacy.is_file():
        _deprecated(legacy)
        below.append(Layer(read_toml(legacy, LEGACY_FILE), f"{LEGACY_FILE}.", legacy))
    return load_section(ClusterConfig, "cluster", ENV, below, **flags)


@functools.cache
def _deprecated(path: Path) -> None:
    """One line, once per process, for each old file still in use."""
    print(
        f"imp-lab: {path} is deprecated; move its settings into a [cluster] table in "
        "imp-lab.toml (README, Settings)",
        file=sys.stderr,
    )


def shared_store_path(text: str | Path) -> Path:
    """The store as an absolute path every node can use; object-store URLs are refused.

    The job queue and the run index are SQLite databases and results are written
    by atomic rename, which need a POSIX filesystem: a store on ``s3://`` or ``gs://`` would
    need another implementation, not a URL. Mount a shared filesystem at the same path on
    every node instead.
    """
    text = str(text)
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme != "file":
            raise SpecError(
                "store",
                f"{text!r}: a store cannot live on {scheme}:// — the job queue and run index "
                "are SQLite databases and results are written by atomic rename, which need a "
                "POSIX filesystem. Use a folder that every node mounts at the same path "
                "(NFS, CephFS, Lustre, a cloud filestore...).",
            )
        text = rest
    return Path(text).expanduser().resolve()


def require_ray() -> None:
    """Refuse the Ray backend with one clear line when ray is not installed."""
    if importlib.util.find_spec("ray") is None:
        raise SpecError("backend", f"the ray backend needs the `ray` package; {INSTALL_HINT}")
