"""One score per rep and window from the rule hits and the model, a tier, and the behaviours behind it.

How the evidence adds up (weights in `configs/cadet.yaml`, section `scoring`):

- **Rules**: each hit counts by its severity (high 0.85, medium 0.55, low 0.15
  by default).  Hits of one behaviour code are one piece of evidence (two
  missed-call rules see the same misses): the code counts by its strongest
  hit.  Different codes combine like independent evidence, `1 - prod(1 - w)`,
  so two behaviours weigh more than one, below 1.
- **One behaviour in one window is a watch item**: unless a second behaviour
  code backs it, or one of its hits is overwhelming (far beyond the peers,
  sustained, with ample evidence: see `overwhelming_z` in the rules), the
  rule score stops at `single_behaviour_cap`, below `investigate_at`.  Peer
  tails give the odd honest rep one unusual week by chance; the same
  behaviour again next window, a second behaviour, or the model's
  independent view is what makes a case.
- **Model**: only what chance does not explain counts.  The anomaly score is
  calibrated on a shuffled null centre (`models.anomaly`); a score `a` above
  `model_floor` (0.999: more unusual than all but one in a thousand null
  rep-windows) becomes `(a - floor) / (1 - floor)`, scaled by `model_weight`
  (0.5 by default): the model alone can put a rep on the watch list, not on
  the investigate list; with a rule hit it strengthens the case.
- **Patterns over time**: a rep whose previous window was also flagged (watch
  or investigate) gets `sustained_bonus` on top, `1 - (1 - s)(1 - bonus)`; one
  bad window stays one bad window, a medium hit two weeks running reaches
  investigate, the model alone never does.
- **Tier**: `investigate` from `investigate_at`, `watch` from `watch_at`, else
  `clear`.  Behaviours are the codes of medium and high rule hits; a rep on a
  list also carries, after those, the codes of its low (thin-evidence) hits, so
  the analyst sees every behaviour with evidence; a rep put on a list by the
  model alone carries the codes of its top contributing features that lie on
  the suspicious side of the peers (never a behaviour whose rules the source
  cannot feed).  A clear rep carries none.

Pure: DataFrames in, DataFrame out.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.catalog import DERIVED, FEATURES_BY_NAME, suspicious_side


class Tier(StrEnum):
    """Where a rep-window lands, most urgent first."""

    INVESTIGATE = "investigate"
    WATCH = "watch"
    CLEAR = "clear"


TIERS = tuple(Tier)

SCORE_COLUMNS = ["rep_id", "period_start", "period_end", "score", "tier", "behaviours", "anomaly_score", "rule_hits",
                 "rule_score", "model_score", "sustained", "top_features"]


class ScoringSettings(BaseModel):
    """How rule hits and the model's score combine into one score and a tier."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    severity_weights: dict[str, float] = Field(default_factory=lambda: {"high": 0.85, "medium": 0.55, "low": 0.15},
                                               description="weight of one rule hit by severity (0-1)")
    model_floor: float = Field(0.999, ge=0, lt=1, description=(
        "anomaly scores below this count for nothing: the share of a shuffled null centre's rep-windows a rep must be "
        "more unusual than (0.999: about one honest rep-window in a thousand by chance)"))
    model_weight: float = Field(0.5, ge=0, le=1, description="the most the model alone can contribute")
    sustained_bonus: float = Field(0.35, ge=0, le=1, description="extra weight when the previous window was flagged too")
    single_behaviour_cap: float = Field(0.6, gt=0, le=1, description=(
        "the most one behaviour code can score in one window without corroboration (a second code, "
        "an overwhelming hit, the model, or the previous window)"))
    watch_at: float = Field(0.35, gt=0, lt=1, description="score from which a rep is on the watch list")
    investigate_at: float = Field(0.7, gt=0, le=1, description="score from which a rep should be investigated")

    @model_validator(mode="after")
    def _ordered(self) -> ScoringSettings:
        if self.watch_at >= self.investigate_at:
            raise ValueError("watch_at must be below investigate_at")
        unknown = set(self.severity_weights) - {"low", "medium", "high"}
        if unknown or any(not 0 <= w <= 1 for w in self.severity_weights.values()):
            raise ValueError("severity_weights takes low, medium and high, each between 0 and 1")
        return self


def _code_of(feature: str) -> str | None:
    if feature in FEATURES_BY_NAME:
        return FEATURES_BY_NAME[feature].code
    return DERIVED[feature].code if feature in DERIVED else None


