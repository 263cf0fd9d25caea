"""Baselines: IMP-WR against one-shot, FT, RIPN, RPN_1 and RPN_2 at one level (Fig. 2)."""

import streamlit as st

from app import controls, data, downloads, ui
from engine.figures import charts

st.title("Baselines")
st.caption(
    "Every comparison is trained to IMP-WR's sparsity at the chosen level with the same recipe: "
    "one-shot pruning, fine-tuning (FT), IMP's mask with fresh weights (RIPN), and random "
    "masks with the rewind-point (RPN_1) or fresh (RPN_2) weights."
)
runs = ui.chosen_runs()
metrics = data.table("metrics", runs, data.run_jobs(data.jobs()))
baseline_levels = ui.distinct(metrics[metrics["branch"] != "imp"], "level")
if not baseline_levels:
    st.info(
        "The chosen runs have no baselines yet. Launch a run with `baselines.kinds` set (the "
        "demo and the paper's presets train all five); they train after the IMP levels."
    )
    st.stop()

levels = ui.distinct(metrics, "level")
cols = st.columns(3)
with cols[0]:
    level = ui.choose("Level", "level", levels, baseline_levels[-1], cast=int)
with cols[1]:
    log = ui.toggle("Log scale for the loss", "log", True)
with cols[2]:
    log_acc = ui.toggle("Log scale for the accuracy", "log_acc", False)
view = controls.curve_view(runs)

at = metrics[metrics["level"] == level]
keys = ["branch", "level", "sparsity", view.x]
left, right = st.columns(2)
for col, value, logged, name in (
    (left, "train_loss", log, "loss"),
    (right, "test_acc", log_acc, "acc"),
):
    with col:
        shown = controls.apply(at, view, runs, keys, value)
        chart = charts.baseline_curves(shown, level, value, logged, view.x)
        downloads.show(chart, shown, f"baselines-L{level}-{name}")

summary = data.table("summary", runs)
final = controls.apply(summary[summary["level"] == level], view, runs, keys[:3], "test_acc")
if not final.empty:
    downloads.show(charts.baseline_final(final, level), final, f"baselines-L{level}-final")
