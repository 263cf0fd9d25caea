"""The IMP-WR runner and the baselines, checked against METHOD.md's definitions."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from engine import masks as M
from engine.config import SpecError
from engine.imp import run_imp
from engine.store import Store
from engine.train import Cancelled, NullReporter
from tests.engine.conftest import tiny_spec


def _prunable(store, run_id, branch, level):
    return store.level(run_id, level, branch).load_mask()


def test_imp_levels_nest_and_reach_the_rate(tiny_run):
    store, spec, _ = tiny_run
    rid = spec.run_id
    m0, m1, m2 = (_prunable(store, rid, "imp", lv) for lv in range(3))
    out = [k for k in m0 if k.endswith("weight")][-1]
    for k in m0:
        assert torch.all(m2[k] <= m1[k]) and torch.all(m1[k] <= m0[k])
        rate = 0.1 if k == out else None
        n0 = m0[k].numel()
        if rate:  # the output layer loses 10% of its remaining weights per level
            assert int(m1[k].sum()) == n0 - round(0.1 * n0)
    hidden = [k for k in m0 if k != out]
    alive = lambda m: sum(int(m[k].sum()) for k in hidden)  # noqa: E731
    n = alive(m0)
    assert alive(m1) == n - round(0.2 * n)
    assert alive(m2) == alive(m1) - round(0.2 * alive(m1))


def test_level_starts_are_the_projected_rewind_point(tiny_run):
    store, spec, _ = tiny_run
    rid = spec.run_id
    rewind = torch.load(store.rewind_path(rid), weights_only=True)
    init = store.level(rid, 0).load_checkpoint("start")
    assert not all(torch.equal(rewind[k], init[k]) for k in init)  # rewind point is iteration 3
    for level in (1, 2):
        lv = store.level(rid, level)
        start, mask = lv.load_checkpoint("start"), lv.load_mask()
        for k, v in M.project(rewind, mask).items():
            assert torch.equal(start[k], v)
        # the mask of level L comes from level L-1's solution by global magnitude
        prev = store.level(rid, level - 1)
        final = prev.load_checkpoint("final")
        expect = M.prune(
            {k: final[k] for k in mask},
            prev.load_mask(),
            0.2,
            "global",
            "smallest",
            {output_name_of(mask): 0.1},
        )
        for k in mask:
            assert torch.equal(mask[k], expect[k])


def output_name_of(mask):
    return list(mask)[-1]


def test_baselines_follow_their_definitions(tiny_run):
    store, spec, _ = tiny_run
    rid, L = spec.run_id, 2
    imp = store.level(rid, L)
    imp_mask, imp_start = imp.load_mask(), imp.load_checkpoint("start")
    counts = M.kept_counts(imp_mask)
    rewind = torch.load(store.rewind_path(rid), weights_only=True)

    ripn = store.level(rid, L, "ripn")
    assert all(torch.equal(ripn.load_mask()[k], imp_mask[k]) for k in imp_mask)
    ripn_start = ripn.load_checkpoint("start")
    assert all(not torch.equal(ripn_start[k], imp_start[k]) for k in imp_mask)

    rpn1, rpn2 = store.level(rid, L, "rpn1"), store.level(rid, L, "rpn2")
    for lv in (rpn1, rpn2):
        assert M.kept_counts(lv.load_mask()) == counts
        assert any(not torch.equal(lv.load_mask()[k], imp_mask[k]) for k in imp_mask)
    start1 = rpn1.load_checkpoint("start")
    for k, v in M.project(rewind, rpn1.load_mask()).items():
        assert torch.equal(start1[k], v)
    start2 = rpn2.load_checkpoint("start")
    assert all(not torch.equal(start2[k], start1[k]) for k in imp_mask)

    one = store.level(rid, L, "one_shot")
    one_mask = one.load_mask()
    assert M.sparsity(one_mask) == pytest.approx(M.sparsity(imp_mask))
    final0 = store.level(rid, 0).load_checkpoint("final")
    out = output_name_of(imp_mask)
    hidden = [k for k in imp_mask if k != out]
    # one-shot keeps the globally largest level-0 weights among the hidden layers
    kept = torch.cat([final0[k][one_mask[k] == 1].abs() for k in hidden])
    dropped = torch.cat([final0[k][one_mask[k] == 0].abs() for k in hidden])
    assert kept.min() >= dropped.max()
    assert int(one_mask[out].sum()) == counts[out]

    ft2 = store.level(rid, 2, "ft")
    ft1_final = store.level(rid, 1, "ft").load_checkpoint("final")
    for k, v in M.project(ft1_final, ft2.load_mask()).items():
        assert torch.equal(ft2.load_checkpoint("start")[k], v)
    ft_counts = M.kept_counts(ft2.load_mask())  # same sparsity schedule as IMP
    assert ft_counts[out] == counts[out]
    assert sum(ft_counts[k] for k in hidden) == sum(counts[k] for k in hidden)


def test_every_branch_is_summarised(tiny_run):
    _, _, summaries = tiny_run
    seen = {(s["branch"], s["level"]) for s in summaries}
    assert {
        ("imp", 0),
        ("imp", 1),
        ("imp", 2),
        ("one_shot", 2),
        ("ft", 2),
        ("ripn", 2),
        ("rpn1", 2),
        ("rpn2", 2),
    } <= seen
    for s in summaries:
        assert 0 <= s["test_acc"] <= 1 and s["train_loss"] > 0


def test_rerun_trains_nothing_again(tiny_run, monkeypatch):
    store, spec, summaries = tiny_run
    import engine.imp as imp

    def fail(*a, **k):
        raise AssertionError("a finished level was trained again")

    monkeypatch.setattr(imp, "train_level", fail)
    assert run_imp(spec, store, "cpu") == summaries


def test_same_spec_same_results(tmp_path, tiny_run):
    _, spec, summaries = tiny_run
    spec2 = spec.replace(baselines=spec.baselines.replace(kinds=()))
    again = run_imp(spec2, Store(tmp_path), "cpu")
    keys = ("level", "sparsity", "train_loss", "test_acc", "test_loss")
    imp_rows = [s for s in summaries if s["branch"] == "imp"]
    assert [{k: s[k] for k in keys} for s in again] == [{k: s[k] for k in keys} for s in imp_rows]


class _StopAt(NullReporter):
    def __init__(self, epochs):
        self.left = epochs

    def epoch_done(self, row, label):
        self.left -= 1

    def cancelled(self):
        return self.left <= 0


def test_cancel_then_resume_equals_uninterrupted(tmp_path, tiny_run):
    _, spec, summaries = tiny_run
    store = Store(tmp_path)
    with pytest.raises(Cancelled):
        run_imp(spec, store, "cpu", _StopAt(5))  # stops in the middle of level 1
    assert store.level(spec.run_id, 1).load_state() is not None
    resumed = run_imp(spec, store, "cpu")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(resumed) == strip(summaries)


def test_sigkill_mid_level_then_resume_equals_uninterrupted(tmp_path, tiny_run):
    """A real kill: a subprocess trains the demo-sized spec; we SIGKILL it inside level 1."""
    _, spec, _ = tiny_run
    spec = spec.replace(
        train=spec.train.replace(length="30ep"), baselines=spec.baselines.replace(kinds=())
    )
    cfg = tmp_path / "spec.json"
    cfg.write_text(__import__("json").dumps(spec.to_dict()))
    store_dir = tmp_path / "store"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "run",
            "--config",
            str(cfg),
            "--store",
            str(store_dir),
            "--device",
            "cpu",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = store_dir / "runs" / spec.run_id / "imp" / "level_01" / "state.pt"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store(store_dir)
    lv1 = store.level(spec.run_id, 1)
    assert not lv1.done, "the kill came too late to test resuming"
    assert store.level(spec.run_id, 0).done
    done0 = (store.level(spec.run_id, 0).path / "done.json").stat().st_mtime_ns
    resumed = run_imp(spec, store, "cpu")
    assert (store.level(spec.run_id, 0).path / "done.json").stat().st_mtime_ns == done0
    straight = run_imp(spec, Store(tmp_path / "straight"), "cpu")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(resumed) == strip(straight)
    a = store.level(spec.run_id, 2).load_checkpoint("final")
    b = Store(tmp_path / "straight").level(spec.run_id, 2).load_checkpoint("final")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_rewind_beyond_training_is_refused_before_writing(tmp_path):
    spec = tiny_spec()
    spec = spec.replace(prune=spec.prune.replace(rewind="100it"))  # 3 epochs are 24 iterations
    store = Store(tmp_path)
    with pytest.raises(SpecError, match=r"prune\.rewind"):
        run_imp(spec, store, "cpu")
    assert store.run_ids() == []
