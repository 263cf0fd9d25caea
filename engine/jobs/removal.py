"""Deleting a run with everything it owns: its folder (checkpoints, metrics, analyses, job
logs), its index row and its jobs. `python -m engine delete RUN_ID` and the Runs page both call
`delete_run`.

A run with a job that a worker is running is refused unless `force` is given: deleting a run
while it trains is more often the wrong row than the wish, so the message names the jobs and
how to stop them. With `force` those jobs are cancelled first and the deletion waits until no
worker holds one, so no worker writes into the folder after it is gone. Queued jobs of the run
are simply removed with it: nothing has started, nothing is lost. The check, the removal of
the job rows and of the folder happen under the queue's write lock (nothing is submitted or
claimed meanwhile), and `Store.delete_run` first renames the folder out of ``runs/``
(atomic): a crash midway leaves the whole run or none of it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from engine.jobs.queue import CLAIMED, Job, JobError, JobQueue
from engine.store import StoreError, check_name


@dataclass(frozen=True)
class Deleted:
    """What `delete_run` removed: the run's job ids, and whether it had a folder."""

    run_id: str
    jobs: list[str]
    files: bool


def jobs_of(queue: JobQueue, run_id: str) -> list[Job]:
    """Every job of `run_id`: its training, its analyses, its reproduce jobs."""
    return [
        j for j in queue.list() if j.run_id == run_id or (j.payload or {}).get("run_id") == run_id
    ]


def delete_run(
    queue: JobQueue, run_id: str, force: bool = False, wait_s: float | None = None
) -> Deleted:
    """Remove `run_id`'s folder, index row and jobs; see the module docstring for `force`.

    `wait_s` bounds the wait for cancelled jobs to stop (default: twice the heartbeat timeout,
    after which a job whose worker died is cancelled by `recover`)."""
    check_name(run_id)
    if force:
        wait_s = 2 * queue.settings.heartbeat_timeout if wait_s is None else wait_s
        _stop_jobs(queue, run_id, wait_s)
    with queue.table.transaction():
        jobs = jobs_of(queue, run_id)
        held = [j for j in jobs if j.status in CLAIMED]
        if held:
            names = ", ".join(f"{j.id} ({j.status})" for j in held)
            raise JobError(
                f"run {run_id} has running jobs: {names}; cancel them first, or force the "
                "deletion (`python -m engine delete RUN --force` cancels them and waits)"
            )
        store = queue.store
        known = store.run_path(run_id).is_dir() or store.index.raw_record(run_id) is not None
        if not jobs and not known:
            raise StoreError(f"no run {run_id!r} in {queue.root} (see `python -m engine ls`)")
        for job in jobs:
            queue.table.delete(job.id)
        files = store.delete_run(run_id)  # folder into the trash, index row gone
    store.empty_trash()
    return Deleted(run_id, [j.id for j in jobs], files)


def _stop_jobs(queue: JobQueue, run_id: str, wait_s: float) -> None:
    """Cancel the run's running jobs and wait until no worker holds one."""
    for job in jobs_of(queue, run_id):
        if job.status == "running":
            queue.cancel(job.id)
    end = time.monotonic() + wait_s
    while held := [j for j in jobs_of(queue, run_id) if j.status in CLAIMED]:
        if time.monotonic() > end:
            names = ", ".join(j.id for j in held)
            raise JobError(
                f"{names} still stopping after {wait_s:g} s (a worker stops at the end of an "
                "epoch); the run is not deleted: run the same command again"
            )
        time.sleep(queue.settings.poll_interval)
        queue.recover()  # a job whose worker died ends cancelled once its heartbeat is stale
