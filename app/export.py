"""Charts and tables as files (Vega-Lite JSON, PNG, SVG, CSV) via vl-convert; no Streamlit,
so the engine's `report` command and the app's download buttons make the same files."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import vl_convert as vlc


def spec_json(chart: alt.TopLevelMixin) -> str:
    """The chart as self-contained Vega-Lite JSON (data inline, however many rows)."""
    with alt.data_transformers.disable_max_rows():
        spec = chart.to_dict()
    if spec.get("width") == "container":
        spec["width"] = 640
    return json.dumps(spec)


def to_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    return vlc.vegalite_to_png(spec_json(chart), scale=scale)


def to_svg(chart: alt.TopLevelMixin) -> str:
    return vlc.vegalite_to_svg(spec_json(chart))


def to_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False)
