"""What every results page does: get the chosen runs, read a table, offer missing analyses."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app import data, selection
from engine.analysis import registry
from engine.config import RunSpec, SpecError
from engine.jobs.follow_ups import first_look
from engine.jobs.queue import Job
from engine.store import StoreError

ALL = "all"
RUN_TABLE = {  # how the Home and Runs pages show `runstable.rows`; widths add up to 915 px,
    # so every column fits the wide layout's main area at 1,400 px without a hidden scroll
    "status": st.column_config.TextColumn("status", width=60),
    "progress": st.column_config.ProgressColumn(
        "progress", format="percent", min_value=0.0, max_value=1.0, width=90
    ),
    "where": st.column_config.TextColumn("level / epoch", width=110),
    "eta": st.column_config.TextColumn("ETA", width=55),
    "run_id": st.column_config.TextColumn("run", width=220),
    "kind": st.column_config.TextColumn("kind", width=50),
    "what": st.column_config.TextColumn("spec / analysis", width=170),
    "created": st.column_config.DatetimeColumn("created", format="MM-DD HH:mm", width=95),
    "id": st.column_config.TextColumn("job", width=65),
}


def chosen_runs() -> list[str]:
    """The sidebar's runs; stops the page with a hint when there are none."""
    runs = st.session_state.get("runs") or []
    if not runs:
        if data.runs().empty:
            st.info("No runs yet. Launch one on the **Launch** page.", icon=":material/info:")
            st.page_link("views/launch.py", label="Launch a run", icon=":material/rocket_launch:")
        else:
            st.info("Choose one or more runs in the sidebar.", icon=":material/info:")
        st.stop()
    return runs


def analysis_table(name: str, runs: list[str], all_jobs: list[Job]) -> pd.DataFrame:
    """Table `name` for `runs`, with the state of its analysis for each run: a progress bar
    while a job runs, a button where results are missing, and a form to compute it again
    with other settings."""
    frame = data.table(name, runs)
    have = set(frame["run_id"])
    what = data.producer(name)
    pending = data.analysis_jobs(all_jobs, what)
    queued_after = data.follow_ups(all_jobs, what)
    for run_id in runs:
        job = pending.get(run_id)
        if job is not None and job.status in data.ACTIVE:
            frac = float((job.progress or {}).get("fraction") or 0.0)
            st.progress(frac, text=f"`{what}` for {run_id}: {job.status}")
        elif run_id not in have and run_id in queued_after:
            st.caption(
                f"`{what}` for **{run_id}** is queued to run when its training ends; "
                "this section fills in then."
            )
        elif run_id not in have:
            cols = st.columns([3, 1])
            note = f"No `{what}` results for **{run_id}** yet."
            if job is not None and job.status == "failed":
                note += f" The last attempt failed: {job.error}"
            cols[0].caption(note)
            if cols[1].button(
                f"Compute {what}", key=f"compute-{name}-{run_id}", icon=":material/play_arrow:"
            ):
                submit(run_id, what)
    if have:
        options_form(what, [r for r in runs if r in have], key=name)
    return frame


def options_form(what: str, runs: list[str], key: str) -> None:
    """Queue `what` again with other settings (e.g. top-100 after the quick top-20).

    The fields are the analysis's own options with their help; a field left empty keeps the
    default. The request is validated by the analysis, and its message shown by its field.
    """
    with st.expander(f"Compute `{what}` with other settings"):
        values, slots = {}, {}
        cols = st.columns(3)
        for i, opt in enumerate(registry.get(what).options):
            name = opt.name
            with cols[i % 3]:
                values[name] = st.text_input(
                    name, value=opt.shown_default, help=opt.help, key=f"opt-{key}-{name}"
                )
                slots[name] = st.empty()
        if st.button(f"Queue {what}", key=f"requeue-{key}", icon=":material/play_arrow:"):
            request = {k: v.strip() for k, v in values.items() if v.strip()}
            for run_id in runs:
                try:
                    data.submit_analysis(run_id, what, **request)
                except (SpecError, StoreError) as e:
                    slot = slots.get(getattr(e, "field_path", ""))
                    (slot or st).error(str(e), icon="⚠️")
                    return
            st.rerun()


