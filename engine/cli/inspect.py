"""`python -m engine ls` and `show RUN`: read the store, never train."""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from engine.cli.args import JSON, RUN, command
from engine.cli.display import console
from engine.results import level_summaries
from engine.settings import store_root
from engine.store import Store, StoreError
from engine.summaries import summary_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    command(sub, "ls", list_runs, help="List stored runs.")
    command(sub, "show", show_run, RUN, JSON, help="Show a run's spec and per-level summary.")


def list_runs(args: argparse.Namespace) -> int:
    store = Store(args.store or store_root())
    records, problems = store.list_runs()
    table = Table(title=f"runs in {store.root}")
    for col in ("run", "model", "data", "trainings done", "status"):
        table.add_column(col, no_wrap=col == "run")
    for rec in records:
        spec = rec.get("spec", {})
        try:
            trained = str(len(level_summaries(store, rec["run_id"])))
        except StoreError as e:  # one unreadable done.json: this run's row says so, not `ls`
            trained = "?"
            problems.append(f"{e} (see `python -m engine fsck {rec['run_id']}`)")
        table.add_row(
            rec["run_id"],
            spec.get("model", {}).get("name", "?"),
            spec.get("data", {}).get("name", "?"),
            trained,
            rec.get("status", "?"),
        )
    console.print(table)
    for line in problems:
        console.print(f"[yellow]skipped:[/yellow] {line}")
    return 0


def show_run(args: argparse.Namespace) -> int:
    store = Store(args.store or store_root())
    spec = store.load_spec(args.run)
    summaries = level_summaries(store, args.run)
    if args.json:
        print(
            json.dumps(
                {"run_id": args.run, "spec": spec.to_dict(), "levels": summaries},
                indent=2,
                default=str,
            )
        )
        return 0
    console.print_json(json.dumps(spec.to_dict()))
    console.print(summary_table(summaries, title=args.run))
    return 0
