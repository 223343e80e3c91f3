"""What each section of the report shows, as plain values: one pure function per section, over `ReportData`.

The template (`templates/report.html.j2`) only lays these out, and autoescape
escapes every text in them, so a rep id or an evidence sentence from the logs
is never markup.  Tests build these views by hand and render them in
milliseconds.
"""

from __future__ import annotations

import datetime as dt
import shlex
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalog import DERIVED, FEATURES_BY_NAME
from models.combine import TIERS
from pipelines.config import CadetConfig
from pipelines.report.data import CSV_FILE, ReportData
from pipelines.report.plots import DayTimeline, PeerStrip, day_timeline, formatted, peer_strip


@dataclass(frozen=True)
class Card:
    value: int
    label: str
    tier: str | None = None


@dataclass(frozen=True)
class SummaryView:
    cards: tuple[Card, ...]
    first_day: dt.date
    last_day: dt.date
    model: str
    run_id: str
    per_behaviour: tuple[tuple[str, int, int], ...]  # behaviour code, reps to investigate, reps to watch
    sources: tuple[tuple[str, int, int, int], ...]  # source, files, rows landed, rows quarantined
    not_observable: tuple[tuple[str, str], ...]  # rule id, what it needs


@dataclass(frozen=True)
class RankedRep:
    rank: int
    rep_id: str
    anchor: str
    tier: str
    score: float
    behaviours: tuple[str, ...]
    period_start: dt.date
    period_end: dt.date
    flagged_windows: int
    anomaly: str
    top_features: tuple[str, ...]


@dataclass(frozen=True)
class DismissedWindow:
    rep_id: str
    period_start: dt.date
    period_end: dt.date
    would_be: str
    score: float
    behaviours: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class HitView:
    """One rule that fired: its evidence in words, the rep among peers, the calls to listen to."""

    code: str
    rule_id: str
    severity: str
    evidence: str
    strip: PeerStrip | None
    examples: tuple[str, ...]


@dataclass(frozen=True)
class FeatureRow:
    name: str
    value: str
    peer_median: str
    z: str
    meaning: str


@dataclass(frozen=True)
class ModelView:
    """What made the model call the rep unusual."""

    anomaly_score: float
    features: tuple[FeatureRow, ...]
    strip: PeerStrip | None


@dataclass(frozen=True)
class DayView:
    day: dt.date
    timeline: DayTimeline


@dataclass(frozen=True)
class OtherWindow:
    period_start: dt.date
    period_end: dt.date
    tier: str
    score: float
    behaviours: tuple[str, ...]


@dataclass(frozen=True)
class RepView:
    """A flagged rep's section: each behaviour's evidence, the peers, the worst days, the model, and how to answer."""

    rep_id: str
    anchor: str
    tier: str
    score: float
    period_start: dt.date
    period_end: dt.date
    verdict: str | None
    n_peers: int | None
    peer_group: str
    sustained: bool
    rule_score: float
    model_score: float
    hits: tuple[HitView, ...]
    model: ModelView | None
    timezone: str
    days: tuple[DayView, ...]
    other_windows: tuple[OtherWindow, ...]
    review_command: str


@dataclass(frozen=True)
class PageView:
    first_day: dt.date
    last_day: dt.date
    generated: str
    summary: SummaryView
    ranking: tuple[RankedRep, ...]
    dismissed: tuple[DismissedWindow, ...]
    reps: tuple[RepView, ...]
    more_reps: int
    csv_file: str


def described(name: str) -> tuple[str, str]:
    """A feature's unit and meaning, for labels."""
    if name in FEATURES_BY_NAME:
        return FEATURES_BY_NAME[name].unit, FEATURES_BY_NAME[name].description
    if name in DERIVED:
        return DERIVED[name].unit, DERIVED[name].description
    return "", ""


def rep_anchor(rep_id: str) -> str:
    """An HTML id for the rep's section made only of letters, digits and `_`, whatever the rep id holds."""
    return "rep-" + "".join(c if c.isalnum() else f"_{ord(c):x}" for c in rep_id)


