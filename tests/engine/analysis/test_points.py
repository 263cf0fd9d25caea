"""Named points of a run resolve to the weights METHOD.md defines, and fingerprint their files."""

import os

import pytest
import torch

from engine import masks as M
from engine.analysis.points import Point, fingerprint, resolve, trajectory_points
from engine.store import StoreError


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_parse_and_print_round_trip():
    assert Point.parse("imp:3:projected_prev") == Point("imp", 3, "projected_prev")
    assert Point.parse("ft:2") == Point("ft", 2, "solution")
    assert str(Point("imp", 1, "ep002")) == "imp:1:ep002"
    for bad in ("imp", "imp:x:solution", "imp:1:best", "imp:1:ep2", "..:1", "a/b:1"):
        with pytest.raises(ValueError):
            Point.parse(bad)


@pytest.mark.parametrize(
    ("branch", "level", "prev_branch", "prev_level"),
    [
        ("imp", 2, "imp", 1),
        ("imp", 1, "imp", 0),
        ("ft", 2, "ft", 1),
        ("ft", 1, "imp", 0),
        ("one_shot", 2, "imp", 0),
        ("rpn2", 2, "imp", 0),
    ],
)
def test_projected_prev_is_the_parent_solution_on_this_mask(
    run, branch, level, prev_branch, prev_level
):
    store, rid, _ = run
    got = resolve(store, rid, Point(branch, level, "projected_prev"))
    lv = store.level(rid, level, branch)
    parent = store.level(rid, prev_level, prev_branch).load_checkpoint("final")
    _same(got.mask, lv.load_mask())
    _same(got.state, M.project(parent, lv.load_mask()))
    names = list(got.mask)
    assert all(torch.all(got.state[k][got.mask[k] == 0] == 0) for k in names)


def test_solution_start_and_epochs_are_the_stored_checkpoints(run):
    store, rid, _ = run
    lv = store.level(rid, 1)
    for which, tag in (("solution", "final"), ("start", "start"), ("ep002", "ep002")):
        _same(resolve(store, rid, Point("imp", 1, which)).state, lv.load_checkpoint(tag))


def test_missing_points_say_what_is_missing(run):
    store, rid, _ = run
    with pytest.raises(StoreError, match="no level 7"):
        resolve(store, rid, Point("imp", 7))
    with pytest.raises(StoreError, match="level 0 was not pruned"):
        resolve(store, rid, Point("imp", 0, "projected_prev"))
    with pytest.raises(StoreError, match="ep009"):
        resolve(store, rid, Point("imp", 1, "ep009"))


def test_fingerprint_follows_the_bytes_of_the_files(run, tmp_path):
    store, rid, _ = run
    p = Point("imp", 2, "projected_prev")
    first = fingerprint(store, rid, p)
    assert fingerprint(store, rid, p) == first
    assert fingerprint(store, rid, Point("imp", 2, "solution")) != first
    # rewriting the parent's final checkpoint with other weights changes the fingerprint
    prev = store.level(rid, 1)
    path = prev.ckpt_dir / "final.pt"
    original, stat = path.read_bytes(), path.stat()
    try:
        state = prev.load_checkpoint("final")
        prev.save_checkpoint("final", {k: v + 1 for k, v in state.items()}, iteration=0)
        assert fingerprint(store, rid, p) != first
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fingerprint(store, rid, p) == first


def test_trajectory_points_are_keyed_by_iteration(run):
    store, rid, _ = run
    ipe = 8  # 512 examples in batches of 64
    pts = trajectory_points(store, rid, "imp", 1)
    assert pts == {
        3: Point("imp", 1, "start"),  # the rewind point, iteration 3
        ipe: Point("imp", 1, "ep001"),
        2 * ipe: Point("imp", 1, "ep002"),
        3 * ipe: Point("imp", 1, "solution"),
    }
    assert min(trajectory_points(store, rid, "imp", 0)) == 0  # level 0 starts at init
