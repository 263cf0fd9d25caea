"""Stored tiny runs for the analysis tests, copied so their results stay in their own store."""

import shutil

import pytest

from engine.store import Store


def _copy(tiny_run, root):
    source, spec, _ = tiny_run
    shutil.copytree(source.run_path(spec.run_id), root / "runs" / spec.run_id)
    return Store(root), spec.run_id, spec


@pytest.fixture(scope="module")
def run(tiny_run, tmp_path_factory):
    """(store, run_id, spec): the session's tiny run (2 levels x 3 epochs, every baseline,
    rewind at iteration 3, a checkpoint every epoch) in a store shared by one test module."""
    return _copy(tiny_run, tmp_path_factory.mktemp("analysis-store"))


@pytest.fixture
def fresh_run(tiny_run, tmp_path):
    """The same run in a store of this test's own, for tests that count what is cached."""
    return _copy(tiny_run, tmp_path)
