"""The Launch form, generated from the spec dataclasses (as the CLI's flags are).

Every field of every section becomes a widget: a select box where the field lists its
choices (or a registry does), a multiselect where it takes several, a checkbox for a flag, and
a text box otherwise, read as the CLI's flags are (`engine.spec_text.parse_value`). Validation
is the spec's own, field by field (`SpecBase.check`) and then across fields
(`cross_field_problems`): each `SpecError` names a field path, and the form shows its message
under that field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from engine.config import RunSpec, SpecError, cross_field_problems
from engine.data import dataset_names
from engine.models import model_names
from engine.plan import plan
from engine.spec_text import SECTIONS, parse_value

SECTION_TITLES = {
    "data": "Data",
    "model": "Model",
    "train": "Training recipe",
    "prune": "Pruning",
    "baselines": "Baselines (Fig. 2)",
}
REGISTRIES: dict[str, Callable[[], list[str]]] = {
    "data.name": lambda: list(dataset_names()),
    "model.name": lambda: list(model_names()),
}
SEED = "seed"


@dataclass(frozen=True)
class FormField:
    """One input of the form: its spec path, the dataclass field, and its widget kind."""

    path: str
    field: dataclasses.Field
    kind: str  # "select", "multi", "check" or "text"

    @property
    def label(self) -> str:
        return self.path.split(".")[-1].replace("_", " ")

    @property
    def options(self) -> list[Any]:
        if self.path in REGISTRIES:
            return REGISTRIES[self.path]()
        return list(self.field.metadata.get("choices") or ())

    @property
    def help(self) -> str:
        meta = self.field.metadata
        text = meta.get("help", "")
        bounds = meta.get("range")
        if bounds:
            lo, hi, closed = bounds
            text += f" Allowed: {closed[0]}{lo}, {hi}{closed[1]}."
        if self.kind == "text" and isinstance(self.field.default, tuple):
            text += " Comma-separated."
        if self.kind == "text" and self.field.default is None:
            text += " Write 'none' for none."
        return text


def _kind(path: str, f: dataclasses.Field) -> str:
    meta = f.metadata
    if meta.get("multiple"):
        return "multi"
    if meta.get("choices") or path in REGISTRIES:
        return "select"
    if isinstance(f.default, bool):
        return "check"
    return "text"


def form_fields() -> dict[str, list[FormField]]:
    """The form's inputs by section, in the specs' field order; the seed last."""
    out: dict[str, list[FormField]] = {}
    for section, cls in SECTIONS.items():
        out[section] = [
            FormField(f"{section}.{f.name}", f, _kind(f"{section}.{f.name}", f))
            for f in dataclasses.fields(cls)
        ]
    seed = next(f for f in dataclasses.fields(RunSpec) if f.name == SEED)
    out[SEED] = [FormField(SEED, seed, "text")]
    return out


def _get(spec_dict: dict[str, Any], path: str) -> Any:
    value: Any = spec_dict
    for part in path.split("."):
        value = value[part]
    return value


def initial_values(spec: RunSpec) -> dict[str, Any]:
    """The widget value of every field for `spec` (text for text boxes)."""
    d = spec.to_dict()
    out = {}
    for fields in form_fields().values():
        for ff in fields:
            value = _get(d, ff.path)
            if ff.kind == "multi":
                value = list(value)
            elif ff.kind == "text":
                value = to_text(value)
            out[ff.path] = value
    return out


def to_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def build_spec(values: dict[str, Any]) -> tuple[RunSpec | None, dict[str, str]]:
    """Widget values to a validated spec, or the errors keyed by field path.

    Every field is parsed and checked on its own, then the checks across fields run over the
    fields that passed, so every bad field is reported at once, each under its own path. A
    message whose path is not a field of the form comes back under the key "".
    """
    errors: dict[str, str] = {}
    checked: dict[str, Any] = {}
    for fields in form_fields().values():
        for ff in fields:
            raw = values[ff.path]
            owner = SECTIONS.get(ff.path.split(".")[0], RunSpec)  # the seed is the run's
            try:
                if ff.kind == "text":
                    raw = parse_value(str(raw), ff.field.default, ff.path)
                elif ff.kind == "multi":
                    raw = tuple(raw)
                checked[ff.path] = owner.check(ff.field.name, raw)
            except (SpecError, ValueError) as e:
                errors[ff.path] = _message(e)
    for problem in cross_field_problems(checked):
        errors.setdefault(problem.field_path, _message(problem))
    if errors:
        return None, errors
    d: dict[str, Any] = {section: {} for section in SECTIONS}
    for path, value in checked.items():
        if path == SEED:
            d[SEED] = value
        else:
            section, name = path.split(".")
            d[section][name] = value
    try:
        return RunSpec.from_dict(d), {}
    except SpecError as e:
        return None, {e.field_path if e.field_path in values else "": _message(e)}


def _message(e: Exception) -> str:
    """The message without its leading "field: " (the form shows it under the field)."""
    text = str(e)
    path = getattr(e, "field_path", None)
    if path and text.startswith(f"{path}: "):
        return text[len(path) + 2 :]
    return text


def estimate(spec: RunSpec) -> dict[str, Any]:
    """How much training a spec asks for: every training of `engine.plan.plan`, summed in
    the recipe's unit (levels after 0 are shorter by the rewind when both share a unit)."""
    trainings = plan(spec)
    return {
        "trainings": len(trainings),
        "per_training": spec.train.length.value,
        "total": sum(t.units for t in trainings),
        "unit": trainings[0].unit,
    }


def render(spec: RunSpec, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Draw the form for `spec` (widget keys under `key`): the current values by field path,
    and a placeholder below each field for its message."""
    initial = initial_values(spec)
    values: dict[str, Any] = {}
    slots: dict[str, Any] = {}
    for section, fields in form_fields().items():
        st.markdown(f"**{SECTION_TITLES.get(section, section.title())}**")
        cols = st.columns(3)
        for i, ff in enumerate(fields):
            with cols[i % 3]:
                wkey = f"{key}.{ff.path}"
                if wkey not in st.session_state:
                    st.session_state[wkey] = initial[ff.path]
                if ff.kind == "select":
                    values[ff.path] = st.selectbox(ff.label, ff.options, key=wkey, help=ff.help)
                elif ff.kind == "multi":
                    values[ff.path] = st.multiselect(ff.label, ff.options, key=wkey, help=ff.help)
                elif ff.kind == "check":
                    values[ff.path] = st.checkbox(ff.label, key=wkey, help=ff.help)
                else:
                    values[ff.path] = st.text_input(ff.label, key=wkey, help=ff.help)
                slots[ff.path] = st.empty()
    return values, slots


def show_errors(slots: dict[str, Any], errors: dict[str, str]) -> None:
    for path, message in errors.items():
        if path in slots:
            slots[path].error(message, icon="⚠️")
