"""Charts and tables as files (Vega-Lite JSON, PNG, SVG, CSV) via vl-convert; no Streamlit,
so the engine's `report` command and the app's download buttons make the same files.

The spec is made from the chart's own data and touches no global state. Altair turns a
DataFrame into spec data through `alt.data_transformers`, a process-wide registry that
Streamlit switches to its own Arrow transformer (which keeps the rows out of the spec) while
it draws a chart in another session's thread. Exporting through that registry made 8 of 9
downloads and every Report figure empty frames. So every DataFrame is replaced by inline
values here first, and the registry is never consulted for data nor changed.
"""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import vl_convert as vlc
from altair.utils.data import to_values

# Altair's default theme, written out: Streamlit turns the global theme off while it draws.
VIEW = {"continuousWidth": 300, "continuousHeight": 300}
EXPORT_WIDTH = 640  # a chart drawn at the page's width ("container") gets a fixed one


def _inline(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """A copy of `chart` whose every DataFrame (top level, layers, facets, concatenations)
    is inline values, so serialising it needs no data transformer."""
    chart = chart.copy(deep=True)
    stack = [chart]
    while stack:
        node = stack.pop()
        data = getattr(node, "data", alt.Undefined)
        if isinstance(data, pd.DataFrame):
            node.data = alt.InlineData(values=to_values(data)["values"])
        for attr in ("layer", "hconcat", "vconcat", "concat"):
            stack.extend(getattr(node, attr, None) or [])
        spec = getattr(node, "spec", alt.Undefined)
        if isinstance(spec, alt.SchemaBase):
            stack.append(spec)
    return chart


def spec_dict(chart: alt.TopLevelMixin) -> dict:
    """The chart as a self-contained Vega-Lite dict (data inline, however many rows)."""
    spec = _inline(chart).to_dict()
    if spec.get("width") == "container":
        spec["width"] = EXPORT_WIDTH
    view = spec.setdefault("config", {}).setdefault("view", {})
    for key, value in VIEW.items():
        view.setdefault(key, value)
    return spec


def spec_json(chart: alt.TopLevelMixin) -> str:
    return json.dumps(spec_dict(chart))


def to_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    return vlc.vegalite_to_png(spec_json(chart), scale=scale)


def to_svg(chart: alt.TopLevelMixin) -> str:
    return vlc.vegalite_to_svg(spec_json(chart))


def to_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False)
