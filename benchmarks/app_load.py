"""Load benchmark of the dashboard: how long each page takes to draw, from a big store
(`--part load`) and in a real browser while the demo trains (`--part live`); both by default.

load: builds a store of synthetic runs (default 20 runs x 10 levels x 160 epochs, metrics
written through the real store API; the numbers are made up, it is a load test, not a
result), then renders every page under Streamlit's AppTest and prints one JSON line per page
and selection:

- `cold_s`: the first render after clearing Streamlit's caches (every table read from disk);
- `warm_s`: median of later renders (tables from `st.cache_data`, keyed by store version);
- `uncached_s`: median render with the caches cleared before each one, i.e. what every
  rerun would cost without caching; `speedup` = uncached_s / warm_s.

live: a store with one finished demo run (2 levels x 2 epochs, every baseline, trained for
real), the app served as `python3 lab.py app` serves it (with its embedded worker) and one
headless Chromium tab that clicks through the results pages in the sidebar, `--visits`
rounds. A visit is timed from the click until the server says a script run finished and
every chart on the page is drawn (`benchmarks/browser.py`); `cut_short` counts the script
runs that were restarted before one finished. The rounds run with nothing training (the
reference), then while the embedded worker trains `--demos` demo runs (the demo preset)
beside the finished run that is shown, then showing the run that is training. One JSON line
per page and case: the median of the warm visits (the first round dropped), the reference's
median and the ratio, the worst visit and the load average. `--busy N` adds N busy
processes for the whole part (a loaded machine). Target: <= 1 s while the demo trains.

    .venv/bin/python benchmarks/app_load.py [--part all|load|live] [--runs 20 --levels 10
        --epochs 160 --repeat 3] [--visits 5 --demos 4 --busy 0] [--quick]

`--quick` is the suite's smoke size: 2 runs x 1 level x 4 epochs, and two rounds of Home and
Levels while a shortened demo trains.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # import the engine from this checkout

import streamlit as st  # noqa: E402

from benchmarks import browser  # noqa: E402
from benchmarks.common import emit  # noqa: E402
from engine.config import RunSpec  # noqa: E402
from engine.imp import run_imp  # noqa: E402
from engine.jobs.queue import Job, JobQueue  # noqa: E402
from engine.presets import preset  # noqa: E402
from engine.store import Store  # noqa: E402
from tests.app import apptest  # noqa: E402

PAGES = [
    "home",
    "launch",
    "runs",
    "compare",
    "levels",
    "baselines",
    "geometry",
    "spectra",
    "landscape",
    "sparsity",
]


def build_store(root: Path, runs: int, levels: int, epochs: int) -> list[str]:
    """Synthetic runs of the paper's ResNet-20 spec (seeds 0..runs-1), IMP levels 0..levels."""
    store = Store(root)
    base = preset("paper-resnet20-cifar10")
    base = base.replace(
        prune=base.prune.replace(levels=levels), train=base.train.replace(length=f"{epochs}ep")
    )
    ids = []
    for seed in range(runs):
        spec = base.replace(seed=seed)
        run_id = store.create_run(spec)
        for level in range(levels + 1):
            sparsity = 1 - 0.8**level
            rows = []
            for e in range(1, epochs + 1):
                loss = 2.3 * math.exp(-e / 30) * (1 + 0.02 * level) + 0.01 * (seed % 3)
                rows.append(
                    {
                        "epoch": float(e),
                        "iteration": float(e * 391),
                        "lr": 0.1,
                        "train_loss": loss,
                        "train_acc": 1 - loss / 2.5,
                        "test_loss": loss * 1.2,
                        "test_acc": 0.9 - loss / 5,
                        "seconds": e * 1.0,
                    }
                )
            lv = store.level(run_id, level)
            lv.write_metrics(rows)
            last = rows[-1]
            lv.mark_done(
                {"level": level, "branch": "imp", "sparsity": sparsity, "kept": 1, "total": 1}
                | {k: last[k] for k in ("train_loss", "train_acc", "test_loss", "test_acc")}
                | {"best_test_acc": last["test_acc"], "epochs": epochs, "seconds": epochs}
            )
        store.touch(run_id, spec=spec.to_dict(), status="done", imp_levels_done=levels + 1)
        ids.append(run_id)
    store.close()
    return ids


def render(page: str, runs: list[str] | None) -> float:
    """Seconds to render `page` once in a fresh session (runs: the sidebar's selection)."""
    at = apptest.session(page, timeout=120, **({"runs": runs} if runs is not None else {}))
    t0 = time.perf_counter()
    apptest.run(at)
    seconds = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception[0].message}")
    return seconds


def clear() -> None:
    st.cache_data.clear()


def load(args: argparse.Namespace) -> None:
    """Every page under AppTest over a big synthetic store: cold, warm and uncached."""
    with tempfile.TemporaryDirectory(prefix="imp-lab-app-load-") as tmp:
        root = Path(tmp) / "store"
        t0 = time.perf_counter()
        ids = build_store(root, args.runs, args.levels, args.epochs)
        built = time.perf_counter() - t0
        print(
            json.dumps(
                {
                    "store": "built",
                    "runs": len(ids),
                    "levels": args.levels,
                    "epochs": args.epochs,
                    "seconds": round(built, 2),
                }
            ),
            flush=True,
        )
        os.environ["IMP_LAB_STORE"] = str(root)
        os.environ["IMP_LAB_EMBEDDED_WORKER"] = "0"
        logging.disable(logging.WARNING)  # no "no runtime" notes from each cache clear
        render("home", None)  # imports and Streamlit's own first-run work, not a page's cost
        for selection, runs in (("newest run", None), (f"all {len(ids)} runs", ids)):
            for page in args.pages:
                clear()
                cold = render(page, runs)
                warm = statistics.median(render(page, runs) for _ in range(args.repeat))
                uncached = []
                for _ in range(args.repeat):
                    clear()
                    uncached.append(render(page, runs))
                slow = statistics.median(uncached)
                print(
                    json.dumps(
                        {
                            "page": page,
                            "selection": selection,
                            "cold_s": round(cold, 3),
                            "warm_s": round(warm, 3),
                            "uncached_s": round(slow, 3),
                            "speedup": round(slow / warm, 1),
                        }
                    ),
                    flush=True,
                )


