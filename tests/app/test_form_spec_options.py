"""The Launch form offers the init scheme, the input normalisation and the data-order seed
(generated from the spec, as every field is) and builds specs with them."""

from __future__ import annotations

from app import forms
from engine.config import RunSpec


def _fields() -> dict[str, forms.FormField]:
    return {ff.path: ff for fields in forms.form_fields().values() for ff in fields}


def test_the_new_fields_are_widgets_with_their_choices_and_help():
    f = _fields()
    assert f["model.init"].kind == "select"
    assert f["model.init"].options == [
        "kaiming_normal",
        "pytorch",
        "xavier_uniform",
        "xavier_normal",
    ]
    assert f["data.normalize"].kind == "select"
    assert f["data.normalize"].options == ["loader", "none", "standardize"]
    assert f["train.data_order_seed"].kind == "text"
    assert "run's seed" in f["train.data_order_seed"].help
    assert forms.initial_values(RunSpec())["train.data_order_seed"] == "none"


def test_the_form_builds_a_spec_with_them_and_reports_a_bad_seed_under_its_field():
    values = forms.initial_values(RunSpec()) | {
        "model.init": "xavier_normal",
        "data.normalize": "standardize",
        "train.data_order_seed": "12",
    }
    spec, errors = forms.build_spec(values)
    assert errors == {}
    assert (spec.model.init, spec.data.normalize, spec.data_order_seed) == (
        "xavier_normal", "standardize", 12
    )  # fmt: skip
    _, errors = forms.build_spec(values | {"train.data_order_seed": "twelve"})
    assert list(errors) == ["train.data_order_seed"]
