"""Sweep: expand a grid of seeds and spec fields into runs, queue them, and overlay each
group's mean and band (issue: scale out with sweeps)."""

import tomllib

import streamlit as st

from app import auth, data, downloads, ui
from engine.config import SpecError
from engine.figures import charts
from engine.groups import BANDS, band
from engine.store import StoreError
from engine.sweeps import expand_grid, grid_from_dict, list_sweeps, submit_sweep, sweep_table

EXAMPLE = """base = "demo"
seeds = [0, 1, 2]

[set]
"train.length" = "4ep"

[grid]
"train.lr" = [0.0012, 0.0006]
"""

st.title("Sweep")
st.caption(
    "A grid file (TOML, parsed as data) names a base preset or spec, the seeds, fixed fields "
    "(`[set]`) and fields to vary (`[grid]`). Every cell is validated before anything is "
    "queued; runs that differ only in the seed form one group."
)
name = st.text_input("Sweep name", "sweep")
text = st.text_area("Grid", EXAMPLE, height=220)
try:
    grid = grid_from_dict(tomllib.loads(text), name=name or "sweep")
    cells = expand_grid(grid)
    st.write(f"{len(cells)} runs in {len({c.group for c in cells})} group(s)")
    st.dataframe(
        [{"group": c.group, "seed": c.seed, "run": c.spec.run_id} for c in cells],
        hide_index=True,
    )
except tomllib.TOMLDecodeError as e:
    st.error(f"The grid is not valid TOML: {e}")
    grid = None
except SpecError as e:
    st.error(str(e))
    grid = None
submitted = st.button("Queue the sweep", type="primary", disabled=grid is None)
if submitted and grid is not None and auth.require("launch"):
    try:
        sweep = submit_sweep(data.queue(), grid, owner=auth.owner())
        st.success(f"Queued sweep {sweep.id} ({len(sweep.members)} runs).")
    except (SpecError, StoreError) as e:
        st.error(f"Could not queue: {e}")

sweeps, problems = list_sweeps(data.store())
for line in problems:
    st.warning(line)
if not sweeps:
    st.info("No sweep stored yet.")
    st.stop()
chosen = ui.choose("Sweep", "sweep", [s.id for s in sweeps], sweeps[0].id, cast=str)
summary = sweep_table(data.store(), chosen)
if summary.empty:
    st.info("No run of this sweep has finished a level yet; this view fills in as they do.")
    st.stop()
imp = summary[summary["branch"] == "imp"]
kind = ui.choose("Band", "band", list(BANDS), "sd", format_func=BANDS.get)
left, right = st.columns(2)
for col, value, log, name in (
    (left, "test_acc", False, "acc"),
    (right, "train_loss", True, "loss"),
):
    table = band(imp, ["group", "level", "sparsity"], value, kind)
    with col:
        chart = charts.sweep_band(table, "sparsity", value, log, kind)
        downloads.show(chart, table, f"sweep-{chosen}-{name}")
