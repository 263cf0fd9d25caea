"""`python -m engine analyze RUN --what ...`: compute (or queue) an analysis of a stored run.

Its help, flags and printed tables are generated from the registered analyses
(`engine.analysis.registry`); flags are passed through as text, so the CLI, the job queue and
the app validate a request in one place (`normalize_request`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import pandas as pd
from rich.table import Table

from engine.analysis import jobs, registry, tables
from engine.analysis.options import Option
from engine.cli.args import DEVICE, RUN, Arg, arg, command, flag, submit
from engine.cli.display import console, make_progress
from engine.settings import store_root
from engine.store import Store


def _option(name: str, opt: Option) -> Arg:
    """A registered analysis option as a flag (`branches` also answers to --branch)."""
    names = [f"--{name.replace('_', '-')}", *(["--branch"] if name == "branches" else [])]
    one_of = f" One of: {', '.join(opt.choices)}." if opt.choices else ""
    default = f" Default: {opt.shown_default}." if opt.default is not None else ""
    users = ", ".join(registry.users(name))
    return arg(*names, dest=name, metavar="V", help=f"{opt.help}{one_of}{default} For: {users}.")


def add_parser(sub: argparse._SubParsersAction) -> None:
    command(
        sub,
        "analyze",
        main,
        RUN,
        arg(
            "--what",
            required=True,
            help=f"Analyses, comma-separated: {', '.join(registry.names())}.",
        ),
        *(_option(name, opt) for name, opt in registry.options().items()),
        DEVICE,
        submit("Queue a job for a worker instead."),
        flag("--json", help="Print the result tables as JSON."),
        help="Analyse a stored run (distances, spectra, interpolation, ...).",
        description="Compute analyses of a stored run in this process, or queue them for a "
        "worker with --submit. Results are cached: asking again recomputes nothing.\n\n"
        + "\n".join(f"  {a.name}: {a.help}" for a in registry.all()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def requests(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One request per analysis named in --what, with the flags that apply to it."""
    out = []
    known = registry.options()
    for what in [w.strip() for w in args.what.split(",") if w.strip()]:
        allowed = registry.get(what).option_names if what in registry.names() else ()
        given = {k: getattr(args, k) for k in known if getattr(args, k) is not None}
        request = {"run_id": args.run, "what": what}
        # a flag meant for another analysis in the same command is not an error for this one
        several = len(args.what.split(",")) > 1
        request |= {k: v for k, v in given.items() if k in allowed or not several}
        out.append(request)
    return out


class AnalysisReporter:
    """A `Reporter` drawing one progress bar per analysis."""

    def __init__(self, progress):
        self.bar, self.tasks = progress, {}

    def progress(self, **f: Any) -> None:
        label = f["label"]
        if label not in self.tasks:
            self.tasks[label] = self.bar.add_task(label, total=f["total"])
        self.bar.update(
            self.tasks[label], completed=f["iteration"], description=f"{label}  {f['unit']}"
        )

    def epoch_done(self, row: dict[str, float], label: str) -> None:
        pass

    def cancelled(self) -> bool:
        return False


def main(args: argparse.Namespace) -> int:
    store = Store(args.store or store_root())
    reqs = [jobs.checked_request(store, r) for r in requests(args)]  # all checked up front
    if args.submit:
        from engine.jobs.queue import JobQueue

        queue = JobQueue(store.root)
        for r in reqs:
            job = queue.submit("analysis", r, owner="cli")
            console.print(f"job [bold]{job.id}[/bold] ({r['what']}): {job.status}")
        return 0
    for r in reqs:
        with make_progress() as progress:
            summary = jobs.execute(store, r, args.device, AnalysisReporter(progress))
        records = jobs.stored_results(store, r)
        specs = registry.get(r["what"]).table_specs
        frames = {t.name: tables.frame(t.name, records, t.cli_columns) for t in specs}
        if args.json:
            print(json.dumps({k: f.to_dict(orient="records") for k, f in frames.items()}))
            continue
        console.print(render(f"{r['what']} of {r['run_id']}", summary_frame(r, frames)))
        console.print(
            f"{r['what']}: {summary['computed']} computed, {summary['cached']} from the cache"
            + (f", skipped {', '.join(summary['skipped'])}" if summary["skipped"] else "")
            + f" ({summary['seconds']:.1f} s)"
        )
    return 0


def render(title: str, df: pd.DataFrame) -> Table:
    table = Table(title=title)
    for col in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[col]) and df[col].dtype != bool
        table.add_column(str(col), justify="right" if numeric else "left")
    for row in df.itertuples(index=False):
        table.add_row(*(_fmt(v) for v in row))
    return table


def summary_frame(request: dict, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """What a terminal can show: the analysis's summary (wide results such as spectra and
    surfaces summarised per unit), or its first table."""
    analysis = registry.get(request["what"])
    if analysis.summary is not None:
        return analysis.summary(request, frames)
    return next(iter(frames.values())).drop(columns="run_id")


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
