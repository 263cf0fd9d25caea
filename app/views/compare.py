"""Compare: one row per run with the spec fields that differ, how each branch ended, tags and
note; sort by any column (click its header), filter with a small expression, tick rows to
show them on every chart, and tag or annotate them."""

import streamlit as st

from app import auth, compare, data, selection, ui
from engine import annotations
from engine.store import StoreError

st.title("Compare runs")
runs = data.runs()
if runs.empty:
    st.info("No runs yet. Launch one on the **Launch** page.", icon=":material/info:")
    st.stop()


@st.cache_data(show_spinner=False, max_entries=8)
def _table(root: str, version: int, all_fields: bool):
    """The comparison of every stored run for one store state (cheap to redraw)."""
    ids = data.runs()["run_id"].tolist()
    notes = {r: annotations.read(data.store(), r) for r in ids}
    return compare.table(data.runs(), data.table("summary", ids), notes, all_fields)


cols = st.columns([5, 2])
with cols[0]:
    text = st.text_input(
        "Filter",
        placeholder="e.g. prune.rate = 0.2 and seed < 3 and tags ~ baseline",
        help=f"Clauses {compare.FORM}; operators = != < <= > >= and ~ (contains).",
        **selection.synced("where", ""),
    )
with cols[1]:
    all_fields = ui.toggle(
        "All spec fields", "all_fields", False, help="Else only those that differ."
    )
frame = _table(data.root(), data.version(), all_fields)
try:
    shown = compare.apply_filter(frame, compare.parse_filter(text, list(frame.columns)))
except ValueError as e:
    st.error(str(e), icon="⚠️")
    shown = frame
st.caption(f"{len(shown)} of {len(frame)} runs · click a header to sort · tick rows to pick them")
event = st.dataframe(
    shown,
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="multi-row",
    key="compare-table",
    column_config={
        "run_id": None,  # the short label names the run; the id is in the picker and URL
        **{
            c: st.column_config.NumberColumn(c, format="percent")
            for c in shown.columns
            if c == "sparsity" or c.endswith(" acc")
        },
    },
)
picked = shown.iloc[list(event.selection.rows)]["run_id"].tolist() if event.selection.rows else []
if picked:
    left, right = st.columns(2)
    if left.button(f"Show {len(picked)} run(s) on every chart", icon=":material/show_chart:"):
        ui.show_runs(picked)
        st.rerun()
    with right.form("annotate", clear_on_submit=True, border=False):
        change = st.text_input("Tags", placeholder="+baseline -old")
        note = st.text_input("Note", placeholder="leave empty to keep the note")
        if st.form_submit_button("Save") and auth.require("tag runs"):
            try:
                parsed = annotations.TagChange.parse(change.split())
                for run_id in picked:
                    annotations.tag(data.store(), run_id, parsed)
                    if note.strip():
                        annotations.note(data.store(), run_id, note)
                st.rerun()
            except StoreError as e:
                st.error(str(e), icon="⚠️")
