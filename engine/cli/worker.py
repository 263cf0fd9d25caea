"""`python -m engine worker`: run queued jobs in this process until stopped."""

from __future__ import annotations

import argparse

from engine.cli.args import DEVICE, arg, command
from engine.jobs.queue import ENV
from engine.settings import store_root


def add_parser(sub: argparse._SubParsersAction) -> None:
    command(
        sub,
        "worker",
        main,
        DEVICE,
        arg("--max-jobs", type=int, default=None, help="Exit after running N jobs."),
        arg(
            "--poll-interval",
            type=float,
            default=None,
            help=f"Seconds between claims while idle (default ${ENV['poll_interval']} or 0.25).",
        ),
        arg(
            "--heartbeat-timeout",
            type=float,
            default=None,
            help="Seconds without a heartbeat before a running job is requeued "
            f"(default ${ENV['heartbeat_timeout']} or 30).",
        ),
        arg("--worker-id", default=None, help="Name shown in `jobs` (default host-pid)."),
        arg(
            "--parent-pid",
            type=int,
            default=None,
            help="Exit when this process ends (the app's embedded worker uses it).",
        ),
        help="Run queued jobs (one at a time) until stopped.",
        description="Claim jobs from the store's queue and run them one at a time. Start one "
        "worker per GPU, and CPU workers beside them if you like; they share the queue safely. "
        "Ctrl-C or SIGTERM gives the running job back to the queue.",
    )


def main(args: argparse.Namespace) -> int:
    from engine import threads
    from engine.jobs.worker import run_worker  # torch: loaded only to run a worker

    threads.reexec_with_passive_wait()  # idle OpenMP threads sleep (read when torch loads)
    run_worker(
        args.store or store_root(),
        device=args.device,
        max_jobs=args.max_jobs,
        poll_interval=args.poll_interval,
        heartbeat_timeout=args.heartbeat_timeout,
        worker_id=args.worker_id,
        parent_pid=args.parent_pid,
    )
    return 0
