"""`python -m engine analyze RUN --what ...`: compute (or queue) an analysis of a stored run.

Flags are generated from `engine.analysis.jobs.OPTIONS` and passed through as text, so the
CLI, the job queue and the app validate a request in one place (`normalize_request`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import pandas as pd
from rich.table import Table

from engine.analysis import jobs, tables
from engine.bounds import check_analysis
from engine.cli.display import console, make_progress
from engine.settings import store_root
from engine.store import Store

# The tables each analysis fills (all printed by --json; summarised for the terminal).
TABLES: dict[str, list[str]] = {
    "distances": ["distances"],
    "trajectory": ["trajectory"],
    "pruned_start": ["pruned_start"],
    "spectrum": ["spectra", "volume"],
    "trace": ["trace"],
    "density": ["density"],
    "interpolation": ["interpolation", "barrier"],
    "landscape": ["landscape"],
    "loss_matched": ["loss_matched", "loss_matched_spectra"],
    "instability": ["instability", "instability_path"],
}


def _flag(name: str) -> list[str]:
    flags = [f"--{name.replace('_', '-')}"]
    return [*flags, "--branch"] if name == "branches" else flags


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="Analyse a stored run (distances, spectra, interpolation, ...).",
        description="Compute analyses of a stored run in this process, or queue them for a "
        "worker with --submit. Results are cached: asking again recomputes nothing.\n\n"
        + "\n".join(f"  {k}: {v}" for k, v in jobs.ANALYSES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", help="Run id (see `ls`).")
    p.add_argument(
        "--what", required=True, help=f"Analyses, comma-separated: {', '.join(jobs.ANALYSES)}."
    )
    for name, opt in jobs.OPTIONS.items():
        default = ",".join(map(str, opt.default)) if isinstance(opt.default, tuple) else opt.default
        one_of = f" One of: {', '.join(opt.choices)}." if opt.choices else ""
        default = f" Default: {default}." if default is not None else ""
        p.add_argument(
            *_flag(name),
            dest=name,
            metavar="V",
            help=f"{opt.help}{one_of}{default} For: {', '.join(opt.analyses)}.",
        )
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda:0, ...")
    p.add_argument("--submit", action="store_true", help="Queue a job for a worker instead.")
    p.add_argument("--json", action="store_true", help="Print the result tables as JSON.")
    p.set_defaults(func=main)


def requests(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One request per analysis named in --what, with the flags that apply to it."""
    out = []
    for what in [w.strip() for w in args.what.split(",") if w.strip()]:
        allowed = jobs.options_for(what) if what in jobs.ANALYSES else []
        given = {k: getattr(args, k) for k in jobs.OPTIONS if getattr(args, k) is not None}
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

    def epoch_done(self, row: dict[str, float]) -> None:
        pass

    def cancelled(self) -> bool:
        return False


def main(args: argparse.Namespace) -> int:
    store = Store(args.store or store_root())
    reqs = [jobs.normalize_request(store, r) for r in requests(args)]  # all checked up front
    for r in reqs:
        check_analysis(store, r)
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
        frames = {name: tables.frame(name, records, _columns(name)) for name in TABLES[r["what"]]}
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
    """What a terminal can show: wide results (spectra, surfaces) summarised per unit."""
    what = request["what"]
    point = ["branch", "level", "point"]
    if what == "distances":
        df = frames["distances"]
        df = df[(df["norm"] == request["norm"]) & (df["normalised"] == request["normalised"])]
        wide = df.pivot_table(index=["branch", "level"], columns="to", values="distance")
        return wide.reset_index().sort_values(["branch", "level"], key=_imp_first)
    if what == "trajectory":
        df = frames["trajectory"]
        return df.pivot_table(
            index=["level", "epoch"], columns="series", values="train_loss"
        ).reset_index()
    if what == "spectrum":
        eig = frames["spectra"].groupby(point)["eigenvalue"]
        top = pd.DataFrame({"top": eig.max(), "lambda_k": eig.min()}).reset_index()
        return frames["volume"].drop(columns="run_id").merge(top, on=point)
    if what == "density":
        df = frames["density"]
        peak = df.loc[df.groupby(point)["density"].idxmax()].set_index(point)["eigenvalue"]
        span = df.groupby(point)["eigenvalue"].agg(["min", "max"])
        return span.assign(mode=peak).reset_index()
    if what == "landscape":
        df, keys = frames["landscape"], point
        near = df.assign(r=df["x"].abs() + df["y"].abs()).sort_values("r").groupby(keys).first()
        span = df.groupby(keys)["train_loss"].agg(["min", "max"])
        return span.assign(at_point=near["train_loss"]).reset_index()
    if what == "interpolation":
        return frames["barrier"].drop(columns="run_id")
    return frames[TABLES[what][0]].drop(columns="run_id")


def _columns(name: str) -> list[str]:
    cols = tables.COLUMNS[name]
    return [*cols[:3], "point", *cols[3:]] if name == "landscape" else cols


def _imp_first(col: pd.Series) -> pd.Series:
    return col.map(lambda b: (b != "imp", b)) if col.name == "branch" else col


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
