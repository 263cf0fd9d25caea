"""train.stack in the runner: the tiny run's baselines stacked (engine.stacking) store what
they store one by one, within engine.batched's tolerance (tests/engine/test_batched.py:
weights ATOL/REL, losses REL, accuracies one test image); auto on a CPU is off, bit for bit;
the log and every level's records say which path ran; an interrupted group resumes."""

from __future__ import annotations

import io

import pytest
import torch
from rich.console import Console
from rich.progress import Progress

from engine import batched, compiled
from engine.cli.display import ProgressReporter
from engine.data import load_dataset
from engine.imp import open_run, run_imp
from engine.jobs.queue import ENV, JobQueue
from engine.jobs.worker import run_worker
from engine.plan import plan
from engine.run_progress import RunProgress
from engine.stacking import schedule
from engine.store import Store
from engine.train import Cancelled
from tests.engine.conftest import tiny_spec
from tests.engine.test_batched import ATOL, REL

N_TEST = len(load_dataset("synthetic_tiny", "unused").test_y)
# The tiny run's baselines: one-shot, FT 1 and RPN_1 start at the rewind point (3it), RIPN
# and RPN_2 at 0, FT 2 needs FT 1: two stacks, then FT 2 alone.
STACKS = [("one_shot", 2), ("ft", 1), ("rpn1", 2)], [("ripn", 2), ("rpn2", 2)]


class Log:
    """A reporter that keeps the run's log lines; cancels after `stop_after` epochs."""

    def __init__(self, stop_after: int | None = None):
        self.lines: list[str] = []
        self.left = stop_after

    def progress(self, **fields):
        pass

    def epoch_done(self, row, label):
        if self.left is not None:
            self.left -= 1

    def cancelled(self):
        return self.left is not None and self.left <= 0

    def log(self, line):
        self.lines.append(line)


def stacking(setting: str):
    spec = tiny_spec()
    return spec.replace(train=spec.train.replace(stack=setting))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """setting -> (store, log lines) of the tiny run trained under train.stack=setting."""
    out = {}
    for setting in ("off", "on", "auto"):
        store, log = Store(tmp_path_factory.mktemp(f"stack-{setting}")), Log()
        run_imp(stacking(setting), store, "cpu", log)
        out[setting] = store, log.lines
    return out


def trained(store: Store, run_id: str):
    return [(b, lv) for b in store.branches(run_id) for lv in store.levels(run_id, b)]


def files(store: Store, run_id: str) -> set[str]:
    root = store.run_path(run_id)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def assert_rows_agree(ours, ref, exact: bool):
    assert len(ours) == len(ref) and ours
    for a, b in zip(ours, ref, strict=True):
        assert list(a) == list(b)
        if exact:
            assert {k: v for k, v in a.items() if k != "seconds"} == {
                k: v for k, v in b.items() if k != "seconds"
            }
            continue
        assert (a["epoch"], a["iteration"], a["lr"]) == (b["epoch"], b["iteration"], b["lr"])
        for k in ("train_loss", "test_loss"):
            assert a[k] == pytest.approx(b[k], rel=REL), k
        for k in ("train_acc", "test_acc"):
            assert a[k] == pytest.approx(b[k], abs=1.01 / N_TEST), k


def meta_but_step(lv, tag: str) -> dict:
    return {k: v for k, v in lv.checkpoint_meta(tag).items() if k != "step"}


