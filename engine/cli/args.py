"""Subcommands declared as data: `command` adds one from its name, its function, its texts
and a table of `arg`s, so no command module writes the argparse calls out again. Flags that
several commands take (`DEVICE`, `JSON`, `OWNER`, `submit`) are written once here, so they
read the same in every command's help."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Main = Callable[[argparse.Namespace], int]
Adder = Callable[[argparse.ArgumentParser], None]  # adds a whole group (the spec's flags)


@dataclass(frozen=True)
class Arg:
    """One `add_argument` call: its names (a positional's, or a flag's spellings) and its
    keyword arguments."""

    names: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


def arg(*names: str, **options: Any) -> Arg:
    return Arg(names, options)


def flag(*names: str, help: str) -> Arg:
    """An on/off flag (`store_true`)."""
    return arg(*names, action="store_true", help=help)


DEVICE = arg("--device", default="auto", help="auto (CUDA if present), cpu, cuda:0, ...")
JSON = flag("--json", help="Print machine-readable JSON.")
OWNER = arg("--owner", default="", help="Who asked (shown in `jobs`).")
RUN = arg("run", help="Run id (see `ls`).")


def submit(help: str) -> Arg:
    """`--submit`: queue the work for a worker instead of doing it here; `help` says what."""
    return flag("--submit", help=help)


STORE_HELP = (
    "Store folder (default $IMP_LAB_STORE, else `store` in imp-lab.toml, else ./store); on a "
    "cluster, one that every node mounts at the same path."
)


def shared_flags() -> argparse.ArgumentParser:
    """The flags of every command, as an argparse parent parser: `command` gives it to each,
    so no command module declares them (and none can forget them)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--store", default=None, help=STORE_HELP)
    return parent


def command(
    sub: argparse._SubParsersAction,
    name: str,
    func: Main,
    *args: Arg | Adder,
    help: str,
    **parser_options: Any,
) -> None:
    """Add subcommand `name` running `func`, with `args` in order (an `Arg`, or a function
    adding a group of them); `parser_options` go to `add_parser` (description,
    formatter_class); every command also gets `shared_flags`."""
    parser = sub.add_parser(name, help=help, parents=[shared_flags()], **parser_options)
    for a in args:
        if isinstance(a, Arg):
            parser.add_argument(*a.names, **a.options)
        else:
            a(parser)
    parser.set_defaults(func=func)
