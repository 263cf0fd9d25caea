"""Stored analyses as tidy tables (one row per observation), the form the app reads.

Each reader is `fn(store, run_id) -> DataFrame` with fixed columns, empty when nothing is
stored. When a unit was computed more than once with different options (say k = 20, then
k = 100), the most recently computed result is the one shown.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from engine.store import Store, StoreError

Rows = Callable[[dict], list[dict]]

POINT = ["run_id", "branch", "level", "point"]
COLUMNS: dict[str, list[str]] = {
    "distances": ["run_id", "branch", "level", "norm", "normalised", "to", "distance"],
    "trajectory": ["run_id", "level", "epoch", "series", "train_loss"],
    "pruned_start": [*POINT, "train_loss", "train_acc", "test_loss", "test_acc"],
    "spectra": [*POINT, "rank", "eigenvalue"],
    "volume": [*POINT, "k", "k_positive", "n_negative", "log_volume", "loss"],
    "trace": [*POINT, "trace", "stderr"],
    "density": [*POINT, "eigenvalue", "density"],
    "interpolation": [
        "run_id",
        "path",
        "alpha",
        "train_loss",
        "train_acc",
        "test_loss",
        "test_acc",
    ],
    "barrier": ["run_id", "path", "barrier_train_loss", "barrier_test_error"],
    "landscape": ["run_id", "branch", "level", "x", "y", "train_loss"],
    "loss_matched": [
        "run_id",
        "level",
        "matched",
        "target_loss",
        "loss",
        "alpha",
        "epoch",
        "bracket_a",
        "bracket_b",
        "k",
        "log_volume",
        "lambda_max",
        "reason",
    ],
    "loss_matched_spectra": ["run_id", "level", "rank", "eigenvalue"],
    "instability": ["run_id", "level", "barrier_test_error", "barrier_train_loss", "copy_seed"],
    "batchnorm": [*POINT, "mode", "model_has_batchnorm", "recalibrated"],
    "instability_path": [
        "run_id",
        "level",
        "alpha",
        "train_loss",
        "train_acc",
        "test_loss",
        "test_acc",
    ],
}


def latest_records(store: Store, run_id: str, what: str) -> list[dict]:
    """Stored results of analysis `what`, the newest per unit, in a stable order."""
    folder = store.run_path(run_id) / "analyses"
    newest: dict[str, dict] = {}
    for path in sorted(folder.glob(f"{what}-*.json")) if folder.is_dir() else []:
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a foreign or damaged file is not a result
        if rec.get("what") != what:
            continue
        ident = json.dumps(rec["unit"], sort_keys=True)
        if ident not in newest or rec["computed_at"] > newest[ident]["computed_at"]:
            newest[ident] = rec
    return sorted(newest.values(), key=_order)


def _order(rec: dict) -> tuple:
    u = rec["unit"]
    return (
        u.get("branch", "") != "imp",
        u.get("branch", ""),
        u.get("level", -1),
        str(u.get("point", "")),
        str(u.get("path", "")),
    )


def _point(rec: dict) -> dict[str, Any]:
    u = rec["unit"]
    return {
        "run_id": rec["run_id"],
        "branch": u["branch"],
        "level": u["level"],
        "point": u["point"],
    }


def _distances(rec: dict) -> list[dict]:
    u = rec["unit"]
    base = {"run_id": rec["run_id"], "branch": u["branch"], "level": u["level"]}
    return [base | row for row in rec["result"]["rows"]]


def _trajectory(rec: dict) -> list[dict]:
    base = {"run_id": rec["run_id"], "level": rec["unit"]["level"]}
    return [base | row for row in rec["result"]["rows"]]


def _pruned_start(rec: dict) -> list[dict]:
    return [_point(rec) | rec["result"]]


def _spectra(rec: dict) -> list[dict]:
    values = rec["result"]["eigenvalues"]
    return [_point(rec) | {"rank": i + 1, "eigenvalue": v} for i, v in enumerate(values)]


def _volume(rec: dict) -> list[dict]:
    """The volume proxy with the loss at the point, on the Hessian's examples (NaN in
    results computed before spectra recorded it)."""
    return [_point(rec) | rec["result"]["volume"] | {"loss": rec["result"].get("loss", math.nan)}]


def _trace(rec: dict) -> list[dict]:
    r = rec["result"]
    return [_point(rec) | {"trace": r["mean"], "stderr": r["stderr"]}]


def _density(rec: dict) -> list[dict]:
    r = rec["result"]
    pairs = zip(r["grid"], r["density"], strict=True)
    return [_point(rec) | {"eigenvalue": g, "density": d} for g, d in pairs]


def _interpolation(rec: dict) -> list[dict]:
    return [
        {"run_id": rec["run_id"], "path": rec["unit"]["path"]} | row
        for row in rec["result"]["rows"]
    ]


def _barrier(rec: dict) -> list[dict]:
    r = rec["result"]
    keys = ("barrier_train_loss", "barrier_test_error")
    return [{"run_id": rec["run_id"], "path": rec["unit"]["path"]} | {k: r[k] for k in keys}]


def _landscape(rec: dict) -> list[dict]:
    r = rec["result"]
    return [
        _point(rec) | {"x": a, "y": b, "train_loss": r["train_loss"][i][j]}
        for i, a in enumerate(r["coords"])
        for j, b in enumerate(r["coords"])
    ]


def _loss_matched(rec: dict) -> list[dict]:
    """One row per level: the target loss, where on the trajectory it was matched (NaN and a
    reason where it was not), and the volume there."""
    r, nan = rec["result"], math.nan
    row = {"run_id": rec["run_id"], "level": rec["unit"]["level"], "matched": r["matched"]}
    row |= {"target_loss": r["target"]["loss"], "reason": r.get("reason", "")}
    if not r["matched"]:
        return [row | dict.fromkeys(["loss", "alpha", "epoch", "k", "log_volume"], nan)]
    values = r["eigenvalues"]
    return [
        row
        | {k: r[k] for k in ("loss", "alpha", "epoch")}
        | {"bracket_a": r["bracket"]["a"]["point"], "bracket_b": r["bracket"]["b"]["point"]}
        | {"k": r["volume"]["k"], "log_volume": r["volume"]["log_volume"]}
        | {"lambda_max": values[0] if values else nan}
    ]


def _loss_matched_spectra(rec: dict) -> list[dict]:
    base = {"run_id": rec["run_id"], "level": rec["unit"]["level"]}
    values = rec["result"].get("eigenvalues", [])
    return [base | {"rank": i + 1, "eigenvalue": v} for i, v in enumerate(values)]


def _batchnorm(rec: dict) -> list[dict]:
    """What a spectrum's record says about BatchNorm at its point (None where it predates the
    record)."""
    bn = rec.get("batchnorm") or {}
    done = bool(bn.get("recalibrated")) if bn else None
    keys = {"mode": bn.get("mode"), "model_has_batchnorm": bn.get("model_has_batchnorm")}
    return [_point(rec) | keys | {"recalibrated": done}]


def _instability(rec: dict) -> list[dict]:
    r = rec["result"]
    return [
        {"run_id": rec["run_id"], "level": rec["unit"]["level"]}
        | {k: r[k] for k in ("barrier_test_error", "barrier_train_loss")}
        | {"copy_seed": r["copies"]["b"]["data_order_seed"]}
    ]


def _instability_path(rec: dict) -> list[dict]:
    base = {"run_id": rec["run_id"], "level": rec["unit"]["level"]}
    return [base | row for row in rec["result"]["rows"]]


# table name -> (analysis that produces it, rows of one stored record)
SOURCES: dict[str, tuple[str, Rows]] = {
    "distances": ("distances", _distances),
    "trajectory": ("trajectory", _trajectory),
    "pruned_start": ("pruned_start", _pruned_start),
    "spectra": ("spectrum", _spectra),
    "volume": ("spectrum", _volume),
    "trace": ("trace", _trace),
    "density": ("density", _density),
    "interpolation": ("interpolation", _interpolation),
    "barrier": ("interpolation", _barrier),
    "landscape": ("landscape", _landscape),
    "loss_matched": ("loss_matched", _loss_matched),
    "loss_matched_spectra": ("loss_matched", _loss_matched_spectra),
    "batchnorm": ("spectrum", _batchnorm),
    "instability": ("instability", _instability),
    "instability_path": ("instability", _instability_path),
}


def frame(name: str, records: Iterable[dict], columns: list[str] | None = None) -> pd.DataFrame:
    """Table `name` built from stored records of its analysis (any subset of them)."""
    rows = [row for rec in records for row in SOURCES[name][1](rec)]
    return pd.DataFrame(rows, columns=columns or COLUMNS[name])


def table(name: str, store: Store, run_id: str) -> pd.DataFrame:
    try:
        records = latest_records(store, run_id, SOURCES[name][0])
    except StoreError:
        records = []
    if name == "landscape":  # the app's heatmap is the surface around each solution
        records = [r for r in records if r["unit"]["point"] == "solution"]
    return frame(name, records)


def distances_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("distances", store, run_id)


def trajectory_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("trajectory", store, run_id)


def pruned_start_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("pruned_start", store, run_id)


def spectra_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("spectra", store, run_id)


def volume_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("volume", store, run_id)


def trace_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("trace", store, run_id)


def density_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("density", store, run_id)


def interpolation_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("interpolation", store, run_id)


def barrier_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("barrier", store, run_id)


def landscape_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("landscape", store, run_id)


def loss_matched_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("loss_matched", store, run_id)


def loss_matched_spectra_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("loss_matched_spectra", store, run_id)


def batchnorm_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("batchnorm", store, run_id)


def instability_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("instability", store, run_id)


def instability_path_table(store: Store, run_id: str) -> pd.DataFrame:
    return table("instability_path", store, run_id)
