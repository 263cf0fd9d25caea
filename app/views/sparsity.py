"""Sparsity: every per-level quantity against the weights remaining on a log axis, for
several runs or groups at once, and where IMP prunes, layer by layer."""

import streamlit as st

from app import controls, data, downloads, ui
from engine.figures import per_level, sparsity_charts

st.title("Sparsity")
st.caption(
    "Accuracy and each per-level analysis against the fraction of weights remaining (log "
    "axis: one IMP level is one step to the left), the view lottery-ticket papers draw."
)
runs = ui.chosen_runs()
summary = data.table("summary", runs)
ui.stop_until_trained(summary, "level")

cols = st.columns(3)
with cols[0]:
    name = ui.choose(
        "Quantity",
        "quantity",
        list(per_level.QUANTITIES),
        "test_acc",
        format_func=lambda q: per_level.QUANTITIES[q].title,
    )
with cols[1]:
    remaining = ui.toggle("Weights remaining on a log axis", "remaining", True)
with cols[2]:
    log_y = ui.toggle("Log scale for the quantity", "log_q", False)
view = controls.curve_view(runs, curves=False)
quantity = per_level.QUANTITIES[name]
frame = per_level.table(name, data.table(quantity.table, runs), summary)
if frame.empty:
    st.info(
        f"No `{quantity.table}` results for the chosen runs yet: compute them on the page "
        "that shows them (Geometry or Spectra)."
    )
else:
    shown = controls.apply(frame, view, runs, ["branch", "level", "sparsity", "series"], "value")
    chart = sparsity_charts.against_remaining(
        shown, quantity.title, log_y, remaining, quantity.rate
    )
    downloads.show(chart, shown, f"{name}-vs-remaining")

st.subheader("Per-layer sparsity")
st.caption("The global ranking prunes layers at different rates; the output layer keeps its own.")
layers = data.table("layers", runs)
if not layers.empty:
    downloads.show(sparsity_charts.layer_sparsity(layers), layers, "layer-sparsity")
