"""Which execution backend runs a store's jobs, and where a store must live to be shared.

The queue in the store is the source of truth whatever the backend: `local` means worker
processes on this machine (`python -m engine worker`, or the app's embedded one); `ray` means a
dispatcher (`python -m engine ray-dispatch`) that turns queued jobs into Ray tasks. Settings
come from, in order: defaults, ``<store>/cluster.toml`` (beside the queue, so every node and
the app see the same file), the environment (`ENV`), then command-line flags::

    backend = "ray"
    address = "10.0.0.1:6379"   # the Ray head; "auto" = the cluster this node belongs to
    device = "auto"             # auto: a GPU per task when the cluster has GPUs, else a CPU
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config import SpecError

BACKENDS = ("local", "ray")
DEVICES = ("auto", "cpu", "cuda")
CONFIG_FILE = "cluster.toml"
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
    """Defaults, then ``<store>/cluster.toml``, then $IMP_LAB_*, then `flags` that are not None."""
    values: dict[str, Any] = {}
    path = Path(store_root) / CONFIG_FILE
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise SpecError(CONFIG_FILE, f"{path} is not valid TOML: {e}") from None
        names = [f.name for f in dataclasses.fields(ClusterConfig)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise SpecError(f"{CONFIG_FILE}.{unknown[0]}", f"unknown; allowed: {', '.join(names)}")
        values.update(data)
    for name, var in ENV.items():
        if os.environ.get(var, "").strip():
            values[name] = os.environ[var].strip()
    values.update({k: v for k, v in flags.items() if v is not None})
    return ClusterConfig(**values)


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
