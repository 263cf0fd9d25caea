"""Atomic file writes and the hashes that vouch for them.

A write goes to a temporary file beside the target, is fsynced, then renamed: a reader (or a
killed writer) never sees a half-written file, only the old one or the new. A writer killed
before the rename leaves its temporary file, ``.<name>.<pid>-<host>.XXXXXXXX.tmp``; naming the
writer's process and host lets `sweep_temp_files` tell a dead writer's leftovers from a live
writer's file at start-up. A folder built whole before one rename (a report, `temp_dir`) is
named the same way and swept the same way.

`digest` is the SHA-256 of a file, computed once per process per version of the file (keyed
by path, size and mtime_ns); `write_bytes` records the digest of what it wrote, so vouching
for a file just written costs nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

TEMP_MAX_AGE_S = 600.0  # a temporary file untouched this long is a dead writer's
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TEMP = re.compile(r"^\..+?\.(?:(?P<pid>\d+)-(?P<host>[0-9a-f]{8})\.)?[a-z0-9_]{8}\.tmp$")
_DIGESTS: dict[tuple[str, int, int], str] = {}


def _memo_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def digest(path: str | Path) -> str:
    """SHA-256 of the file's bytes (hex); raises OSError when it cannot be read."""
    key = _memo_key(Path(path))
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_prefix(path.name), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _DIGESTS[_memo_key(path)] = hashlib.sha256(data).hexdigest()


def _prefix(name: str) -> str:
    return f".{name}.{os.getpid()}-{_HOST}."


def temp_dir(parent: Path, name: str) -> Path:
    """A fresh folder beside `parent / name` to build it in before renaming it into place,
    named as `write_bytes` names a temporary file, so a killed builder's is swept too."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=parent, prefix=_prefix(name), suffix=".tmp"))


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def torch_save(obj: Any, path: str | Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getvalue())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def is_stray(path: Path, now: float | None = None, max_age_s: float = TEMP_MAX_AGE_S) -> bool:
    """Whether `path` is a temporary file that no live writer will rename: its writer (on
    this host) is dead, or nobody has written to it for `max_age_s`."""
    m = _TEMP.match(path.name)
    if m is None:
        return False
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except OSError:  # renamed or removed meanwhile: its writer finished
        return False
    if age >= max_age_s:
        return True
    pid, host = m.group("pid"), m.group("host")
    return pid is not None and host == _HOST and not _pid_alive(int(pid))


def stray_temp_files(root: str | Path, max_age_s: float = TEMP_MAX_AGE_S) -> list[Path]:
    """Temporary files and folders (`temp_dir`) under `root` left by killed writes (see
    `is_stray`); a stray folder is listed once, not what it holds."""
    now = time.time()
    out = []
    for folder, dirs, names in os.walk(root):
        found = [
            Path(folder, n)
            for n in (*dirs, *names)
            if n.endswith(".tmp") and is_stray(Path(folder, n), now, max_age_s)
        ]
        dirs[:] = [d for d in dirs if Path(folder, d) not in found]  # not walked into
        out += found
    return sorted(out)


def sweep_temp_files(root: str | Path, max_age_s: float = TEMP_MAX_AGE_S) -> list[Path]:
    """Remove the stray temporary files and folders under `root`; return those removed."""
    removed = []
    for p in stray_temp_files(root, max_age_s):
        try:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed
