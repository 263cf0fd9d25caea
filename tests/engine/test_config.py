"""Specs: parsing, validation messages, hashing and round trips."""

import json

import pytest

from engine.config import (
    BaselineSpec,
    PruneSpec,
    RunSpec,
    SpecError,
    Step,
    TrainSpec,
)
from engine.presets import PRESETS, preset
from engine.spec_files import load_spec_file


def test_step_parses_and_converts():
    assert Step.parse("160ep") == Step(160, "ep")
    assert Step.parse(" 500it ") == Step(500, "it")
    assert Step.parse("3ep").iterations(67) == 201
    assert Step.parse("500it").iterations(67) == 500
    assert str(Step(7, "ep")) == "7ep"
    with pytest.raises(ValueError, match="160ep"):
        Step.parse("160")


@pytest.mark.parametrize(
    ("make", "field", "words"),
    [
        (lambda: RunSpec.from_dict({"model": {"name": "resnet99"}}), "model.name", "resnet20"),
        (lambda: RunSpec.from_dict({"data": {"name": "imagenet"}}), "data.name", "mnist5k"),
        (lambda: PruneSpec(rate=0.0), "prune.rate", "(0, 1)"),
        (lambda: PruneSpec(rate=1.0), "prune.rate", "(0, 1)"),
        (lambda: PruneSpec(rate=-0.5), "prune.rate", "out of range"),
        (lambda: PruneSpec(scope="everywhere"), "prune.scope", "global, layer"),
        (lambda: PruneSpec(levels="5"), "prune.levels", "whole number"),
        (lambda: TrainSpec(length="ten epochs"), "train.length", "160ep"),
        (lambda: TrainSpec(optimizer="rmsprop"), "train.optimizer", "sgd, adam"),
        (lambda: BaselineSpec(kinds=("ft", "lth")), "baselines.kinds", "one_shot"),
        (
            lambda: RunSpec(train=TrainSpec(length="5ep"), prune=PruneSpec(rewind="6ep")),
            "prune.rewind",
            "beyond the training length",
        ),
        (
            lambda: RunSpec.from_dict({"train": {"lr": 0.1, "learning_rate": 1}}),
            "train.learning_rate",
            "allowed in [train]",
        ),
        (
            lambda: RunSpec(
                prune=PruneSpec(levels=2), baselines=BaselineSpec(kinds=("ft",), level=3)
            ),
            "baselines.level",
            "beyond the last IMP level",
        ),
    ],
)
def test_bad_values_name_the_field_and_the_fix(make, field, words):
    with pytest.raises(SpecError) as e:
        make()
    assert e.value.field_path == field
    assert words in str(e.value)
    assert "\n" not in str(e.value)


def test_round_trip_and_hash_stability():
    spec = preset("paper-resnet20-cifar10")
    again = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.run_hash == spec.run_hash
    assert spec.replace(seed=1).run_hash != spec.run_hash


def test_run_identity_ignores_baselines_and_data_location():
    spec = preset("demo")
    other = spec.replace(baselines=BaselineSpec(), data=spec.data.replace(root="/elsewhere"))
    assert other.run_id == spec.run_id
    assert spec.replace(prune=spec.prune.replace(rate=0.3)).run_id != spec.run_id


def test_presets_are_valid_and_distinct():
    ids = {name: spec.run_id for name, (_, spec) in PRESETS.items()}
    assert len(set(ids.values())) == len(ids)
    demo = preset("demo")
    assert (demo.data.name, demo.model.name, demo.prune.levels) == ("mnist5k", "lenet_300_100", 5)
    with pytest.raises(SpecError, match="demo"):
        preset("nope")


def test_load_spec_file_json_and_toml(tmp_path):
    (tmp_path / "a.toml").write_text('seed = 3\n[prune]\nlevels = 2\nrewind = "10it"\n')
    spec = load_spec_file(tmp_path / "a.toml")
    assert spec.seed == 3 and spec.prune.levels == 2 and spec.prune.rewind == Step(10, "it")
    (tmp_path / "b.json").write_text(json.dumps(spec.to_dict()))
    assert load_spec_file(tmp_path / "b.json") == spec
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        load_spec_file(tmp_path / "c.json")
    (tmp_path / "d.py").write_text("import os")
    with pytest.raises(SpecError, match=r"\.json or \.toml"):
        load_spec_file(tmp_path / "d.py")