def model_behaviours(windows: pd.DataFrame, top_features: list[list[str]], blind: pd.DataFrame | None = None,
                     counts: np.ndarray | None = None) -> list[list[str]]:
    """The codes the model's top features point at: only features on the suspicious side of the peers
    (more missed calls, sooner escalations), never a behaviour the source cannot show in that window.

    Rows where `counts` is False (the model adds nothing there) get no codes without being looked at.
    """
    blind_pairs = set(zip(blind.period_start, blind.code)) if blind is not None and len(blind) else set()
    counts = np.ones(len(windows), dtype=bool) if counts is None else np.asarray(counts, dtype=bool)
    top_features = list(top_features)  # by position, as the rows
    named: list[list[str]] = [[] for _ in range(len(windows))]
    periods = windows.period_start.tolist()
    z_of = {column: windows[column].to_numpy() for column in windows.columns if str(column).startswith("z_")}
    for i in np.flatnonzero(counts):
        codes: list[str] = []
        for feature in top_features[i]:
            code = _code_of(feature)
            z = z_of[f"z_{feature}"][i] if f"z_{feature}" in z_of else np.nan
            if code and code not in codes and suspicious_side(feature, z) and (periods[i], code) not in blind_pairs:
                codes.append(code)
        named[i] = sorted(codes)
    return named


def combine(windows: pd.DataFrame, hits: pd.DataFrame, anomaly: np.ndarray, top_features: list[list[str]],
            settings: ScoringSettings, blind: pd.DataFrame | None = None) -> pd.DataFrame:
    """Scores per rep-window (`windows` rows, in order, with `anomaly` and `top_features` aligned to them).

    `blind` lists (period_start, code) pairs whose rules the source cannot feed in that window.
    """
    keys = ["rep_id", "period_start"]
    out = windows[["rep_id", "period_start", "period_end"]].reset_index(drop=True).copy()
    out["anomaly_score"] = np.asarray(anomaly, dtype="float64")
    out["top_features"] = [list(t) for t in top_features]
    model_counts = (out.anomaly_score > settings.model_floor).to_numpy()
    out["model_codes"] = model_behaviours(windows.reset_index(drop=True), top_features, blind, model_counts)
    if len(hits):
        weighted = hits.assign(_w=hits.severity.map(settings.severity_weights).fillna(0.0),
                               _over=hits["overwhelming"].fillna(False).astype(bool) if "overwhelming" in hits else False,
                               _strong=hits.severity.ne("low"))
        per_code = weighted.groupby([*keys, "code"], sort=False).agg(
            _w=("_w", "max"), _over=("_over", "any"), _strong=("_strong", "any")).reset_index()
        grouped = per_code.groupby(keys, sort=False)
        rule = (1 - grouped._w.apply(lambda w: float(np.prod(1 - w.to_numpy())))).rename("rule_score")
        corroborated = ((grouped._strong.sum() >= 2) | grouped._over.any()).rename("corroborated")
        ids = weighted.groupby(keys, sort=False).rule_id.agg(lambda r: sorted(set(r))).rename("rule_hits")
        strong = weighted._strong
        codes = weighted[strong].groupby(keys, sort=False).code.agg(lambda c: sorted(set(c))).rename("codes")
        thin = weighted[~strong].groupby(keys, sort=False).code.agg(lambda c: sorted(set(c))).rename("thin_codes")
        for part in (rule, corroborated, ids, codes, thin):
            out = out.merge(part.reset_index(), on=keys, how="left")
    else:
        out["rule_score"], out["rule_hits"], out["codes"], out["thin_codes"] = 0.0, None, None, None
        out["corroborated"] = False
    rule_score = out.rule_score.fillna(0.0)
    out["rule_score"] = rule_score.where(out.corroborated.fillna(False).astype(bool),
                                         rule_score.clip(upper=settings.single_behaviour_cap))
    out["rule_hits"] = [list(v) if isinstance(v, list) else [] for v in out.rule_hits]
    # no model (too few reps): the anomaly score is empty and the model adds nothing
    model = (np.clip((out.anomaly_score - settings.model_floor) / (1 - settings.model_floor), 0, 1) * settings.model_weight).fillna(0.0)
    # unusual, but in no direction that points at a behaviour (fewer short calls than peers): no evidence of avoidance
    no_direction = out.rule_score.eq(0) & out.model_codes.map(len).eq(0)
    out["model_score"] = model.where(~no_direction, 0.0)
    out = out.sort_values(["rep_id", "period_start"]).reset_index(drop=True)
    first = 1 - (1 - out.rule_score) * (1 - out.model_score)
    previous = first.groupby(out.rep_id).shift(1)
    out["sustained"] = (previous >= settings.watch_at).fillna(False).astype(bool) & (first >= settings.watch_at)
    out["score"] = np.where(out.sustained, 1 - (1 - first) * (1 - settings.sustained_bonus), first).clip(0, 1)
    out["tier"] = np.select([out.score >= settings.investigate_at, out.score >= settings.watch_at],
                            [Tier.INVESTIGATE.value, Tier.WATCH.value], default=Tier.CLEAR.value)
    behaviours = []
    for codes, thin, tier, model_codes in zip(out["codes"], out["thin_codes"], out.tier, out.model_codes):
        found = list(codes) if isinstance(codes, list) else []
        if tier != Tier.CLEAR and isinstance(thin, list):
            found += [c for c in thin if c not in found]
        if not found and tier != Tier.CLEAR:
            found = list(model_codes)
        behaviours.append(found)
    out["behaviours"] = behaviours
    return out[SCORE_COLUMNS].sort_values(["score", "rep_id"], ascending=[False, True]).reset_index(drop=True)
