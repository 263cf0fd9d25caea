"""What a finished level's done.json vouches for: the SHA-256 of each file it was made of.

`LevelDir.mark_done` records ``{"files": {relative path: sha256}}``; every reader of a
finished level checks a file against it before use (`atomic.digest` hashes each version of a
file once per process), so a truncated, flipped or deleted file is reported with its path
instead of being read as if sound. Paths are relative to the level folder; level 0 of a
branch also vouches for the branch's own files (``../rewind.pt``), which its training wrote.

A done.json without ``files`` was written before hashes were recorded: its level is
*unverified* — read as before, and `python -m engine fsck` says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from engine import atomic, paths

DONE = paths.done(Path()).name  # for messages
FILES = "files"  # the key of done.json that holds the hashes


def vouch(folder: Path, files: Iterable[Path]) -> dict[str, str]:
    """The hashes done.json records for `files` (those that exist), keyed relative to `folder`."""
    return {os.path.relpath(p, folder): atomic.digest(p) for p in sorted(files) if p.is_file()}


def level_files(folder: Path) -> list[Path]:
    """The files a finished level is made of: mask, metrics, checkpoints; at level 0 also
    the branch's own files beside the level folders (IMP's rewind point)."""
    files = [paths.mask(folder), paths.metrics(folder), *paths.checkpoints(folder).glob("*.pt")]
    if paths.is_first_level(folder):
        files += folder.parent.glob("*.pt")
    return files


def file_problem(folder: Path, path: Path, files: dict[str, str] | None) -> str | None:
    """Why `path` is not the file done.json vouches for, or None (also when it vouches for
    nothing: an unfinished or unverified level)."""
    expected = (files or {}).get(os.path.relpath(path, folder))
    if expected is None:
        return None
    if not path.is_file():
        return f"missing {path} (its level's {DONE} vouches for it)"
    try:
        found = atomic.digest(path)
    except OSError as e:
        return f"cannot read {path}: {e.strerror or e}"
    if found != expected:
        return f"damaged {path}: its sha256 does not match the one in {paths.done(folder)}"
    return None


def problems(folder: Path, files: dict[str, str]) -> list[str]:
    """One line for every vouched file that is missing or damaged."""
    vouched = (Path(os.path.normpath(folder / rel)) for rel in sorted(files))
    lines = (file_problem(folder, path, files) for path in vouched)
    return [line for line in lines if line is not None]
