"""Training steps: ``"160ep"`` or ``"500it"``, the one type for lengths, rewind points and
cadences in every spec."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_STEP_RE = re.compile(r"^\s*(\d+)\s*(ep|it)\s*$")
# Far beyond any recipe (the paper's longest is 160 epochs), far below what would overflow or
# queue a job that never ends: a typo's extra zeros are refused, not trained for a century.
STEP_MAX = {"ep": 100_000, "it": 100_000_000}


@dataclass(frozen=True, order=True)
class Step:
    """A point in (or length of) training: ``"160ep"`` epochs or ``"500it"`` iterations.

    One type for lengths, rewind points and cadences, so none of them is ever ambiguous.
    """

    value: int
    unit: Literal["ep", "it"]

    @classmethod
    def parse(cls, text: str | Step) -> Step:
        if isinstance(text, Step):
            return text
        m = _STEP_RE.match(str(text))
        if not m:
            sign = "is negative" if str(text).strip().startswith("-") else "is not a training step"
            raise ValueError(f"{text!r} {sign}; write e.g. '160ep' or '500it'")
        value, unit = int(m.group(1)), m.group(2)
        if value > STEP_MAX[unit]:
            raise ValueError(f"{text!r} is too long; at most {STEP_MAX[unit]}{unit}")
        return cls(value, unit)  # type: ignore[arg-type]

    def iterations(self, iterations_per_epoch: int) -> int:
        return self.value * iterations_per_epoch if self.unit == "ep" else self.value

    def __str__(self) -> str:
        return f"{self.value}{self.unit}"
