"""The reproduction report: every figure family of the paper from stored results, and each of
its claims (`engine.claims`) stated per level with a figure of its effect, the overall test and
a verdict, written as PNG, SVG, CSV and `report.md` (no Streamlit here, so the engine's
`report` command and the app's Report page write the same files).

Runs whose specs differ only in the seed are replicates of one experiment (a *group*): figures
show the mean over seeds as a line and the min–max over seeds as a band.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import altair as alt
import pandas as pd

from engine import atomic
from engine.analysis import tables
from engine.claim_model import RULES, Claim
from engine.claims import claims_frame, evaluate_claims
from engine.figures import palette
from engine.figures.chartkit import (
    axis_format,
    facet_levels,
    legend,
    level_name,
    points_named,
    series_color,
    sparsity_by_level,
    sparsity_color,
    typed,
    whole_axis,
    with_level_names,
    with_method,
)
from engine.figures.chartkit import title as chart_title
from engine.figures.chartkit import y as chart_y
from engine.figures.claim_charts import claim_figures, figure_name
from engine.figures.control_charts import control_figures, control_sections, controls
from engine.figures.export import to_csv, to_png, to_svg
from engine.replicates import aggregate, baseline_levels, gather, group_specs, replicate_groups
from engine.results import layers_table, metrics_table, summary_table
from engine.store import Store

BAND = "line: mean over seeds; band: min–max over seeds"
# the analyses' tables read (`engine.analysis.tables`), the controls among them
# (engine.figures.control_charts, engine.claim_controls): loss_matched, barrier, instability
ANALYSIS_TABLES = (
    "distances",
    "trajectory",
    "spectra",
    "volume",
    "loss_matched",
    "barrier",
    "instability",
    "batchnorm",
)
READERS = {  # every stored table the figures and the claims read, gathered once per report
    "metrics": metrics_table,
    "summary": summary_table,
    **{name: partial(tables.table, name) for name in ANALYSIS_TABLES},
    "layers": layers_table,
}


@dataclass
class Figure:
    name: str
    title: str
    files: dict[str, Path]  # "png", "svg", "csv" -> path


@dataclass
class Report:
    out_dir: Path
    groups: dict[str, list[str]]  # group label -> its run ids (replicates)
    figures: list[Figure]
    claims: list[Claim]
    markdown: Path
    sections: list[str] = field(default_factory=list)  # Markdown before the figures

    def claims_frame(self) -> pd.DataFrame:
        return claims_frame(self.claims)


# --- figures --------------------------------------------------------------------------------
def band_chart(
    df: pd.DataFrame,
    x: str,
    color: alt.Color,
    title: str,
    value: str,
    log: bool = False,
    facet: bool = False,
    x_title: str | None = None,
    detail: tuple[str, ...] = ("group:N",),
) -> alt.Chart:
    """Mean line with points and a min–max band from an `aggregate` table, coloured by the
    palette's series (`color`); several groups are told apart by dash, with a legend."""
    if log:
        df = df[df["low"] > 0]
    fmt = axis_format(x)
    enc_x = alt.X(f"{x}:Q", title=x_title or x, axis=whole_axis(fmt))
    y_of = partial(chart_y, log=log, name=chart_title(value), of=value)
    dash = (
        {"strokeDash": alt.StrokeDash("group:N", title="experiment", legend=legend())}
        if df["group"].nunique() > 1
        else {}
    )
    detail = alt.Detail(list(detail))
    tip = [typed(df, c) for c in df.columns if c not in ("sd",)]
    band = (
        alt.Chart()
        .mark_area(opacity=0.2)
        .encode(enc_x, y_of("low"), alt.Y2("high:Q"), color, detail)
    )
    line = alt.Chart().mark_line(strokeWidth=1.8).encode(enc_x, y_of("mean"), color, detail, **dash)
    points = alt.Chart().mark_circle(size=30).encode(enc_x, y_of("mean"), color, tooltip=tip)
    chart = alt.layer(band, line, points, data=df)
    if facet:
        return facet_levels(chart, df, title)
    return chart.properties(width=420, height=280, title=title)


