"""Command-line entry point. Each command lives in its own module with `add_parser`, declared
through `engine.cli.args.command`, which adds the flags every command shares (`--store`)."""

from __future__ import annotations

import argparse
import sys

from engine.cli import (
    analyze,
    annotate,
    fsck,
    inspect,
    jobs,
    report,
    reproduce,
    run,
    sweep,
    worker,
)
from engine.cli.specargs import check_device, join_dash_values
from engine.config import SpecError
from engine.data.errors import DataNotFoundError
from engine.store import StoreError

COMMANDS = (run, inspect, worker, jobs, analyze, sweep, reproduce, report, fsck, annotate)

# Errors a user can fix from the message alone: printed as one line, no traceback.
USER_ERRORS = (SpecError, StoreError, DataNotFoundError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(join_dash_values(sys.argv[1:] if argv is None else argv))
    try:
        if getattr(args, "device", None) is not None:
            args.device = check_device(args.device)
        return int(args.func(args) or 0)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