def model_text(meta: dict) -> str:
    """Which model scored, or why none did (a center too small to train one)."""
    if meta.get("model_version"):
        return f"model version {meta['model_version']}"
    if meta.get("no_model"):
        return f"no model ({meta['no_model']})"
    return "model version ?"


def summary_view(data: ReportData) -> SummaryView:
    scores, best = data.scores, data.best
    tiers = best.tier.value_counts()
    cards = [Card(best.rep_id.nunique(), "reps scored"), Card(len(scores), "rep-windows")]
    cards += [Card(int(tiers.get(tier, 0)), str(tier), str(tier)) for tier in TIERS]
    cards.append(Card(scores[scores.previously_dismissed].rep_id.nunique(), "previously dismissed"))
    listed = scores[scores.tier != "clear"].explode("behaviours").dropna(subset=["behaviours"])
    per_behaviour: tuple = ()
    if not listed.empty:
        per_code = listed.groupby(["behaviours", "tier"]).rep_id.nunique().unstack(fill_value=0)
        per_behaviour = tuple((str(code), int(row.get("investigate", 0)), int(row.get("watch", 0)))
                              for code, row in per_code.iterrows())
    sources: tuple = ()
    if not data.ingests.empty:
        grouped = data.ingests.groupby("source").agg(files=("file", "nunique"), landed=("landed", "sum"),
                                                     quarantined=("quarantined", "sum"))
        sources = tuple((str(s), int(r.files), int(r.landed), int(r.quarantined)) for s, r in grouped.iterrows())
    blind = data.not_observable.drop_duplicates(["rule_id"]) if not data.not_observable.empty else data.not_observable
    return SummaryView(cards=tuple(cards), first_day=scores.period_start.min(), last_day=scores.period_end.max(),
                       model=model_text(data.meta), run_id=str(data.meta.get("run_id", "?")), per_behaviour=per_behaviour,
                       sources=sources,
                       not_observable=tuple((str(r.rule_id), str(r.missing)) for r in blind.itertuples()))


def ranking_view(data: ReportData) -> tuple[RankedRep, ...]:
    flagged = data.best[data.best.tier != "clear"]
    return tuple(RankedRep(rank=rank, rep_id=row.rep_id, anchor=rep_anchor(row.rep_id), tier=row.tier, score=row.score,
                           behaviours=tuple(map(str, row.behaviours)), period_start=row.period_start,
                           period_end=row.period_end, flagged_windows=int(row.flagged_windows),
                           anomaly=formatted(row.anomaly_score, "score"), top_features=tuple(map(str, row.top_features)))
                 for rank, row in enumerate(flagged.itertuples(), start=1))


def dismissed_view(data: ReportData) -> tuple[DismissedWindow, ...]:
    """Flags an analyst already dismissed on the same evidence: listed, not raised again."""
    again = data.scores[data.scores.previously_dismissed].sort_values(["rep_id", "period_start"])
    return tuple(DismissedWindow(r.rep_id, r.period_start, r.period_end, str(r.flag_tier), r.score,
                                 tuple(map(str, r.behaviours)), str(r.dismissed_reason)) for r in again.itertuples())


def _peers(data: ReportData, row) -> pd.DataFrame:
    same = data.windows[(data.windows.period_start == row.period_start) & (data.windows.rep_id != row.rep_id)]
    group = same[same.peer_group == row.peer_group]
    return group if len(group) >= 3 else same


def _number(value) -> float | None:
    return float(value) if pd.notna(value) else None


