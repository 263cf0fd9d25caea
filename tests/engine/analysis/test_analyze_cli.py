"""`python -m engine analyze`: computes in-process, prints a table, queues with --submit."""

import json

from engine.cli import main


def test_analyze_prints_a_table_and_uses_the_cache(fresh_run, capsys):
    store, rid, _ = fresh_run
    args = ["analyze", rid, "--what", "distances", "--store", str(store.root), "--device", "cpu"]
    assert main([*args, "--branch", "imp,ft"]) == 0
    out = capsys.readouterr().out
    assert "distances of" in out and "projected_prev" in out and "4 computed" in out
    assert main([*args, "--branch", "imp,ft", "--norm", "all", "--normalised", "true"]) == 0
    assert "0 computed, 4 from the cache" in capsys.readouterr().out
    assert main([*args, "--levels", "2", "--json"]) == 0
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    rows = json.loads(line)["distances"]
    assert {(r["branch"], r["level"]) for r in rows} == {("imp", 2)} and len(rows) == 8


def test_bad_flags_are_one_line_errors(run, capsys):
    store, rid, _ = run
    base = ["analyze", rid, "--store", str(store.root)]
    assert main([*base, "--what", "distances", "--k", "5"]) == 2
    assert "error: k: does not apply to distances" in capsys.readouterr().err
    assert main([*base, "--what", "volume"]) == 2
    assert "error: what: 'volume' is not an analysis" in capsys.readouterr().err


def test_submitted_jobs_are_computed_by_a_worker(fresh_run, capsys):
    from engine.analysis import tables
    from engine.jobs.queue import JobQueue
    from engine.jobs.worker import run_worker

    store, rid, _ = fresh_run
    args = ["analyze", rid, "--what", "distances,interpolation", "--store", str(store.root)]
    assert main([*args, "--submit", "--levels", "1"]) == 0
    assert capsys.readouterr().out.count("queued") == 2
    queue = JobQueue(store.root)
    try:
        payloads = sorted((j.payload["what"], j.kind) for j in queue.list())
    finally:
        queue.close()
    assert payloads == [("distances", "analysis"), ("interpolation", "analysis")]
    assert run_worker(store.root, "cpu", max_jobs=2, worker_id="w1") == 2
    queue = JobQueue(store.root)
    try:
        jobs = {j.payload["what"]: j for j in queue.list()}
    finally:
        queue.close()
    assert {w: j.status for w, j in jobs.items()} == {"distances": "done", "interpolation": "done"}
    assert jobs["distances"].result["computed"] == 1
    assert len(tables.table("distances", store, rid)) == 8
    assert len(tables.table("barrier", store, rid)) == 2  # imp 1: from Pr_1(min_0), from min_0