def section(
    title: str, caption: str, table: str, runs: list[str], all_jobs: list[Job]
) -> pd.DataFrame:
    """A page's section for one analysis table: its heading, what it shows, then the table
    with the state of its analysis (`analysis_table`)."""
    st.subheader(title)
    st.caption(caption)
    return analysis_table(table, runs, all_jobs)


def stop_until_trained(frame: pd.DataFrame, unit: str) -> None:
    """Stop a page that has nothing to show before the chosen runs have trained a `unit`."""
    if frame.empty:
        st.info(
            f"No {unit} has finished yet for the chosen runs; this page fills in as they train."
        )
        st.stop()


def table_sections(page: str, runs: list[str], all_jobs: list[Job]) -> None:
    """A section per analysis shown on `page` without a chart of its own: its help and its
    tables (with the usual compute buttons), so a newly registered analysis has a place."""
    for analysis in registry.all():
        if analysis.page != page or analysis.chart:
            continue
        st.subheader(analysis.name.replace("_", " ").capitalize())
        st.caption(analysis.help)
        for spec in analysis.table_specs:
            frame = analysis_table(spec.name, runs, all_jobs)
            if not frame.empty:
                st.dataframe(frame, hide_index=True)


SHOW = "_show_runs"


def show_runs(run_ids: list[str]) -> None:
    """Make `run_ids` the sidebar's selection on the next script run (as soon as they are in
    the store). The picker is a widget, so a page cannot set its value directly once it has
    been drawn in this run."""
    st.session_state[SHOW] = list(run_ids)


def launch(spec: RunSpec, analyse: bool = True) -> None:
    """Queue a run (with `analyse`, its first-look analyses as follow-ups, which its worker
    queues once it is trained) and go to the Runs page; its charts open once the run exists."""
    try:
        job = data.submit_run(spec, then=first_look(spec) if analyse else ())
    except (SpecError, StoreError) as e:  # the queue refuses the spec: say why
        st.error(f"Could not queue the run: {e}")
        return
    show_runs([spec.run_id])
    st.session_state["_launched"] = job.id
    st.switch_page("views/runs.py")


def submit(run_id: str, what: str, **options: Any) -> None:
    try:
        job = data.submit_analysis(run_id, what, **options)
    except (SpecError, StoreError) as e:  # the analysis refuses the request: say why
        st.error(f"Could not queue `{what}` for {run_id}: {e}")
        return
    st.toast(f"Queued `{what}` for {run_id} (job {job.id})", icon=":material/schedule:")
    st.rerun()


def distinct(frame: pd.DataFrame, column: str, kind: type = int) -> list:
    """The sorted distinct values of a column as plain Python values (for widgets and URLs)."""
    return sorted({kind(v) for v in frame[column]})


def _level_or_all(text: str) -> Any:
    return text if text == ALL else int(text)


def pick_level(
    frame: pd.DataFrame, key: str, levels: pd.Series | None = None
) -> tuple[int | None, pd.DataFrame]:
    """One of the table's levels picked in a select box (None for all of them), and the rows
    shown for it. `levels` is each row's level where it is not the "level" column."""
    levels = frame["level"] if levels is None else levels
    level = choose("Level", key, [ALL, *sorted({int(v) for v in levels})], ALL, cast=_level_or_all)
    return (None, frame) if level == ALL else (level, frame[levels == level])


def choose(
    label: str,
    key: str,
    options: list[Any],
    default: Any,
    *,
    widget=st.selectbox,
    cast=None,
    **kw: Any,
) -> Any:
    """A select widget whose value is kept in the URL."""
    if not options:
        return None
    default = default if default in options else options[0]
    return widget(label, options, **selection.synced(key, default, options, cast=cast), **kw)


def toggle(label: str, key: str, default: bool = False, **kw: Any) -> bool:
    return st.toggle(label, **selection.synced(key, default), **kw)
