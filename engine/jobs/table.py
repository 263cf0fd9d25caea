"""The job queue's SQLite file: every read and write of job and worker rows, and nothing else.

`engine.jobs.queue.JobQueue` decides what a change means (claims, retries, recovery); this module
only stores it. One row per job (no value grows with the queue) and an index for each
question the queue asks, so a submit, a claim and a stale-job scan cost the same at 10 and at
10,000 queued jobs.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine import paths
from engine.database import Database, record_ok, scalar
from engine.jobs.records import ACTIVE, CLAIMED, STATUSES, Job
from engine.legacy import RETIRED, has_legacy, legacy_jobs, retire

log = logging.getLogger("engine")

# `seq` orders queued jobs for claiming (a requeued job goes before new ones); `beat` is a
# claimed job's last heartbeat (or its start); `record` is the whole Job as JSON.
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT NOT NULL,
    created REAL NOT NULL,
    seq INTEGER NOT NULL,
    beat REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_by_kind ON jobs (status, kind, seq);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, status);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created);
CREATE TABLE IF NOT EXISTS workers (id TEXT PRIMARY KEY, beat REAL NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
"""


def encode(record: dict[str, Any]) -> str:
    return json.dumps(record, default=str)


def _job(raw: str) -> Job:
    return Job.from_dict(json.loads(raw))


class JobTable:
    """``<folder>/queue.sqlite3``, opened (and checked) at once; an old diskcache queue in
    `folder` is imported on first open (see `engine.legacy`)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.db = Database(paths.queue_db(folder), SCHEMA, "job queue", {"jobs": record_ok})
        with self.db.read():  # create or check the file now, not at the first submit
            pass
        if has_legacy(folder):
            self._import_legacy()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside is one atomic change (`BEGIN IMMEDIATE`: one writer at a time)."""
        with self.db.write():
            yield

    def _import_legacy(self) -> None:
        with self.db.write() as c:
            if scalar(c, "SELECT value FROM meta WHERE key = 'legacy_imported'") is None:
                jobs = [Job.from_dict(r) for r in legacy_jobs(self.folder)]
                for seq, job in enumerate(jobs):  # legacy_jobs gives them in claim order
                    _write(c, job, seq)
                c.execute("INSERT INTO meta VALUES ('legacy_imported', ?)", (time.time(),))
                n = Counter(j.status for j in jobs)
                counts = ", ".join(f"{n[s]} {s}" for s in STATUSES if n[s])
                log.warning(
                    f"moved {len(jobs)} job(s) ({counts or 'none'}) from the old diskcache "
                    f"queue in {self.folder} into {self.db.path.name}; the old file is now "
                    f"{RETIRED}"
                )
        retire(self.folder)

    # --- jobs -------------------------------------------------------------------------------
    def load(self, job_id: str) -> Job | None:
        with self.db.read() as c:
            raw = scalar(c, "SELECT record FROM jobs WHERE id = ?", job_id)
        return None if raw is None else _job(raw)

    def save(self, job: Job, place: str | None = None) -> None:
        """Write a job's row; `place` ("back" or "front") puts it at that end of the queue."""
        with self.db.write() as c:
            if place is None:
                seq = scalar(c, "SELECT seq FROM jobs WHERE id = ?", job.id) or 0
            else:
                order = "DESC" if place == "back" else "ASC"
                sql = f"SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq {order} LIMIT 1"
                edge = scalar(c, sql)
                seq = 0 if edge is None else edge + (1 if place == "back" else -1)
            _write(c, job, seq)

    def delete(self, job_id: str) -> None:
        with self.db.write() as c:
            c.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def _jobs(self, sql: str, *params: Any) -> list[Job]:
        with self.db.read() as c:
            rows = c.execute(sql, params).fetchall()
        return [_job(raw) for (raw,) in rows]

    def newest_first(self) -> list[Job]:
        return self._jobs("SELECT record FROM jobs ORDER BY created DESC")

    def first_queued(self, kinds: Collection[str] | None) -> Job | None:
        """The next job to claim: one indexed look-up per kind, whatever the queue's length."""
        sql = "SELECT seq, record FROM jobs WHERE status = 'queued'"
        with self.db.read() as c:
            if kinds is None:
                rows = [c.execute(f"{sql} ORDER BY seq LIMIT 1").fetchone()]
            else:
                query = f"{sql} AND kind = ? ORDER BY seq LIMIT 1"
                rows = [c.execute(query, (kind,)).fetchone() for kind in set(kinds)]
        rows = [r for r in rows if r is not None]
        return _job(min(rows)[1]) if rows else None

    def any_queued(self, kinds: Collection[str] | None) -> bool:
        kinds = None if kinds is None else list(kinds)
        sql = "SELECT 1 FROM jobs WHERE status = 'queued'"
        if kinds is not None:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
        with self.db.read() as c:
            return scalar(c, f"{sql} LIMIT 1", *(kinds or ())) is not None

    def queued(self) -> list[tuple[str, str]]:
        """(id, kind) of the queued jobs in claim order."""
        with self.db.read() as c:
            sql = "SELECT id, kind FROM jobs WHERE status = 'queued' ORDER BY seq"
            return [(job_id, kind) for job_id, kind in c.execute(sql)]

    def stale(self, before: float, limit: int = -1) -> list[Job]:
        """Claimed jobs whose last heartbeat is older than `before` (at most `limit`)."""
        sql = "SELECT record FROM jobs WHERE status IN (?, ?) AND beat < ? LIMIT ?"
        return self._jobs(sql, *CLAIMED, before, limit)

    def active_for(self, owner: str) -> int:
        """How many queued or running jobs `owner` has."""
        marks = ",".join("?" * len(ACTIVE))
        with self.db.read() as c:
            sql = f"SELECT count(*) FROM jobs WHERE owner = ? AND status IN ({marks})"
            return scalar(c, sql, owner, *ACTIVE)

    # --- workers ----------------------------------------------------------------------------
    def put_worker(self, worker_id: str, record: dict[str, Any]) -> None:
        with self.db.write() as c:
            row = (worker_id, record["heartbeat"], encode(record))
            c.execute("INSERT OR REPLACE INTO workers VALUES (?, ?, ?)", row)

    def drop_workers(self, worker_id: str | None = None, before: float | None = None) -> None:
        """Forget one worker, or every worker whose heartbeat is older than `before`."""
        with self.db.write() as c:
            if worker_id is not None:
                c.execute("DELETE FROM workers WHERE id = ?", (worker_id,))
            if before is not None:
                c.execute("DELETE FROM workers WHERE beat < ?", (before,))

    def workers_since(self, since: float) -> list[dict[str, Any]]:
        with self.db.read() as c:
            sql = "SELECT record FROM workers WHERE beat >= ? ORDER BY id"
            return [json.loads(raw) for (raw,) in c.execute(sql, (since,))]


def _write(c: sqlite3.Connection, job: Job, seq: int) -> None:
    beat = job.heartbeat or job.started or 0.0
    row = (job.id, job.kind, job.status, job.owner, job.created, seq, beat, encode(job.to_dict()))
    c.execute("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
