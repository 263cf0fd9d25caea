"""Shared fixtures: a tiny, fast run spec and a finished run of it."""

import pytest

from engine.config import BaselineSpec, DataSpec, ModelSpec, PruneSpec, RunSpec, TrainSpec
from engine.imp import run_imp
from engine.store import Store


def tiny_spec(**prune) -> RunSpec:
    """Two IMP levels of LeNet on the synthetic 8x8 set: seconds, not minutes."""
    return RunSpec(
        data=DataSpec("synthetic_tiny"),
        model=ModelSpec("lenet_300_100"),
        train=TrainSpec(
            optimizer="sgd",
            lr=0.05,
            momentum=0.9,
            weight_decay=1e-4,
            batch_size=64,
            length="3ep",
            schedule="constant",
            milestones=(),
            checkpoint_every=1,
        ),
        prune=PruneSpec(levels=2, rate=0.2, output_rate=0.1, rewind="3it", **prune),
        baselines=BaselineSpec(kinds=("one_shot", "ft", "ripn", "rpn1", "rpn2")),
        seed=1,
    )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(store, spec, summaries) of a finished tiny run with every baseline."""
    store = Store(tmp_path_factory.mktemp("tiny-store"))
    spec = tiny_spec()
    summaries = run_imp(spec, store, "cpu")
    return store, spec, summaries
