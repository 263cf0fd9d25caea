"""`python -m engine run`: train an IMP-WR run (and its baselines) in this process."""

from __future__ import annotations

import argparse
import time

from engine.cli.args import DEVICE, command, flag
from engine.cli.display import ProgressReporter, console, make_progress
from engine.cli.specargs import add_spec_arguments, spec_from_args
from engine.imp import run_imp
from engine.settings import store_root
from engine.store import Store
from engine.summaries import summary_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    command(
        sub,
        "run",
        main,
        add_spec_arguments,
        DEVICE,
        flag("-v", "--verbose", help="Print a line per epoch."),
        help="Train a run now (resumes if it was started before).",
        description="Train an IMP-WR run and its baselines; re-running the same "
        "spec resumes it and never redoes finished levels.",
    )


def main(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    store = Store(args.store or store_root())
    console.print(f"run [bold]{spec.run_id}[/bold] in {store.root}")
    t0 = time.perf_counter()
    with make_progress() as progress:
        summaries = run_imp(spec, store, args.device, ProgressReporter(progress, args.verbose))
    console.print(summary_table(summaries, title=f"{spec.run_id}"))
    console.print(f"finished in {time.perf_counter() - t0:.1f} s")
    return 0
