"""Registry of baselines: every module of this package defines one `Baseline` subclass and
registers it with `@register`; the package imports all its modules (`engine.plugins`), so a
new baseline is one file and cannot be left out of the spec's choices, the Launch form or
`engine.plan.plan`."""

from __future__ import annotations

from engine.baselines.base import IMP, IMP_LABEL, Baseline, Training
from engine.plugins import import_submodules, lookup, registrar

BASELINES: dict[str, type[Baseline]] = {}


def register(cls: type[Baseline]) -> type[Baseline]:
    """Class decorator: add a baseline under its `name` (which, with `label` and `help`, it
    must set: the spec, the Launch form and the claims show them)."""
    missing = [a for a in ("name", "label", "help") if not getattr(cls, a, "")]
    if missing:
        raise ValueError(f"baseline {cls.__name__} sets no {', '.join(missing)}")
    return registrar(BASELINES, "baseline", cls.name)(cls)


def baseline_names() -> list[str]:
    return list(BASELINES)


def method_labels() -> dict[str, str]:
    """Each branch a run can have -> the name claims, charts and tables show for it:
    IMP-WR's, then every registered baseline's `label`."""
    return {IMP: IMP_LABEL} | {name: cls.label for name, cls in BASELINES.items()}


def get(name: str) -> Baseline:
    """The baseline registered as `name`."""
    return lookup(BASELINES, "baseline", name)()


__all__ = ["Baseline", "Training", "baseline_names", "get", "method_labels", "register"]

# Last, because the modules import `register` from here.
import_submodules(__name__)
