"""Groups of runs and their bands, checked against numpy/scipy on hand-made numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.groups import band, differing, flatten, group_labels

SPECS = {
    "a0": {"seed": 0, "train": {"lr": 0.1, "milestones": [80, 120]}, "model": {"name": "m"}},
    "a1": {"seed": 1, "train": {"lr": 0.1, "milestones": [80, 120]}, "model": {"name": "m"}},
    "b0": {"seed": 0, "train": {"lr": 0.2, "milestones": [80, 120]}, "model": {"name": "m"}},
}


def test_flatten_and_differing_fields():
    assert flatten(SPECS["a0"]) == {
        "seed": 0,
        "train.lr": 0.1,
        "train.milestones": (80, 120),
        "model.name": "m",
    }
    assert differing(SPECS) == ["seed", "train.lr"]


def test_groups_average_seeds_away_by_default_and_follow_chosen_fields():
    assert group_labels(SPECS) == {"a0": "train.lr=0.1", "a1": "train.lr=0.1", "b0": "train.lr=0.2"}
    assert group_labels(SPECS, ["seed"]) == {"a0": "seed=0", "a1": "seed=1", "b0": "seed=0"}
    same = {k: v for k, v in SPECS.items() if k != "b0"}
    assert set(group_labels(same).values()) == {"all runs"}


@pytest.mark.parametrize("kind", ["sd", "se", "minmax"])
def test_band_edges_match_numpy_and_scipy(kind):
    values = np.array([0.91, 0.93, 0.96, 0.90])
    df = pd.DataFrame({"g": ["x"] * 4 + ["y"], "v": [*values, 0.5]})
    out = band(df, ["g"], "v", kind).set_index("g")
    x = out.loc["x"]
    assert x["n"] == 4 and x["mean"] == pytest.approx(values.mean())
    assert x["sd"] == pytest.approx(values.std(ddof=1))
    assert x["se"] == pytest.approx(stats.sem(values))
    half = {"sd": values.std(ddof=1), "se": stats.sem(values)}.get(kind)
    low, high = (
        (values.min(), values.max()) if half is None else (x["mean"] - half, x["mean"] + half)
    )
    assert (x["low"], x["high"]) == pytest.approx((low, high))
    y = out.loc["y"]  # one run: no invented spread
    assert y["n"] == 1 and y["low"] == y["high"] == 0.5 and np.isnan(y["sd"])


def test_band_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="band: 'iqr' is not one of sd, se, minmax"):
        band(pd.DataFrame({"g": [1], "v": [1.0]}), ["g"], "v", "iqr")
