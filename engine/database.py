"""One SQLite file shared by many processes, for the job queue and the run index.

Why SQLite from the standard library: every record is its own row, so no value grows with the
queue and a write costs the same at 10 rows as at 10,000; a transaction is atomic and durable
across SIGKILL (WAL); `BEGIN IMMEDIATE` takes the write lock before reading, so two processes
never both claim one job; `busy_timeout` makes a writer wait for the lock instead of failing.
It needs no server and no package, and it is what diskcache (used before) was built on.

Every file is checked when it is opened (``PRAGMA quick_check``); a damaged one is moved aside
as ``<name>.damaged-<time>``, the rows still readable in it are copied into a new file, and a
warning on the ``engine`` logger says so. Damage found later, in a long-lived process, closes
the connection and raises `DatabaseDamaged`; the next use reopens, checks and replaces.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger("engine")

T = TypeVar("T")
BUSY_TIMEOUT = 60.0  # seconds a writer waits for another process's transaction
SUFFIXES = ("", "-wal", "-shm")


class DatabaseDamaged(Exception):
    """A database file turned out damaged while in use; it is replaced when next opened."""


def is_damage(error: BaseException) -> bool:
    """True for SQLite's "this file is corrupt / not a database" errors (not for "locked")."""
    name = getattr(error, "sqlite_errorname", "") or ""
    return isinstance(error, _QuickCheckFailed) or name.startswith(
        ("SQLITE_CORRUPT", "SQLITE_NOTADB")
    )


class _QuickCheckFailed(sqlite3.DatabaseError):
    pass


def record_ok(row: tuple) -> bool:
    """A salvaged row is kept when its last column (the record) is a JSON object."""
    try:
        return isinstance(json.loads(row[-1]), dict)
    except (TypeError, ValueError):
        return False


class Database:
    """`path` with `schema` applied; thread-safe (one connection, one lock) and fork-safe.

    `salvage` names the tables whose readable rows are copied out of a damaged file, each with
    a check a row must pass to be kept.
    """

    def __init__(
        self,
        path: str | Path,
        schema: str,
        what: str,
        salvage: dict[str, Callable[[tuple], bool]] | None = None,
    ):
        self.path, self.schema, self.what = Path(path), schema, what
        self.salvage = salvage or {}
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._opened: tuple[int, int] | None = None  # (pid, inode) the connection belongs to
        self._depth = 0  # nesting of write() in the thread holding the lock

    # --- use --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads outside a transaction (each statement is consistent)."""
        with self._lock, self._damage_guard():
            yield self._connection()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction, committed on success; nested calls join it."""
        with self._lock, self._damage_guard():
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            else:
                conn.commit()
            finally:
                self._depth = 0

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._opened and self._opened[0] == os.getpid():
                self._conn.close()
            self._conn, self._opened = None, None

    def __del__(self) -> None:
        # A sqlite3 connection sits in a reference cycle (its statement cache), so without
        # this an unclosed Store or JobQueue would hold its file open until the next GC.
        with contextlib.suppress(Exception):
            self.close()

    # --- opening ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _damage_guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as e:
            if not is_damage(e) or self._depth:
                raise
            self.close()
            raise DatabaseDamaged(
                f"{self.what} {self.path} is damaged ({e}); it is moved aside and rebuilt "
                "when next opened: run the command again"
            ) from None

    def _connection(self) -> sqlite3.Connection:
        """The open connection; reopened after a fork or when the file was replaced."""
        if self._depth:  # inside a transaction: keep using its connection
            return self._conn
        if self._conn is not None and self._opened != (os.getpid(), _inode(self.path)):
            if self._opened and self._opened[0] != os.getpid():
                self._conn = None  # a parent's connection: never use or close it in a child
            self.close()
        if self._conn is None:
            try:
                self._conn = self._open()
            except sqlite3.DatabaseError as e:
                if not is_damage(e):
                    raise
                self._conn = self._replace(e)
            self._opened = (os.getpid(), _inode(self.path))
        return self._conn

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL survives any process crash (SIGKILL); only a power loss can
            # roll back the last commits, never corrupt the file.
            conn.execute("PRAGMA synchronous=NORMAL")
            (check,) = conn.execute("PRAGMA quick_check").fetchone()
            if check != "ok":
                raise _QuickCheckFailed(f"integrity check: {check}")
            conn.executescript(f"BEGIN IMMEDIATE;\n{self.schema}\nCOMMIT;")
        except BaseException:
            conn.close()
            raise
        return conn

    def _replace(self, error: sqlite3.DatabaseError) -> sqlite3.Connection:
        """Move a damaged file aside (one process at a time) and start a new one."""
        with _file_lock(self.path.with_name(self.path.name + ".lock")):
            try:
                return self._open()  # another process may have replaced it meanwhile
            except sqlite3.DatabaseError as e:
                if not is_damage(e):
                    raise
            aside = self.path.with_name(
                f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
            )
            for suffix in SUFFIXES:
                if Path(f"{self.path}{suffix}").exists():
                    os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
            conn = self._open()
            saved = self._salvage(aside, conn)
        log.warning(
            f"{self.what} {self.path} was damaged ({error}); moved it to {aside.name} and "
            f"started a new one{saved}"
        )
        return conn

    def _salvage(self, aside: Path, conn: sqlite3.Connection) -> str:
        """Copy the rows still readable in the damaged file; say how many."""
        if not self.salvage:
            return ""
        counts, old = [], sqlite3.connect(aside, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for table, keep in self.salvage.items():
                n = 0
                with contextlib.suppress(sqlite3.DatabaseError):
                    for row in old.execute(f"SELECT * FROM {table}"):  # our own table names
                        if keep(row):
                            marks = ",".join("?" * len(row))
                            conn.execute(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", row)
                            n += 1
                counts.append(f"{n} {table}")
            conn.commit()
        finally:
            old.close()
        return f"; recovered {', '.join(counts)} from it"


def _inode(path: Path) -> int:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return -1


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def once_more(fn: Callable[[], T]) -> T:
    """`fn()`, run again once if it met a damaged file (closed by then, so the second run
    opens, moves aside and replaces it): for readers that must not fail, like listing runs."""
    try:
        return fn()
    except DatabaseDamaged:
        return fn()


def scalar(conn: sqlite3.Connection, sql: str, *params: Any) -> Any:
    """The first column of the first row, or None."""
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]
