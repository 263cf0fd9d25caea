"""IMP Lab's dashboard: `streamlit run app/main.py`.

Builds the navigation, the sidebar's run picker (kept in the URL), and starts a worker
process beside the server when none is alive, so jobs submitted here run without a terminal.
The app itself only submits jobs and reads the store.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts only app/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import auth, data, selection, ui  # noqa: E402
from engine.worker import ensure_embedded_worker  # noqa: E402

WORKER_ENV = "IMP_LAB_EMBEDDED_WORKER"  # "0": never start a worker (tests, clusters)
PAGES = Path(__file__).resolve().parent / "views"
LIVE = (
    "home",
    "levels",
    "baselines",
    "geometry",
    "spectra",
    "landscape",
)  # redrawn as results land


@st.cache_resource(show_spinner=False)
def _embedded_worker(root: str):
    return ensure_embedded_worker(root)


def start_worker() -> None:
    """Once per server; again only if no worker is alive any more (ours died)."""
    if os.environ.get(WORKER_ENV, "1") == "0":
        return
    root = data.root()
    handle = _embedded_worker(root)
    if (handle is None or not handle.alive()) and not data.queue().live_workers():
        _embedded_worker.clear()
        _embedded_worker(root)


def page(name: str, title: str, icon: str, **kw) -> st.Page:
    return st.Page(str(PAGES / f"{name}.py"), title=title, icon=icon, url_path=name, **kw)


def run_label(runs, run_id: str) -> str:
    """`s0 #37baf3 · lenet_300_100 · mnist5k`: what tells runs apart comes first, because
    the picker's chips are narrow."""
    row = runs.set_index("run_id").loc[run_id]
    return f"s{row['seed']} #{run_id.rsplit('-', 1)[-1][:6]} · {row['model']} · {row['data']}"


def run_picker(runs) -> list[str]:
    """The runs every chart overlays; the newest run when the URL names none."""
    run_ids = runs["run_id"].tolist()
    wanted = st.session_state.get(ui.SHOW) or []  # runs just launched or opened
    present = [r for r in wanted if r in run_ids]
    if present:
        selection.set_value("runs", present)
        if len(present) == len(wanted):
            del st.session_state[ui.SHOW]
    with st.sidebar:
        st.multiselect(
            "Runs",
            run_ids,
            **selection.synced("runs", run_ids[:1], run_ids, multiple=True),
            format_func=lambda r: run_label(runs, r),
            help="Every chart overlays the runs chosen here (told apart by line dash).",
            placeholder="choose runs to show",
        )
    return st.session_state["runs"]


def main() -> None:
    st.set_page_config(page_title="IMP Lab", page_icon="🎟️", layout="wide")
    auth.gate()  # hosted without a credential: an error and nothing else
    selection.begin()
    start_worker()
    runs = data.runs()
    pages = {
        "": [page("home", "Home", ":material/home:", default=True)],
        "Experiments": [
            page("launch", "Launch", ":material/rocket_launch:"),
            page("runs", "Runs", ":material/list:"),
            page("sweep", "Sweep", ":material/grid_view:"),
        ],
        "Results": [
            page("levels", "Levels", ":material/show_chart:"),
            page("baselines", "Baselines", ":material/compare_arrows:"),
            page("geometry", "Geometry", ":material/straighten:"),
            page("spectra", "Spectra", ":material/equalizer:"),
            page("landscape", "Landscape", ":material/landscape:"),
            page("report", "Report", ":material/summarize:"),
        ],
    }
    nav = st.navigation(pages)
    if not runs.empty:
        run_picker(runs)
    workers = data.queue().live_workers()
    st.sidebar.caption(
        f"store `{data.root()}` · "
        + (f"{len(workers)} worker(s) on {workers[0].get('device')}" if workers else "no worker")
    )
    with st.sidebar:
        ui.watch(rerun=nav.url_path in LIVE)
    try:
        nav.run()
    finally:  # also when the page stops early (st.stop)
        selection.publish()


main()
