"""Run ids are stable: every spec of a store written on 2026-12-01 (committed as a fixture)
is found under its folder's id, and fields that cannot change results are not hashed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config import RunSpec
from engine.identity import HASHED_SINCE_V1

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store-2026-12-01" / "runs"
FOLDERS = sorted(p for p in FIXTURE.iterdir() if p.is_dir())


def test_the_fixture_holds_several_runs():
    assert len(FOLDERS) >= 6


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_a_stored_spec_keeps_its_run_id(folder):
    spec = RunSpec.from_dict(json.loads((folder / "spec.json").read_text()))
    assert spec.run_id == folder.name


def test_where_data_lives_and_the_baselines_change_no_id():
    spec = RunSpec.from_dict(json.loads((FOLDERS[0] / "spec.json").read_text()))
    moved = spec.replace(data=spec.data.replace(root="/elsewhere", download=True))
    more = spec.replace(baselines=spec.baselines.replace(kinds=("one_shot",)))
    assert moved.run_id == more.run_id == spec.run_id
    assert spec.replace(seed=spec.seed + 1).run_id != spec.run_id


def test_every_field_hashed_since_v1_still_exists():
    """Removing or renaming one of them would rename every stored run."""
    d = RunSpec().to_dict()
    for section, names in HASHED_SINCE_V1.items():
        fields = d if section == "." else d[section]
        assert set(names) <= set(fields), section


@pytest.mark.parametrize("setting", ["off", "auto", "on"])
def test_stacking_changes_no_id(setting):
    """train.stack changes only float rounding (engine.stacking): never the run id."""
    for folder in FOLDERS:
        spec = RunSpec.from_dict(json.loads((folder / "spec.json").read_text()))
        stacked = spec.replace(train=spec.train.replace(stack=setting))
        assert stacked.run_id == folder.name
        assert "stack" not in stacked.identity()["train"]