def _figures(
    data: dict[str, pd.DataFrame], at: dict[str, int]
) -> dict[str, tuple[str, pd.DataFrame, alt.Chart]]:
    """name -> (title, the CSV table, chart) for every figure whose data is stored."""
    out: dict[str, tuple[str, pd.DataFrame, alt.Chart]] = {}
    metrics, summary = data["metrics"], data["summary"]
    sparsity = sparsity_by_level(summary)
    if len(metrics):
        imp = metrics[metrics["branch"] == "imp"]
        for y, log in (("train_loss", True), ("test_acc", False)):
            t = aggregate(imp, ["group", "level", "sparsity", "epoch"], y).assign(quantity=y)
            t = t.assign(level=t["level"].astype(int))
            title = f"Fig. 1: {chart_title(y)} per IMP-WR level ({BAND})"
            detail = ("group:N", "level:O")
            color = sparsity_color(t["sparsity"])
            chart = band_chart(t, "epoch", color, title, y, log, detail=detail)
            out[f"fig1-{y}"] = (title, t, chart)
        for y, log in (("test_acc", False), ("train_loss", True)):
            base = pd.concat(
                [
                    metrics[(metrics["group"] == g) & (metrics["level"] == lv)]
                    for g, lv in at.items()
                ]
            )
            t = aggregate(with_method(base), ["group", "method", "level", "epoch"], y).assign(
                quantity=y
            )
            levels = sorted(set(at.values()))
            where = ", ".join(level_name(lv, sparsity.get(lv)) for lv in levels)
            title = f"Fig. 2: {chart_title(y)} of IMP-WR and the baselines at {where}"
            chart = band_chart(t, "epoch", series_color(t, "method", "method"), title, y, log)
            out[f"fig2-{y}"] = (title, t, chart)
    if len(summary):
        t = aggregate(with_method(summary), ["group", "method", "level"], "test_acc")
        sp = aggregate(with_method(summary), ["group", "method", "level"], "sparsity")
        t = t.assign(sparsity=sp["mean"].to_numpy(), quantity="test_acc")
        title = "Fig. 1: final test accuracy against sparsity"
        color = series_color(t, "method", "method")
        chart = band_chart(t, "sparsity", color, title, "test_acc", x_title="sparsity")
        out["fig1-acc-vs-sparsity"] = (title, t, chart)
    distances = data["distances"]
    if len(distances):
        d = distances[(distances["norm"] == "prunable") & (~distances["normalised"].astype(bool))]
        d = d.assign(to=d["to"].map(palette.DISTANCE_NAMES))
        t = aggregate(d[d["branch"] == "imp"], ["group", "level", "to"], "distance")
        title = "Fig. 3: distance from start_L (prunable weights)"
        chart = band_chart(t, "level", series_color(t, "to", "distance"), title, "distance")
        out["fig3-distances"] = (title, t, chart)
    trajectory = data["trajectory"]
    if len(trajectory):
        tr = trajectory.assign(series=trajectory["series"].map(palette.TRAJECTORY_NAMES))
        t = aggregate(tr, ["group", "level", "epoch", "series"], "train_loss")
        t = with_level_names(t.assign(level=t["level"].astype(int)), sparsity)
        title = "Fig. 4: level L and level L−1 projected on m_L (training loss)"
        color = series_color(t, "series", "weights")
        chart = band_chart(t, "epoch", color, title, "train_loss", log=True, facet=True)
        out["fig4-trajectory"] = (title, t, chart)
    spectra = data["spectra"]
    if len(spectra):
        s = spectra[spectra["branch"] == "imp"]
        s = points_named(s)
        t = aggregate(s, ["group", "level", "weights", "rank"], "eigenvalue")
        t = with_level_names(t.assign(level=t["level"].astype(int)), sparsity)
        k = int(t["rank"].max())
        title = f"Fig. 5: top-{k} Hessian eigenvalues at min_L and Pr_L(min_(L−1))"
        positive = bool((t["low"] > 0).all())
        color = series_color(t, "weights", "weights")
        chart = band_chart(t, "rank", color, title, "eigenvalue", log=positive, facet=True)
        out["fig5-spectra"] = (title, t, chart)
    volume = data["volume"]
    if len(volume):
        t = aggregate(points_named(volume), ["group", "level", "weights"], "log_volume")
        k = int(volume["k"].max())
        title = f"Fig. 5: basin log-volume proxy −½ Σ log λ_i over the top-{k} (larger = flatter)"
        chart = band_chart(t, "level", series_color(t, "weights", "weights"), title, "log_volume")
        out["fig5-volume"] = (title, t, chart)
    layers = data.get("layers", pd.DataFrame())
    if len(layers):  # the Sparsity page's layer colours
        t = aggregate(layers[layers["branch"] == "imp"], ["group", "level", "layer"], "sparsity")
        scale = alt.Scale(scheme="dark2")
        color = alt.Color("layer:N", title="layer", scale=scale, legend=legend())
        title = f"Per-layer sparsity per IMP-WR level (where the ranking prunes; {BAND})"
        out["layer-sparsity"] = (title, t, band_chart(t, "level", color, title, "sparsity"))
    return out


