"""The report's controls on hand-made tables: which paths count as barriers, which spectra
are drawn with their losses, the intervals of the barrier table (against scipy) and what is
said about BatchNorm."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from scipy import stats

from engine.figures import control_charts as CC
from engine.figures import palette
from engine.figures.export import to_svg


def _barrier(path: str, seed: int, value: float) -> dict:
    return {"group": "g", "seed": seed, "run_id": f"r{seed}", "path": path,
            "barrier_test_error": value, "barrier_train_loss": value / 2}  # fmt: skip


DATA = {
    "barrier": pd.DataFrame(
        [_barrier("imp:1:solution->imp:2:solution", s, v) for s, v in enumerate([0.1, 0.3, 0.2])]
        + [_barrier("imp:2:projected_prev->imp:2:solution", 0, 0.5)]
        + [_barrier("imp:0:solution->imp:2:solution", 0, 9.0)]  # a user's path: not a level's
    ),
    "instability": pd.DataFrame(
        [
            {
                "group": "g",
                "seed": s,
                "run_id": f"r{s}",
                "level": 1,
                "barrier_test_error": 0.05,
                "barrier_train_loss": 0.01,
                "copy_seed": 7,
            }
            for s in range(2)
        ]
    ),
}


def test_the_barriers_of_a_level_are_its_two_paths_and_its_instability():
    b = CC.barriers(DATA)
    assert sorted(set(b["path"])) == sorted([palette.INSTABILITY, *palette.PATHS])
    assert 9.0 not in set(b["barrier_test_error"])
    successive = b[b["path"] == "min_(L−1) → min_L"]
    assert set(successive["level"]) == {2} and len(successive) == 3


def test_the_barrier_table_states_a_t_interval_over_seeds():
    text = "\n".join(CC.control_sections(CC.controls(DATA), ["g"]))
    ci = stats.ttest_1samp([0.1, 0.3, 0.2], 0).confidence_interval(0.95)
    assert f"| g | 2 | min_(L−1) → min_L | 3 | 0.2 [{ci.low:.3g}, {ci.high:.3g}] |" in text
    assert "| g | 2 | Pr_L(min_(L−1)) → min_L | 1 | 0.5 (1 seed) |" in text
    figures = CC.control_figures(CC.controls(DATA))
    assert set(figures) == {"instability", "barriers-levels"}  # no spectra here


def test_only_matched_points_join_the_spectra_with_their_losses():
    volume = pd.DataFrame(
        [{"group": "g", "seed": 0, "run_id": "r0", "branch": "imp", "level": 1, "point": p,
          "k": 5, "log_volume": v, "loss": loss}
         for p, v, loss in (("solution", -3.0, 0.1), ("projected_prev", -5.0, 0.4))]
    )  # fmt: skip
    matched = pd.DataFrame(
        [{"group": "g", "seed": 0, "level": 1, "matched": True, "k": 5, "log_volume": -4.0,
          "loss": 0.4}, {"group": "g", "seed": 0, "level": 2, "matched": False, "k": float("nan"),
          "log_volume": float("nan"), "loss": float("nan")}]
    )  # fmt: skip
    s = CC.spectra_with_losses({"volume": volume, "loss_matched": matched})
    assert list(s["weights"]) == [palette.SOLUTION, palette.PROJECTED, palette.LOSS_MATCHED]
    figures = CC.control_figures(CC.controls({"volume": volume, "loss_matched": matched}))
    name, (title, table, chart) = next(iter(figures.items()))
    assert name == "fig5-volume-vs-loss" and "top-5" in title and len(table) == 3
    legends = re.findall(r'aria-roledescription="legend"[^>]*aria-label="([^"]*)"', to_svg(chart))
    legends += re.findall(r'aria-label="([^"]*)"[^>]*aria-roledescription="legend"', to_svg(chart))
    assert legends and not any("run" in text for text in legends), legends  # one line per group


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ([], "no spectrum stored"),
        ([{"model_has_batchnorm": None, "recalibrated": None, "mode": None}], "not recorded"),
        ([{"model_has_batchnorm": False, "recalibrated": False, "mode": "projected"}], "no Batch"),
        (
            [
                {"model_has_batchnorm": True, "recalibrated": r, "mode": "projected"}
                for r in (True, False, False)
            ],
            "at 1 of 3 spectrum points (bn_recalibrate = projected)",
        ),
    ],
)
def test_the_report_says_how_batchnorm_was_treated(rows, words):
    bn = pd.DataFrame([{"group": "g", **r} for r in rows])
    text = "\n".join(CC.control_sections(CC.controls({"batchnorm": bn}), ["g"]))
    assert words in text
