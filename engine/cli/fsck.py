"""`python -m engine fsck [RUN]`: check a store's files against what vouches for them."""

from __future__ import annotations

import argparse

from engine.cli.args import arg, command
from engine.cli.display import console
from engine.fsck import DAMAGED, check
from engine.settings import store_root
from engine.store import Store


def add_parser(sub: argparse._SubParsersAction) -> None:
    command(
        sub,
        "fsck",
        main,
        arg("run", nargs="?", help="Run id (default: every run in the store)."),
        help="Check stored files against their hashes (every run, or one).",
        description="Check every finished level's files against the sha256 its done.json "
        "records, every analysis result against its own, and list temporary files left by "
        "killed writes. One line per finding; exit status 1 when anything is damaged. "
        "Running (or submitting) a damaged run again retrains exactly its damaged levels; a "
        "damaged analysis result is computed again when next requested.",
    )


def main(args: argparse.Namespace) -> int:
    store = Store(args.store or store_root())
    findings, runs = check(store, args.run)
    for f in findings:
        console.print(str(f), markup=False, highlight=False, soft_wrap=True)
    damaged = sum(f.kind == DAMAGED for f in findings)
    where = f"run {args.run}" if args.run else f"{runs} run(s) in {store.root}"
    verdict = (
        f"{damaged} damaged or missing file(s); run (or submit) the same spec again to "
        "retrain exactly the damaged levels"
        if damaged
        else "no damage"
    )
    console.print(f"{where}: {verdict}", markup=False, highlight=False, soft_wrap=True)
    return 1 if damaged else 0