def assert_levels_agree(store, ref, run_id, exact: bool):
    """Same levels and files; masks equal; metrics, checkpoints and summaries agree."""
    assert trained(store, run_id) == trained(ref, run_id)
    assert files(store, run_id) == files(ref, run_id)
    for branch, level in trained(ref, run_id):
        a, b = store.level(run_id, level, branch), ref.level(run_id, level, branch)
        assert a.done and a.load_state() is None
        mask = b.load_mask()
        assert all(torch.equal(a.load_mask()[k], mask[k]) for k in mask)
        assert_rows_agree(a.read_metrics(), b.read_metrics(), exact)
        for tag in b.checkpoint_tags():
            ours, theirs = a.load_checkpoint(tag), b.load_checkpoint(tag)
            assert list(ours) == list(theirs)
            for k in theirs:
                if exact:
                    assert torch.equal(ours[k], theirs[k]), (branch, level, tag, k)
                else:
                    assert torch.allclose(ours[k], theirs[k], rtol=REL, atol=ATOL), (tag, k)
            for k in mask:  # pruned weights stay exactly zero
                assert torch.all(ours[k][mask[k] == 0] == 0)
            assert meta_but_step(a, tag) == meta_but_step(b, tag)
        sa, sb = a.summary(), b.summary()
        assert set(sa) == set(sb) and (sa["kept"], sa["epochs"]) == (sb["kept"], sb["epochs"])
        assert sa["test_acc"] == pytest.approx(sb["test_acc"], abs=1.01 / N_TEST)


def test_stacked_run_stores_what_one_by_one_does(runs):
    (on, _), (off, _) = runs["on"], runs["off"]
    assert_levels_agree(on, off, tiny_spec().run_id, exact=False)


def test_auto_on_a_cpu_trains_one_by_one_bit_for_bit(runs):
    (auto, lines), (off, _) = runs["auto"], runs["off"]
    assert_levels_agree(auto, off, tiny_spec().run_id, exact=True)
    assert len(lines) == 2 and all(line.startswith("one by one: ") for line in lines)
    assert "train.stack=auto" in lines[0] and "should_batch" in lines[0]


def test_the_log_and_the_records_say_which_path_ran(runs):
    rid = tiny_spec().run_id
    (on, on_lines), (off, off_lines) = runs["on"], runs["off"]
    assert off_lines == []  # off asks for nothing to stack, and nothing is said
    names = [", ".join(f"{b} level {lv}" for b, lv in group) for group in STACKS]
    assert on_lines == [
        f"stacked: {len(group)} trainings as one (train.stack=on): {text}"
        for group, text in zip(STACKS, names, strict=True)
    ]
    stacked = {key for group in STACKS for key in group}
    for store in (on, off):
        for branch, level in trained(store, rid):
            lv = store.level(rid, level, branch)
            step = lv.summary()["step"]  # done.json says which step trained the level
            assert lv.checkpoint_meta("final")["step"] == step
            want = "stacked" if store is on and (branch, level) in stacked else "eager"
            assert step["kind"] == want, (branch, level)
    group = len(STACKS[0])
    assert on.level(rid, 2, "one_shot").summary()["step"]["text"] == (
        f"stacked ({group} trainings, vmap, eager; train.stack=on), fp32"
    )


def test_where_on_cannot_stack_it_says_why(tmp_path, monkeypatch):
    """bf16, a compiled step and a model can_batch refuses each train one by one, in the
    plan's order (the schedule alone: nothing is trained here)."""
    monkeypatch.setattr(compiled, "cpp_compiler", lambda: "g++")
    spec = stacking("on")
    baselines = [t for t in plan(spec) if t.branch != "imp"]
    cases = {
        "train.precision=bf16": spec.replace(train=spec.train.replace(precision="bf16")),
        "train.compile=on": spec.replace(train=spec.train.replace(compile="on")),
    }
    for why, changed in cases.items():
        ctx = open_run(changed, Store(tmp_path / why), "cpu")
        groups, lines = schedule(ctx, ctx.fresh_model(0), baselines)
        assert [g.trainings for g in groups] == [(t,) for t in baselines]
        assert not any(g.stacked for g in groups)
        assert len(lines) == 2 and all(why in line for line in lines), lines
        assert all(line.startswith("one by one: ") for line in lines)
    ctx = open_run(spec, Store(tmp_path / "tied"), "cpu")
    model = ctx.fresh_model(0)
    model[2] = torch.nn.Dropout(0.5)  # a random op: vmap would draw another stream than it
    _, lines = schedule(ctx, model, baselines)
    assert len(lines) == 2 and all("cannot be stacked" in line for line in lines), lines


