"""The store: atomic writes, foreign and corrupt folders, names that try to escape."""

import json

import pytest
import torch

from engine import atomic
from engine.store import Store, StoreError, check_name
from tests.engine.conftest import tiny_spec


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    atomic.write_json(target, {"a": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        atomic.write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left behind


@pytest.mark.parametrize("name", ["../evil", "/etc/passwd", "a/b", "..", ".hidden", "", "a\x00b"])
def test_names_cannot_escape_the_store(tmp_path, name):
    store = Store(tmp_path / "s")
    with pytest.raises(StoreError, match="not allowed"):
        store.run_path(name)
    with pytest.raises(StoreError):
        store.level("ok", 0, branch=name)
    assert check_name("lenet-mnist5k_s0.v1") == "lenet-mnist5k_s0.v1"


def test_foreign_and_corrupt_folders_are_reported_not_fatal(tmp_path, tiny_run):
    _, spec, _ = tiny_run
    store = Store(tmp_path)
    store.create_run(spec)
    (store.runs_dir / "holiday-photos").mkdir()
    (store.runs_dir / "broken").mkdir()
    (store.runs_dir / "broken" / "spec.json").write_text("{truncated")
    records, problems = store.list_runs()
    assert [r["run_id"] for r in records] == [spec.run_id]
    assert len(problems) == 2
    assert any("holiday-photos" in p and "not an IMP Lab run" in p for p in problems)
    assert any("broken" in p and "cannot read" in p for p in problems)
    with pytest.raises(StoreError, match="not an IMP Lab run"):
        store.load_spec("holiday-photos")
    assert (store.runs_dir / "broken" / "spec.json").read_text() == "{truncated"


def test_a_different_spec_never_overwrites_a_stored_one(tmp_path):
    store = Store(tmp_path)
    spec = tiny_spec()
    store.create_run(spec)
    path = store.run_path(spec.run_id) / "spec.json"
    data = json.loads(path.read_text())
    data["seed"] = 99
    path.write_text(json.dumps(data))
    before = path.read_text()
    with pytest.raises(StoreError, match="different spec"):
        store.create_run(spec)
    assert path.read_text() == before


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    lv = Store(tmp_path).level("run", 0)
    lv.save_checkpoint("final", {"w": torch.ones(2)})
    assert torch.equal(lv.load_checkpoint("final")["w"], torch.ones(2))
    (lv.ckpt_dir / "final.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(StoreError, match="cannot read"):
        lv.load_checkpoint("final")


def test_version_bumps_on_changes(tmp_path):
    store = Store(tmp_path)
    v0 = store.version()
    store.create_run(tiny_spec())
    assert store.version() > v0
