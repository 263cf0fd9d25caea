"""Training results as text: one line per epoch and the per-level summary table.

Both the terminal (`engine.cli.display`) and a worker's job log (`engine.jobs.worker`,
`engine.jobs.kinds.run`) print them, so they live below the CLI: the job system must not
import its own command line.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table

_COLUMNS = (
    "branch",
    "level",
    "sparsity",
    "train loss",
    "test acc",
    "best test acc",
    "epochs",
    "seconds",
)


def format_epoch(label: str, row: dict[str, Any]) -> str:
    """The epoch's metrics, and which step trained it (`row["step"]`, `engine.compiled`)."""
    line = (
        f"{label} epoch {int(row['epoch'])}: train loss {row['train_loss']:.4f}, "
        f"train acc {row['train_acc']:.4f}, test loss {row['test_loss']:.4f}, "
        f"test acc {row['test_acc']:.4f}, lr {row['lr']:.3g}"
    )
    return f"{line}; step {row['step']}" if row.get("step") else line


def summary_table(summaries: list[dict[str, Any]], title: str = "") -> Table:
    table = Table(title=title or None)
    for col in _COLUMNS:
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


def summary_text(summaries: list[dict[str, Any]], title: str = "", width: int = 100) -> str:
    """`summary_table` as plain text (for a log file)."""
    out = io.StringIO()
    Console(file=out, width=width).print(summary_table(summaries, title=title))
    return out.getvalue().rstrip()
