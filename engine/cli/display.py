"""Terminal output: a progress bar per level (the epoch lines and the summary table are
`engine.summaries`, shared with the job logs)."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from engine.summaries import format_epoch

# Wide when piped (logs, CI): run ids and tables are read in full there, not in a terminal.
console = Console() if sys.stdout.isatty() else Console(width=160)


class ProgressReporter:
    """A `Reporter` that draws one rich progress bar per level and prints a line per epoch."""

    def __init__(self, progress: Progress, verbose: bool = False):
        self.bar = progress
        self.verbose = verbose
        self.tasks: dict[str, Any] = {}

    def progress(self, **f: Any) -> None:
        label = f["label"]
        if label not in self.tasks:
            self.tasks[label] = self.bar.add_task(label, total=f["total"])
        self.bar.update(
            self.tasks[label],
            completed=f["iteration"],
            description=f"{label}  loss {f['loss']:.4f}",
        )

    def epoch_done(self, row: dict[str, float], label: str) -> None:
        if label in self.tasks:
            self.bar.update(self.tasks[label], completed=row["iteration"])
        if self.verbose:
            self.bar.console.print(format_epoch(label, row))

    def log(self, line: str) -> None:
        self.bar.console.print(line, markup=False, highlight=False)

    def cancelled(self) -> bool:
        return False


def make_progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
