"""Home: on an empty store, a one-click demo; afterwards, what is in the store and running."""

import streamlit as st

from app import data, runstable, ui
from engine.presets import PRESETS

st.title("IMP Lab")
st.markdown(
    "A workbench for the lottery ticket hypothesis: train networks with **iterative magnitude "
    "pruning with rewinding** (IMP-WR), compare them with one-shot pruning, fine-tuning and "
    "random re-initialisation, and look at the geometry and Hessian spectra of every level."
)
runs, jobs = data.runs(), data.jobs()

if runs.empty and not jobs:
    st.subheader("Welcome")
    st.markdown(
        f"Your store (`{data.root()}`) is empty. The **demo** trains {PRESETS['demo'][0]} "
        "It needs no GPU and no internet. Measured on 2 CPU cores (`benchmarks/first_look.py`): "
        "about 30 s of training, then its first-look analyses (spectra, trace, density, "
        "distances, trajectory, interpolation, landscape) 1.5-2 minutes; 2-2.5 minutes in "
        "all. The charts fill in while it trains, and its analyses are queued when it "
        "finishes."
    )
    if st.button("Launch the demo", type="primary", icon=":material/rocket_launch:"):
        ui.launch(data.preset_spec("demo"))
    st.page_link("views/launch.py", label="Or set up your own run", icon=":material/tune:")
    st.stop()

active = [j for j in jobs if j.status in data.ACTIVE]
failed = [j for j in jobs if j.status == "failed"]
cols = st.columns(4)
cols[0].metric("Runs", len(runs))
cols[1].metric("Jobs running or queued", len(active))
cols[2].metric("Failed jobs", len(failed))
cols[3].metric("Workers", len(data.queue().live_workers()))

st.subheader("Latest runs")
table = runstable.rows(runs, jobs).head(8)
st.dataframe(
    table[["status", "progress", "run_id", "what", "created"]],
    hide_index=True,
    width="stretch",
    column_config=ui.RUN_TABLE,
)
links = st.container(horizontal=True)
links.page_link("views/runs.py", label="All runs and jobs", icon=":material/list:")
links.page_link("views/levels.py", label="Curves per level", icon=":material/show_chart:")
links.page_link("views/launch.py", label="Launch a run", icon=":material/rocket_launch:")
