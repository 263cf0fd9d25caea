"""Report: queue the paper's experiments for several seeds (Reproduce), then queue the report
of the chosen runs (a "report" job renders every figure family and tests each claim in a
worker) and show what it stored: the claims with their verdicts, the figures, the controls'
tables and the files as one archive. Nothing is computed or rendered in this process."""

import pandas as pd
import streamlit as st

from app import auth, data, ui
from engine import report_store
from engine.config import SpecError
from engine.jobs.queue import ACTIVE, Job, JobError
from engine.presets import REPRODUCE
from engine.reproduce import FALLBACK, HESSIAN_DEFAULTS, default_seeds, parse_seeds, run_ids
from engine.store import StoreError

st.title("Report")

with st.expander("Reproduce the paper's experiments", expanded=data.runs().empty):
    name = ui.choose("Experiment", "rp_experiment", list(REPRODUCE), next(iter(REPRODUCE)))
    st.caption(REPRODUCE[name][0])
    cols = st.columns(3)
    seeds = ",".join(map(str, default_seeds(name)))  # what `reproduce` uses without --seeds
    seeds_text = cols[0].text_input("Seeds", seeds, key=f"rp_seeds_{name}")
    defaults = HESSIAN_DEFAULTS.get(name, FALLBACK)
    k = cols[1].number_input("Top-k eigenvalues", 1, 1000, defaults["k"], key=f"rp_k_{name}")
    subset = cols[2].number_input(
        "Hessian subset", 1, 100_000, defaults["subset"], key=f"rp_subset_{name}"
    )
    st.caption(
        "One job per seed: trains the run (resuming what is stored), then distances, projected "
        "trajectories, pruned starts and spectra at min_L and Pr_L(min_(L−1)) for every level "
        "and at the baselines' solutions."
    )
    if st.button("Reproduce", type="primary", icon=":material/science:") and auth.require(
        "reproduce"
    ):
        try:
            seeds = parse_seeds(seeds_text)
            for s in seeds:
                payload = {"experiment": name, "seed": s, "k": int(k), "subset": int(subset)}
                data.queue().submit("reproduce", payload, owner=auth.owner())
            ui.show_runs(run_ids(name, seeds))
            st.toast(f"Queued {len(seeds)} reproduce job(s)", icon=":material/schedule:")
        except (SpecError, StoreError) as e:
            st.error(f"Could not queue: {e}")

runs = ui.chosen_runs()
st.caption(
    "Runs whose specs differ only in the seed are aggregated as replicates (line: mean, band: "
    "min–max over seeds); claims are tested across seeds with the criteria stated beside them."
)


def report_job(runs: list[str]) -> Job | None:
    """The newest report job of exactly these runs (the queue lists newest first)."""
    return next((j for j in data.jobs() if j.kind == "report" and j.payload["runs"] == runs), None)


@st.fragment(run_every=2.0)
def wait_for(job_id: str) -> None:
    """While the report job is queued or running, say so; once it ends (or is deleted), draw
    the page again."""
    try:
        job = data.queue().get(job_id)
    except JobError:
        st.rerun()
    if job.status not in ACTIVE:
        st.rerun()
    st.info(f"Report job `{job.id}` is {job.status}; the report appears here when it is done.")


def show(report: report_store.StoredReport, current: bool) -> None:
    if not current:
        st.warning(
            "Results of these runs have changed since this report was built; build it again "
            "to include them."
        )
    st.download_button(
        "Download report (zip)",
        report.path(report_store.ARCHIVE).read_bytes(),
        "imp-lab-report.zip",
        "application/zip",
        icon=":material/download:",
        on_click="ignore",
    )
    st.subheader("Claims")
    st.dataframe(pd.read_csv(report.path(report_store.CLAIMS)), hide_index=True, width="stretch")
    st.subheader("Figures")
    if not report.figures:
        st.info("Nothing stored for these runs yet; figures appear as results land.")
    for f in report.figures:
        st.image(report.path(f.files["png"]).read_bytes(), caption=f.title)
    if report.sections:
        st.subheader("Tables")
        st.markdown(report.sections)


if not runs:
    st.info("Choose runs in the sidebar to report on.")
    st.stop()
store = data.store()
inputs = report_store.inputs(store, runs)
stored = report_store.latest(store, runs)
job = report_job(runs)
# A worker spends seconds of CPU per report: on a hosted server only a signed-in session asks.
if st.button("Build report", icon=":material/summarize:") and auth.require("build the report"):
    try:
        job = data.queue().submit("report", {"runs": runs}, owner=auth.owner())
        if job.status in ACTIVE:
            st.toast(f"Queued the report (job {job.id})", icon=":material/schedule:")
        else:  # the same results were reported already: that report is shown
            st.toast("The report of these results is already built", icon=":material/check:")
    except (SpecError, StoreError) as e:
        st.error(f"Could not queue the report: {e}")
if job is not None and job.status in ACTIVE:
    wait_for(job.id)
elif job is not None and job.status == "failed" and job.payload["inputs"] == inputs:
    st.error(f"The report job `{job.id}` failed: {job.error}")
if stored is None:
    if job is None or job.status not in ACTIVE:  # while one is being built, `wait_for` says so
        st.info("No report of these runs yet: **Build report** queues one.")
else:
    try:
        show(stored, stored.inputs == inputs)
    except FileNotFoundError:  # a newer report replaced it while this page read it
        st.rerun()
