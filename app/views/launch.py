"""Launch: a form for every spec field, seeded from a preset, validated as you type."""

import streamlit as st

from app import auth, data, forms, ui
from engine.presets import PRESETS

CUSTOM = "defaults"

st.title("Launch a run")
names = [*PRESETS, CUSTOM]
preset = ui.choose(
    "Start from",
    "preset",
    names,
    "demo",
    format_func=lambda n: "spec defaults" if n == CUSTOM else n,
    help="A preset fills the form; change any field before submitting.",
)
base = data.preset_spec(preset)
st.caption(PRESETS[preset][0] if preset in PRESETS else "Every field at its spec default.")

values, slots = forms.render(base, key=f"form-{preset}")
spec, errors = forms.build_spec(values)
forms.show_errors(slots, errors)
if "" in errors:
    st.error(errors[""], icon="⚠️")

st.divider()
if spec is not None:
    work = forms.estimate(spec)
    st.markdown(
        f"**Work:** {work['trainings']} trainings (IMP levels 0–{spec.prune.levels}"
        + (f" and {len(spec.baselines.kinds)} baselines" if spec.baselines.kinds else "")
        + f") of up to {work['per_training']} {work['unit']} each: "
        f"**{work['total']} {work['unit']}** in all. Run id `{spec.run_id}`."
    )
    if spec.run_id in set(data.runs()["run_id"]):
        st.caption(
            "This run is already in the store: launching it again trains only what is "
            "missing (an unfinished level, baselines added since)."
        )
else:
    st.warning("Fix the fields marked above to launch.", icon="⚠️")

analyse = st.checkbox(
    "Queue every analysis when training finishes",
    value=True,
    help="Distances, projected trajectory, projected solution, interpolation, spectra "
    "(top-20 first), trace, density and landscape, so every page fills in.",
)
launch = st.button("Launch", type="primary", icon=":material/rocket_launch:", disabled=spec is None)
if launch and auth.require("launch"):
    ui.launch(spec, analyse)
