"""Levels: training loss and test accuracy per epoch at every IMP level (Fig. 1), and the
final accuracy of every level against its sparsity."""

import streamlit as st

from app import chartkit, charts, data, downloads, ui

st.title("Levels")
st.caption(
    "One line per IMP-WR level, coloured by sparsity (Fig. 1). Levels still training show "
    "the epochs done so far."
)
runs = ui.chosen_runs()
metrics = data.table("metrics", runs, data.run_jobs(data.jobs()))
if metrics.empty:
    st.info("No epoch has finished yet for the chosen runs; this page fills in as they train.")
    st.stop()

cols = st.columns(3)
with cols[0]:
    loss = ui.choose(
        "Loss", "loss", ["train_loss", "test_loss"], "train_loss", format_func=chartkit.title
    )
with cols[1]:
    acc = ui.choose(
        "Accuracy", "acc", ["test_acc", "train_acc"], "test_acc", format_func=chartkit.title
    )
with cols[2]:
    log = ui.toggle("Log scale for the loss", "log", True)

imp = metrics[metrics["branch"] == "imp"]
left, right = st.columns(2)
with left:
    downloads.show(charts.level_curves(imp, loss, log), imp, f"levels-{loss}")
with right:
    downloads.show(charts.level_curves(imp, acc), imp, f"levels-{acc}")

summary = data.table("summary", runs)
if not summary.empty:
    st.subheader("Final accuracy against sparsity")
    downloads.show(charts.final_vs_sparsity(summary, acc), summary, f"final-{acc}-vs-sparsity")
