"""Report: queue the paper's experiments for several seeds (Reproduce), then render every
figure family and each claim with its numbers, criterion and verdict for the chosen runs."""

import io
import tempfile
import zipfile
from pathlib import Path

import streamlit as st

from app import auth, data, ui
from engine.config import SpecError
from engine.figures.report import build_report
from engine.presets import REPRODUCE
from engine.reproduce import HESSIAN_DEFAULTS, parse_seeds, run_ids
from engine.store import StoreError

st.title("Report")

with st.expander("Reproduce the paper's experiments", expanded=data.runs().empty):
    name = ui.choose("Experiment", "rp_experiment", list(REPRODUCE), next(iter(REPRODUCE)))
    st.caption(REPRODUCE[name][0])
    cols = st.columns(3)
    seeds_text = cols[0].text_input("Seeds", "0,1,2", key="rp_seeds")
    defaults = HESSIAN_DEFAULTS.get(name, {"k": 20, "subset": 1000})
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


@st.cache_data(show_spinner=False, max_entries=4)
def _build(root: str, version: int, run_ids: tuple[str, ...]):
    """The report's claims, figures (title, PNG) and every file zipped, for this store state."""
    with tempfile.TemporaryDirectory() as tmp:
        rep = build_report(data.store(), list(run_ids), tmp)
        figures = [(f.title, f.files["png"].read_bytes()) for f in rep.figures]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for path in sorted(Path(tmp).rglob("*")):
                if path.is_file():
                    z.write(path, path.relative_to(tmp))
        return rep.claims_frame(), figures, buffer.getvalue()


clicked = st.button("Build report", icon=":material/summarize:")
# Seconds of server CPU per build: on a hosted server only a signed-in session may ask.
if (clicked or st.session_state.get("rp_built")) and auth.require("build the report"):
    st.session_state["rp_built"] = True
    with st.spinner("Rendering figures and testing claims..."):
        claims, figures, archive = _build(data.root(), data.version(), tuple(runs))
    st.download_button(
        "Download report (zip)",
        archive,
        "imp-lab-report.zip",
        "application/zip",
        icon=":material/download:",
        on_click="ignore",
    )
    st.subheader("Claims")
    st.dataframe(claims, hide_index=True, width="stretch")
    st.subheader("Figures")
    if not figures:
        st.info("Nothing stored for these runs yet; figures appear as results land.")
    for title, png in figures:
        st.image(png, caption=title)
