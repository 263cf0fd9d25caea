"""The reproduction report: every figure family of the paper from stored results, and each of
its claims (`engine.claims`) with the measured numbers, the criterion and a verdict, written as
PNG, SVG, CSV and `report.md` (no Streamlit here, so the engine's `report` command and the
app's Report page write the same files).

Runs whose specs differ only in the seed are replicates of one experiment (a *group*): figures
show the mean over seeds as a line and the min–max over seeds as a band.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import altair as alt
import pandas as pd

from app.charts import DISTANCE_LABELS, POINT_LABELS, with_method
from app.export import to_csv, to_png, to_svg
from engine import atomic
from engine.analysis import tables
from engine.claims import (
    ALPHA,
    Claim,
    aggregate,
    baseline_levels,
    claims_frame,
    evaluate_claims,
    gather,
    replicate_groups,
)
from engine.results import metrics_table, summary_table
from engine.store import Store

BAND = "line: mean over seeds; band: min–max over seeds"
READERS = {  # every stored table the figures and the claims read, gathered once per report
    "metrics": metrics_table,
    "summary": summary_table,
    "distances": tables.distances_table,
    "trajectory": tables.trajectory_table,
    "spectra": tables.spectra_table,
    "volume": tables.volume_table,
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

    def claims_frame(self) -> pd.DataFrame:
        return claims_frame(self.claims)


# --- figures --------------------------------------------------------------------------------
def band_chart(
    df: pd.DataFrame,
    x: str,
    color: str,
    title: str,
    y_title: str,
    log: bool = False,
    facet: str | None = None,
    x_title: str | None = None,
) -> alt.Chart:
    """Mean line with points and a min–max band from an `aggregate` table; several groups
    are told apart by dash."""
    scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    if log:
        df = df[df["low"] > 0]
    enc_x = alt.X(f"{x}:Q", title=x_title or x)
    enc_c = alt.Color(color, title=color.split(":")[0])
    dash = {"strokeDash": alt.StrokeDash("group:N")} if df["group"].nunique() > 1 else {}
    detail = alt.Detail("group:N")
    tip = [c for c in df.columns if c not in ("sd",)]
    band = (
        alt.Chart()
        .mark_area(opacity=0.2)
        .encode(enc_x, alt.Y("low:Q", title=y_title, scale=scale), alt.Y2("high:Q"), enc_c, detail)
    )
    line = (
        alt.Chart()
        .mark_line(strokeWidth=1.5)
        .encode(enc_x, alt.Y("mean:Q", title=y_title, scale=scale), enc_c, detail, **dash)
    )
    points = (
        alt.Chart()
        .mark_circle(size=30)
        .encode(enc_x, alt.Y("mean:Q", scale=scale), enc_c, tooltip=tip)
    )
    chart = alt.layer(band, line, points, data=df)
    if facet:
        return chart.properties(width=220, height=160).facet(
            facet=alt.Facet(f"{facet}:O", title=facet), columns=4, title=title
        )
    return chart.properties(width=420, height=280, title=title)


def _figures(
    data: dict[str, pd.DataFrame], at: dict[str, int]
) -> dict[str, tuple[str, pd.DataFrame, alt.Chart]]:
    """name -> (title, the CSV table, chart) for every figure whose data is stored."""
    out: dict[str, tuple[str, pd.DataFrame, alt.Chart]] = {}
    metrics, summary = data["metrics"], data["summary"]
    if len(metrics):
        imp = metrics[metrics["branch"] == "imp"]
        for y, log in (("train_loss", True), ("test_acc", False)):
            t = aggregate(imp, ["group", "level", "epoch"], y).assign(quantity=y)
            title = f"Fig. 1: {y.replace('_', ' ')} per IMP-WR level ({BAND})"
            out[f"fig1-{y}"] = (title, t, band_chart(t, "epoch", "level:O", title, y, log))
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
            title = (
                f"Fig. 2: {y.replace('_', ' ')} of IMP-WR and the baselines at the baseline level"
            )
            out[f"fig2-{y}"] = (title, t, band_chart(t, "epoch", "method:N", title, y, log))
    if len(summary):
        t = aggregate(with_method(summary), ["group", "method", "level"], "test_acc")
        sp = aggregate(with_method(summary), ["group", "method", "level"], "sparsity")
        t = t.assign(sparsity=sp["mean"].to_numpy(), quantity="test_acc")
        title = "Fig. 1: final test accuracy against sparsity"
        chart = band_chart(t, "sparsity", "method:N", title, "test_acc", x_title="sparsity")
        out["fig1-acc-vs-sparsity"] = (title, t, chart)
    distances = data["distances"]
    if len(distances):
        d = distances[(distances["norm"] == "prunable") & (~distances["normalised"].astype(bool))]
        d = d.assign(to=d["to"].map(DISTANCE_LABELS))
        t = aggregate(d[d["branch"] == "imp"], ["group", "level", "to"], "distance")
        title = "Fig. 3: distance from start_L (prunable weights)"
        out["fig3-distances"] = (title, t, band_chart(t, "level", "to:N", title, "distance"))
    trajectory = data["trajectory"]
    if len(trajectory):
        t = aggregate(trajectory, ["group", "level", "epoch", "series"], "train_loss")
        title = "Fig. 4: level L and level L−1 projected on m_L (training loss)"
        chart = band_chart(t, "epoch", "series:N", title, "train_loss", log=True, facet="level")
        out["fig4-trajectory"] = (title, t, chart)
    spectra = data["spectra"]
    if len(spectra):
        s = spectra[spectra["branch"] == "imp"]
        s = s.assign(weights=s["point"].map(lambda p: POINT_LABELS.get(p, p)))
        t = aggregate(s, ["group", "level", "weights", "rank"], "eigenvalue")
        title = "Fig. 5: top Hessian eigenvalues at min_L and Pr_L(min_(L−1))"
        positive = bool((t["low"] > 0).all())
        chart = band_chart(t, "rank", "weights:N", title, "eigenvalue", log=positive, facet="level")
        out["fig5-spectra"] = (title, t, chart)
    volume = data["volume"]
    if len(volume):
        v = with_method(volume)
        v = v.assign(weights=v["method"] + " " + v["point"].map(lambda p: POINT_LABELS.get(p, p)))
        t = aggregate(v, ["group", "level", "weights"], "log_volume")
        title = "Fig. 5: basin log-volume proxy −½ Σ log λ_i (larger = flatter)"
        out["fig5-volume"] = (title, t, band_chart(t, "level", "weights:N", title, "log_volume"))
    return out


# --- the report -----------------------------------------------------------------------------
def build_report(store: Store, run_ids: list[str], out_dir: str | Path) -> Report:
    """Write every figure (PNG, SVG, CSV), each claim's numbers (CSV) and `report.md`."""
    out = Path(out_dir)
    groups = replicate_groups(store, list(dict.fromkeys(run_ids)))
    data = {name: gather(store, groups, read) for name, read in READERS.items()}
    at = baseline_levels(store, groups)
    figures = []
    for name, (title, table, chart) in _figures(data, at).items():
        files = {"csv": out / f"{name}.csv", "png": out / f"{name}.png", "svg": out / f"{name}.svg"}
        atomic.write_text(files["csv"], to_csv(table))
        atomic.write_bytes(files["png"], to_png(chart))
        atomic.write_text(files["svg"], to_svg(chart))
        figures.append(Figure(name, title, files))
    claims = evaluate_claims(data, at)
    for i, c in enumerate(claims):
        if len(c.table):
            atomic.write_text(out / "claims" / f"{c.id}-{i}.csv", to_csv(c.table))
    report = Report(out, groups, figures, claims, out / "report.md")
    atomic.write_text(report.markdown, markdown(store, report))
    return report


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(store: Store, report: Report) -> str:
    lines = ["# IMP Lab reproduction report", ""]
    for label, ids in report.groups.items():
        seeds = [store.load_spec(r).seed for r in ids]
        lines.append(
            f"- **{label}**: {len(ids)} run(s), seeds {', '.join(map(str, seeds))}: "
            + ", ".join(f"`{r}`" for r in ids)
        )
    lines += ["", f"Figures: {BAND}. Tests at α = {ALPHA} (scipy.stats).", "", "## Claims", ""]
    lines += ["| claim | group | verdict | numbers |", "|---|---|---|---|"]
    lines += [
        f"| {c.id} | {_cell(c.group)} | **{c.verdict}** | {_cell(c.numbers)} |"
        for c in report.claims
    ]
    lines.append("")
    for c in report.claims:
        lines += [
            f"### {c.id} ({c.group})",
            "",
            c.statement + ".",
            "",
            f"- Measured: {c.numbers}",
            f"- Criterion: {c.criterion}",
            f"- Verdict: **{c.verdict}**",
            "",
        ]
    lines += ["## Figures", ""]
    for f in report.figures:
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
