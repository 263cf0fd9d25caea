"""Show a chart with CSV, PNG and SVG downloads of exactly what it plots.

The files are made only when a button is clicked (Streamlit calls the function then), so a
page with many charts renders no images it is not asked for.
"""

from __future__ import annotations

import re

import altair as alt
import pandas as pd
import streamlit as st

from engine.figures.export import spec_json, to_csv, to_png, to_svg  # noqa: F401 (also used by pages)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "chart"


def show(
    chart: alt.TopLevelMixin, table: pd.DataFrame, name: str, width: int | str = "stretch"
) -> None:
    """Draw `chart` (full width, or `width` pixels, e.g. for a square surface), then its three
    download buttons in a row."""
    st.altair_chart(chart, width=width, theme=None)  # as the PNG/SVG will look
    slug = _slug(name)
    row = st.container(horizontal=True, gap="small")
    formats = (
        ("CSV", lambda: to_csv(table), "csv", "text/csv", ":material/download:"),
        ("PNG", lambda: to_png(chart), "png", "image/png", ":material/image:"),
        ("SVG", lambda: to_svg(chart), "svg", "image/svg+xml", ":material/image:"),
    )
    for label, make, ext, mime, icon in formats:
        row.download_button(
            label,
            make,
            f"{slug}.{ext}",
            mime,
            key=f"dl-{ext}-{slug}",
            on_click="ignore",
            icon=icon,
        )