def test_an_interrupted_group_resumes_from_each_resume_point(tmp_path, runs):
    """Cancelled after the first stack's first epoch (IMP's 3 levels x 3 epochs, then 3
    rows), with FT 1 as if killed before its resume point was written: one-shot and RPN_1
    resume stacked from theirs, FT 1 starts again alone, and the run ends as the
    uninterrupted one did."""
    spec, store = stacking("on"), Store(tmp_path)
    with pytest.raises(Cancelled):
        run_imp(spec, store, "cpu", Log(stop_after=9 + 3))
    rid = spec.run_id
    first_rows = {}
    for branch, level in STACKS[0]:
        lv = store.level(rid, level, branch)
        assert not lv.done and lv.load_state()["iteration"] == 8  # the first epoch's end
        first_rows[branch] = lv.read_metrics()[0]
    assert store.level(rid, 2, "ripn").load_state() is None  # the second stack never began
    (store.level(rid, 1, "ft").path / "state.pt").unlink()
    log = Log()
    run_imp(spec, store, "cpu", log)
    assert log.lines[0] == (
        "stacked: 2 trainings as one (train.stack=on): one_shot level 2, rpn1 level 2"
    )
    for branch in ("one_shot", "rpn1"):  # resumed, not trained again: the first row stands
        assert store.level(rid, 2, branch).read_metrics()[0] == first_rows[branch]
    assert store.level(rid, 1, "ft").summary()["step"]["kind"] == "eager"
    assert_levels_agree(store, runs["off"][0], rid, exact=False)


def test_a_stacked_run_job_reports_its_progress_through_the_worker(tmp_path, monkeypatch):
    """Through a worker, a stack's progress (one label for its members, then each member's
    label alone before its epoch line) counts every member's share of the run, and the run's
    fraction never goes back."""
    monkeypatch.setenv(ENV["poll_interval"], "0.01")
    queue = JobQueue(tmp_path)
    seen: list[dict] = []  # what RunProgress hands the worker's reporter
    real = RunProgress.progress

    def spy(self, **fields):
        inner = self.inner

        class Recorder:
            def progress(self, **out):
                seen.append(out)
                inner.progress(**out)

        self.inner = Recorder()
        try:
            real(self, **fields)
        finally:
            self.inner = inner

    monkeypatch.setattr(RunProgress, "progress", spy)
    monkeypatch.setattr(batched, "PROGRESS_EVERY", 0.0)  # report every step of the tiny run
    job = queue.submit("run", stacking("on").to_dict())
    assert run_worker(queue.root, "cpu", max_jobs=1, worker_id="w1") == 1
    assert queue.get(job.id).status == "done", queue.get(job.id).error
    queue.close()
    fractions = [s["fraction"] for s in seen if "fraction" in s]
    assert fractions == sorted(fractions) and 0.9 < fractions[-1] <= 1.0
    stacks = [s for s in seen if ", " in s["label"] and "fraction" in s]
    assert stacks and all("branch" not in s for s in stacks)  # a stack is no one level
    # The first stack's last report counts its members' progress, not one level's.
    first = next(s["label"] for s in stacks)
    last = [s for s in stacks if s["label"] == first][-1]
    before = next(s["fraction"] for s in seen if s.get("label") == first and "fraction" in s)
    members = first.count(", ") + 1
    per_training = 1 / len(plan(stacking("on")))
    assert last["fraction"] - before > (members - 1) * per_training * 0.5


def test_a_stacked_run_from_the_terminal_labels_each_members_epoch_lines(tmp_path):
    """`python -m engine run -v`'s reporter: every epoch line of a stack is its member's."""
    buf = io.StringIO()
    reporter = ProgressReporter(Progress(console=Console(file=buf, width=200)), verbose=True)
    spec = stacking("on")
    run_imp(spec, Store(tmp_path), "cpu", reporter)
    text = buf.getvalue()
    for t in plan(spec):
        assert f"{t.branch} level {t.level}" in text  # each training's own epoch lines
