"""`python -m engine tag RUN +baseline -old` and `note RUN "..."`: label runs to find them
again; the app's Runs table shows and searches both."""

from __future__ import annotations

import argparse

from engine import annotations
from engine.cli.args import RUN, arg, command
from engine.cli.display import console
from engine.settings import store_root
from engine.store import Store


def add_parser(sub: argparse._SubParsersAction) -> None:
    changes = arg("changes", nargs=argparse.REMAINDER, help="+name adds a tag, -name removes one.")
    command(sub, "tag", tag_run, RUN, changes, help="Add (+name) or remove (-name) tags of a run.")
    text = arg("text", help="The note, one quoted argument.")
    command(sub, "note", note_run, RUN, text, help="Set a run's note (an empty text clears it).")


def _show(run_id: str, value: annotations.Annotations) -> int:
    tags = " ".join(f"#{t}" for t in value.tags) or "no tags"
    console.print(f"{run_id}: {tags}" + (f" · {value.note}" if value.note else ""))
    return 0


def tag_run(args: argparse.Namespace) -> int:
    store = Store(args.store or store_root())
    change = annotations.TagChange.parse(args.changes)
    return _show(args.run, annotations.tag(store, args.run, change))


def note_run(args: argparse.Namespace) -> int:
    store = Store(args.store or store_root())
    return _show(args.run, annotations.note(store, args.run, args.text))
