"""Tags and a note on a run, kept in its folder (`annotations.json`), so they travel with the
run and survive an index rebuild. Researchers tag runs to find them again (`+baseline`,
`-old`) and write a line of context a spec cannot hold ("lr too high; diverged at L3")."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from engine import atomic, paths
from engine.store import Store, StoreError

TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}")
MAX_NOTE = 2000


@dataclass(frozen=True)
class Annotations:
    tags: tuple[str, ...] = ()
    note: str = ""

    def to_dict(self) -> dict:
        return {"tags": list(self.tags), "note": self.note}


@dataclass(frozen=True)
class TagChange:
    """`+name` adds a tag, `-name` removes it."""

    add: tuple[str, ...] = field(default_factory=tuple)
    remove: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, words: list[str]) -> TagChange:
        add, remove = [], []
        for word in words:
            sign, name = word[:1], word[1:]
            if sign not in "+-" or not TAG.fullmatch(name):
                raise StoreError(
                    f"tag: {word!r} is not +name or -name (a name is 1-40 letters, digits "
                    "or _.:- starting with a letter or digit), e.g. +baseline -old"
                )
            (add if sign == "+" else remove).append(name)
        return cls(tuple(add), tuple(remove))


def read(store: Store, run_id: str) -> Annotations:
    """The run's tags and note (none when it has no file, or an unreadable one)."""
    path = paths.annotations(store.run_path(run_id))
    try:
        raw = json.loads(path.read_text()) if path.is_file() else {}
        return Annotations(tuple(str(t) for t in raw.get("tags", [])), str(raw.get("note", "")))
    except (OSError, ValueError, AttributeError):
        return Annotations()


def _write(store: Store, run_id: str, value: Annotations) -> Annotations:
    if not store.has_run(run_id):
        raise StoreError(f"run: no run {run_id!r} in {store.root} (see `python -m engine ls`)")
    atomic.write_json(paths.annotations(store.run_path(run_id)), value.to_dict())
    store.bump_version()  # pages reading the store redraw
    return value


def tag(store: Store, run_id: str, change: TagChange) -> Annotations:
    current = read(store, run_id)
    tags = [t for t in current.tags if t not in change.remove]
    for t in change.add:
        if t not in tags:
            tags.append(t)
    return _write(store, run_id, Annotations(tuple(tags), current.note))


def note(store: Store, run_id: str, text: str) -> Annotations:
    text = text.strip()
    if len(text) > MAX_NOTE:
        raise StoreError(f"note: {len(text)} characters; keep it under {MAX_NOTE}")
    return _write(store, run_id, Annotations(read(store, run_id).tags, text))
