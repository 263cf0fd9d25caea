"""Runs: every stored run and queued job, with live progress; cancel, delete, open."""

import streamlit as st

from app import auth, data, runstable, selection, ui
from engine.jobs.queue import STATUSES, JobError
from engine.jobs.removal import delete_run
from engine.store import StoreError

REFRESH_S = 2.0
PENDING = "_delete"  # the row whose deletion awaits confirmation
STATUS_OPTIONS = [*STATUSES, "stopped"]
SORTABLE = {"created": "created", "status": "status", "progress": "progress", "run": "run_id"}

st.title("Runs")
if data.runs().empty and not data.jobs():
    st.info("Nothing here yet: no stored runs and no jobs.", icon=":material/info:")
    st.page_link("views/launch.py", label="Launch a run", icon=":material/rocket_launch:")
    st.stop()

for problem in data.runs().attrs.get("problems", []):
    st.warning(f"Not a readable run, skipped: {problem}", icon="⚠️")
launched = st.session_state.pop("_launched", None)
if launched:
    st.success(f"Queued job `{launched}`. Its progress shows below; charts fill in as it trains.")

cols = st.columns([3, 3, 2, 2])
with cols[0]:
    statuses = st.multiselect(
        "Status",
        STATUS_OPTIONS,
        placeholder="all statuses",
        **selection.synced("status", [], STATUS_OPTIONS, multiple=True),
    )
with cols[1]:
    text = st.text_input(
        "Search", placeholder="run id, model, data set, error...", **selection.synced("q", "")
    )
with cols[2]:
    by = ui.choose("Sort by", "sort", list(SORTABLE), "created")
with cols[3]:
    descending = ui.toggle("Descending", "desc", True)


def forget_delete() -> None:
    st.session_state.pop(PENDING, None)


@st.dialog("Delete?", on_dismiss=forget_delete)
def confirm_delete(row: dict) -> None:
    if row["kind"] == "run" and row["run_id"] in set(data.runs()["run_id"]):
        st.write(
            f"Delete run **{row['run_id']}**: its checkpoints, metrics, analyses and jobs. "
            "This cannot be undone."
        )
        action = lambda: delete_run(data.queue(), row["run_id"])  # noqa: E731
    else:
        st.write(f"Forget job **{row['id']}**? Results it stored stay in the store.")
        action = lambda: data.queue().delete(row["id"])  # noqa: E731
    left, right = st.columns(2)
    confirmed = left.button(
        "Delete", type="primary", icon=":material/delete:", key="confirm-delete"
    )
    if confirmed and auth.require("delete"):
        try:
            action()
        except (JobError, StoreError) as e:  # e.g. a job of the run started meanwhile
            st.error(str(e), icon="⚠️")
            return
        forget_delete()
        st.rerun()
    if right.button("Keep", key="keep"):
        forget_delete()
        st.rerun()


def actions(table, all_jobs) -> None:
    """Buttons for one chosen row: open its charts, cancel its job, show its log, delete."""
    if table.empty:
        return
    labels = {
        (r["id"] or r["run_id"]): f"{r['kind']} · {r['run_id'] or r['id']} · {r['what']}"
        for r in table.to_dict("records")
    }
    choice = st.selectbox("Act on", list(labels), format_func=labels.get, key="act-on")
    row = next(r for r in table.to_dict("records") if (r["id"] or r["run_id"]) == choice)
    job = next((j for j in all_jobs if j.id == row["id"]), None)
    active = job is not None and job.status in data.ACTIVE
    b = st.columns(4)
    if row["run_id"] and b[0].button("Open charts", icon=":material/show_chart:"):
        ui.show_runs([row["run_id"]])
        st.switch_page("views/levels.py")
    if b[1].button("Cancel", icon=":material/stop:", disabled=not active) and auth.require(
        "cancel"
    ):
        data.queue().cancel(job.id)
        st.rerun()
    if b[2].button("Delete", icon=":material/delete:", disabled=active) and auth.require("delete"):
        st.session_state[PENDING] = row
        st.rerun(scope="app")  # the dialog opens from the page, not from this live fragment
    if active:
        b[2].caption("cancel it first")
    if job is not None:
        with st.expander("Log and error"):
            if job.error:
                st.error(job.error)
            if job.traceback:
                st.code(job.traceback, language=None)
            log = data.queue().log_file(job)
            if log is not None and log.is_file():
                st.code("\n".join(log.read_text().splitlines()[-40:]), language=None)


@st.fragment(run_every=REFRESH_S)
def live() -> None:
    all_jobs = data.jobs()
    table = runstable.rows(data.runs(), all_jobs)
    shown = runstable.filter_sort(table, statuses, text, SORTABLE[by], descending)
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_order=[
            "status",
            "progress",
            "where",
            "eta",
            "run_id",
            "what",
            "kind",
            "created",
            "error",
            "id",
        ],
        column_config=ui.RUN_TABLE,
    )
    st.caption(f"{len(shown)} of {len(table)} rows · refreshes every {REFRESH_S:g} s")
    actions(shown, all_jobs)


live()
if st.session_state.get(PENDING):
    confirm_delete(st.session_state[PENDING])
