"""`cadet report`: the analyst's report, one self-contained HTML file and a CSV next to scores.parquet.

An analyst decides about a person's job from this page, so every flag shows
why (the rule's evidence in words), against whom (the peer group, as a plot),
when (the worst days: states against the queue's volume), on which calls, and
what drove the model.  No script, no external file: it opens from disk and in
MLflow's artifact viewer.  Everything that came from the input is escaped.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from features.catalog import DERIVED, FEATURES_BY_NAME, feature_values
from features.daily import MISSED_RESULTS
from models.combine import TIERS
from models.review import apply_verdicts
from models.rules import HIT_COLUMNS
from pipelines.config import CadetConfig
from pipelines.contracts import SCHEMAS
from pipelines.home import Home
from pipelines.lake import Lake
from pipelines.report_plots import _fmt, day_timeline, legend, peer_strip
from pipelines.review import read_verdicts
from pipelines.storage import write_text_atomic

REPORT_FILE = "report.html"
CSV_FILE = "flagged.csv"
META_FILE = "report.json"
TIER_ORDER = {str(tier): rank for rank, tier in enumerate(TIERS)}
STATE_COLUMNS = list(SCHEMAS["agent_states"].columns)
OFFER_COLUMNS = list(SCHEMAS["offers"].columns)


@dataclass
class ReportData:
    """What the report shows: the scores of one run and the lake rows behind them."""

    scores: pd.DataFrame
    hits: pd.DataFrame
    windows: pd.DataFrame
    daily: pd.DataFrame
    not_observable: pd.DataFrame
    ingests: pd.DataFrame
    meta: dict
    best: pd.DataFrame = field(default_factory=pd.DataFrame)  # each rep's highest window, ranked
    worst: dict[str, list[dt.date]] = field(default_factory=dict)  # each listed rep's worst days
    days: dict[dt.date, dict[str, pd.DataFrame]] = field(default_factory=dict)


def _described(name: str) -> tuple[str, str]:
    """A feature's unit and meaning, for labels."""
    if name in FEATURES_BY_NAME:
        return FEATURES_BY_NAME[name].unit, FEATURES_BY_NAME[name].description
    if name in DERIVED:
        return DERIVED[name].unit, DERIVED[name].description
    return "", ""


def _model_text(meta: dict) -> str:
    """Which model scored, or why none did (a center too small to train one)."""
    if meta.get("model_version"):
        return f'model version {escape(str(meta["model_version"]))}'
    if meta.get("no_model"):
        return f'no model ({escape(str(meta["no_model"]))})'
    return "model version ?"


