"""Keeping pages live while jobs run, without ever restarting a page that is drawing.

A fragment in the sidebar (`watch`) shows the active jobs every `WATCH_S` seconds and asks
for a rerun of the whole app when what the current page shows has changed. It used to run
that check inline in every full script run too, before the page was drawn, against the
state seen by its previous run, and to count any job's epoch: a run that opened a page while
a demo trained restarted itself before drawing whenever an epoch had ended since (measured
in Chromium: up to five restarts before one page drew, 3-7 in 4 visits of a page; issue 13
saw 148 s to Baselines' first chart on a loaded machine). Now:

- a full run never asks for a rerun: it only notes what its page is drawn from
  (`page_token`) and how long it took;
- the fragment's own timed runs (which Streamlit queues behind a running script, never
  interrupting it) ask for a rerun only when the token differs (the store's version, or the
  status, level or epoch of an active job of a run the page shows) and only when the last
  full run ended at least as long ago as it took (`rerun_due`): a page that takes 5 s to draw
  on a busy machine is redrawn at most every 10 s, and is idle half the time for clicks.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence

import streamlit as st

from app import data
from engine.jobs.queue import ACTIVE, Job

WATCH_S = 3.0
_PAGE = "_live_page"  # (redraw as results land?, runs the page shows or None for all)
_IN_FULL_RUN = "_live_in_full_run"
_SHOWN = "_live_shown"  # page_token the page was last drawn from
_DRAWN = "_live_drawn"  # (start, end) of the last full run, time.monotonic()


def page_token(version: int, all_jobs: Sequence[Job], runs: Sequence[str] | None) -> tuple:
    """What a page showing `runs` (None: every run) is drawn from, as far as it can change
    while jobs run: the store's version (a level or an analysis stored, a run added) and the
    status, level and epoch of each active job of those runs. Progress within an epoch and
    other runs' jobs leave it unchanged."""
    shown = None if runs is None else set(runs)
    active = sorted(
        (
            j.id,
            j.status,
            str((j.progress or {}).get("label", "")),
            (j.progress or {}).get("epoch"),
        )
        for j in all_jobs
        if j.status in ACTIVE and (shown is None or j.run_id in shown)
    )
    return (version, tuple(active))


def rerun_due(now: float, drawn: tuple[float, float] | None) -> bool:
    """Whether the app may be rerun at `now`: the last full run (start, end) ended at least
    as long ago as it took, so reruns never take more than half of a busy server's time."""
    if drawn is None:
        return True
    start, end = drawn
    return now - end >= end - start


def wants_rerun(
    live: bool, token: tuple, shown: tuple | None, now: float, drawn: tuple[float, float] | None
) -> bool:
    """The fragment's decision: a live page whose data changed since it was drawn, once the
    last full run is far enough behind (`rerun_due`). A page never drawn yet (no `shown`)
    is being drawn: it is left alone."""
    return live and shown is not None and token != shown and rerun_due(now, drawn)


@contextlib.contextmanager
def full_run(live: bool, runs: Sequence[str] | None) -> Iterator[None]:
    """A script run of the whole app: the sidebar's job status, then (in the `with` body)
    the page. `live`: redraw the page when what it shows changes; `runs` it shows (None:
    all). Records how long the run took, also when the page stops early or is interrupted."""
    st.session_state[_PAGE] = (live, None if runs is None else list(runs))
    st.session_state[_IN_FULL_RUN] = True
    start = time.monotonic()
    try:
        with st.sidebar:
            watch()
        yield
    finally:
        st.session_state[_IN_FULL_RUN] = False
        st.session_state[_DRAWN] = (start, time.monotonic())


def _status(active: list[Job]) -> None:
    """The three most relevant active jobs as progress bars: running first, then newest."""
    active = sorted(active, key=lambda j: j.status == "queued")
    for job in active[:3]:
        p = job.progress or {}
        label = p.get("label") or job.kind
        if job.kind == "analysis":
            label = str((job.payload or {}).get("what", ""))
            label += f" · level {p['level']}" if "level" in p else ""
        st.progress(float(p.get("fraction") or 0.0), text=f"{job.status}: {label}")
    if len(active) > 3:
        st.caption(f"and {len(active) - 3} more jobs")


@st.fragment(run_every=WATCH_S)
def watch() -> None:
    """Sidebar status of active jobs; redraws a live page when what it shows has changed."""
    all_jobs = data.jobs()
    _status([j for j in all_jobs if j.status in ACTIVE])
    live, runs = st.session_state.get(_PAGE, (False, None))
    token = page_token(data.version(), all_jobs, runs)
    if st.session_state.get(_IN_FULL_RUN):  # drawn inline: the page is drawn from this state
        st.session_state[_SHOWN] = token
    elif wants_rerun(
        live,
        token,
        st.session_state.get(_SHOWN),
        time.monotonic(),
        st.session_state.get(_DRAWN),
    ):
        st.rerun(scope="app")
