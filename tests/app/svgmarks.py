"""Count what an exported SVG draws, so a test can tell a figure from an empty frame.

vl-convert writes every drawn datum as an element with `role="graphics-symbol"` and an
`aria-roledescription` naming its mark ("line mark", "circle", "point", "rect", ...); axes,
legends and titles carry their own descriptions, which `data_marks` leaves out.
"""

from __future__ import annotations

import re
from collections import Counter

FRAME = {"axis", "legend", "title"}


def marks(svg: str) -> Counter:
    return Counter(re.findall(r'role="graphics-symbol" aria-roledescription="([^"]+)"', svg))


def data_marks(svg: str) -> int:
    """How many data marks (lines, points, bars, cells) the SVG draws."""
    return sum(n for kind, n in marks(svg).items() if kind not in FRAME)
