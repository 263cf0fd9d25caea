"""Geometry: distances between each level's start and the solutions (Fig. 3), the loss along
the previous level's trajectory projected on this level's mask (Fig. 4), the projected
solution's loss and accuracy, and linear interpolation paths with their barriers."""

import streamlit as st

from app import controls, data, downloads, ui
from engine.analysis import registry
from engine.figures import chartkit, control_charts, geometry_charts

st.title("Geometry")
runs = ui.chosen_runs()
jobs = data.jobs()
DISTANCES = registry.get("distances")
sparsity = chartkit.sparsity_by_level(data.table("summary", runs))
METRICS = ["train_loss", "test_loss", "train_acc", "test_acc"]
view = controls.curve_view(runs, curves=False)

distances = ui.section(
    "Distances (Fig. 3)",
    "For each level L: the distance from its start (the rewind point projected on m_L) to the "
    "previous solution projected on m_L, and to its own solution.",
    "distances",
    runs,
    jobs,
)
if not distances.empty:
    cols = st.columns(3)
    with cols[0]:
        norms = ui.distinct(distances, "norm", str)
        norm = ui.choose("Norm over", "norm", norms, DISTANCES.option("norm").default)
    with cols[1]:
        normalised = ui.toggle(
            "Normalised by ‖start_L‖", "normalised", DISTANCES.option("normalised").default
        )
    shown = distances[
        (distances["norm"].astype(str) == norm)
        & (distances["normalised"].astype(bool) == normalised)
    ]
    keys = ["branch", "level", "norm", "normalised", "to"]
    shown = controls.apply(shown, view, runs, keys, "distance")
    downloads.show(geometry_charts.distances_chart(shown), shown, f"distances-{norm}")

trajectory = ui.section(
    "Projected trajectory (Fig. 4)",
    "Log training loss of level L per epoch, against level L−1's checkpoint of the same epoch "
    "projected on level L's mask.",
    "trajectory",
    runs,
    jobs,
)
if not trajectory.empty:
    pick, shown = ui.pick_level(trajectory, "traj_level")
    shown = controls.apply(shown, view, runs, ["level", "epoch", "series"], "train_loss")
    chart = geometry_charts.trajectory_chart(shown, pick, sparsity)
    downloads.show(chart, shown, f"trajectory-{ui.ALL if pick is None else pick}")

pruned = ui.section(
    "The projected solution",
    "Loss and accuracy of Pr_L(min_(L−1)) — the pruned network before retraining — "
    "next to the level's solution.",
    "pruned_start",
    runs,
    jobs,
)
if not pruned.empty:
    metric = ui.choose("Metric", "ps_metric", METRICS, "train_loss", format_func=chartkit.title)
    shown = controls.apply(pruned, view, runs, ["branch", "level", "point"], metric)
    chart = geometry_charts.pruned_start_chart(shown, metric)
    downloads.show(chart, shown, f"projected-{metric}")

interp = ui.section(
    "Interpolation and barriers",
    "Loss and accuracy along straight lines ending at each level's solution min_L, from the "
    "projected previous solution Pr_L(min_(L−1)) and from the previous solution min_(L−1); "
    "the barrier is the largest rise above the straight line joining the ends.",
    "interpolation",
    runs,
    jobs,
)
if not interp.empty:
    cols = st.columns(3)
    with cols[0]:
        metric = ui.choose("Metric", "ip_metric", METRICS, "test_acc", format_func=chartkit.title)
    path_levels = geometry_charts.with_paths(interp)["level"]  # where each path ends
    with cols[1]:
        pick, shown = ui.pick_level(interp, "ip_level", path_levels)
    shown = controls.apply(shown, view, runs, ["path", "alpha"], metric)
    chart = geometry_charts.interpolation_chart(shown, metric, pick, sparsity)
    name = f"interp-{metric}-{ui.ALL if pick is None else pick}"
    downloads.show(chart, shown, name)
    barriers = data.table("barrier", runs)
    if not barriers.empty:
        which = ui.choose(
            "Barrier",
            "barrier",
            ["barrier_test_error", "barrier_train_loss"],
            "barrier_test_error",
            format_func=chartkit.title,
        )
        shown = controls.apply(barriers, view, runs, ["path"], which)
        downloads.show(geometry_charts.barrier_chart(shown, which), shown, which)

instability = ui.section(
    "Instability (Frankle et al. 2020)",
    "A second copy of each level trained from its start on another data order, and the "
    "test-error barrier on the straight line between it and the level's solution: about 0 "
    "means SGD's noise leads both copies to one linearly connected basin.",
    "instability",
    runs,
    jobs,
)
if not instability.empty:
    chart = control_charts.instability_chart(instability)
    downloads.show(chart, instability, "instability")

ui.table_sections("geometry", runs, jobs)
