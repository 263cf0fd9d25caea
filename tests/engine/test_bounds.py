"""Sane upper bounds with no operator limits set: Hessian top-k at most the unpruned
dimension, and a memory estimate that refuses solver vectors this machine cannot hold; each
refusal is one line naming the option, on every path (terminal, queue), and writes nothing."""

from __future__ import annotations

import pytest
import torch

from engine import bounds
from engine.analysis import jobs as analyses
from engine.analysis import registry
from engine.analysis.hvp import coordinates
from engine.cli import main
from engine.config import SpecError
from engine.imp import run_imp
from engine.jobs.queue import JobQueue
from engine.models import build_model
from engine.store import Store
from tests.engine.conftest import tiny_spec


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    spec = tiny_spec()
    spec = spec.replace(
        prune=spec.prune.replace(levels=1),
        train=spec.train.replace(length="1ep", checkpoint_every=0),
        baselines=spec.baselines.replace(kinds=()),
    )
    store = Store(tmp_path_factory.mktemp("bounds"))
    run_imp(spec, store, "cpu")
    return store, spec.run_id


def solver_dimension(store: Store, run_id: str, level: int) -> int:
    """The dimension the Hessian code itself works in at `level` (the reference)."""
    model = build_model("lenet_300_100", (1, 8, 8), 4)
    mask = store.level(run_id, level).load_mask()
    return coordinates(model, mask, "all", torch.device("cpu")).dim


def spectrum(store: Store, run_id: str, **options) -> dict:
    return analyses.normalize_request(store, {"run_id": run_id, "what": "spectrum", **options})


def check(store: Store, request: dict) -> None:
    """As the callers check: with the bounds the request's analysis registered."""
    bounds.check_analysis(store, request, registry.get(request["what"]).bounds)


def test_k_is_bounded_by_the_smallest_dimension_of_the_levels_asked(stored):
    store, run_id = stored
    dim0, dim1 = (solver_dimension(store, run_id, lv) for lv in (0, 1))
    assert dim1 < dim0
    assert bounds.dimensions(store, run_id, {"imp": [0, 1]}) == {
        "imp level 0": dim0,
        "imp level 1": dim1,
    }
    check(store, spectrum(store, run_id, k=dim1, levels="1", backend="pyhessian"))
    with pytest.raises(SpecError, match=rf"^k: {dim1 + 1} is more than the {dim1} .*level 1"):
        check(store, spectrum(store, run_id, k=dim1 + 1))


def test_the_bounds_are_the_analysis_own_declaration(stored):
    """bounds names no analysis: the same request is refused under the top-k bounds and
    passes with none (an analysis without a Hessian solver); the three solvers declare theirs."""
    store, run_id = stored
    request = spectrum(store, run_id, k=100000)
    with pytest.raises(SpecError, match=r"^k: "):
        bounds.check_analysis(store, request, bounds.TOP_K_BOUNDS)
    bounds.check_analysis(store, request, None)
    assert registry.get("density").bounds is bounds.DENSITY_BOUNDS
    assert {a.name for a in registry.all() if a.bounds} == {
        "spectrum",
        "density",
        "loss_matched",
    }


@pytest.mark.parametrize("submit", [False, True])
def test_analyze_refuses_k_beyond_the_dimension(stored, capsys, submit):
    store, run_id = stored
    argv = ["analyze", run_id, "--what", "spectrum", "--k", "100000", "--store", str(store.root)]
    assert main([*argv, "--submit"] if submit else argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: k: 100000 is more than") and len(err.splitlines()) == 1
    assert not (store.run_path(run_id) / "analyses").exists()
    assert JobQueue(store.root).list() == []


def test_memory_estimate_refuses_what_cannot_fit(stored, capsys, monkeypatch):
    store, run_id = stored
    dim0 = solver_dimension(store, run_id, 0)
    request = spectrum(store, run_id, k=10)
    option, need = bounds.basis_bytes(request, dim0)
    assert option == "k" and need >= 8 * 10 * dim0 * 4  # 8k Lanczos vectors of float32
    monkeypatch.setattr(bounds, "capacity", lambda: need - 1)
    with pytest.raises(SpecError, match=r"^k: 10 needs about .* GiB .*lower k"):
        check(store, request)
    monkeypatch.setattr(bounds, "capacity", lambda: need)
    check(store, request)
    monkeypatch.setattr(bounds, "capacity", lambda: 2**20)
    argv = ["analyze", run_id, "--what", "density", "--steps", "500", "--store", str(store.root)]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: steps: 500 needs about")
    with pytest.raises(SpecError, match=r"^k: "):  # the app's path: the queue's analysis kind
        JobQueue(store.root).submit("analysis", {"run_id": run_id, "what": "spectrum", "k": 5})
    assert not (store.run_path(run_id) / "analyses").exists()
