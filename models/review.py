"""Analysts' verdicts as data: which flags stop coming back, and what the next model is judged on.

Pure: verdict and score frames in, frames out.  The store lives in
`pipelines/review.py`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field


class Verdict(StrEnum):
    """What an analyst decided about a flag."""

    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    NEEDS_MORE_DATA = "needs-more-data"


VERDICTS = tuple(Verdict)
VERDICT_COLUMNS = ["rep_id", "period_start", "period_end", "verdict", "reason", "reviewer", "recorded_at", "note",
                   "behaviours", "rule_hits"]


class ReviewSettings(BaseModel):
    """How long a dismissal holds, and how much worse on confirmed flags a new model may be."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dismissal_days: int = Field(28, ge=0, description="a dismissal also covers the rep's windows starting this many days after it")
    max_confirmed_drop: float = Field(0.1, ge=0, le=1,
                                      description="how far below the champion's precision on confirmed flags a new model may fall")


class NoSuchWindow(LookupError):
    """The rep or the window a verdict names is not among the scores; the message says what there is."""


def window_under_review(scores: pd.DataFrame, rep_id: str, window_start: dt.date | None) -> pd.Series:
    """The scored window a verdict on `rep_id` is for: the one starting `window_start`, else the rep's highest-scored.

    A verdict becomes a training label, so it must name the window the analyst
    looked at; with none named, that is the one the report put first.
    """
    mine = scores[scores.rep_id == rep_id]
    if mine.empty:
        raise NoSuchWindow(f"{rep_id!r} is not in the scores; check the rep id in the report")
    if window_start is None:
        return mine.sort_values("score", ascending=False, kind="stable").iloc[0]
    chosen = mine[mine.period_start == window_start]
    if chosen.empty:
        raise NoSuchWindow(f"no window starting {window_start} for {rep_id}; windows: "
                           + ", ".join(str(d) for d in sorted(mine.period_start)))
    return chosen.iloc[0]


def latest_verdicts(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The verdict in force for each rep and window: the last one recorded (the store is append-only)."""
    if verdicts.empty:
        return verdicts
    return verdicts.sort_values("recorded_at").drop_duplicates(["rep_id", "period_start"], keep="last").reset_index(drop=True)


def apply_verdicts(scores: pd.DataFrame, verdicts: pd.DataFrame, settings: ReviewSettings) -> pd.DataFrame:
    """Scores with `verdict` (the window's own, if any) and dismissed flags taken off the lists.

    A flagged window is *previously dismissed* when an analyst dismissed the
    same rep in that window or one that started up to `dismissal_days` before
    it, and the window shows no behaviour the dismissal did not cover: the same
    evidence is not raised again, a new behaviour is.  A window's own
    `confirmed` or `needs-more-data` verdict always keeps it on its list.
    `flag_tier` keeps the tier the evidence gave, so verdicts recorded later
    can be applied again.
    """
    out = scores.copy()
    if "flag_tier" not in out:
        out["flag_tier"] = out["tier"]
    out["tier"] = out["flag_tier"]
    out["verdict"] = None
    out["previously_dismissed"] = False
    out["dismissed_reason"] = None
    current = latest_verdicts(verdicts)
    if current.empty:
        return out
    own = {(r.rep_id, r.period_start): r.verdict for r in current.itertuples()}
    out["verdict"] = [own.get((rep, start)) for rep, start in zip(out.rep_id, out.period_start)]
    dismissed = current[current.verdict == "dismissed"]
    by_rep = {rep: frame for rep, frame in dismissed.groupby("rep_id")}
    horizon = dt.timedelta(days=settings.dismissal_days)
    for i, row in out.iterrows():
        if row.flag_tier == "clear" or row.verdict in ("confirmed", "needs-more-data") or row.rep_id not in by_rep:
            continue
        for d in by_rep[row.rep_id].itertuples():
            covered = set(d.behaviours) if d.behaviours is not None else set()
            if d.period_start <= row.period_start <= d.period_start + horizon and set(row.behaviours) <= covered:
                out.at[i, "tier"] = "clear"
                out.at[i, "previously_dismissed"] = True
                out.at[i, "dismissed_reason"] = f"{d.reason} ({d.reviewer}, {d.recorded_at:%Y-%m-%d})"
                break
    return out


def confirmed_precision(windows: pd.DataFrame, anomaly: np.ndarray, verdicts: pd.DataFrame) -> tuple[float, int] | None:
    """Of the k rep-windows a model finds most unusual (k = confirmed flags among `windows`), the share confirmed.

    Unreviewed and dismissed rep-windows in the top k count against it; None
    when no confirmed flag falls in `windows`.
    """
    current = latest_verdicts(verdicts)
    if current.empty:
        return None
    confirmed = {(r.rep_id, r.period_start) for r in current.itertuples() if r.verdict == "confirmed"}
    keys = list(zip(windows.rep_id, windows.period_start))
    is_confirmed = np.array([key in confirmed for key in keys])
    k = int(is_confirmed.sum())
    if k == 0:
        return None
    top = np.argsort(-np.asarray(anomaly, dtype=float), kind="stable")[:k]
    return float(is_confirmed[top].mean()), k
