"""`python -m engine tag RUN +baseline -old` and `note RUN "..."`: label runs to find them
again; the app's Runs table shows and searches both."""

from __future__ import annotations

import argparse

from engine import annotations
from engine.cli.display import console
from engine.settings import store_root
from engine.store import Store


def add_parser(sub: argparse._SubParsersAction) -> None:
    tag = sub.add_parser("tag", help="Add (+name) or remove (-name) tags of a run.")
    tag.add_argument("run", help="Run id (see `ls`).")
    tag.add_argument(
        "changes", nargs=argparse.REMAINDER, help="+name adds a tag, -name removes one."
    )
    tag.set_defaults(func=tag_run)
    note = sub.add_parser("note", help="Set a run's note (an empty text clears it).")
    note.add_argument("run", help="Run id (see `ls`).")
    note.add_argument("text", help="The note, one quoted argument.")
    note.set_defaults(func=note_run)


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
