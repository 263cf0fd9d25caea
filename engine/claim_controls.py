"""Claims beside the paper's C1–C3, built with `engine.claim_model` (stated per level
with intervals over seeds; tested overall on each seed's mean, in the report's Holm family):

- **C3-loss-matched**: C3's loss-matched control (METHOD.md): is level L's own trajectory
  flatter than Pr_L(min_(L−1)) *at the same training loss*? With **C3-descent** beside it
  (a supporting statistic): how much flatter min_L is than that loss-matched point, the part
  of C3's gap that comes with lower loss. At one k the two add up to C3's log-volume effect.
- **C4** (Fig. 4, reconstructed): level L−1's trajectory projected on m_L lies above level L's
  own in training loss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.claim_model import Claim, make_claim, paired

C3M_TEXT = (
    "At equal training loss, level L's own trajectory is flatter than Pr_L(min_(L−1)): the "
    "log-volume is larger at the point of level L's trajectory whose loss equals "
    "Pr_L(min_(L−1))'s (C3's loss-matched control)"
)
DESCENT_TEXT = (
    "min_L is flatter than the point of its own trajectory at Pr_L(min_(L−1))'s loss: the part "
    "of C3's log-volume gap that comes with lower loss"
)
C4_TEXT = (
    "Level L−1's trajectory projected on m_L lies above level L's own trajectory in training "
    "loss (Fig. 4)"
)
C4_AXIS = "log loss, level L−1 projected − level L"
C4_EFFECT = (
    "mean over the stored iterations of log(loss of level L−1's checkpoint projected on m_L) "
    "− log(loss of level L at the same iteration), at IMP levels L ≥ 1, leaving out the start "
    "(where both are Pr_L of the rewind point, the same weights)"
)


def _volumes(volume: pd.DataFrame, matched: pd.DataFrame, group: str) -> pd.DataFrame:
    """Per (seed, level, what): the log-volume at min_L, Pr_L(min_(L−1)) and the loss-matched
    point, kept only where all were computed with the loss-matched spectrum's k."""
    cols = ["seed", "level", "what", "log_volume"]
    if volume.empty or matched.empty:
        return pd.DataFrame(columns=cols)
    v = volume[(volume["group"] == group) & (volume["branch"] == "imp")]
    m = matched[(matched["group"] == group) & matched["matched"].astype(bool)]
    m = m.assign(point="loss_matched")[["seed", "level", "point", "k", "log_volume"]]
    both = pd.concat([v[["seed", "level", "point", "k", "log_volume"]], m], ignore_index=True)
    ks = m.set_index(["seed", "level"])["k"].rename("k_matched")
    both = both.join(ks, on=["seed", "level"])
    same = both[both["k"] == both["k_matched"]]
    return same.rename(columns={"point": "what"})[cols]


def claim_c3_matched(
    volume: pd.DataFrame, matched: pd.DataFrame, group: str, sparsity
) -> list[Claim]:
    frame = _volumes(volume, matched, group)
    control = paired(
        frame, "log_volume", "loss_matched", "projected_prev", ("matched", "projected"), 1
    )
    descent = paired(frame, "log_volume", "solution", "loss_matched", ("min_L", "matched"), 1)
    note = "C3's log-volume effect (same k) is this plus C3-descent."
    return [
        make_claim(
            "C3-loss-matched",
            group,
            C3M_TEXT,
            "log_volume, loss-matched point of level L − Pr_L(min_(L−1)), same k",
            control,
            sparsity,
            note=note,
        ),
        make_claim(
            "C3-descent",
            group,
            DESCENT_TEXT,
            "log_volume, min_L − loss-matched point of level L, same k",
            descent,
            sparsity,
            tested=False,
        ),
    ]


def c4_effects(trajectory: pd.DataFrame, group: str) -> pd.DataFrame:
    """Per (seed, level): the mean log losses of the two series over the iterations where they
    differ (all but the start) and their difference (`effect`)."""
    cols = ["seed", "level", "log_projected", "log_own", "effect"]
    if trajectory.empty:
        return pd.DataFrame(columns=cols)
    t = trajectory[trajectory["group"] == group]
    wide = t.pivot_table(
        index=["seed", "level", "epoch"], columns="series", values="train_loss"
    ).dropna()
    if wide.empty or not {"level L", "level L-1 projected"} <= set(wide.columns):
        return pd.DataFrame(columns=cols)
    wide = wide.reset_index()
    # the start, where both are Pr_L of the rewind point: the same weights, the same loss
    wide = wide[wide["level L-1 projected"] != wide["level L"]]
    logs = wide.assign(
        log_projected=np.log(wide["level L-1 projected"]), log_own=np.log(wide["level L"])
    )
    out = logs.groupby(["seed", "level"])[["log_projected", "log_own"]].mean().reset_index()
    out["level"] = out["level"].astype(int)
    return out.assign(effect=out["log_projected"] - out["log_own"])[cols]


def claim_c4(trajectory: pd.DataFrame, group: str, sparsity) -> Claim:
    table = c4_effects(trajectory, group)
    return make_claim("C4", group, C4_TEXT, C4_EFFECT, table, sparsity, axis=C4_AXIS)


def control_claims(data, group: str, sparsity) -> list[Claim]:
    """Every claim of this module for one group, from the report's gathered tables."""
    empty = pd.DataFrame()
    claims = claim_c3_matched(
        data.get("volume", empty), data.get("loss_matched", empty), group, sparsity
    )
    claims.append(claim_c4(data.get("trajectory", empty), group, sparsity))
    return claims
