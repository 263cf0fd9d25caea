"""Sweeps without a cluster: grid files, expansion, validation before anything is queued,
the stored record, groups for the dashboard, mean-and-band tables, and the CLI."""

import json
import os

import pytest

from engine.cli import main
from engine.config import RunSpec, SpecError
from engine.groups import band
from engine.jobs.queue import JobQueue
from engine.store import Store
from engine.sweeps import (
    Member,
    Sweep,
    expand_grid,
    grid_from_dict,
    list_sweeps,
    load_grid,
    submit_sweep,
    sweep_groups,
    sweep_path,
    sweep_table,
)
from tests.engine.conftest import tiny_spec


def tiny_grid(**extra):
    data = {"base": tiny_spec().to_dict(), "seeds": [0, 1]} | extra
    return grid_from_dict(data, "tiny")


def test_expansion_is_the_product_seed_by_seed_with_typed_values():
    grid = tiny_grid(
        set={"train.length": "1ep", "baselines.kinds": []},
        grid={"train.lr": [1, 0.5], "prune.rate": [0.2, 0.4, 0.6]},
    )
    cells = expand_grid(grid)
    assert len(cells) == 2 * 2 * 3
    assert [c.seed for c in cells] == [0] * 6 + [1] * 6  # every group gets seed 0 first
    first = cells[0]
    assert first.values == {"train.lr": 1.0, "prune.rate": 0.2}  # as validated: 1 → 1.0
    assert first.group == "train.lr=1.0, prune.rate=0.2"
    assert [c.group for c in cells[:6]] == [c.group for c in cells[6:]]
    for c in cells:
        assert (
            c.spec.train.lr == c.values["train.lr"] and c.spec.prune.rate == c.values["prune.rate"]
        )
        assert str(c.spec.train.length) == "1ep" and c.spec.baselines.kinds == ()
        assert c.spec.seed == c.seed
        assert c.spec.model == tiny_spec().model  # untouched fields come from the base
    assert len({c.spec.run_id for c in cells}) == 12


def test_no_grid_is_one_group_of_seeds():
    cells = expand_grid(tiny_grid(seeds=[3, 4, 5]))
    assert [(c.group, c.seed) for c in cells] == [("all", 3), ("all", 4), ("all", 5)]


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"grid": {"train.lr": [0.1, -1.0]}}, "train.lr", "grid cell train.lr=-1.0, seed 0"),
        ({"grid": {"train.nope": [1]}}, "train.nope", "unknown setting"),
        ({"grid": {"lr": [1]}}, "grid.lr", "section.field"),
        ({"grid": {"seed": [1, 2]}}, "grid.seed", "seeds = [...]"),
        ({"grid": {"train.lr": 0.1}}, "grid.train.lr", "non-empty list"),
        ({"grid": {"train.lr": []}}, "grid.train.lr", "non-empty list"),
        ({"seeds": [0, 0]}, "seeds", "distinct"),
        ({"seeds": 3}, "seeds", "list"),
        ({"base": "nope"}, "base", "neither a preset"),
        ({"base": {"train": {"lr": 0}}}, "base.train.lr", "out of range"),
        ({"sets": {}}, "sets", "unknown key"),
        ({"set": {"train.lr": 0.1}, "grid": {"train.lr": [0.2]}}, "grid.train.lr", "keep one"),
        ({"grid": {"data.root": ["a", "b"]}}, "grid", "compute the same run"),
    ],
)
def test_bad_grids_name_the_field_and_queue_nothing(tmp_path, data, field, words):
    queue = JobQueue(tmp_path)
    with pytest.raises(SpecError) as e:
        submit_sweep(queue, tiny_grid(**data))
    assert e.value.field_path == field and words in str(e.value)
    assert queue.list() == [] and list_sweeps(queue.store) == ([], [])


def test_grid_files_toml_json_presets_and_spec_files(tmp_path):
    (tmp_path / "base.toml").write_text('seed = 9\n[train]\nlr = 0.3\nlength = "2ep"\n')
    toml = tmp_path / "g.toml"
    toml.write_text(
        'base = "base.toml"\nseeds = [0, 1]\n[set]\n"prune.levels" = 1\n'
        '[grid]\n"prune.rate" = [0.2, 0.5]\n'
    )
    grid = load_grid(toml)
    assert grid.name == "g" and grid.base["train"]["lr"] == 0.3  # relative to the grid file
    assert [c.spec.prune.levels for c in expand_grid(grid)] == [1] * 4
    js = tmp_path / "g.json"
    js.write_text(json.dumps({"name": "lenets", "base": "demo", "seeds": [2]}))
    demo = load_grid(js)
    assert demo.name == "lenets" and expand_grid(demo)[0].spec.model.name == "lenet_300_100"
    assert load_grid(toml, base="demo").base["train"]["optimizer"] == "adam"  # base replaced
    flags = grid.with_overrides({"train.length": "1ep"}, seeds=(5,))
    assert [(str(c.spec.train.length), c.seed) for c in expand_grid(flags)] == [("1ep", 5)] * 2
    (tmp_path / "bad.toml").write_text("seeds = [")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_grid(tmp_path / "bad.toml")
    with pytest.raises(SpecError, match=r"use a \.toml or \.json"):
        load_grid(_touch(tmp_path / "g.yaml"))


def _touch(path):
    path.write_text("")
    return path


