"""`python -m engine report RUN [RUN ...] --out DIR`: the reproduction report (figures as PNG,
SVG and CSV; each claim of the paper with its numbers, criterion and verdict) from stored
results. Runs differing only in seed are aggregated as replicates. With --submit, a "report"
job builds the same report in a worker and publishes it in the store, as the Report page's
button does (`engine.jobs.kinds.report`)."""

from __future__ import annotations

import argparse

from engine.cli.args import arg, command, flag, submit
from engine.cli.display import console
from engine.config import SpecError
from engine.reproduce import default_seeds, parse_seeds, run_ids
from engine.settings import store_root
from engine.store import Store


def add_parser(sub: argparse._SubParsersAction) -> None:
    command(
        sub,
        "report",
        main,
        arg("runs", nargs="*", help="Run ids (see `ls`)."),
        arg("--experiment", help="A `reproduce` experiment: use its runs for --seeds."),
        arg(
            "--seeds", default=None, help="Seeds of --experiment (default: those `reproduce` uses)."
        ),
        flag("--smoke", help="The --experiment's smoke runs."),
        arg("--out", help="Folder to write the report into."),
        submit(
            "Queue a report job instead: a worker publishes it in the store (the Report page "
            "shows it)."
        ),
        help="Render the reproduction report (figures, claims, verdicts) from stored results.",
        description="Write report.md, every figure family of the paper as PNG, SVG and CSV, "
        "and each claim's numbers as CSV. Name runs, or pick a reproduce experiment's runs "
        "with --experiment and --seeds.",
    )


def main(args: argparse.Namespace) -> int:
    store = Store(args.store or store_root())
    ids = list(args.runs)
    if args.experiment:
        seeds = parse_seeds(args.seeds) if args.seeds else default_seeds(args.experiment)
        ids += [r for r in run_ids(args.experiment, seeds, args.smoke) if r not in ids]
    if not ids:
        raise SpecError("runs", "name at least one run, or --experiment NAME")
    missing = [r for r in ids if not store.has_run(r)]
    if missing:
        raise SpecError("runs", f"not in {store.root}: {', '.join(missing)} (see `ls`)")
    if args.submit:
        from engine.jobs.queue import JobQueue

        job = JobQueue(store.root).submit("report", {"runs": ids}, owner="cli")
        console.print(f"job [bold]{job.id}[/bold] (report of {len(ids)} run(s)): {job.status}")
        return 0
    if not args.out:
        raise SpecError(
            "--out", "name the folder to write the report into, or queue it with --submit"
        )
    from engine.figures.report import build_report  # Altair and vl-convert: only when reporting

    report = build_report(store, ids, args.out)
    for c in report.claims:
        console.print(f"{c.id:>16}  [bold]{c.verdict}[/bold]  {c.group}  {c.numbers}")
    console.print(f"{len(report.figures)} figures; report in {report.markdown}")
    return 0