def _dates(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    frame = frame.copy()
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def read_report_data(home: Home | Path | str, folder: Path, config: CadetConfig) -> ReportData:
    """The scores of `folder` and, from the lake, the hits, features and activity of the reps on a list."""
    scores = apply_verdicts(pd.read_parquet(folder / "scores.parquet"), read_verdicts(home), config.review)
    meta = json.loads((folder / META_FILE).read_text()) if (folder / META_FILE).exists() else {}
    lake = Lake(Home.of(home).lake)
    first, last = scores.period_start.min(), scores.period_start.max()
    # a window with no rule hit (or a lake without day features) reads as an empty table with no columns
    hits = _dates(lake.read("rule_hits", first, last).to_pandas(), "period_start", "period_end")
    hits = hits if len(hits.columns) else pd.DataFrame(columns=HIT_COLUMNS)
    windows = _dates(lake.read("rep_window_features", first, last).to_pandas(), "period_start", "period_end")
    daily = _dates(lake.read("rep_day_features", first, scores.period_end.max()).to_pandas(), "day")
    listed = set(scores.loc[scores.tier != "clear", "rep_id"])
    daily = daily[daily.rep_id.isin(listed)] if len(daily.columns) else pd.DataFrame(columns=["rep_id", "day"])
    not_observable = lake.read("rules_not_observable", first, last).to_pandas()
    ingests = lake.read("ingest_runs").to_pandas()
    data = ReportData(scores, hits, windows, daily, not_observable, ingests, meta, best_windows(scores))
    shown = data.best[data.best.tier != "clear"].rep_id.head(config.report.max_rep_sections)
    daily_values = pd.DataFrame()
    if len(daily):
        daily_values = feature_values(daily.set_index(["rep_id", "day"]), observable=_all_observable()).replace(
            [np.inf, -np.inf], np.nan)
    data.worst = {rep: worst_days(data, rep, daily_values, config) for rep in shown}
    for day in sorted({d for days in data.worst.values() for d in days}):
        data.days[day] = _activity(lake, day, config.site.timezone)
    return data


def _activity(lake: Lake, day: dt.date, timezone: str) -> dict[str, pd.DataFrame]:
    """One local day's states, answered calls, offers and queue arrivals, in the site's zone."""
    lo, hi = day - dt.timedelta(days=1), day + dt.timedelta(days=1)
    start = pd.Timestamp(day).tz_localize(timezone)
    stop = start + pd.Timedelta(days=1)

    def local(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        frame = frame.copy()
        for column in columns:
            frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_convert(timezone)
        return frame

    states = local(lake.read("agent_states", lo, hi, columns=STATE_COLUMNS).to_pandas(), ["started_at", "ended_at"])
    states = states[(states.ended_at > start) & (states.started_at < stop)]
    calls = lake.read("calls", lo, hi, columns=["call_id", "direction", "queue", "enqueued_at", "answered_at", "ended_at",
                                                  "rep_id"]).to_pandas()
    calls = local(calls, ["enqueued_at", "answered_at", "ended_at"])
    calls = calls[calls.direction == "inbound"]
    offers = local(lake.read("offers", lo, hi, columns=OFFER_COLUMNS).to_pandas(), ["offered_at"])
    return {"states": states,
            "answered": calls[calls.answered_at.notna() & (calls.answered_at < stop) & (calls.ended_at > start)],
            "queued": calls[calls.enqueued_at.notna() & (calls.enqueued_at >= start) & (calls.enqueued_at < stop)],
            "missed": offers[offers.result.isin(MISSED_RESULTS) & (offers.offered_at >= start) & (offers.offered_at < stop)],
            "start": start}


def best_windows(scores: pd.DataFrame) -> pd.DataFrame:
    """Each rep's highest-scored window, ranked: investigate first, then by score."""
    listed = scores.assign(flagged_windows=(scores.tier != "clear").groupby(scores.rep_id).transform("sum").astype(int))
    best = listed.sort_values("score", ascending=False).drop_duplicates("rep_id")
    return best.assign(order=best.tier.map(TIER_ORDER)).sort_values(["order", "score"], ascending=[True, False])


def worst_days(data: ReportData, rep_id: str, daily_values: pd.DataFrame, config: CadetConfig) -> list[dt.date]:
    """The days of the rep's best window where its strongest flagged feature was highest.

    `daily_values` holds every feature per (rep_id, day) of the listed reps.
    """
    row = data.best[data.best.rep_id == rep_id]
    if row.empty or row.tier.iloc[0] == "clear" or daily_values.empty or rep_id not in daily_values.index.get_level_values(0):
        return []
    start, end = row.period_start.iloc[0], row.period_end.iloc[0]
    values = daily_values.loc[rep_id]
    values = values[(values.index >= start) & (values.index <= end)]
    if values.empty:
        return []
    mine = data.hits[(data.hits.rep_id == rep_id) & (data.hits.period_start == start)].sort_values("z", ascending=False)
    candidates = list(mine.feature) + [f for f in row.top_features.iloc[0] if f in values]
    for name in candidates:
        if name in values and values[name].notna().any():
            return list(values[name].dropna().sort_values(ascending=False).index[: config.report.worst_days])
    return list(values.index[: config.report.worst_days])


def _all_observable() -> dict[str, bool]:
    """Every source field counted as present: the daily values only rank a rep's own days, NaN where it has no data."""
    from features.catalog import OBSERVABLE_FROM

    return dict.fromkeys(OBSERVABLE_FROM, True)


CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3a5f;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.85}
main{padding:8px 28px 40px;max-width:1180px}section{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:14px 20px;
margin:16px 0}h2{font-size:18px;margin:4px 0 10px}h3{font-size:15px;margin:14px 0 6px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eee;vertical-align:top}th{background:#f3f5f8;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}.tier{border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600}
.tier-investigate{background:#fbe3e0;color:#a02b1e}.tier-watch{background:#fff1d6;color:#8a5a00}.tier-clear{background:#e6f2e6;color:#2e6b2e}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #e2e2e2;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:22px}.muted{color:#666}.hit{border-left:4px solid #c8553d;padding:4px 12px;margin:10px 0}
.hit.low{border-color:#e3a33b}.calls code{background:#f3f3f3;padding:1px 4px;margin-right:4px;border-radius:3px}
.legend .key{margin-right:14px;font-size:12px}.legend i{display:inline-block;width:12px;height:10px;margin-right:4px}
table.compact{width:auto}td.nowrap{white-space:nowrap}svg{display:block;margin:4px 0;max-width:100%;height:auto}a{color:#1f5fa8}
"""


def _tier(tier: str) -> str:
    return f'<span class="tier tier-{escape(tier)}">{escape(tier)}</span>'


def _codes(values) -> str:
    return ", ".join(escape(str(v)) for v in values) or '<span class="muted">-</span>'


def _rep_anchor(rep_id: str) -> str:
    return "rep-" + "".join(c if c.isalnum() else f"_{ord(c):x}" for c in rep_id)


def summary_section(data: ReportData) -> str:
    scores, best = data.scores, data.best
    tiers = best.tier.value_counts()
    lines = [f'<section id="summary"><h2>Summary</h2><div class="cards">'
             f'<div class="card"><b>{best.rep_id.nunique():,}</b>reps scored</div>'
             f'<div class="card"><b>{len(scores):,}</b>rep-windows</div>']
    for tier in TIERS:
        lines.append(f'<div class="card tier-{tier}"><b>{int(tiers.get(tier, 0)):,}</b>{tier}</div>')
    dismissed = scores[scores.previously_dismissed].rep_id.nunique()
    lines.append(f'<div class="card"><b>{dismissed:,}</b>previously dismissed</div></div>')
    lines.append(f'<p>Data: windows from <b>{scores.period_start.min()}</b> to <b>{scores.period_end.max()}</b>; '
                 f'{_model_text(data.meta)}, MLflow run '
                 f'<code>{escape(str(data.meta.get("run_id", "?")))}</code>. A rep appears under the tier of their highest '
                 f'window; score 0-1, higher = more suspicious.</p>')
    listed = scores[scores.tier != "clear"].explode("behaviours").dropna(subset=["behaviours"])
    if not listed.empty:
        per_code = listed.groupby(["behaviours", "tier"]).rep_id.nunique().unstack(fill_value=0)
        rows = "".join(f"<tr><td>{escape(code)}</td><td class='num'>{int(row.get('investigate', 0))}</td>"
                       f"<td class='num'>{int(row.get('watch', 0))}</td></tr>" for code, row in per_code.iterrows())
        lines.append("<h3>Reps flagged per behaviour</h3><table class='compact'><tr><th>behaviour</th><th>investigate</th><th>watch</th></tr>"
                     f"{rows}</table>")
    if not data.ingests.empty:
        sources = data.ingests.groupby("source").agg(files=("file", "nunique"), landed=("landed", "sum"),
                                                      quarantined=("quarantined", "sum"))
        rows = "".join(f"<tr><td>{escape(str(s))}</td><td class='num'>{r.files:,}</td><td class='num'>{r.landed:,}</td>"
                       f"<td class='num'>{r.quarantined:,}</td></tr>" for s, r in sources.iterrows())
        lines.append("<h3>Sources ingested</h3><table class='compact'><tr><th>source</th><th>files</th><th>rows landed</th>"
                     f"<th>rows quarantined</th></tr>{rows}</table>")
    if data.not_observable.empty:
        lines.append("<p>Every rule could be checked: the sources show everything the rules need.</p>")
    else:
        blind = data.not_observable.drop_duplicates(["rule_id"])
        items = "".join(f"<li><code>{escape(r.rule_id)}</code>: needs {escape(str(r.missing))}</li>" for r in blind.itertuples())
        lines.append("<h3>Not observable from these sources</h3><p>These rules were not checked, never judged on zeros: "
                     f"a rep cannot be flagged or cleared for them.</p><ul>{items}</ul>")
    lines.append("</section>")
    return "".join(lines)


def ranking_section(data: ReportData) -> str:
    best = data.best
    flagged = best[best.tier != "clear"]
    if flagged.empty:
        return '<section id="ranking"><h2>Flagged reps</h2><p>No rep is on the investigate or watch list.</p></section>'
    rows = []
    for rank, row in enumerate(flagged.itertuples(), start=1):
        rows.append(f"<tr><td class='num'>{rank}</td><td><a href='#{_rep_anchor(row.rep_id)}'>{escape(row.rep_id)}</a></td>"
                    f"<td>{_tier(row.tier)}</td><td class='num'>{row.score:.2f}</td><td>{_codes(row.behaviours)}</td>"
                    f"<td class='nowrap'>{row.period_start} – {row.period_end}</td><td class='num'>{row.flagged_windows}</td>"
                    f"<td class='num'>{_fmt(row.anomaly_score, 'score')}</td><td>{_codes(row.top_features)}</td></tr>")
    return ('<section id="ranking"><h2>Flagged reps</h2><table class="ranking"><tr><th>#</th><th>rep</th><th>tier</th>'
            '<th>score</th><th>behaviours</th><th>worst window</th><th>windows flagged</th><th>model</th>'
            f'<th>model\'s top features</th></tr>{"".join(rows)}</table></section>')


def dismissed_section(data: ReportData) -> str:
    """Flags an analyst already dismissed on the same evidence: listed, not raised again."""
    again = data.scores[data.scores.previously_dismissed].sort_values(["rep_id", "period_start"])
    if again.empty:
        return ""
    rows = "".join(f"<tr><td>{escape(r.rep_id)}</td><td class='nowrap'>{r.period_start} – {r.period_end}</td>"
                   f"<td>{_tier(r.flag_tier)}</td><td class='num'>{r.score:.2f}</td><td>{_codes(r.behaviours)}</td>"
                   f"<td>{escape(str(r.dismissed_reason))}</td></tr>" for r in again.itertuples())
    return ('<section id="dismissed"><h2>Previously dismissed</h2><p class="muted">These windows would be on a list, but an '
            'analyst dismissed the same rep for the same behaviours (within the review.dismissal_days setting); a new '
            'behaviour puts the rep back on the list.</p><table><tr><th>rep</th><th>window</th><th>would be</th>'
            f'<th>score</th><th>behaviours</th><th>dismissed because</th></tr>{rows}</table></section>')


def _peers(data: ReportData, row) -> pd.DataFrame:
    same = data.windows[(data.windows.period_start == row.period_start) & (data.windows.rep_id != row.rep_id)]
    group = same[same.peer_group == row.peer_group]
    return group if len(group) >= 3 else same


def rep_section(data: ReportData, best_row, config: CadetConfig) -> str:
    rep = best_row.rep_id
    window = data.windows[(data.windows.rep_id == rep) & (data.windows.period_start == best_row.period_start)]
    mine = data.hits[(data.hits.rep_id == rep) & (data.hits.period_start == best_row.period_start)].sort_values(
        "z", ascending=False)
    parts = [f'<section class="rep" id="{_rep_anchor(rep)}"><h2>{escape(rep)} {_tier(best_row.tier)} '
             f'<span class="muted">score {best_row.score:.2f}, window {best_row.period_start} – {best_row.period_end}</span></h2>']
    if isinstance(best_row.verdict, str):
        parts.append(f'<p><b>Analyst verdict for this window: {escape(best_row.verdict)}</b></p>')
    if not window.empty:
        w = window.iloc[0]
        parts.append(f'<p class="muted">Compared with {int(w.n_peers)} peers in <b>{escape(str(w.peer_group))}</b>; '
                     f'{"sustained: flagged in the previous window too; " if best_row.sustained else ""}'
                     f'rules {best_row.rule_score:.2f}, model {best_row.model_score:.2f} of the score.</p>')
    plotted: set[str] = set()
    peers = _peers(data, window.iloc[0]) if not window.empty else data.windows.iloc[0:0]
    if mine.empty:
        parts.append("<p>No rule fired: the model alone put this rep on the list (see its features below).</p>")
    for hit in mine.itertuples():
        unit, _ = _described(hit.feature)
        parts.append(f'<div class="hit {escape(hit.severity)}"><h3>{escape(hit.code)} <span class="muted">'
                     f'({escape(hit.rule_id)}, {escape(hit.severity)})</span></h3><p>{escape(hit.evidence)}</p>')
        if hit.feature in peers:
            parts.append(peer_strip(hit.feature, unit, peers[hit.feature].to_numpy(dtype=float), float(hit.value),
                                    float(hit.peer_median) if pd.notna(hit.peer_median) else None,
                                    float(hit.threshold) if pd.notna(hit.threshold) else None, rep))
            plotted.add(hit.feature)
        examples = list(hit.examples) if hit.examples is not None else []
        if examples:
            parts.append('<p class="calls">Example calls: ' + "".join(f"<code>{escape(str(c))}</code>" for c in examples)
                         + "</p>")
        parts.append("</div>")
    if len(best_row.top_features) and not window.empty:
        w = window.iloc[0]
        rows = []
        for name in best_row.top_features:
            unit, meaning = _described(name)
            value, median, z = w.get(name, np.nan), w.get(f"peer_{name}", np.nan), w.get(f"z_{name}", np.nan)
            rows.append(f"<tr><td><code>{escape(name)}</code></td><td class='num'>{escape(_fmt(value, unit))}</td>"
                        f"<td class='num'>{escape(_fmt(median, unit))}</td><td class='num'>"
                        f"{'-' if pd.isna(z) else f'{z:+.1f}'}</td><td>{escape(meaning)}</td></tr>")
        parts.append(f"<h3>What made the model call this rep unusual</h3><p class='muted'>Anomaly score "
                     f"{best_row.anomaly_score:.4f}: more unusual than {best_row.anomaly_score:.2%} of a null centre made of "
                     f"this centre's own rep-windows with unrelated habits shuffled apart (the model counts only above "
                     f"<code>scoring.model_floor</code>); each feature's part is how much less unusual the rep looks with it "
                     f"set back to the peer median.</p><table><tr><th>feature</th><th>rep</th><th>peer median</th><th>z</th>"
                     f"<th>meaning</th></tr>{''.join(rows)}</table>")
        first = next((n for n in best_row.top_features if n not in plotted and n in data.windows), None)
        if first is not None:
            parts.append(peer_strip(first, _described(first)[0], peers[first].to_numpy(dtype=float),
                                    float(w.get(first, np.nan)), float(w.get(f"peer_{first}", np.nan)), None, rep))
    days = data.worst.get(rep, [])
    if days and not window.empty:
        queue = str(window.iloc[0].primary_queue)
        parts.append(f"<h3>Worst day{'s' if len(days) > 1 else ''}</h3>{legend()}")
        technical = {r for r in config.features.technical_reasons}
        for day in days:
            activity = data.days.get(day)
            if activity is None:
                continue
            parts.append(f"<p class='muted'>{day:%A %Y-%m-%d} ({escape(config.site.timezone)})</p>")
            parts.append(day_timeline(
                rep, activity["start"], activity["states"][activity["states"].rep_id == rep],
                activity["answered"][activity["answered"].rep_id == rep], activity["missed"][activity["missed"].rep_id == rep],
                activity["queued"][activity["queued"].queue == queue], queue, technical))
    others = data.scores[(data.scores.rep_id == rep) & (data.scores.tier != "clear")
                         & (data.scores.period_start != best_row.period_start)]
    if not others.empty:
        items = "".join(f"<li>{r.period_start} – {r.period_end}: {_tier(r.tier)} {r.score:.2f}, {_codes(r.behaviours)}</li>"
                        for r in others.sort_values("period_start").itertuples())
        parts.append(f"<h3>Other flagged windows</h3><ul>{items}</ul>")
    command = f"cadet review {shlex.quote(rep)} --window {best_row.period_start} --verdict confirmed|dismissed|needs-more-data"
    parts.append(f'<p class="muted">Record your verdict: <code>{escape(command)} --by NAME</code> '
                 '(a dismissal needs <code>--reason</code>).</p></section>')
    return "".join(parts)


def render_report(data: ReportData, config: CadetConfig) -> str:
    """The whole page as one string."""
    best = data.best
    flagged = best[best.tier != "clear"]
    shown = flagged.head(config.report.max_rep_sections)
    more = "" if len(flagged) <= len(shown) else (
        f'<p class="muted">{len(flagged) - len(shown)} more flagged reps are in the ranking and in {CSV_FILE}; raise '
        f'report.max_rep_sections to see their sections.</p>')
    generated = escape(str(data.meta.get("generated_at", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))))
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
            "content='width=device-width,initial-scale=1'><title>cadet report</title>"
            f"<style>{CSS}</style></head><body><header><h1>cadet: call-avoidance report</h1>"
            f"<p>{data.scores.period_start.min()} – {data.scores.period_end.max()} · generated {generated}</p></header><main>"
            + summary_section(data) + ranking_section(data) + dismissed_section(data) + "".join(rep_section(data, row, config) for row in shown.itertuples())
            + more + "<section><h2>How to read a flag</h2><p>A flag is a reason to look, not a verdict. Each behaviour "
            "comes with the rule's evidence, the rep's value against colleagues on the same queue, shift, contract and "
            "tenure, the days it happened and example calls to listen to. Legitimate reasons (scheduled meetings, "
            "training, site-wide outages, new-hire ramp-up) are already left out. Record your verdict with "
            "<code>cadet review</code>.</p></section></main></body></html>")


def flagged_csv(data: ReportData) -> pd.DataFrame:
    """One row per flagged rep and window, for spreadsheets."""
    flagged = data.scores[data.scores.tier != "clear"].sort_values(["score"], ascending=False)
    evidence = data.hits.groupby(["rep_id", "period_start"]).evidence.agg(" | ".join) if len(data.hits) else {}
    out = flagged[["rep_id", "period_start", "period_end", "tier", "score", "anomaly_score", "verdict"]].copy()
    out["behaviours"] = flagged.behaviours.map(lambda v: "; ".join(v))
    out["rule_hits"] = flagged.rule_hits.map(lambda v: "; ".join(v))
    out["top_features"] = flagged.top_features.map(lambda v: "; ".join(v))
    out["evidence"] = [evidence.get((r, s), "") for r, s in zip(flagged.rep_id, flagged.period_start)]
    return spreadsheet_safe(out)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (a rep id or queue name from the logs starting with
    `=`, `+`, `-` or `@`) get a leading apostrophe, so opening flagged.csv shows them and runs nothing."""
    safe = table.copy()
    for column in safe.columns:
        if pd.api.types.is_numeric_dtype(safe[column]):
            continue
        safe[column] = safe[column].map(lambda cell: f"'{cell}" if isinstance(cell, str) and cell.startswith(FORMULA_START)
                                        else cell)
    return safe


def write_report(home: Home | Path | str, folder: Path, config: CadetConfig) -> dict:
    """report.html and flagged.csv next to the folder's scores.parquet, each written atomically."""
    data = read_report_data(home, folder, config)
    html = render_report(data, config)
    write_text_atomic(folder / REPORT_FILE, html)
    write_text_atomic(folder / CSV_FILE, flagged_csv(data).to_csv(index=False))
    best = data.best
    return {"report": str(folder / REPORT_FILE), "csv": str(folder / CSV_FILE),
            "flagged": int((best.tier != "clear").sum()), "sections": int(min((best.tier != "clear").sum(),
                                                                              config.report.max_rep_sections))}


def latest_report(home: Home | Path | str) -> Path | None:
    """The newest report folder (by its scores file's time), or None."""
    found = sorted(Home.of(home).reports.glob("*/scores.parquet"), key=lambda p: p.stat().st_mtime)
    return found[-1].parent if found else None
