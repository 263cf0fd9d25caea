"""Landscape: the training loss on a 2-D plane around a solution, in filter-normalised
random directions (Li et al. 2018), as a heatmap."""

import streamlit as st

from app import data, downloads, ui
from engine.figures import chartkit, spectra_charts

st.title("Landscape")
st.caption(
    "Training loss on a plane through the solution (the cross), spanned by two random "
    "directions scaled filter by filter to the weights' norms."
)
runs = ui.chosen_runs()
jobs = data.jobs()
land = ui.analysis_table("landscape", runs, jobs)
if not land.empty:
    cols = st.columns(2)
    with cols[0]:
        branches = ui.distinct(land, "branch", str)
        branch = ui.choose("Branch", "ls_branch", branches, "imp")
    at_branch = land[land["branch"] == branch]
    with cols[1]:
        levels = ui.distinct(at_branch, "level", int)
        level = ui.choose("Level", "ls_level", levels, levels[-1], cast=int)
    shown = at_branch[at_branch["level"] == level]
    sparsity = chartkit.sparsity_by_level(data.table("summary", runs))
    chart = spectra_charts.landscape_chart(shown, sparsity)
    downloads.show(chart, shown, f"landscape-{branch}-L{level}", width=560)

ui.table_sections("landscape", runs, jobs)
