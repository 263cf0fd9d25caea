"""The layers hold: `lint-imports` keeps every contract of `.importlinter`, a broken arrow and an
import cycle (closed by a lazy import) in a copy of the tree are reported (so the checks can
fail), and every top-level engine module sits in a layer or in the core list (so a new module
cannot slip past the contracts unplaced)."""

from __future__ import annotations

import configparser
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import engine

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` over the tree at `root` (its packages imported from there)."""
    return subprocess.run(
        [str(LINT), "--config", str(root / ".importlinter"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_contract_is_kept():
    done = lint(ROOT)
    print(done.stdout, done.stderr)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    for name in _contracts().values():
        assert f"{name} KEPT" in done.stdout


def lint_broken_copy(tmp_path: Path, appended: dict[str, str]) -> str:
    """`lint-imports` over a copy of the packages and contracts in which each engine module
    named in `appended` has that text added at its end; it must fail: its report."""
    for name in ("engine", "app"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CONFIG, tmp_path / ".importlinter")
    for module, text in appended.items():
        with (tmp_path / "engine" / module).open("a") as f:
            f.write(text)
    done = lint(tmp_path)
    assert done.returncode == 1, done.stdout
    return done.stdout


def test_a_back_arrow_in_a_copy_is_reported(tmp_path):
    """The core importing the CLI, and the engine importing the app, each break a contract."""
    out = lint_broken_copy(
        tmp_path,
        {
            "atomic.py": "\nfrom engine.cli import display  # noqa\n",
            "steps.py": "\nimport app.data  # noqa\n",
        },
    )
    for contract in ("core", "no-app"):
        assert f"{_contracts()[contract]} BROKEN" in out, out
    assert "engine.atomic -> engine.cli.display" in out
    assert "engine.steps -> app.data" in out


def test_an_import_cycle_in_a_copy_is_reported(tmp_path):
    """Two core modules importing each other, one of them inside a function, break the
    acyclic contract (and no other: both sit in the core)."""
    lazy = "\n\ndef _lazy():\n    from engine import steps  # noqa\n"
    out = lint_broken_copy(
        tmp_path, {"steps.py": "\nfrom engine import booleans  # noqa\n", "booleans.py": lazy}
    )
    contracts = _contracts()
    assert f"{contracts['acyclic']} BROKEN" in out, out
    assert ".booleans -> .steps" in out or ".steps -> .booleans" in out
    for other in set(contracts) - {"acyclic"}:
        assert f"{contracts[other]} KEPT" in out, out


def _ini() -> configparser.ConfigParser:
    ini = configparser.ConfigParser()
    ini.read(CONFIG)
    return ini


def _contracts() -> dict[str, str]:
    """Contract id -> its name, as `lint-imports` reports it."""
    head = "importlinter:contract:"
    return {k[len(head) :]: v["name"] for k, v in _ini().items() if k.startswith(head)}


def _placed() -> set[str]:
    """Every module a layer or the core list of `.importlinter` names."""
    ini = _ini()
    layers = ini["importlinter:contract:layers"]["layers"].split()
    core = ini["importlinter:contract:core"]["source_modules"].split()
    return {m for m in layers + core if m not in (":", "|")}


def test_every_engine_module_is_in_a_layer_or_the_core():
    modules = {f"engine.{m.name}" for m in pkgutil.iter_modules(engine.__path__)}
    unplaced = sorted(modules - _placed())
    assert not unplaced, (
        f"{', '.join(unplaced)}: in no layer of .importlinter; add each to the core list "
        "(contract 'core', source_modules) or to the layer it belongs to"
    )