# --- the report -----------------------------------------------------------------------------
def build_report(store: Store, run_ids: list[str], out_dir: str | Path) -> Report:
    """Write every figure (PNG, SVG, CSV), each claim's numbers (CSV) and `report.md`."""
    out = Path(out_dir)
    groups = replicate_groups(store, list(dict.fromkeys(run_ids)))
    data = {name: gather(store, groups, read) for name, read in READERS.items()}
    at = baseline_levels(store, groups)
    claims = evaluate_claims(data, group_specs(store, groups))
    figures, ctl = [], controls(data)
    drawn = {**_figures(data, at), **control_figures(ctl)}
    drawn |= claim_figures(claims, list(groups))
    for name, (title, table, chart) in drawn.items():
        files = {"csv": out / f"{name}.csv", "png": out / f"{name}.png", "svg": out / f"{name}.svg"}
        atomic.write_text(files["csv"], to_csv(table))
        atomic.write_bytes(files["png"], to_png(chart))
        atomic.write_text(files["svg"], to_svg(chart))
        figures.append(Figure(name, title, files))
    for i, c in enumerate(claims):
        if len(c.table):
            atomic.write_text(out / "claims" / f"{c.id}-{i}.csv", to_csv(c.table))
            atomic.write_text(out / "claims" / f"{c.id}-{i}-levels.csv", to_csv(c.levels))
    report = Report(out, groups, figures, claims, out / "report.md")
    report.sections = control_sections(ctl, list(groups))
    atomic.write_text(report.markdown, markdown(store, report))
    return report


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _g(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x:.3g}"


def _level_table(levels: pd.DataFrame) -> list[str]:
    """A claim's per-level effects as a Markdown table."""
    lines = [
        "| level | sparsity | seeds | mean | 95% t interval | sign interval (coverage) | reading |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in levels.itertuples():
        sp = "n/a" if pd.isna(r.sparsity) else f"{r.sparsity:.1%}"
        cover = "n/a" if pd.isna(r.sign_confidence) else f"{r.sign_confidence:.0%}"
        lines.append(
            f"| {r.level} | {sp} | {r.n} | {_g(r.mean)} | [{_g(r.t_low)}, {_g(r.t_high)}] | "
            f"[{_g(r.sign_low)}, {_g(r.sign_high)}] ({cover}) | {r.mark} |"
        )
    return lines


def _claim_section(c: Claim, figure: Figure | None, first: bool, out_dir: Path) -> list[str]:
    """One claim: its statement, effect, per-level table, overall test, note and verdict,
    with its figure (drawn under the first claim that shares it, linked from the others)."""
    lines = [f"### {c.id} ({c.group})", "", c.statement + ".", "", f"- Effect: {c.effect}"]
    lines += [f"- Per level: {c.where}", ""]
    lines += [*_level_table(c.levels), ""] if len(c.levels) else []
    lines += [f"- Overall: {c.overall}"]
    lines += [f"- {c.note}"] if c.note else []
    lines += [f"- Verdict: **{c.verdict}**", ""]
    if figure is not None:
        png = figure.files["png"].relative_to(out_dir)
        csv = figure.files["csv"].relative_to(out_dir)
        lines += [f"![{figure.name}]({png})", ""] if first else []
        lines += [f"Figure: [{figure.name}]({png}) · [CSV]({csv})", ""]
    return lines


def markdown(store: Store, report: Report) -> str:
    lines = ["# IMP Lab reproduction report", ""]
    for label, ids in report.groups.items():
        seeds = [store.load_spec(r).seed for r in ids]
        lines.append(
            f"- **{label}**: {len(ids)} run(s), seeds {', '.join(map(str, seeds))}: "
            + ", ".join(f"`{r}`" for r in ids)
        )
    lines += ["", f"Figures: {BAND}.", "", "## Claims", "", f"How claims are judged: {RULES}", ""]
    lines += ["| claim | group | verdict | per level | overall |", "|---|---|---|---|---|"]
    lines += [
        f"| {c.id} | {_cell(c.group)} | **{c.verdict}** | {_cell(c.where)} | {_cell(c.overall)} |"
        for c in report.claims
    ]
    lines.append("")
    by_name = {f.name: f for f in report.figures}
    index = {g: i for i, g in enumerate(report.groups)}
    drawn: set[str] = set()
    for c in report.claims:
        name = figure_name(c.figure, index[c.group])
        lines += _claim_section(c, by_name.get(name), name not in drawn, report.out_dir)
        drawn.add(name)
    lines += report.sections
    lines += ["## Figures", ""]
    for f in [f for f in report.figures if f.name not in drawn]:
        rel = {k: p.relative_to(report.out_dir) for k, p in f.files.items()}
        lines += [
            f"### {f.title}",
            "",
            f"![{f.name}]({rel['png']})",
            "",
            f"[PNG]({rel['png']}) · [SVG]({rel['svg']}) · [CSV]({rel['csv']})",
            "",
        ]
    return "\n".join(lines)
