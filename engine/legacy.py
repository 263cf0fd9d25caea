"""Stores written before the SQLite queue and index: their diskcache folders, read once.

Until this version `<store>/jobs` and `<store>/index` were diskcache caches (``cache.db`` plus
side files for values over 32 KB). On first open the new queue and index copy what those
hold, then rename ``cache.db`` to `RETIRED` so it is never read again (the side files stay,
unused). A value whose side file is gone reads as missing, so nothing here raises for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RETIRED = "cache.db.before-sqlite"


def has_legacy(folder: Path) -> bool:
    return (folder / "cache.db").is_file()


def legacy_items(folder: Path) -> Iterator[tuple[Any, Any]]:
    """(key, value) of every readable entry of the diskcache in `folder`."""
    try:
        import diskcache  # only stores from before the SQLite queue and index need it
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            f"{folder} was written by an older IMP Lab (diskcache); `pip install diskcache` "
            "once so it can be moved into the new file"
        ) from None
    cache = diskcache.Cache(str(folder), eviction_policy="none")
    try:
        for key in list(cache.iterkeys()):
            value = cache.get(key)
            if value is not None:
                yield key, value
    finally:
        cache.close()


def _records(items: dict[Any, Any], prefix: str) -> dict[str, dict[str, Any]]:
    """The values stored under keys ``(prefix, id)``, by id."""
    return {
        key[1]: value
        for key, value in items.items()
        if isinstance(key, tuple) and len(key) == 2 and key[0] == prefix and isinstance(value, dict)
    }


def legacy_jobs(folder: Path) -> list[dict[str, Any]]:
    """An old queue's job records in claim order: its ``"queued"`` list first (where it
    survived), then the rest by creation time. A queued job missing from a lost list is still
    queued by its own record, so it is queued again here, not stranded."""
    items = dict(legacy_items(folder))
    order = {entry[0]: i for i, entry in enumerate(items.get("queued") or [])}
    last = len(order)
    return sorted(
        _records(items, "job").values(),
        key=lambda r: (order.get(r.get("id"), last), r.get("created") or 0.0),
    )


def legacy_runs(folder: Path) -> tuple[dict[str, dict[str, Any]], int]:
    """An old run index's records by run id, and its store version."""
    items = dict(legacy_items(folder))
    return _records(items, "run"), int(items.get("version") or 0)


def retire(folder: Path) -> None:
    """Rename the old cache file so no later open reads it again."""
    for suffix in ("", "-wal", "-shm"):
        old = folder / f"cache.db{suffix}"
        if old.exists():
            os.replace(old, folder / f"{RETIRED}{suffix}")
