"""Inline SVG plots for the analyst's report: a rep against peers, and a day of states against queue volume.

Plain SVG strings with every label escaped, so the report needs no script, no
font and no network, and renders in MLflow's artifact viewer too.
"""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

MAX_DOTS = 150
STATE_COLOURS = {"available": "#7fbf7f", "on call": "#4a78b5", "paused": "#e3a33b", "technical": "#c8553d",
                 "scheduled": "#b7a6d9", "logged out": "#eeeeee"}


def _fmt(value: float, unit: str) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    if unit == "share":
        return f"{value:.0%}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2g}" if abs(value) < 1 else f"{value:.1f}"


def peer_strip(label: str, unit: str, peers: np.ndarray, rep: float, peer_median: float | None,
               threshold: float | None, rep_id: str) -> str:
    """One dot per peer, the peer median, the rule's threshold, and the rep in red.

    Where the rep sits among colleagues in the same peer group says more than a
    z-score: one dot far to the right of a tight cloud is the pattern.
    """
    width, height, pad = 420, 74, 14
    peers = np.asarray([p for p in peers if p is not None and np.isfinite(p)], dtype=float)
    n_peers = len(peers)
    if n_peers > MAX_DOTS:  # a big group: evenly spaced quantiles draw the same cloud in a page that stays light
        peers = np.quantile(peers, np.linspace(0, 1, MAX_DOTS))
    marks = [v for v in (rep, peer_median, threshold) if v is not None and np.isfinite(v)]
    values = np.concatenate([peers, marks]) if marks else peers
    if values.size == 0:
        return ""
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-12:
        lo, hi = lo - 1, hi + 1
    lo, hi = (lo - 0.04 * (hi - lo) if lo < 0 else lo), hi + 0.04 * (hi - lo)

    def x(v: float) -> float:
        return pad + (v - lo) / (hi - lo) * (width - 2 * pad)

    rng = np.random.default_rng(0)  # the same jitter every time: reports compare across runs
    parts = [f'<svg class="strip" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}: {escape(rep_id)} against {n_peers} peers</title>',
             f'<line x1="{pad}" y1="44" x2="{width - pad}" y2="44" stroke="#bbb"/>']
    for value, dy in zip(peers, rng.uniform(-9, 9, size=len(peers))):
        parts.append(f'<circle cx="{x(value):.1f}" cy="{30 + dy:.1f}" r="3" fill="#8a8a8a" fill-opacity="0.6">'
                     f'<title>peer: {escape(_fmt(value, unit))}</title></circle>')
    if peer_median is not None and np.isfinite(peer_median):
        parts.append(f'<line x1="{x(peer_median):.1f}" y1="14" x2="{x(peer_median):.1f}" y2="48" stroke="#333" stroke-width="2">'
                     f'<title>peer median {escape(_fmt(peer_median, unit))}</title></line>')
    if threshold is not None and np.isfinite(threshold):
        parts.append(f'<line x1="{x(threshold):.1f}" y1="10" x2="{x(threshold):.1f}" y2="48" stroke="#c8553d" '
                     f'stroke-dasharray="4 3"><title>rule threshold {escape(_fmt(threshold, unit))}</title></line>')
    if np.isfinite(rep):
        parts.append(f'<circle class="rep" cx="{x(rep):.1f}" cy="30" r="6" fill="#d62728" stroke="#fff">'
                     f'<title>{escape(rep_id)}: {escape(_fmt(rep, unit))}</title></circle>')
    parts.append(f'<text x="{pad}" y="62" font-size="11" fill="#555">{escape(_fmt(lo, unit))}</text>'
                 f'<text x="{width - pad}" y="62" font-size="11" fill="#555" text-anchor="end">{escape(_fmt(hi, unit))}</text>'
                 f'<text x="{width / 2}" y="62" font-size="11" fill="#555" text-anchor="middle">'
                 f'{escape(rep_id)} {escape(_fmt(rep, unit))} · peer median {escape(_fmt(peer_median, unit))}'
                 f'{" · threshold " + escape(_fmt(threshold, unit)) if threshold is not None else ""}</text></svg>')
    return "".join(parts)


def _hours(stamps: pd.Series, day_start: pd.Timestamp) -> np.ndarray:
    return ((stamps - day_start).dt.total_seconds() / 3600.0).to_numpy(dtype=float)


