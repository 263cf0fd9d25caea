"""The reproduction report: every figure family of the paper from stored results, and each of
its claims with the measured numbers, the criterion and a verdict (no Streamlit here, so the
engine's `report` command and the app's Report page write the same files).

Runs whose specs differ only in the seed are replicates of one experiment (a *group*): figures
show the mean over seeds as a line and the min–max over seeds as a band, and claims are tested
across seeds. Verdicts follow fixed criteria stated next to them (`ALPHA`, the tests named in
each claim); nothing is tuned toward an outcome, and missing data makes a claim inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
from scipy import stats

from app.charts import METHOD_LABELS, POINT_LABELS
from app.export import to_csv, to_png, to_svg
from engine import atomic
from engine.analysis import tables
from engine.config import content_hash
from engine.results import metrics_table, summary_table
from engine.store import Store

ALPHA = 0.05  # significance level of every test below
HOLDS, FAILS, UNSURE = "holds", "does not hold", "inconclusive"
NO_DATA = "inconclusive (no data)"
BAND = "line: mean over seeds; band: min–max over seeds"
AGG = ["n", "mean", "sd", "low", "high"]


@dataclass
class Figure:
    name: str
    title: str
    files: dict[str, Path]  # "png", "svg", "csv" -> path


@dataclass
class Claim:
    id: str
    statement: str
    group: str
    numbers: str
    criterion: str
    verdict: str
    table: pd.DataFrame = field(default_factory=pd.DataFrame)  # the numbers, per seed / level


@dataclass
class Report:
    out_dir: Path
    groups: dict[str, list[str]]  # group label -> its run ids (replicates)
    figures: list[Figure]
    claims: list[Claim]
    markdown: Path

    def claims_frame(self) -> pd.DataFrame:
        cols = ["id", "group", "statement", "numbers", "criterion", "verdict"]
        return pd.DataFrame([{c: getattr(cl, c) for c in cols} for cl in self.claims], columns=cols)


# --- replicates and aggregation -------------------------------------------------------------
def replicate_groups(store: Store, run_ids: list[str]) -> dict[str, list[str]]:
    """Runs grouped by their spec without the seed (baselines included), in the order given."""
    out: dict[str, list[str]] = {}
    for run_id in run_ids:
        spec = store.load_spec(run_id)
        key = content_hash(spec.replace(seed=0).identity() | {"b": spec.baselines.to_dict()})
        label = f"{spec.model.name} · {spec.data.name} · {key[:6]}"
        out.setdefault(label, []).append(run_id)
    return out


def aggregate(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Per `by` cell: seeds counted, mean, sample sd (NaN with one seed), min and max."""
    cols = [*by, *AGG]
    d = df.dropna(subset=[value])
    if d.empty:
        return pd.DataFrame(columns=cols)
    g = d.groupby(by, sort=True)[value]
    out = pd.DataFrame(
        {"n": g.count(), "mean": g.mean(), "sd": g.std(ddof=1), "low": g.min(), "high": g.max()}
    )
    return out.reset_index()[cols]


# --- verdicts -------------------------------------------------------------------------------
def paired_stats(diffs: np.ndarray) -> dict[str, float]:
    """Paired differences (positive = the claim's direction) over seeds: one-sided one-sample
    t test of mean > 0 (= paired t test) and sign test of more positives than negatives."""
    d = np.asarray(diffs, dtype=float)
    n, mean = len(d), float(d.mean()) if len(d) else math.nan
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    if n < 2:
        t_p = math.nan
    elif sd == 0:
        t_p = 0.0 if mean > 0 else 1.0  # identical differences: no spread to test against
    else:
        t_p = float(stats.ttest_1samp(d, 0.0, alternative="greater").pvalue)
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    sign_p = (
        float(stats.binomtest(wins, wins + losses, 0.5, "greater").pvalue)
        if wins + losses
        else math.nan
    )
    return {
        "n": n,
        "mean": mean,
        "sd": sd,
        "t_p": t_p,
        "wins": wins,
        "losses": losses,
        "sign_p": sign_p,
    }


def paired_verdict(rows: list[dict[str, float]]) -> str:
    """`rows`: `paired_stats` of IMP against each baseline. Holds when IMP is better on the mean
    against every baseline and each one-sided paired t test has p < ALPHA (an intersection-union
    test, so no multiplicity correction is needed); does not hold when some baseline is better
    on the mean by more than the seed-to-seed sd of the differences (needs >= 2 seeds)."""
    if not rows:
        return NO_DATA
    if any(r["n"] >= 2 and r["mean"] < 0 and -r["mean"] > r["sd"] for r in rows):
        return FAILS
    if all(r["mean"] > 0 and r["t_p"] < ALPHA for r in rows):
        return HOLDS
    return UNSURE


