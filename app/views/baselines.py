"""Baselines: IMP-WR against one-shot, FT, RIPN, RPN_1 and RPN_2 at one level (Fig. 2)."""

import streamlit as st

from app import charts, data, downloads, ui

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

at = metrics[metrics["level"] == level]
left, right = st.columns(2)
with left:
    downloads.show(
        charts.baseline_curves(at, level, "train_loss", log), at, f"baselines-L{level}-loss"
    )
with right:
    downloads.show(charts.baseline_curves(at, level, "test_acc"), at, f"baselines-L{level}-acc")

summary = data.table("summary", runs)
final = summary[summary["level"] == level]
if not final.empty:
    downloads.show(charts.baseline_final(final, level), final, f"baselines-L{level}-final")
