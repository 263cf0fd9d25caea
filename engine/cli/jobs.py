"""`python -m engine submit|jobs|cancel|delete`: queue work for the workers, follow it, and
delete runs with their jobs."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from rich.table import Table

from engine.cli.args import JSON, OWNER, arg, command, flag
from engine.cli.display import console
from engine.cli.specargs import add_spec_arguments, spec_from_args
from engine.jobs.queue import Job, JobQueue
from engine.jobs.removal import delete_run
from engine.settings import store_root
from engine.threads import worker_text

LOG_TAIL = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    command(
        sub,
        "submit",
        submit_job,
        add_spec_arguments,
        OWNER,
        help="Queue a run for a worker (same flags as `run`).",
        description="Queue a run; a worker (`python -m engine worker`) trains it. Submitting "
        "the same spec again returns the existing job, never a second computation.",
    )
    command(
        sub,
        "jobs",
        show_jobs,
        arg("job", nargs="?", help="Show this job's details, error and log tail."),
        JSON,
        help="List jobs with status, progress and ETA, or show one.",
    )
    text = "Cancel a job (a running one stops within an epoch)."
    command(
        sub,
        "cancel",
        cancel_job,
        arg("job", help="Job id (see `jobs`)."),
        help=text,
        description=text,
    )
    command(
        sub,
        "delete",
        delete_cmd,
        arg("target", metavar="RUN_OR_JOB", help="Run id (see `ls`) or job id."),
        flag("--force", help="Cancel the run's running jobs first and wait until they stop."),
        help="Delete a run with its files and jobs, or forget one job.",
        description="Delete a run: its folder (checkpoints, metrics, analyses, logs), its "
        "index row and every job of it. A run with a running job is refused unless "
        "--force. Given a job id instead, forget that job (its results stay).",
    )


def _queue(args: argparse.Namespace) -> JobQueue:
    return JobQueue(args.store or store_root())


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def progress_text(job: Job) -> str:
    """One line: where the job is (level, epoch) and how far along."""
    p = job.progress
    parts = [p["label"]] if p.get("label") else []
    if p.get("epoch") is not None and p.get("epochs"):
        parts.append(f"epoch {p['epoch']}/{p['epochs']}")
    if p.get("fraction") is not None:
        parts.append(f"{100 * p['fraction']:.0f}%")
    return ", ".join(parts)


def submit_job(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    queue = _queue(args)
    job = queue.submit("run", spec.to_dict(), owner=args.owner)
    console.print(f"job [bold]{job.id}[/bold] ({job.status}): run {job.run_id}")
    if job.status in ("queued", "running") and not queue.live_workers():
        console.print(
            f"[yellow]no worker is running[/yellow]: start one with "
            f"`python -m engine worker --store {queue.root}`"
        )
    return 0


def show_jobs(args: argparse.Namespace) -> int:
    queue = _queue(args)
    if args.job:
        return _show_job(queue, queue.get(args.job), args.json)
    jobs = queue.list()
    if args.json:
        print(json.dumps([j.to_dict() for j in jobs], indent=2, default=str))
        return 0
    table = Table(title=f"jobs in {queue.root}")
    for col in ("job", "kind", "run", "status", "progress", "loss", "ETA", "worker", "tries"):
        table.add_column(col)
    for j in jobs:
        loss = j.progress.get("loss")
        table.add_row(
            j.id,
            j.kind,
            j.run_id or "",
            j.status if not j.error else f"{j.status}: {j.error.splitlines()[0][:60]}",
            progress_text(j),
            f"{loss:.4f}" if loss is not None and j.status in ("running", "cancelling") else "",
            format_duration(j.progress.get("eta")) if j.status == "running" else "",
            j.worker or "",
            str(j.attempts),
        )
    console.print(table)
    workers = queue.live_workers()
    names = ", ".join(f"{w['worker_id']} ({worker_text(w)})" for w in workers)
    console.print(f"live workers: {names or 'none'}")
    return 0


def _show_job(queue: JobQueue, job: Job, as_json: bool) -> int:
    if as_json:
        print(json.dumps(job.to_dict(), indent=2, default=str))
        return 0
    stamp = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else ""  # noqa: E731
    rows: list[tuple[str, Any]] = [
        ("job", job.id),
        ("kind", job.kind),
        ("status", job.status),
        ("run", job.run_id or ""),
        ("progress", progress_text(job)),
        ("step", (job.progress or {}).get("step_path", "")),  # eager or compiled: engine.compiled
        ("attempts", job.attempts),
        ("worker", job.worker or ""),
        ("created", stamp(job.created)),
        ("started", stamp(job.started)),
        ("finished", stamp(job.finished)),
        ("log", queue.log_file(job) or ""),
    ]
    for name, value in rows:
        console.print(f"[bold]{name:>9}[/bold]  {value}", highlight=False)
    if job.error:
        console.print(f"[red]error:[/red] {job.error}", highlight=False)
    if job.traceback:
        console.print(job.traceback, markup=False, highlight=False)
    log = queue.log_file(job)
    if log is not None and log.is_file():
        console.print(f"[bold]last lines of the log[/bold] ({log}):")
        for line in log.read_text().splitlines()[-LOG_TAIL:]:
            console.print(line, markup=False, highlight=False)
    return 0


def cancel_job(args: argparse.Namespace) -> int:
    job = _queue(args).cancel(args.job)
    console.print(f"job {job.id}: {job.status}")
    return 0


def delete_cmd(args: argparse.Namespace) -> int:
    queue = _queue(args)
    if not queue.store.has_run(args.target) and queue.table.load(args.target) is not None:
        queue.delete(args.target)
        console.print(f"job {args.target} deleted")
        return 0
    gone = delete_run(queue, args.target, force=args.force)
    files = "its folder and " if gone.files else ""
    console.print(f"run {gone.run_id} deleted: {files}{len(gone.jobs)} job(s)")
    return 0
