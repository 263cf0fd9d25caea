"""The job kinds: one module per kind in this package, found by `load_kinds`.

To add a kind, add a module here that builds a `JobKind` and passes it to
`engine.jobs.records.register_kind` at import (`analysis.py` is the smallest); nothing else is
edited. Kinds from outside the package (plugins, test-only kinds) are modules named in
$IMP_LAB_JOB_MODULES. Kind modules import `engine.jobs.records`, never the queue, so the
queue loads them without an import cycle.
"""

from __future__ import annotations

import importlib
import os

from engine.jobs.records import KINDS, MODULES_ENV, JobKind
from engine.plugins import import_submodules


def load_kinds() -> dict[str, JobKind]:
    """Import every kind module of this package and of $IMP_LAB_JOB_MODULES (a module is
    imported once, so each kind registers once); return the registry."""
    import_submodules(__name__)
    for name in os.environ.get(MODULES_ENV, "").split(","):
        if name.strip():
            importlib.import_module(name.strip())
    return KINDS
