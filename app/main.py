"""IMP Lab's dashboard: `streamlit run app/main.py`.

Builds the navigation, the sidebar's run picker (kept in the URL), and starts a worker
process beside the server when none is alive, so jobs submitted here run without a terminal.
The app itself only submits jobs and reads the store.

Streamlit runs this file as every session's script (as `__main__`); `streamlit run` also
imports it once to find `app`, the server with the routes of `app/server.py` added.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts only app/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import auth, data, live, selection, ui  # noqa: E402
from engine.figures.chartkit import run_label  # noqa: E402
from engine.jobs.embedded import ensure_embedded_worker  # noqa: E402
from engine.threads import worker_text  # noqa: E402

WORKER_ENV = "IMP_LAB_EMBEDDED_WORKER"  # "0": never start a worker (tests, clusters)
PAGES = Path(__file__).resolve().parent / "views"
LIVE = (
    "home",
    "levels",
    "baselines",
    "geometry",
    "spectra",
    "landscape",
    "sparsity",
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


NAVIGATION = {  # section -> (page, title, icon); the first page is Home, at "/"
    "": [("home", "Home", ":material/home:")],
    "Experiments": [
        ("launch", "Launch", ":material/rocket_launch:"),
        ("runs", "Runs", ":material/list:"),
        ("compare", "Compare", ":material/table_chart:"),
        ("sweep", "Sweep", ":material/grid_view:"),
    ],
    "Results": [
        ("levels", "Levels", ":material/show_chart:"),
        ("baselines", "Baselines", ":material/compare_arrows:"),
        ("geometry", "Geometry", ":material/straighten:"),
        ("spectra", "Spectra", ":material/equalizer:"),
        ("landscape", "Landscape", ":material/landscape:"),
        ("sparsity", "Sparsity", ":material/filter_alt:"),
        ("report", "Report", ":material/summarize:"),
    ],
}
HOME = "home"


def page(name: str, title: str, icon: str) -> st.Page:
    return st.Page(
        str(PAGES / f"{name}.py"), title=title, icon=icon, url_path=name, default=name == HOME
    )


def unknown_runs(named: list[str], launched: list[str]) -> str | None:
    """The warning for runs a link names that this store lacks; runs just launched (not
    stored yet) are no news."""
    missing = [r for r in named if r not in launched]
    if not missing:
        return None
    ids = ", ".join(f"`{r}`" for r in missing)
    if len(missing) == 1:
        return f"The link names run {ids}, which this store does not have; it was dropped."
    return f"The link names runs {ids}, which this store does not have; they were dropped."


def run_picker(runs) -> list[str]:
    """The runs every chart overlays: the newest run when the URL names none, and none (with
    a warning) when it names only runs this store lacks, never another run instead."""
    run_ids = runs["run_id"].tolist()
    wanted = st.session_state.get(ui.SHOW) or []  # runs just launched or opened
    present = [r for r in wanted if r in run_ids]
    if present:
        selection.set_value("runs", present)
        if len(present) == len(wanted):
            del st.session_state[ui.SHOW]
    picker = selection.synced(
        "runs",
        run_ids[:1],
        run_ids,
        multiple=True,
        explain=lambda named: unknown_runs(named, wanted),
    )
    if not run_ids:  # an empty store: nothing to pick, but a link's runs are still checked
        return []
    with st.sidebar:
        st.multiselect(
            "Runs",
            run_ids,
            **picker,
            format_func=run_label,  # as every chart's legend names runs
            help="Every chart overlays the runs chosen here (told apart by line dash).",
            placeholder="choose runs to show",
        )
    return st.session_state["runs"]


def main() -> None:
    st.set_page_config(page_title="IMP Lab", page_icon="🎟️", layout="wide")
    auth.gate()  # hosted without a credential: an error and nothing else
    selection.begin(st.container())  # above the page: what a link named that cannot be shown
    data.begin()
    start_worker()
    runs = data.runs()
    nav = st.navigation(
        {section: [page(*entry) for entry in entries] for section, entries in NAVIGATION.items()}
    )
    run_picker(runs)
    workers = data.queue().live_workers()
    st.sidebar.caption(
        f"store `{data.root()}` · "
        + (f"{len(workers)} worker(s) on {worker_text(workers[0])}" if workers else "no worker")
    )
    where = nav.url_path or HOME  # the default page's url_path is ""
    shown = None if where == HOME else st.session_state.get("runs")  # Home lists every run
    with live.full_run(where in LIVE, shown):
        try:
            nav.run()
        finally:  # also when the page stops early (st.stop)
            selection.publish()


if __name__ == "__main__":  # a session's script run
    main()
else:  # `streamlit run` looking for the server
    from app.server import page_routes

    paths = [name for entries in NAVIGATION.values() for name, _, _ in entries if name != HOME]
    app = st.App(__file__, routes=page_routes(paths))