def count_verdict(agree: int, disagree: int) -> tuple[str, float, float]:
    """Sign test over paired observations (ties dropped): holds when more agree than chance
    allows (one-sided binomial p < ALPHA), does not hold when more disagree."""
    n = agree + disagree
    if n == 0:
        return NO_DATA, math.nan, math.nan
    p_for = float(stats.binomtest(agree, n, 0.5, "greater").pvalue)
    p_against = float(stats.binomtest(disagree, n, 0.5, "greater").pvalue)
    verdict = HOLDS if p_for < ALPHA else FAILS if p_against < ALPHA else UNSURE
    return verdict, p_for, p_against


# --- gathering stored tables ----------------------------------------------------------------
def _gather(
    store: Store, groups: dict[str, list[str]], read: Callable[[Store, str], pd.DataFrame]
) -> pd.DataFrame:
    frames = []
    for label, run_ids in groups.items():
        for run_id in run_ids:
            df = read(store, run_id)
            if len(df):
                frames.append(df.assign(group=label, seed=store.load_spec(run_id).seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _baseline_levels(store: Store, groups: dict[str, list[str]]) -> dict[str, int]:
    return {g: store.load_spec(ids[0]).baseline_level for g, ids in groups.items()}


# --- claims ---------------------------------------------------------------------------------
C1_TEXT = (
    "IMP-WR's solutions keep training loss and test accuracy better than the one-shot, FT, "
    "RIPN and random-pruning (RPN_1, RPN_2) comparisons at the same sparsity"
)
C2_TEXT = "Level L's start is closer to its own solution min_L than to Pr_L(min_(L−1)) (Fig. 3)"
C3_TEXT = {
    "lambda_max": "The largest Hessian eigenvalue is smaller at min_L than at Pr_L(min_(L−1)) "
    "(Fig. 5)",
    "mean_top_k": "The mean of the top-k Hessian eigenvalues is smaller at min_L than at "
    "Pr_L(min_(L−1)) (Fig. 5)",
    "log_volume": "The basin log-volume proxy is larger at min_L than at Pr_L(min_(L−1)) "
    "(flatter, larger basin)",
}
SIGN_CRITERION = (
    "one observation per (seed, IMP level ≥ 1) with both points; ties dropped; one-sided sign "
    f"(binomial) test, p < {ALPHA}: holds; the opposite one-sided test p < {ALPHA}: does not "
    "hold; otherwise inconclusive. Levels of one seed are not independent, so p is optimistic."
)


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def claim_c1(summary: pd.DataFrame, at: dict[str, int]) -> list[Claim]:
    """C1 at each group's baseline level, for test accuracy and for training loss."""
    out = []
    metrics = {"test_acc": ("test accuracy", 1), "train_loss": ("training loss", -1)}
    criterion = (
        "paired over seeds at the baseline level, difference oriented so > 0 favours IMP-WR; "
        f"holds: mean > 0 against every baseline and each one-sided paired t test p < {ALPHA}; "
        "does not hold: some baseline better on the mean by more than the sd of the paired "
        "differences over seeds; otherwise inconclusive (a sign test is shown beside; with 3 "
        "seeds its smallest p is 0.125)"
    )
    for group, level in at.items():
        s = (
            summary[(summary["group"] == group) & (summary["level"] == level)]
            if len(summary)
            else summary
        )
        for metric, (name, sign) in metrics.items():
            rows, detail = [], []
            if len(s) and "imp" in set(s["branch"]):
                wide = s.pivot_table(index="seed", columns="branch", values=metric)
                for b in [b for b in METHOD_LABELS if b != "imp" and b in wide.columns]:
                    pair = wide[["imp", b]].dropna()
                    if pair.empty:
                        continue
                    d = sign * (pair["imp"] - pair[b]).to_numpy()
                    r = paired_stats(d) | {"baseline": b}
                    rows.append(r)
                    detail += [
                        {
                            "seed": seed,
                            "baseline": b,
                            f"imp_{metric}": i,
                            f"baseline_{metric}": v,
                            "difference_favouring_imp": dd,
                        }
                        for seed, i, v, dd in zip(pair.index, pair["imp"], pair[b], d, strict=True)
                    ]
            numbers = "; ".join(
                f"{METHOD_LABELS[r['baseline']]}: {r['mean']:+.4g} ± {_fmt(r['sd'])} over "
                f"{r['n']} seed(s), IMP better in {r['wins']}/{r['n']}, t p={_fmt(r['t_p'])}, "
                f"sign p={_fmt(r['sign_p'])}"
                for r in rows
            )
            out.append(
                Claim(
                    f"C1-{metric}",
                    f"{C1_TEXT} — {name} at level {level}",
                    group,
                    numbers or "no IMP-WR and baseline pair at this level",
                    criterion,
                    paired_verdict(rows),
                    pd.DataFrame(detail),
                )
            )
    return out


def _sign_claim(cid: str, text: str, group: str, detail: pd.DataFrame, what: str) -> Claim:
    agree = int(detail["agrees"].sum()) if len(detail) else 0
    ties = int(detail["tie"].sum()) if len(detail) else 0
    disagree = len(detail) - agree - ties
    verdict, p_for, p_against = count_verdict(agree, disagree)
    numbers = (
        f"{agree} of {agree + disagree} (seed, level) pairs agree ({ties} ties) over "
        f"{detail['seed'].nunique() if len(detail) else 0} seed(s); {what}; sign test "
        f"p={_fmt(p_for)} (opposite p={_fmt(p_against)})"
    )
    return Claim(cid, text, group, numbers, SIGN_CRITERION, verdict, detail)


def _mark(detail: pd.DataFrame, a: str, b: str, smaller: bool) -> pd.DataFrame:
    """`agrees`: a < b (or a > b); `tie`: a == b."""
    agrees = detail[a] < detail[b] if smaller else detail[a] > detail[b]
    return detail.assign(agrees=agrees, tie=detail[a] == detail[b])


def claim_c2(distances: pd.DataFrame, groups: list[str]) -> list[Claim]:
    out = []
    for group in groups:
        d = distances
        if len(d):
            d = d[
                (d["group"] == group)
                & (d["branch"] == "imp")
                & (d["norm"] == "prunable")
                & (~d["normalised"].astype(bool))
            ]
        detail = pd.DataFrame()
        if len(d):
            wide = d.pivot_table(index=["seed", "level"], columns="to", values="distance")
            if {"solution", "projected_prev"} <= set(wide.columns):
                wide = (
                    wide.dropna()
                    .reset_index()
                    .rename(columns={"solution": "to_min_L", "projected_prev": "to_projected_prev"})
                )
                detail = _mark(wide, "to_min_L", "to_projected_prev", smaller=True)
        what = "‖start_L − min_L‖ < ‖start_L − Pr_L(min_(L−1))‖ over prunable weights"
        if len(detail):
            ratio = (detail["to_min_L"] / detail["to_projected_prev"]).mean()
            what += f", mean ratio {ratio:.3g}"
        out.append(_sign_claim("C2", C2_TEXT, group, detail, what))
    return out


def claim_c3(spectra: pd.DataFrame, volume: pd.DataFrame, groups: list[str]) -> list[Claim]:
    out = []
    for group in groups:
        per_point = _spectrum_summary(spectra, volume, group)
        for key, text in C3_TEXT.items():
            detail = pd.DataFrame()
            if len(per_point):
                wide = per_point.pivot_table(index=["seed", "level"], columns="point", values=key)
                if {"solution", "projected_prev"} <= set(wide.columns):
                    wide = wide.dropna().reset_index()
                    wide = wide.rename(
                        columns={"solution": f"{key}_min_L", "projected_prev": f"{key}_projected"}
                    )
                    smaller = key != "log_volume"
                    detail = _mark(wide, f"{key}_min_L", f"{key}_projected", smaller)
            rel = "smaller" if key != "log_volume" else "larger"
            out.append(_sign_claim(f"C3-{key}", text, group, detail, f"{key} at min_L {rel}"))
    return out


def _spectrum_summary(spectra: pd.DataFrame, volume: pd.DataFrame, group: str) -> pd.DataFrame:
    """Per (seed, level, point) of IMP: λ_max, the mean of the top-m eigenvalues (m = the
    fewest stored at either point of that level, so both means cover the same ranks) and the
    log-volume."""
    if spectra.empty:
        return pd.DataFrame()
    s = spectra[(spectra["group"] == group) & (spectra["branch"] == "imp")]
    if s.empty:
        return pd.DataFrame()
    keys = ["seed", "level", "point"]
    m = s.groupby(keys)["rank"].max().groupby(["seed", "level"]).min().rename("m")
    s = s.merge(m.reset_index(), on=["seed", "level"])
    top = s[s["rank"] <= s["m"]].groupby(keys)["eigenvalue"]
    out = pd.DataFrame({"lambda_max": top.max(), "mean_top_k": top.mean(), "k": top.count()})
    out = out.reset_index()
    if len(volume):
        v = volume[(volume["group"] == group) & (volume["branch"] == "imp")]
        out = out.merge(v[[*keys, "log_volume"]], on=keys, how="left")
    else:
        out["log_volume"] = math.nan
    return out


# --- figures --------------------------------------------------------------------------------
def _method(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(method=df["branch"].map(lambda b: METHOD_LABELS.get(b, b)))


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
    store: Store, groups: dict[str, list[str]]
) -> dict[str, tuple[str, pd.DataFrame, alt.Chart]]:
    """name -> (title, the CSV table, chart) for every figure whose data is stored."""
    out: dict[str, tuple[str, pd.DataFrame, alt.Chart]] = {}
    at = _baseline_levels(store, groups)
    metrics = _gather(store, groups, metrics_table)
    summary = _gather(store, groups, summary_table)
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
            t = aggregate(_method(base), ["group", "method", "level", "epoch"], y).assign(
                quantity=y
            )
            title = (
                f"Fig. 2: {y.replace('_', ' ')} of IMP-WR and the baselines at the baseline level"
            )
            out[f"fig2-{y}"] = (title, t, band_chart(t, "epoch", "method:N", title, y, log))
    if len(summary):
        t = aggregate(_method(summary), ["group", "method", "level"], "test_acc")
        sp = aggregate(_method(summary), ["group", "method", "level"], "sparsity")
        t = t.assign(sparsity=sp["mean"].to_numpy(), quantity="test_acc")
        title = "Fig. 1: final test accuracy against sparsity"
        chart = band_chart(t, "sparsity", "method:N", title, "test_acc", x_title="sparsity")
        out["fig1-acc-vs-sparsity"] = (title, t, chart)
    distances = _gather(store, groups, tables.distances_table)
    if len(distances):
        d = distances[(distances["norm"] == "prunable") & (~distances["normalised"].astype(bool))]
        d = d.assign(
            to=d["to"].map(
                {"solution": "‖start_L − min_L‖", "projected_prev": "‖start_L − Pr_L(min_(L−1))‖"}
            )
        )
        t = aggregate(d[d["branch"] == "imp"], ["group", "level", "to"], "distance")
        title = "Fig. 3: distance from start_L (prunable weights)"
        out["fig3-distances"] = (title, t, band_chart(t, "level", "to:N", title, "distance"))
    trajectory = _gather(store, groups, tables.trajectory_table)
    if len(trajectory):
        t = aggregate(trajectory, ["group", "level", "epoch", "series"], "train_loss")
        title = "Fig. 4: level L and level L−1 projected on m_L (training loss)"
        chart = band_chart(t, "epoch", "series:N", title, "train_loss", log=True, facet="level")
        out["fig4-trajectory"] = (title, t, chart)
    spectra = _gather(store, groups, tables.spectra_table)
    if len(spectra):
        s = spectra[spectra["branch"] == "imp"]
        s = s.assign(weights=s["point"].map(lambda p: POINT_LABELS.get(p, p)))
        t = aggregate(s, ["group", "level", "weights", "rank"], "eigenvalue")
        title = "Fig. 5: top Hessian eigenvalues at min_L and Pr_L(min_(L−1))"
        positive = bool((t["low"] > 0).all())
        chart = band_chart(t, "rank", "weights:N", title, "eigenvalue", log=positive, facet="level")
        out["fig5-spectra"] = (title, t, chart)
    volume = _gather(store, groups, tables.volume_table)
    if len(volume):
        v = _method(volume)
        v = v.assign(weights=v["method"] + " " + v["point"].map(lambda p: POINT_LABELS.get(p, p)))
        t = aggregate(v, ["group", "level", "weights"], "log_volume")
        title = "Fig. 5: basin log-volume proxy −½ Σ log λ_i (larger = flatter)"
        out["fig5-volume"] = (title, t, band_chart(t, "level", "weights:N", title, "log_volume"))
    return out


# --- the report -----------------------------------------------------------------------------
def evaluate_claims(store: Store, groups: dict[str, list[str]]) -> list[Claim]:
    at = _baseline_levels(store, groups)
    summary = _gather(store, groups, summary_table)
    distances = _gather(store, groups, tables.distances_table)
    spectra = _gather(store, groups, tables.spectra_table)
    volume = _gather(store, groups, tables.volume_table)
    names = list(groups)
    return [*claim_c1(summary, at), *claim_c2(distances, names), *claim_c3(spectra, volume, names)]


def build_report(store: Store, run_ids: list[str], out_dir: str | Path) -> Report:
    """Write every figure (PNG, SVG, CSV), each claim's numbers (CSV) and `report.md`."""
    out = Path(out_dir)
    groups = replicate_groups(store, list(dict.fromkeys(run_ids)))
    figures = []
    for name, (title, table, chart) in _figures(store, groups).items():
        files = {"csv": out / f"{name}.csv", "png": out / f"{name}.png", "svg": out / f"{name}.svg"}
        atomic.write_text(files["csv"], to_csv(table))
        atomic.write_bytes(files["png"], to_png(chart))
        atomic.write_text(files["svg"], to_svg(chart))
        figures.append(Figure(name, title, files))
    claims = evaluate_claims(store, groups)
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
