"""The Launch form's spec round trip, validation and estimate; the Runs table's rows."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from app import forms, runstable
from engine.config import RunSpec
from engine.jobs.queue import Job
from engine.presets import PRESETS, preset
from engine.spec_text import SECTIONS
from tests.engine.test_baselines import twin  # noqa: F401 (a fixture)


def test_the_form_has_a_widget_for_every_spec_field():
    paths = {ff.path for fields in forms.form_fields().values() for ff in fields}
    expected = {f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
    assert paths == expected | {"seed"}
    kinds = {ff.path: ff.kind for fields in forms.form_fields().values() for ff in fields}
    assert kinds["train.optimizer"] == "select" and kinds["data.name"] == "select"
    assert kinds["baselines.kinds"] == "multi" and kinds["data.download"] == "check"
    assert kinds["train.lr"] == "text"


@pytest.mark.parametrize("name", [*PRESETS, None])
def test_unchanged_form_gives_back_the_spec_it_was_filled_from(name):
    spec = preset(name) if name else RunSpec()
    built, errors = forms.build_spec(forms.initial_values(spec))
    assert errors == {}
    assert built == spec


def test_every_bad_field_is_reported_at_once_under_its_own_path():
    values = forms.initial_values(preset("demo"))
    values |= {"train.lr": "fast", "prune.levels": "1.5", "train.length": "8 epochs"}
    spec, errors = forms.build_spec(values)
    assert spec is None
    assert set(errors) == {"train.lr", "prune.levels", "train.length"}
    assert errors["train.lr"] == "'fast' is not a number"  # no "train.lr: " prefix
    assert "write e.g. '160ep'" in errors["train.length"]


def test_range_and_cross_field_errors_name_the_field_the_spec_blames():
    values = forms.initial_values(preset("demo"))
    _, errors = forms.build_spec(values | {"prune.rate": "1.5"})
    assert list(errors) == ["prune.rate"] and "out of range" in errors["prune.rate"]
    _, errors = forms.build_spec(values | {"baselines.level": "9"})
    assert list(errors) == ["baselines.level"]


def test_range_and_cross_field_errors_are_all_reported_each_under_its_field():
    values = forms.initial_values(preset("demo"))  # all five baselines
    bad = {"train.lr": "-0.001", "prune.levels": "0", "prune.rate": "1.5"}
    spec, errors = forms.build_spec(values | bad)
    assert spec is None
    assert set(errors) == set(bad)
    assert "(0.0, 10.0]" in errors["train.lr"] and "(0, 1)" in errors["prune.rate"]
    assert "no level for the baselines" in errors["prune.levels"]
    _, errors = forms.build_spec(values | {"prune.levels": "0"})
    assert list(errors) == ["prune.levels"]
    _, errors = forms.build_spec(values | {"prune.levels": "0", "baselines.kinds": []})
    assert errors == {}  # no baselines: level 0 alone is a valid run


def test_a_field_that_fails_its_own_check_is_not_blamed_again_nor_blames_another():
    values = forms.initial_values(preset("demo"))  # 8ep
    _, errors = forms.build_spec(values | {"train.length": "8 epochs", "prune.rewind": "9ep"})
    assert list(errors) == ["train.length"]  # the rewind is judged against a valid length only
    _, errors = forms.build_spec(values | {"prune.rewind": "9ep"})
    assert errors == {"prune.rewind": "9ep lies beyond the training length 8ep"}


def test_estimate_counts_every_training_the_runner_will_do():
    demo = preset("demo")  # 5 levels x 8 epochs, rewind 0it, all five baselines at level 5
    work = forms.estimate(demo)
    assert work["trainings"] == 6 + 1 + 5 + 1 + 1 + 1
    assert work["total"] == 15 * 8 and work["unit"] == "epochs"
    rewound = demo.replace(prune=demo.prune.replace(rewind="2ep"))
    # levels >= 1 and the baselines that keep rewind-point weights train 6 of 8 epochs;
    # RIPN and RPN_2 start fresh and train all 8
    assert forms.estimate(rewound)["total"] == 8 + 5 * 6 + 6 + 5 * 6 + 8 + 6 + 8


@pytest.mark.usefixtures("twin")
def test_a_registered_baseline_is_a_choice_of_the_form_and_counted():
    (kinds,) = [ff for ff in forms.form_fields()["baselines"] if ff.path == "baselines.kinds"]
    assert "twin" in kinds.options
    demo = preset("demo")  # 5 levels x 8 epochs, rewind 0it
    values = forms.initial_values(demo) | {"baselines.kinds": ["ft", "twin"]}
    spec, errors = forms.build_spec(values)
    assert errors == {} and spec.baselines.kinds == ("ft", "twin")
    assert forms.estimate(spec) == {
        "trainings": 6 + 5 + 1,  # IMP 0-5, FT's chain 1-5, the twin at level 5
        "per_training": 8,
        "total": 12 * 8,
        "unit": "epochs",
    }


def _job(**kw) -> Job:
    base = {"id": "j", "kind": "run", "payload": {}, "key": "k", "created": 1.7e9}
    return Job(**(base | kw))


def test_runs_table_merges_a_run_with_its_newest_job_and_lists_other_jobs():
    spec = preset("demo").to_dict()
    runs = pd.DataFrame(
        [
            {
                "run_id": "r1",
                "levels": 5,
                "levels_done": 6,
                "status": "done",
                "spec": spec,
                "created": pd.Timestamp(1.6e9, unit="s"),
            }
        ]
    )
    jobs = [
        _job(
            id="new",
            run_id="r1",
            status="running",
            created=2.0e9,
            progress={"label": "imp level 3", "epoch": 4, "epochs": 8, "fraction": 0.5, "eta": 125},
        ),
        _job(id="old", run_id="r1", status="failed", error="boom", created=1.9e9),
        _job(
            id="a1",
            kind="analysis",
            payload={"run_id": "r1", "what": "spectrum"},
            status="queued",
            run_id="r1",
        ),
        _job(id="q", run_id="r2", status="queued", payload=spec),
    ]
    table = runstable.rows(runs, jobs)
    assert list(table["id"]) == ["new", "a1", "q"]
    run = table.iloc[0]
    assert run["progress"] == 0.5 and run["where"] == "imp level 3 · epoch 4/8"
    assert run["eta"] == "2 min 05 s"
    assert run["what"] == "lenet_300_100 · mnist5k · 5 levels × 8ep · seed 0 · 5 baselines"
    assert table.iloc[1]["what"] == "spectrum"

    shown = runstable.filter_sort(table, ["queued"], "", "created", True)
    assert list(shown["id"]) == ["a1", "q"]
    assert list(runstable.filter_sort(table, [], "SPECTRUM", "created", True)["id"]) == ["a1"]


def test_a_run_trained_outside_the_queue_shows_what_the_store_says():
    runs = pd.DataFrame(
        [
            {
                "run_id": "cli",
                "levels": 4,
                "levels_done": 2,
                "status": "",
                "spec": {},
                "created": None,
            }
        ]
    )
    row = runstable.rows(runs, []).iloc[0]
    assert row["status"] == "stopped" and row["progress"] == pytest.approx(2 / 5)
