"""Every artefact is verifiable: done.json vouches for each file by sha256, readers refuse a
damaged or missing file naming it, `fsck` lists damage, and running a damaged run again
retrains exactly the damaged levels (bit-identical on CPU) while the rest stays untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import atomic
from engine.analysis import jobs as analyses
from engine.cli import main
from engine.fsck import stray_findings
from engine.imp import run_imp
from engine.jobs.worker import run_worker
from engine.results import metrics_table
from engine.store import Store, StoreError
from tests.engine.conftest import tiny_spec


def small_spec():
    """Levels 0 and 1, two epochs each (a checkpoint after the first), no baselines."""
    spec = tiny_spec()
    return spec.replace(
        prune=spec.prune.replace(levels=1),
        train=spec.train.replace(length="2ep"),
        baselines=spec.baselines.replace(kinds=()),
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    run_imp(small_spec(), Store(root), "cpu")
    return root


@pytest.fixture
def run(template, tmp_path):
    """(store, run id, {path: bytes} of every file of the run) on a private copy."""
    shutil.copytree(template, tmp_path / "s")
    store = Store(tmp_path / "s")
    run_id = small_spec().run_id
    files = {p: p.read_bytes() for p in store.run_path(run_id).rglob("*") if p.is_file()}
    return store, run_id, files


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip(path: Path) -> None:
    """One flipped byte in the middle: the size stays, the file may still load."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def fsck(store: Store, capsys, *run: str) -> tuple[int, str]:
    code = main(["fsck", *run, "--store", str(store.root)])
    return code, capsys.readouterr().out