def test_submit_records_the_sweep_and_resubmitting_is_idempotent(tmp_path):
    queue = JobQueue(tmp_path)
    grid = tiny_grid(grid={"train.lr": [0.1, 0.05]}, set={"baselines.kinds": []})
    version = queue.store.version()
    sweep = submit_sweep(queue, grid, owner="ann")
    assert queue.store.version() > version  # the app reloads
    jobs = {j.id: j for j in queue.list()}
    assert set(jobs) == set(sweep.job_ids) and len(jobs) == 4
    assert all(j.status == "queued" and j.owner == "ann" for j in jobs.values())
    by_cell = {(m.group, m.seed): m for m in sweep.members}
    for c in expand_grid(grid):
        m = by_cell[(c.group, c.seed)]
        assert m.run_id == c.spec.run_id == jobs[m.job_id].run_id
        assert RunSpec.from_dict(jobs[m.job_id].payload).identity() == c.spec.identity()

    stored = json.loads(sweep_path(queue.store, sweep.id).read_text())
    assert stored["grid"]["axes"] == [["train.lr", [0.1, 0.05]]] and stored["grid"]["seeds"] == [
        0,
        1,
    ]
    again = submit_sweep(queue, grid)
    assert (again.id, again.job_ids, again.created) == (sweep.id, sweep.job_ids, sweep.created)
    assert len(queue.list()) == 4
    groups = sweep_groups(queue.store, sweep.id)
    assert list(groups) == ["train.lr=0.1", "train.lr=0.05"]
    for label, run_ids in groups.items():
        seeds = [m.seed for m in sweep.members if m.run_id in run_ids]
        assert sorted(seeds) == [0, 1] and len(run_ids) == 2
        assert {m.group for m in sweep.members if m.run_id in run_ids} == {label}
    other = submit_sweep(queue, tiny_grid(seeds=[7]))
    assert other.id != sweep.id


def test_list_sweeps_newest_first_and_reports_bad_files(tmp_path):
    store = Store(tmp_path)
    member = Member("r1", "run-x", 0, "all", {})
    for i, name in enumerate(("old", "new")):
        path = sweep_path(store, f"{name}-1")
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(Sweep(f"{name}-1", name, float(i), {}, (member,)).to_dict()))
    (store.root / "sweeps" / "broken.json").write_text("{")
    sweeps, problems = list_sweeps(store)
    assert [s.id for s in sweeps] == ["new-1", "old-1"]
    assert len(problems) == 1 and "broken.json" in problems[0]


def test_sweep_table_tags_stored_results_with_group_and_seed(tiny_run, tmp_path):
    store, spec, _ = tiny_run
    members = (
        Member(spec.run_id, "run-a", spec.seed, "all", {}),
        Member("not-started-yet", "run-b", 5, "all", {}),
    )
    sweep = Sweep("t-1", "t", 0.0, {}, members)
    path = sweep_path(store, sweep.id)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(sweep.to_dict()))
    try:
        summary = sweep_table(store, "t-1")
        assert set(summary["run_id"]) == {spec.run_id}
        assert (summary["group"] == "all").all() and (summary["seed"] == spec.seed).all()
        imp = summary[summary["branch"] == "imp"]
        assert list(imp["level"]) == [0, 1, 2]
        metrics = sweep_table(store, "t-1", "metrics")
        assert len(metrics) > len(summary) and set(metrics["seed"]) == {spec.seed}
        by = ["group", "branch", "level", "sparsity"]
        agg = band(summary, by, "test_acc")
        assert list(agg["n"]) == [1] * len(summary)
    finally:
        os.remove(path)


def test_cli_dry_run_submit_and_list(tmp_path, capsys):
    grid = tmp_path / "g.toml"
    grid.write_text(
        f"base = {json.dumps(str(tmp_path / 'base.json'))}\nseeds = [0, 1]\n"
        '[grid]\n"train.lr" = [0.1, 0.05]\n'
    )
    (tmp_path / "base.json").write_text(json.dumps(tiny_spec().to_dict()))
    store = tmp_path / "store"
    flags = ["--grid", str(grid), "--store", str(store), "--baselines-kinds", ""]
    assert main(["sweep", *flags, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 runs (dry run" in out and "train.lr=0.05" in out
    assert JobQueue(store).list() == []
    assert main(["sweep", *flags, "--seeds", "3", "--train-length", "1ep"]) == 0
    out = capsys.readouterr().out
    assert "no worker is running" in out
    (sweep,), _ = list_sweeps(Store(store))
    assert len(sweep.members) == 2 and {m.seed for m in sweep.members} == {3}
    assert main(["sweeps", "--store", str(store)]) == 0
    assert "2 queued" in capsys.readouterr().out
    assert main(["sweeps", sweep.id, "--store", str(store)]) == 0
    assert sweep.members[0].run_id in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--seed", "1"], "--seeds"),
        (["--store", "s3://bucket/lab"], "POSIX filesystem"),
        (["--seeds", "1,x"], "whole numbers"),
        (["--train-lr", "-1"], "train.lr"),
    ],
)
def test_cli_refusals_are_one_line(tmp_path, capsys, extra, words):
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps({"base": tiny_spec().to_dict()}))
    argv = ["sweep", "--grid", str(grid), "--store", str(tmp_path / "s"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s" / "jobs").exists() or JobQueue(tmp_path / "s").list() == []
