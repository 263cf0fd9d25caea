"""One colour per series, on every page, in every download and in the report.

A researcher reads colour before anything else, so a series must never change colour between
charts: IMP-WR and level L's own solution min_L share one blue everywhere, the projected
previous solution Pr_L(min_(L−1)) is always orange, and each baseline keeps its own hue.
Levels are coloured by sparsity on a scale whose dense end (0% pruned) is dark enough to see
on white. Every chart builder takes its colour encodings from here; no chart names a colour.
"""

from __future__ import annotations

import itertools

import altair as alt

from engine.baselines import IMP, method_labels
from engine.config import BASELINES

BLUE, ORANGE, GREEN, RED, PURPLE = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"
BROWN, PINK, TEAL, GREY = "#8c564b", "#e377c2", "#17becf", "#7f7f7f"

# The paper's methods (IMP-WR and its five baselines) in the paper's order; a baseline
# registered beyond them (`engine.baselines`) takes a spare hue. Keyed by each one's label.
PAPER = dict(zip((IMP, *BASELINES), (BLUE, GREEN, PURPLE, BROWN, PINK, TEAL), strict=True))
SPARE = ("#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#c7c7c7")


def _methods() -> dict[str, str]:
    labels, spare = method_labels(), itertools.cycle(SPARE)
    others = [b for b in labels if b not in PAPER]
    return {labels[b]: PAPER[b] for b in PAPER} | {labels[b]: next(spare) for b in others}


METHODS: dict[str, str] = _methods()

# The points of a level, by the names the charts show for them.
SOLUTION = "min_L (solution)"
PROJECTED = "Pr_L(min_(L−1))"
START = "start_L"
POINTS: dict[str, str] = {SOLUTION: BLUE, PROJECTED: ORANGE, START: GREY}
POINT_NAMES = {"solution": SOLUTION, "projected_prev": PROJECTED, "start": START}

# Fig. 3: the distance to a point takes that point's colour.
DISTANCES: dict[str, str] = {
    "‖start_L − Pr_L(min_(L−1))‖": ORANGE,
    "‖start_L − min_L‖": BLUE,
}
DISTANCE_NAMES = dict(zip(("projected_prev", "solution"), DISTANCES, strict=True))

# Fig. 4: level L's own trajectory, and level L−1's projected on m_L.
TRAJECTORIES: dict[str, str] = {"level L": BLUE, "level L−1 projected on m_L": ORANGE}
TRAJECTORY_NAMES = dict(zip(("level L", "level L-1 projected"), TRAJECTORIES, strict=True))

# Interpolation paths ending at min_L, by where they start.
FROM_PROJECTED, FROM_PREVIOUS = "Pr_L(min_(L−1)) → min_L", "min_(L−1) → min_L"
PATHS: dict[str, str] = {FROM_PROJECTED: ORANGE, FROM_PREVIOUS: RED}

# The controls (engine.claim_controls, engine.analysis.instability): the loss-matched point of
# level L's trajectory, and the path between the two copies of a level.
LOSS_MATCHED, INSTABILITY = "loss-matched point of level L", "min_L ↔ copy B (instability)"
CONTROLS: dict[str, str] = {LOSS_MATCHED: "#bcbd22", INSTABILITY: "#393b79"}

SERIES: dict[str, str] = {
    **METHODS, **POINTS, **DISTANCES, **TRAJECTORIES, **PATHS, **CONTROLS
}  # fmt: skip
OTHER = GREY  # a series the app does not know (a user-named interpolation path)

# Levels by sparsity: viridis from dark purple (0% pruned) to teal, without its pale green
# and yellow end, so every level keeps a 3:1 contrast against the white page.
SPARSITY = alt.Scale(scheme={"name": "viridis", "extent": [0.0, 0.6]}, domain=[0, 1])


def point_series(branch: str, point: str) -> str:
    """The series a (branch, point) belongs to: IMP-WR's points by their names, a baseline's
    solution by its method (so it takes the method's colour), other points of a baseline
    by both."""
    name = POINT_NAMES.get(point, point)
    if branch == "imp":
        return name
    method = method_labels().get(branch, branch)
    return method if point == "solution" else f"{method} · {name}"


def color(field: str, title: str, present: list[str] | None = None, **kw) -> alt.Color:
    """A nominal colour encoding whose every label has its fixed colour.

    `present` (default: every known series) are the labels the chart's data holds, so the
    legend lists only those; they are ordered as in `SERIES`, unknown ones last in grey.
    """
    labels = list(SERIES) if present is None else _ordered(present)
    scale = alt.Scale(domain=labels, range=[SERIES.get(v, OTHER) for v in labels])
    return alt.Color(f"{field}:N", title=title, scale=scale, sort=labels, **kw)


def _ordered(present: list[str]) -> list[str]:
    known = [v for v in SERIES if v in set(present)]
    return known + sorted({v for v in present if v not in SERIES})
