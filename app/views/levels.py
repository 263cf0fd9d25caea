"""Levels: training loss and test accuracy per epoch at every IMP level (Fig. 1), and the
final accuracy of every level against its sparsity."""

import streamlit as st

from app import controls, data, downloads, ui
from engine.figures import chartkit, charts

st.title("Levels")
st.caption(
    "One line per IMP-WR level, coloured by sparsity (Fig. 1). Levels still training show "
    "the epochs done so far."
)
runs = ui.chosen_runs()
metrics = data.table("metrics", runs, data.run_jobs(data.jobs()))
ui.stop_until_trained(metrics, "epoch")

cols = st.columns(4)
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
with cols[3]:
    log_acc = ui.toggle("Log scale for the accuracy", "log_acc", False)
view = controls.curve_view(runs)

imp = metrics[metrics["branch"] == "imp"]
keys = ["branch", "level", "sparsity", view.x]
left, right = st.columns(2)
for col, value, logged in ((left, loss, log), (right, acc, log_acc)):
    with col:
        shown = controls.apply(imp, view, runs, keys, value)
        chart = charts.level_curves(shown, value, logged, view.x)
        downloads.show(chart, shown, f"levels-{value}")

summary = data.table("summary", runs)
if not summary.empty:
    st.subheader("Final accuracy against sparsity")
    remaining = ui.toggle("Weights remaining on a log axis", "remaining", False)
    shown = controls.apply(summary, view, runs, ["branch", "level", "sparsity"], acc)
    chart = charts.final_vs_sparsity(shown, acc, remaining)
    downloads.show(chart, shown, f"final-{acc}-vs-sparsity")
