"""Terminal output: a progress bar per level and the summary table."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

# Wide when piped (logs, CI): run ids and tables are read in full there, not in a terminal.
console = Console() if sys.stdout.isatty() else Console(width=160)


class ProgressReporter:
    """A `Reporter` that draws one rich progress bar per level and prints a line per epoch."""

    def __init__(self, progress: Progress, verbose: bool = False):
        self.bar = progress
        self.verbose = verbose
        self.tasks: dict[str, Any] = {}
        self.label = ""

    def progress(self, **f: Any) -> None:
        self.label = label = f["label"]
        if label not in self.tasks:
            self.tasks[label] = self.bar.add_task(label, total=f["total"])
        self.bar.update(
            self.tasks[label],
            completed=f["iteration"],
            description=f"{label}  loss {f['loss']:.4f}",
        )

    def epoch_done(self, row: dict[str, float]) -> None:
        if self.label in self.tasks:
            self.bar.update(self.tasks[self.label], completed=row["iteration"])
        if self.verbose:
            self.bar.console.print(format_epoch(self.label, row))

    def log(self, line: str) -> None:
        self.bar.console.print(line, markup=False, highlight=False)

    def cancelled(self) -> bool:
        return False


def format_epoch(label: str, row: dict[str, float]) -> str:
    return (
        f"{label} epoch {int(row['epoch'])}: train loss {row['train_loss']:.4f}, "
        f"train acc {row['train_acc']:.4f}, test loss {row['test_loss']:.4f}, "
        f"test acc {row['test_acc']:.4f}, lr {row['lr']:.3g}"
    )


def make_progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def summary_table(summaries: list[dict[str, Any]], title: str = "") -> Table:
    table = Table(title=title or None)
    for col in (
        "branch",
        "level",
        "sparsity",
        "train loss",
        "test acc",
        "best test acc",
        "epochs",
        "seconds",
    ):
        table.add_column(col, justify="left" if col == "branch" else "right")
    for s in summaries:
        table.add_row(
            s["branch"],
            str(s["level"]),
            f"{100 * s['sparsity']:.1f}%",
            f"{s['train_loss']:.4f}",
            f"{100 * s['test_acc']:.2f}%",
            f"{100 * s['best_test_acc']:.2f}%",
            f"{s['epochs']:g}",
            f"{s['seconds']:.1f}",
        )
    return table