# --- pages in a real browser while the demo trains -----------------------------------------
TITLES = {
    "home": "IMP Lab",
    "levels": "Levels",
    "baselines": "Baselines",
    "geometry": "Geometry",
    "spectra": "Spectra",
    "landscape": "Landscape",
}


def demo(levels: int, length: str) -> RunSpec:
    spec = preset("demo")
    return spec.replace(
        train=spec.train.replace(length=length), prune=spec.prune.replace(levels=levels)
    )


def describe(spec: RunSpec) -> str:
    return f"{spec.prune.levels} levels x {spec.train.length}"


def round_of_visits(t: browser.Tab, pages: list[str]) -> dict[str, browser.Visit]:
    return {page: t.visit("" if page == "home" else page, TITLES[page]) for page in pages}


def training(queue: JobQueue) -> Job | None:
    running = [j for j in queue.list() if j.kind == "run" and j.status == "running"]
    return running[0] if running and running[0].progress.get("epoch") else None


def report(args, page: str, rounds: list, quiet: list, what: str, ref: str, **extra) -> None:
    ours = [r[page] for r in rounds[1:] or rounds]  # warm: the first round is dropped
    base = [r[page] for r in quiet[1:] or quiet]
    emit(
        f"{page} page drawn after a click, {what}",
        statistics.median(v.seconds for v in ours),
        "s",
        ref,
        statistics.median(v.seconds for v in base),
        visits=len(ours),
        worst_s=round(max(v.seconds for v in ours), 3),
        cut_short=sum(v.cut_short for v in ours),
        never_drawn=sum(not v.drawn for v in ours),
        busy_processes=args.busy,
        **extra,
    )


def live(args: argparse.Namespace) -> None:
    """Each page opened from the sidebar in Chromium, as a user clicks through: first with
    nothing training (the reference), then while the app's embedded worker trains demos,
    showing a finished run and then the run in training."""
    with (
        tempfile.TemporaryDirectory(prefix="imp-lab-app-live-", ignore_cleanup_errors=True) as tmp,
        hogs(args.busy),
    ):
        root = Path(tmp) / "store"
        shown = demo(1, "1ep") if args.quick else demo(2, "2ep")  # finished, every baseline
        run_imp(shown, Store(root), "cpu")
        trains = demo(2, "8ep") if args.quick else preset("demo")
        queue = JobQueue(root)
        home = TITLES["home"]
        with (
            browser.serve(root, Path(tmp) / "server.log") as url,
            browser.tab(f"{url}/?runs={shown.run_id}", home) as t,
        ):
            quiet = [round_of_visits(t, args.pages) for _ in range(args.visits)]
            load_quiet = os.getloadavg()[0]
            for seed in range(1, args.demos + 1):
                queue.submit("run", trains.replace(seed=seed).to_dict())
            deadline = time.monotonic() + 300
            while training(queue) is None and time.monotonic() < deadline:
                time.sleep(0.5)
            beside = [round_of_visits(t, args.pages) for _ in range(args.visits)]
            job = training(queue)
            if job is not None:  # the same pages showing the run that is training
                t.open(f"{url}/?runs={job.run_id}", home)
                itself = [round_of_visits(t, args.pages) for _ in range(args.visits)]
            still = training(queue) is not None
        deadline = time.monotonic() + 60  # the worker gives its job back, then exits
        while queue.live_workers() and time.monotonic() < deadline:
            time.sleep(0.5)
    loads = {"load_quiet": round(load_quiet, 2), "load_end": round(os.getloadavg()[0], 2)}
    finished = f"a finished demo run ({describe(shown)}, all baselines)"
    trained = f"{args.demos} demo runs ({describe(trains)})"
    for page in args.pages:
        report(
            args, page, beside, quiet, "the demo training beside it",
            "the same page with nothing training",
            shown=finished, trains=trained, training_to_the_end=still, **loads,
        )  # fmt: skip
        if job is not None:
            report(
                args, page, itself, quiet, "showing the demo run that is training",
                f"the same page showing {finished} with nothing training",
                trains=trained, training_to_the_end=still, **loads,
            )  # fmt: skip


@contextlib.contextmanager
def hogs(n: int) -> Iterator[None]:
    """`n` busy processes (a loaded machine) for as long as the block runs."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=("load", "live", "all"), default="all")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--levels", type=int, default=10)
    p.add_argument("--epochs", type=int, default=160)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--visits", type=int, default=5, help="rounds of clicks (live part)")
    p.add_argument("--demos", type=int, default=4, help="demo runs queued (live part)")
    p.add_argument("--busy", type=int, default=0, help="busy processes beside (live part)")
    p.add_argument("--quick", action="store_true", help="the suite's smoke size")
    p.add_argument("--pages", default=",".join(PAGES), help="comma-separated (load part)")
    args = p.parse_args()
    args.pages = args.pages.split(",")
    if args.quick:
        args.runs, args.levels, args.epochs, args.repeat = 2, 1, 4, 1
        args.visits, args.demos, args.pages = 2, 1, ["home", "levels"]
    if args.part in ("load", "all"):
        load(args)
    if args.part in ("live", "all"):
        if args.pages == PAGES:
            args.pages = list(TITLES)
        live(args)


if __name__ == "__main__":
    main()