def mtimes(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_done_json_vouches_for_every_file_by_sha256(run):
    store, run_id, files = run
    level0 = store.level(run_id, 0)
    vouched = level0.files()
    expected = {"mask.pt", "metrics.csv", "checkpoints/start.pt", "checkpoints/ep001.pt"}
    assert expected | {"checkpoints/final.pt", "../rewind.pt"} == set(vouched)
    for rel, digest in vouched.items():
        path = Path(os.path.normpath(level0.path / rel))
        assert digest == hashlib.sha256(files[path]).hexdigest()
    assert "files" not in level0.summary()  # the summary stays what it was


def test_truncated_metrics_is_reported_and_only_its_level_retrained(run, capsys):
    store, run_id, files = run
    level0, level1 = store.level(run_id, 0), store.level(run_id, 1)
    truncate(level1.path / "metrics.csv")
    with pytest.raises(StoreError, match=r"damaged .*level_01/metrics\.csv"):
        metrics_table(store, run_id)
    code, out = fsck(store, capsys)
    assert code == 1 and "level_01/metrics.csv" in out and "level_00" not in out
    untouched = mtimes(level0.path.parent / "level_00")
    run_imp(small_spec(), store, "cpu")
    assert mtimes(level0.path.parent / "level_00") == untouched
    final = level1.ckpt_dir / "final.pt"
    assert final.read_bytes() == files[final]  # retrained, bit for bit
    assert len(metrics_table(store, run_id)) == 4  # 2 levels x 2 epochs
    assert fsck(store, capsys)[0] == 0


def test_deleted_metrics_is_missing_not_fewer_rows(run):
    store, run_id, _ = run
    (store.level(run_id, 0).path / "metrics.csv").unlink()
    with pytest.raises(StoreError, match=r"missing .*level_00/metrics\.csv"):
        metrics_table(store, run_id)


def test_truncated_final_checkpoint_is_retrained(run, capsys):
    store, run_id, files = run
    final = store.level(run_id, 0).ckpt_dir / "final.pt"
    truncate(final)
    with pytest.raises(StoreError, match=r"damaged .*final\.pt"):
        store.level(run_id, 0).load_checkpoint("final")
    level1 = mtimes(store.level(run_id, 1).path)
    run_imp(small_spec(), store, "cpu")
    assert final.read_bytes() == files[final]
    assert mtimes(store.level(run_id, 1).path) == level1  # its level only
    assert fsck(store, capsys)[0] == 0


@pytest.mark.parametrize(
    ("name", "readers"),
    [
        ("checkpoints/final.pt", {"imp:1:solution"}),
        ("mask.pt", {"imp:1:solution", "imp:1:projected_prev"}),
    ],
)
def test_flipped_bytes_are_never_analysed(run, name, readers):
    store, run_id, _ = run
    flip(store.level(run_id, 1).path / name)
    with pytest.raises(StoreError, match=rf"damaged .*level_01/{name}"):
        analyses.execute(store, {"run_id": run_id, "what": "pruned_start"}, "cpu")
    stored = (store.run_path(run_id) / "analyses").glob("*.json")
    analysed = {json.loads(p.read_text())["points"]["point"] for p in stored}
    assert not analysed & readers  # nothing computed from the damaged file was kept


def test_truncated_rewind_point_is_a_clear_error_then_retrained(run, capsys):
    store, run_id, files = run
    rewind = store.rewind_path(run_id)
    truncate(rewind)
    with pytest.raises(StoreError, match=r"damaged .*imp/rewind\.pt"):
        store.load_rewind(run_id)
    assert fsck(store, capsys)[0] == 1
    run_imp(small_spec(), store, "cpu")
    assert rewind.read_bytes() == files[rewind]
    assert fsck(store, capsys)[0] == 0


def test_unreadable_done_json_does_not_fail_ls(run, capsys):
    store, run_id, _ = run
    other = small_spec().replace(seed=7)
    store.create_run(other)
    (store.level(run_id, 1).path / "done.json").write_text("{trunc")
    assert main(["ls", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert other.run_id[:20] in out and "level_01/done.json" in out
    code, out = fsck(store, capsys, run_id)
    assert code == 1 and "cannot read" in out
    run_imp(small_spec(), store, "cpu")
    assert store.level(run_id, 1).summary()["level"] == 1


def test_damaged_analysis_result_is_computed_again_alone(run, capsys):
    store, run_id, _ = run
    request = {"run_id": run_id, "what": "pruned_start"}
    assert analyses.execute(store, request, "cpu")["computed"] == 2
    first, second = sorted((store.run_path(run_id) / "analyses").glob("*.json"))
    flip_value = json.loads(first.read_text())
    flip_value["result"]["train_loss"] += 1.0  # still valid JSON, no longer what was computed
    first.write_text(json.dumps(flip_value))
    code, out = fsck(store, capsys)
    assert code == 1 and first.name in out and second.name not in out
    summary = analyses.execute(store, request, "cpu")
    assert (summary["computed"], summary["cached"]) == (1, 1)
    assert fsck(store, capsys)[0] == 0


def test_old_done_json_without_hashes_is_read_and_called_unverified(run, capsys):
    store, run_id, _ = run
    for level in (0, 1):
        path = store.level(run_id, level).path / "done.json"
        rec = json.loads(path.read_text())
        del rec["files"]
        path.write_text(json.dumps(rec))
    assert len(metrics_table(store, run_id)) == 4
    code, out = fsck(store, capsys)
    assert code == 0 and "unverified" in out and "2 finished level(s)" in out


def test_stray_temp_files_are_removed_unless_a_live_writer_may_own_them(tmp_path):
    folder = tmp_path / "store" / "runs" / "r" / "imp" / "level_00"
    folder.mkdir(parents=True)
    dead_pid = int(subprocess.check_output([sys.executable, "-c", "import os; print(os.getpid())"]))
    host = atomic._HOST
    dead = folder / f".final.pt.{dead_pid}-{host}.abcd1234.tmp"  # its writer has exited
    live = folder / f".final.pt.{os.getpid()}-{host}.efgh5678.tmp"  # this process writes it
    old = folder / ".metrics.csv.ijkl9012.tmp"  # an older name, untouched for an hour
    keep = folder / "final.pt"
    for p in (dead, live, old, keep):
        p.write_bytes(b"x")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    assert atomic.sweep_temp_files(tmp_path / "store") == sorted([dead, old])
    assert live.exists() and keep.exists()
    os.utime(live, (hour_ago, hour_ago))  # a writer silent for an hour is dead too
    assert run_worker(tmp_path / "store", device="cpu", max_jobs=0) == 0
    assert not live.exists() and keep.exists()


def test_a_killed_builds_folder_is_swept_whole_and_a_live_ones_is_kept(tmp_path):
    reports = tmp_path / "store" / "reports" / "abc"
    live = atomic.temp_dir(reports, "report-1")  # this process is building it
    atomic.write_text(live / "figure.svg", "<svg/>")
    dead_pid = int(subprocess.check_output([sys.executable, "-c", "import os; print(os.getpid())"]))
    dead = reports / live.name.replace(f".{os.getpid()}-", f".{dead_pid}-")
    (dead / "claims").mkdir(parents=True)
    (dead / "claims" / "C1-0.csv").write_text("level,mean\n")
    finished = reports / "report-0"  # a published report: never a temporary
    finished.mkdir()
    assert atomic.stray_temp_files(tmp_path / "store") == [dead]  # once, not its files
    assert [f.text.split(" ")[0] for f in stray_findings(tmp_path / "store")] == [str(dead)]
    assert atomic.sweep_temp_files(tmp_path / "store") == [dead]
    assert not dead.exists() and (live / "figure.svg").exists() and finished.exists()


def test_atomic_writes_name_their_writer_and_record_the_digest(tmp_path):
    target = tmp_path / "x.bin"
    atomic.write_bytes(target, b"payload")
    assert atomic.digest(target) == hashlib.sha256(b"payload").hexdigest()
    target.write_bytes(b"other!!")  # same size, new mtime: hashed again
    os.utime(target, ns=(1, 1))
    assert atomic.digest(target) == hashlib.sha256(b"other!!").hexdigest()