def day_timeline(rep_id: str, day_start: pd.Timestamp, states: pd.DataFrame, calls: pd.DataFrame, offers: pd.DataFrame,
                 queue_calls: pd.DataFrame, queue: str, technical_reasons: set[str]) -> str:
    """A rep's local day: logged-in states and calls under the queue's offered volume per 30 minutes.

    Pauses that line up with the volume peaks, and missed offers (red ticks)
    while callers waited, are what an analyst looks for here.
    """
    width, left, right = 760, 92, 26
    span = (left, width - right)
    first, last = _active_hours(day_start, states, calls, queue_calls)

    def x(hour: float) -> float:
        return span[0] + (max(first, min(last, hour)) - first) / (last - first) * (span[1] - span[0])

    parts = [f'<svg class="timeline" role="img" width="{width}" height="150" viewBox="0 0 {width} 150" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(rep_id)} on {day_start:%Y-%m-%d}: states, calls and '
             f'{escape(queue)} queue volume</title>']
    volume = np.zeros(48)
    if not queue_calls.empty:
        slots = np.floor(_hours(queue_calls["enqueued_at"], day_start) * 2).astype(int)
        slots = slots[(slots >= 0) & (slots < 48)]
        volume = np.bincount(slots, minlength=48)[:48]
    top = max(int(volume.max()), 1)
    slot_width = max((span[1] - span[0]) / (last - first) / 2 - 1, 0.5)
    for slot, count in enumerate(volume):
        if count and first <= slot / 2 < last:
            h = 40 * count / top
            parts.append(f'<rect x="{x(slot / 2):.1f}" y="{48 - h:.1f}" width="{slot_width:.1f}" height="{h:.1f}" '
                         f'fill="#9ecae1"><title>{slot // 2:02d}:{30 * (slot % 2):02d} {count} calls offered to '
                         f'{escape(queue)}</title></rect>')
    parts.append(f'<text x="4" y="34" font-size="11">{escape(queue)} calls</text>'
                 f'<text x="4" y="74" font-size="11">states</text><text x="4" y="100" font-size="11">calls</text>'
                 f'<text x="4" y="120" font-size="11">missed</text>')
    state_start, state_end = _hours(states["started_at"], day_start), _hours(states["ended_at"], day_start)
    for row, start, end in zip(states.itertuples(index=False), state_start, state_end):
        if end <= first or start >= last:
            continue
        reason = row.reason if isinstance(row.reason, str) else ""
        kind = "available" if row.state == "available" else ("technical" if reason in technical_reasons else "paused")
        label = f"{row.state}{' (' + reason + ')' if reason else ''} {row.started_at:%H:%M}-{row.ended_at:%H:%M}"
        parts.append(f'<rect x="{x(start):.1f}" y="62" width="{max(x(end) - x(start), 0.8):.1f}" height="16" '
                     f'fill="{STATE_COLOURS[kind]}"><title>{escape(label)}</title></rect>')
    call_start, call_end = _hours(calls["answered_at"], day_start), _hours(calls["ended_at"], day_start)
    for row, start, end in zip(calls.itertuples(index=False), call_start, call_end):
        parts.append(f'<rect x="{x(start):.1f}" y="88" width="{max(x(end) - x(start), 0.8):.1f}" height="16" '
                     f'fill="{STATE_COLOURS["on call"]}"><title>{escape(str(row.call_id))} {row.answered_at:%H:%M:%S}-'
                     f'{row.ended_at:%H:%M:%S}</title></rect>')
    for row, at in zip(offers.itertuples(index=False), _hours(offers["offered_at"], day_start)):
        parts.append(f'<line x1="{x(at):.1f}" y1="110" x2="{x(at):.1f}" y2="124" stroke="#d62728" stroke-width="1.5">'
                     f'<title>{escape(str(row.result))} {escape(str(row.call_id))} at {row.offered_at:%H:%M:%S}</title></line>')
    for hour in range(first, last + 1, 1 if last - first <= 12 else 2):
        parts.append(f'<line x1="{x(hour):.1f}" y1="50" x2="{x(hour):.1f}" y2="128" stroke="#ddd"/>'
                     f'<text x="{x(hour):.1f}" y="142" font-size="10" text-anchor="middle">{hour:02d}:00</text>')
    parts.append("</svg>")
    return "".join(parts)


def _active_hours(day_start: pd.Timestamp, states: pd.DataFrame, calls: pd.DataFrame, queue_calls: pd.DataFrame) -> tuple[int, int]:
    """Whole hours from an hour before the first activity to an hour after the last, within the day."""
    hours = [np.clip(_hours(frame[column], day_start), 0, 24) for frame, columns in
             ((states, ("started_at", "ended_at")), (calls, ("answered_at", "ended_at")), (queue_calls, ("enqueued_at",)))
             for column in columns if not frame.empty]
    if not hours:
        return 0, 24
    every = np.concatenate(hours)
    first, last = int(max(0, np.floor(every.min()) - 1)), int(min(24, np.ceil(every.max()) + 1))
    return (first, last) if last - first >= 2 else (0, 24)


def legend() -> str:
    items = [("available", "available"), ("on call", "on a call"), ("paused", "paused (break, personal, ...)"),
             ("technical", "technical pause")]
    cells = "".join(f'<span class="key"><i style="background:{STATE_COLOURS[k]}"></i>{escape(text)}</span>' for k, text in items)
    return (f'<p class="legend">{cells}<span class="key"><i style="background:#9ecae1"></i>calls offered to the queue '
            f'per 30 min</span><span class="key"><i style="background:#d62728;width:2px"></i>offer the rep missed or '
            f'declined</span></p>')
