"""The store: atomic writes, foreign and corrupt folders, names that try to escape."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import diskcache
import pytest
import torch

from engine import atomic
from engine.cli import main
from engine.legacy import RETIRED
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


# --- the index is a cache of the folders --------------------------------------------------------
@pytest.fixture
def copied(tmp_path, tiny_run):
    """A store holding a copy of the finished tiny run (no index record: copied in) and a run
    registered here (with one)."""
    src, spec, _ = tiny_run
    store = Store(tmp_path)
    shutil.copytree(src.run_path(spec.run_id), store.run_path(spec.run_id))
    other = store.create_run(tiny_spec().replace(seed=5))
    return store, spec.run_id, other


def _ls(store: Store, capsys) -> str:
    store.close()
    capsys.readouterr()
    assert main(["ls", "--store", str(store.root)]) == 0
    return capsys.readouterr().out


def test_ls_lists_a_copied_in_run_and_says_it_rebuilt_its_record(copied, tiny_run, caplog, capsys):
    store, copied_id, other = copied
    out = _ls(store, capsys)
    assert copied_id in out and other in out
    assert f"rebuilt 1 run index record(s) from the run folders in {store.runs_dir}" in caplog.text
    assert f"{copied_id} (no index record)" in caplog.text
    rec = Store(store.root).run_record(copied_id)
    written = tiny_run[0].run_record(copied_id)  # what the runner itself recorded
    counted = {k: v for k, v in written.items() if k.endswith("_levels_done")}
    assert counted and {k: rec[k] for k in counted} == counted
    assert (rec["status"], rec["spec"]) == ("done", written["spec"])
    caplog.clear()
    assert copied_id in _ls(store, capsys) and "rebuilt" not in caplog.text  # once


def test_ls_survives_a_deleted_index_and_one_overwritten_with_garbage(copied, caplog, capsys):
    store, copied_id, other = copied
    _ls(store, capsys)
    store.touch(other, status="failed")
    store.close()
    shutil.rmtree(store.root / "index")
    out = _ls(store, capsys)
    assert copied_id in out and other in out
    assert "rebuilt 2 run index record(s)" in caplog.text
    caplog.clear()
    index = store.root / "index" / "runs.sqlite3"
    index.write_bytes(b"\x00garbage" * 4096)
    out = _ls(store, capsys)
    assert copied_id in out and other in out
    assert f"run index {index} was damaged" in caplog.text and "rebuilt 2 run" in caplog.text
    [aside] = index.parent.glob("runs.sqlite3.damaged-*[0-9]")
    assert aside.read_bytes() == b"\x00garbage" * 4096


def test_stale_and_unreadable_records_are_rebuilt_keeping_what_only_they_know(copied, caplog):
    store, copied_id, other = copied
    level2 = store.level(copied_id, 2)
    (level2.path / "done.json").unlink()  # the copy is unfinished now
    store.touch(copied_id, spec={}, imp_levels_done=3, status="cancelled")  # no spec: unusable
    store.touch(other, imp_levels_done=1)  # counts a level its folder does not hold
    with store.index.db.write() as c:
        c.execute("INSERT OR REPLACE INTO runs VALUES (?, ?)", ("holiday-photos", "{"))
    (store.runs_dir / "holiday-photos").mkdir()
    records, problems = store.list_runs()
    by_id = {r["run_id"]: r for r in records}
    assert sorted(by_id) == sorted([copied_id, other])
    assert len(problems) == 1 and "holiday-photos" in problems[0]
    assert (by_id[copied_id]["imp_levels_done"], by_id[copied_id]["status"]) == (2, "cancelled")
    assert "imp_levels_done" not in by_id[other] and by_id[other]["status"] == "stopped"
    assert f"{other} (index record behind its folder)" in caplog.text
    assert f"{copied_id} (index record without its spec)" in caplog.text


def test_an_unreadable_record_is_rebuilt_and_touch_keeps_records_of_any_size(tmp_path, caplog):
    store = Store(tmp_path)
    run_id = store.create_run(tiny_spec())
    store.touch(run_id, blob="x" * 5_000_000)  # far past diskcache's 32 KB side files
    assert len(Store(tmp_path).run_record(run_id)["blob"]) == 5_000_000
    with store.index.db.write() as c:
        c.execute("UPDATE runs SET record = ? WHERE run_id = ?", ('{"run_id": 3', run_id))
    assert Store(tmp_path).run_record(run_id)["spec"] == tiny_spec().to_dict()
    assert f"{run_id} (unreadable index record)" in caplog.text


def test_a_diskcache_index_from_before_is_imported(tmp_path, caplog):
    store = Store(tmp_path)
    run_id = store.create_run(tiny_spec())
    store.close()
    shutil.rmtree(tmp_path / "index")
    old = diskcache.Cache(str(tmp_path / "index"))
    old[("run", run_id)] = {"run_id": run_id, "spec": tiny_spec().to_dict(), "status": "failed"}
    old["version"] = 41
    old.close()
    store = Store(tmp_path)
    assert store.version() > 41
    assert store.list_runs() == ([store.run_record(run_id)], [])
    assert store.run_record(run_id)["status"] == "failed"  # only the old index knew that
    assert "moved 1 run record(s) from the old diskcache index" in caplog.text
    assert "rebuilt" not in caplog.text
    assert (tmp_path / "index" / RETIRED).is_file()


@pytest.mark.slow  # a fresh interpreter imports torch: seconds
def test_the_ls_command_says_on_stderr_what_it_rebuilt(copied):
    store, copied_id, other = copied
    store.close()
    done = subprocess.run(
        [sys.executable, "-m", "engine", "ls", "--store", str(store.root)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert copied_id in done.stdout and other in done.stdout
    assert "rebuilt 1 run index record(s)" in done.stderr and "(no index record)" in done.stderr
