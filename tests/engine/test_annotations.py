"""Tags and notes on runs: stored in the run folder, changed from the CLI, bad input refused."""

from __future__ import annotations

import json

import pytest

from engine import annotations as A
from engine import paths
from engine.cli import main
from engine.store import StoreError


@pytest.fixture
def run(tiny_run):
    store, spec, _ = tiny_run
    yield store, spec.run_id
    paths.annotations(store.run_path(spec.run_id)).unlink(missing_ok=True)


def test_tags_add_and_remove_in_order_and_note_is_kept(run):
    store, run_id = run
    A.tag(store, run_id, A.TagChange.parse(["+baseline", "+lr-high", "+baseline"]))
    A.note(store, run_id, "  diverged at L3  ")
    after = A.tag(store, run_id, A.TagChange.parse(["-lr-high", "+keep"]))
    assert after == A.Annotations(("baseline", "keep"), "diverged at L3")
    on_disk = json.loads(paths.annotations(store.run_path(run_id)).read_text())
    assert on_disk == {"tags": ["baseline", "keep"], "note": "diverged at L3"}


def test_an_unreadable_file_reads_as_no_annotations(run):
    store, run_id = run
    paths.annotations(store.run_path(run_id)).write_bytes(b"\x00not json")
    assert A.read(store, run_id) == A.Annotations()


def test_cli_tags_and_notes_and_refuses_bad_input_in_one_line(run, capsys):
    store, run_id = run
    assert main(["tag", "--store", str(store.root), run_id, "+a", "-b", "+c"]) == 0
    assert main(["note", "--store", str(store.root), run_id, "first look"]) == 0
    assert "#a #c · first look" in capsys.readouterr().out
    assert main(["tag", "--store", str(store.root), run_id, "bad"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: tag: 'bad' is not +name or -name") and "\n" not in err
    assert main(["tag", "--store", str(store.root), "no-such-run", "+x"]) == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err
    assert A.read(store, run_id).tags == ("a", "c")  # refused commands wrote nothing


def test_notes_have_a_length_limit(run):
    store, run_id = run
    with pytest.raises(StoreError, match="note: 2001 characters"):
        A.note(store, run_id, "x" * 2001)
