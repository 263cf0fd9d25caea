"""Operator limits on what one request may ask for (`engine.settings.Limits`), checked where
every job enters the queue (`JobQueue.submit`), so the app, the CLI, sweeps and `reproduce
--submit` obey them alike.

"epochs × levels" is the training length in epochs times the trainings a run makes (IMP levels
0..N plus every baseline training). A length in iterations cannot be converted without loading
the data set, so while `max_epoch_levels` is set such a run is refused with a message asking for
the length in epochs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.config import RunSpec, SpecError
from engine.plan import plan
from engine.reproduce import payload_spec
from engine.settings import LimitError, Limits


def epoch_levels(spec: RunSpec) -> int | None:
    """Epochs × trainings (`engine.plan.plan`) for `spec`; None when its length is in
    iterations."""
    length = spec.train.length
    return length.value * len(plan(spec)) if length.unit == "ep" else None


def check_request(
    limits: Limits, kind: str, payload: dict[str, Any], data_folder: Path | None = None
) -> None:
    """Raise `LimitError` naming the limit a validated `payload` of `kind` goes over.

    A "reproduce" job is held to the limits of the run it trains and of its analyses alike.
    With `data_folder` (hosted mode) a run must read its data from inside that folder: a
    spec's data root (where `download` writes) cannot point elsewhere on the server.
    """
    if kind == "run":
        check_run(limits, RunSpec.from_dict(payload), data_folder)
        return
    if kind == "reproduce":
        check_run(limits, payload_spec(payload), data_folder)
    limits.check("max_hessian_k", payload.get("k"), "Hessian top-k")
    limits.check("max_subset", payload.get("subset"), "the data subset size")
    if payload.get("eval_set") == "train" and limits.max_subset is not None:
        raise LimitError(
            "max_subset",
            f"eval_set=train uses the whole training set; this server limits subsets to "
            f"{limits.max_subset} examples, so use eval_set=subset",
        )


def check_run(limits: Limits, spec: RunSpec, data_folder: Path | None = None) -> None:
    """The limits on training `spec`: its data folder and its epochs × levels."""
    root = Path(spec.data.root).resolve()
    if data_folder is not None and not root.is_relative_to(data_folder.resolve()):
        raise SpecError(
            "data.root", f"{spec.data.root} is outside this server's data folder {data_folder}"
        )
    total = epoch_levels(spec)
    if total is None and limits.max_epoch_levels is not None:
        raise LimitError(
            "max_epoch_levels",
            f"training length {spec.train.length} is in iterations; this server limits "
            f"epochs × levels to {limits.max_epoch_levels}, so give the length in epochs",
        )
    limits.check("max_epoch_levels", total, "epochs × levels (all trainings of the run)")


def check_owner(limits: Limits, owner: str, active: int) -> None:
    """Refuse a new job when `owner` already has `active` queued or running jobs."""
    cap = limits.max_queued_per_user
    if cap is not None and active >= cap:
        raise LimitError(
            "max_queued_per_user",
            f"{owner or 'this user'} already has {active} queued or running job(s), "
            f"the limit on this server is {cap}; wait for one to finish or cancel one",
        )
