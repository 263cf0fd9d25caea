"""The store's layout is written once (engine.paths) and does not move: each function names
the place a store written by earlier versions uses, and a run writes nothing else."""

from pathlib import Path

from engine import paths
from engine.imp import run_imp
from engine.store import Store
from tests.engine.conftest import tiny_spec

ROOT = Path("s")
RUN = paths.run(ROOT, "r")
LEVEL = paths.level(RUN, "imp", 3)


def test_each_place_is_where_stores_have_it() -> None:
    """Literal paths on purpose: changing one would orphan every stored run."""
    named = {
        paths.spec(RUN): "s/runs/r/spec.json",
        paths.annotations(RUN): "s/runs/r/annotations.json",
        LEVEL: "s/runs/r/imp/level_03",
        paths.mask(LEVEL): "s/runs/r/imp/level_03/mask.pt",
        paths.metrics(LEVEL): "s/runs/r/imp/level_03/metrics.csv",
        paths.done(LEVEL): "s/runs/r/imp/level_03/done.json",
        paths.state(LEVEL): "s/runs/r/imp/level_03/state.pt",
        paths.checkpoint(LEVEL, "final"): "s/runs/r/imp/level_03/checkpoints/final.pt",
        paths.level(RUN, "ripn", 12): "s/runs/r/ripn/level_12",
        paths.rewind(RUN): "s/runs/r/imp/rewind.pt",
        paths.analysis(RUN, "spectrum", "ab12"): "s/runs/r/analyses/spectrum-ab12.json",
        paths.copy(RUN, "level_01-x"): "s/runs/r/analyses/copies/level_01-x",
        paths.job_log(ROOT, "run-1", "r"): "s/runs/r/logs/run-1.log",
        paths.job_log(ROOT, "sweep-1"): "s/logs/sweep-1.log",
        paths.worker_log(ROOT, "w1"): "s/logs/worker-w1.log",
        paths.index_db(paths.index(ROOT)): "s/index/runs.sqlite3",
        paths.queue_db(paths.jobs(ROOT)): "s/jobs/queue.sqlite3",
        paths.sweep(ROOT, "sw"): "s/sweeps/sw.json",
        paths.reports(ROOT): "s/reports",
        paths.trash(ROOT): "s/trash",
        paths.analyse_after(ROOT): "s/app/analyse_after.json",
    }
    assert [p.as_posix() for p in named] == list(named.values())
    # a job's log as the queue stores it: relative to the store root
    assert paths.job_log(Path(), "j", "r").as_posix() == "runs/r/logs/j.log"
    assert [paths.level_number(p) for p in (LEVEL, paths.level(RUN, "ft", 0))] == [3, 0]
    assert [paths.is_first_level(paths.level(RUN, "imp", n)) for n in (0, 1)] == [True, False]
    pattern = f"*/{paths.LEVEL_GLOB}"
    assert LEVEL.match(pattern) and not paths.copy(RUN, "level_01-x").match(pattern)


def test_a_run_writes_only_files_that_paths_names(tmp_path: Path) -> None:
    spec = tiny_spec()
    spec = spec.replace(
        prune=spec.prune.replace(levels=1),
        train=spec.train.replace(length="1ep"),
        baselines=spec.baselines.replace(kinds=()),
    )
    store = Store(tmp_path)
    run_imp(spec, store, "cpu")
    store.close()
    run = paths.run(tmp_path, spec.run_id)
    expected = {paths.spec(run), paths.rewind(run), paths.index_db(paths.index(tmp_path))}
    for n in store.levels(spec.run_id):
        lv = store.level(spec.run_id, n)
        expected |= {paths.mask(lv.path), paths.metrics(lv.path), paths.done(lv.path)}
        expected |= {paths.checkpoint(lv.path, tag) for tag in lv.checkpoint_tags()}
    written = {
        p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }
    assert store.levels(spec.run_id) == [0, 1] and written == expected