def rep_view(data: ReportData, best_row, config: CadetConfig) -> RepView:
    rep = best_row.rep_id
    window = data.windows[(data.windows.rep_id == rep) & (data.windows.period_start == best_row.period_start)]
    w = window.iloc[0] if not window.empty else None
    mine = data.hits[(data.hits.rep_id == rep) & (data.hits.period_start == best_row.period_start)].sort_values(
        "z", ascending=False)
    peers = _peers(data, w) if w is not None else data.windows.iloc[0:0]
    hits, plotted = [], set()
    for hit in mine.itertuples():
        strip = None
        if hit.feature in peers:
            strip = peer_strip(hit.feature, described(hit.feature)[0], peers[hit.feature].to_numpy(dtype=float),
                               float(hit.value), _number(hit.peer_median), _number(hit.threshold), rep)
            plotted.add(hit.feature)
        examples = tuple(str(c) for c in hit.examples) if hit.examples is not None else ()
        hits.append(HitView(str(hit.code), str(hit.rule_id), str(hit.severity), str(hit.evidence), strip, examples))
    model = None
    if len(best_row.top_features) and w is not None:
        rows = []
        for name in best_row.top_features:
            unit, meaning = described(name)
            value, median, z = w.get(name, np.nan), w.get(f"peer_{name}", np.nan), w.get(f"z_{name}", np.nan)
            rows.append(FeatureRow(str(name), formatted(value, unit), formatted(median, unit),
                                   "-" if pd.isna(z) else f"{z:+.1f}", meaning))
        first = next((n for n in best_row.top_features if n not in plotted and n in data.windows), None)
        strip = None if first is None else peer_strip(first, described(first)[0], peers[first].to_numpy(dtype=float),
                                                      float(w.get(first, np.nan)), float(w.get(f"peer_{first}", np.nan)),
                                                      None, rep)
        model = ModelView(float(best_row.anomaly_score), tuple(rows), strip)
    days = []
    if w is not None:
        queue, technical = str(w.primary_queue), set(config.features.technical_reasons)
        for day in data.worst.get(rep, []):
            activity = data.days.get(day)
            if activity is None:
                continue
            days.append(DayView(day, day_timeline(
                rep, activity["start"], activity["states"][activity["states"].rep_id == rep],
                activity["answered"][activity["answered"].rep_id == rep], activity["missed"][activity["missed"].rep_id == rep],
                activity["queued"][activity["queued"].queue == queue], queue, technical)))
    others = data.scores[(data.scores.rep_id == rep) & (data.scores.tier != "clear")
                         & (data.scores.period_start != best_row.period_start)].sort_values("period_start")
    command = f"cadet review {shlex.quote(rep)} --window {best_row.period_start} --verdict confirmed|dismissed|needs-more-data"
    return RepView(
        rep_id=rep, anchor=rep_anchor(rep), tier=best_row.tier, score=best_row.score, period_start=best_row.period_start,
        period_end=best_row.period_end, verdict=best_row.verdict if isinstance(best_row.verdict, str) else None,
        n_peers=int(w.n_peers) if w is not None else None, peer_group=str(w.peer_group) if w is not None else "",
        sustained=bool(best_row.sustained), rule_score=float(best_row.rule_score), model_score=float(best_row.model_score),
        hits=tuple(hits), model=model, timezone=config.site.timezone, days=tuple(days),
        other_windows=tuple(OtherWindow(r.period_start, r.period_end, r.tier, r.score, tuple(map(str, r.behaviours)))
                            for r in others.itertuples()),
        review_command=command)


def page_view(data: ReportData, config: CadetConfig) -> PageView:
    """The whole page: the summary, the ranking, the dismissed flags and a section per flagged rep (up to the limit)."""
    flagged = data.best[data.best.tier != "clear"]
    shown = flagged.head(config.report.max_rep_sections)
    generated = str(data.meta.get("generated_at", dt.datetime.now(dt.UTC).isoformat(timespec="seconds")))
    return PageView(first_day=data.scores.period_start.min(), last_day=data.scores.period_end.max(), generated=generated,
                    summary=summary_view(data), ranking=ranking_view(data), dismissed=dismissed_view(data),
                    reps=tuple(rep_view(data, row, config) for row in shown.itertuples()),
                    more_reps=len(flagged) - len(shown), csv_file=CSV_FILE)
