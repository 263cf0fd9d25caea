"""Command-line entry point. Each command lives in its own module with `add_parser`; the
flags every command shares (`--store`) are added here, once."""

from __future__ import annotations

import argparse
import sys
from typing import Any

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


STORE_HELP = (
    "Store folder (default $IMP_LAB_STORE, else `store` in imp-lab.toml, else ./store); on a "
    "cluster, one that every node mounts at the same path."
)


def shared_flags() -> argparse.ArgumentParser:
    """The flags of every command, as an argparse parent parser."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--store", default=None, help=STORE_HELP)
    return parent


class _Commands(argparse._SubParsersAction):
    """The subcommands action: every command it adds gets `shared_flags`, so no command
    module declares them (and none can forget them)."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parents = [shared_flags(), *kwargs.pop("parents", [])]
        return super().add_parser(name, parents=parents, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, action=_Commands)
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
