"""Spectra: top-k Hessian eigenvalues at min_L and at Pr_L(min_(L−1)) (Fig. 5), the
eigenvalue density, the trace, and the log-volume proxy of each level's basin."""

import streamlit as st

from app import controls, data, downloads, ui
from engine.figures import chartkit, control_charts, spectra_charts

st.title("Spectra")
runs = ui.chosen_runs()
jobs = data.jobs()
sparsity = chartkit.sparsity_by_level(data.table("summary", runs))
view = controls.curve_view(runs, curves=False)

spectra = ui.section(
    "Top Hessian eigenvalues (Fig. 5)",
    "The Hessian of the training loss restricted to the unpruned weights, at the level's "
    "solution and at the previous solution projected on its mask. Smaller eigenvalues at "
    "min_L mean retraining found a flatter basin.",
    "spectra",
    runs,
    jobs,
)
if not spectra.empty:
    pick, shown = ui.pick_level(spectra, "sp_level")
    shown = controls.apply(shown, view, runs, ["branch", "level", "point", "rank"], "eigenvalue")
    name = f"spectrum-{ui.ALL if pick is None else pick}"
    downloads.show(spectra_charts.spectrum_chart(shown, pick, sparsity), shown, name)

    volume = data.table("volume", runs)
    if not volume.empty:
        st.subheader("Basin volume")
        st.caption("−½ Σ log λ_i over the top-k positive eigenvalues: larger means flatter.")
        keys = ["branch", "level", "point", "k"]
        volume = controls.apply(volume, view, runs, keys, "log_volume")
        downloads.show(spectra_charts.volume_chart(volume), volume, "volume")

matched = ui.section(
    "Loss-matched control",
    "A point of higher loss sits higher on its basin's walls. The control is the point on "
    "level L's own trajectory whose training loss equals Pr_L(min_(L−1))'s (interpolated "
    "between the two checkpoints that bracket it): each spectrum's log-volume against its loss.",
    "loss_matched",
    runs,
    jobs,
)
if not matched.empty:
    tables = {"volume": data.table("volume", runs), "loss_matched": matched}
    k, points = control_charts.one_k(control_charts.spectra_with_losses(tables, by="run_id"))
    st.caption(f"Top-{k} spectra (the k most of them used).")
    downloads.show(control_charts.volume_vs_loss(points, by="run_id"), points, "loss-matched")

st.subheader("Hessian trace")
trace = ui.analysis_table("trace", runs, jobs)
if not trace.empty:
    downloads.show(spectra_charts.trace_chart(trace), trace, "trace")

st.subheader("Eigenvalue density")
density = ui.analysis_table("density", runs, jobs)
if not density.empty:
    levels = ui.distinct(density, "level", int)
    level = ui.choose("Level", "dn_level", levels, levels[-1], cast=int)
    shown = density[density["level"] == level]
    downloads.show(spectra_charts.density_chart(shown, level, sparsity), shown, f"density-L{level}")

ui.table_sections("spectra", runs, jobs)
