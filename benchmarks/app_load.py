"""Load benchmark of the dashboard: how long each page takes to render from a big store.

Builds a store of synthetic runs (default 20 runs x 10 levels x 160 epochs, metrics written
through the real store API; the numbers are made up, it is a load test, not a result), then
renders every page under Streamlit's AppTest and prints one JSON line per page and selection:

- `cold_s`: the first render after clearing Streamlit's caches (every table read from disk);
- `warm_s`: median of later renders (tables from `st.cache_data`, keyed by store version);
- `uncached_s`: median render with the caches cleared before each one, i.e. what every
  rerun would cost without caching; `speedup` = uncached_s / warm_s.

    .venv/bin/python benchmarks/app_load.py [--runs 20 --levels 10 --epochs 160 --repeat 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # import the engine from this checkout

import streamlit as st  # noqa: E402

from engine.presets import preset  # noqa: E402
from engine.store import Store  # noqa: E402
from tests.app import apptest  # noqa: E402

PAGES = ["home", "launch", "runs", "levels", "baselines", "geometry", "spectra", "landscape"]


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--levels", type=int, default=10)
    p.add_argument("--epochs", type=int, default=160)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
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
            for page in PAGES:
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


if __name__ == "__main__":
    main()
