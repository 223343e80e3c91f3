"""The report's two plots as geometry: a rep against peers, and a day of states against queue volume.

Pure: numbers and tables in, shapes out (positions, sizes, colours and the
tooltip of each).  The page's template draws them as inline SVG, so the
report needs no script, no font and no network, and renders in MLflow's
artifact viewer too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_DOTS = 150
STATE_COLOURS = {"available": "#7fbf7f", "on call": "#4a78b5", "paused": "#e3a33b", "technical": "#c8553d",
                 "scheduled": "#b7a6d9", "logged out": "#eeeeee"}
QUEUE_COLOUR, MISSED_COLOUR = "#9ecae1", "#d62728"
LEGEND = (("available", "available"), ("on call", "on a call"), ("paused", "paused (break, personal, ...)"),
          ("technical", "technical pause"))


def formatted(value: float | None, unit: str) -> str:
    """A feature's value as the report shows it: shares as percentages, two significant digits below 1."""
    if value is None or not np.isfinite(value):
        return "-"
    if unit == "share":
        return f"{value:.0%}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2g}" if abs(value) < 1 else f"{value:.1f}"


@dataclass(frozen=True)
class Mark:
    """A line across the strip (the peer median, the rule's threshold) at `x`."""

    x: float
    label: str


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class PeerStrip:
    """One dot per peer (or per quantile of a big group), the peer median, the threshold, and the rep."""

    title: str
    width: int
    height: int
    pad: int
    peers: tuple[Dot, ...]
    median: Mark | None
    threshold: Mark | None
    rep: Dot | None
    low: str
    high: str
    caption: str


def peer_strip(label: str, unit: str, peers, rep: float, peer_median: float | None, threshold: float | None,
               rep_id: str) -> PeerStrip | None:
    """Where the rep sits among colleagues in the same peer group; None when there is nothing to draw.

    One dot far to the right of a tight cloud says more than a z-score.
    """
    width, height, pad = 420, 74, 14
    peers = np.asarray([p for p in peers if p is not None and np.isfinite(p)], dtype=float)
    n_peers = len(peers)
    if n_peers > MAX_DOTS:  # a big group: evenly spaced quantiles draw the same cloud in a page that stays light
        peers = np.quantile(peers, np.linspace(0, 1, MAX_DOTS))
    marks = [v for v in (rep, peer_median, threshold) if v is not None and np.isfinite(v)]
    values = np.concatenate([peers, marks]) if marks else peers
    if values.size == 0:
        return None
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-12:
        lo, hi = lo - 1, hi + 1
    lo, hi = (lo - 0.04 * (hi - lo) if lo < 0 else lo), hi + 0.04 * (hi - lo)

    def x(v: float) -> float:
        return round(pad + (v - lo) / (hi - lo) * (width - 2 * pad), 1)

    jitter = np.random.default_rng(0).uniform(-9, 9, size=len(peers))  # the same every time: reports compare across runs
    has = lambda v: v is not None and np.isfinite(v)  # noqa: E731
    caption = f"{rep_id} {formatted(rep, unit)} · peer median {formatted(peer_median, unit)}"
    if threshold is not None:
        caption += f" · threshold {formatted(threshold, unit)}"
    return PeerStrip(
        title=f"{label}: {rep_id} against {n_peers} peers", width=width, height=height, pad=pad,
        peers=tuple(Dot(x(v), round(30 + dy, 1), f"peer: {formatted(v, unit)}") for v, dy in zip(peers, jitter)),
        median=Mark(x(peer_median), f"peer median {formatted(peer_median, unit)}") if has(peer_median) else None,
        threshold=Mark(x(threshold), f"rule threshold {formatted(threshold, unit)}") if has(threshold) else None,
        rep=Dot(x(rep), 30, f"{rep_id}: {formatted(rep, unit)}") if np.isfinite(rep) else None,
        low=formatted(lo, unit), high=formatted(hi, unit), caption=caption)


@dataclass(frozen=True)
class Bar:
    """A rectangle on one of the timeline's rows."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class DayTimeline:
    """A rep's local day: the queue's offered volume per 30 minutes, the rep's states, calls and missed offers."""

    title: str
    width: int
    queue: str
    volume: tuple[Bar, ...]
    states: tuple[Bar, ...]
    calls: tuple[Bar, ...]
    missed: tuple[Tick, ...]
    hours: tuple[Tick, ...]


def _hours(stamps: pd.Series, day_start: pd.Timestamp) -> np.ndarray:
    # numpy's division by one second is pandas' total_seconds() to the bit, without its per-call overhead
    return (stamps - day_start).to_numpy() / np.timedelta64(1, "s") / 3600.0


def day_timeline(rep_id: str, day_start: pd.Timestamp, states: pd.DataFrame, calls: pd.DataFrame, offers: pd.DataFrame,
                 queue_calls: pd.DataFrame, queue: str, technical_reasons: set[str]) -> DayTimeline:
    """Pauses that line up with the volume peaks, and missed offers while callers waited, are what an analyst looks for."""
    width, left, right = 760, 92, 26
    span = (left, width - right)
    first, last = _active_hours(day_start, states, calls, queue_calls)

    def x(hour: float) -> float:
        return round(span[0] + (max(first, min(last, hour)) - first) / (last - first) * (span[1] - span[0]), 1)

    volume = np.zeros(48)
    if not queue_calls.empty:
        slots = np.floor(_hours(queue_calls["enqueued_at"], day_start) * 2).astype(int)
        slots = slots[(slots >= 0) & (slots < 48)]
        volume = np.bincount(slots, minlength=48)[:48]
    top = max(int(volume.max()), 1)
    slot_width = round(max((span[1] - span[0]) / (last - first) / 2 - 1, 0.5), 1)
    bars = tuple(Bar(x(slot / 2), round(48 - 40 * count / top, 1), slot_width, round(40 * count / top, 1), QUEUE_COLOUR,
                     f"{slot // 2:02d}:{30 * (slot % 2):02d} {count} calls offered to {queue}")
                 for slot, count in enumerate(volume) if count and first <= slot / 2 < last)
    shown_states = []
    for row, start, end in zip(states.itertuples(index=False), _hours(states["started_at"], day_start),
                               _hours(states["ended_at"], day_start)):
        if end <= first or start >= last:
            continue
        reason = row.reason if isinstance(row.reason, str) else ""
        kind = "available" if row.state == "available" else ("technical" if reason in technical_reasons else "paused")
        label = f"{row.state}{' (' + reason + ')' if reason else ''} {row.started_at:%H:%M}-{row.ended_at:%H:%M}"
        shown_states.append(Bar(x(start), 62, round(max(x(end) - x(start), 0.8), 1), 16, STATE_COLOURS[kind], label))
    shown_calls = tuple(
        Bar(x(start), 88, round(max(x(end) - x(start), 0.8), 1), 16, STATE_COLOURS["on call"],
            f"{row.call_id} {row.answered_at:%H:%M:%S}-{row.ended_at:%H:%M:%S}")
        for row, start, end in zip(calls.itertuples(index=False), _hours(calls["answered_at"], day_start),
                                   _hours(calls["ended_at"], day_start)))
    missed = tuple(Tick(x(at), f"{row.result} {row.call_id} at {row.offered_at:%H:%M:%S}")
                   for row, at in zip(offers.itertuples(index=False), _hours(offers["offered_at"], day_start)))
    hours = tuple(Tick(x(hour), f"{hour:02d}:00") for hour in range(first, last + 1, 1 if last - first <= 12 else 2))
    return DayTimeline(title=f"{rep_id} on {day_start:%Y-%m-%d}: states, calls and {queue} queue volume", width=width,
                       queue=queue, volume=bars, states=tuple(shown_states), calls=shown_calls, missed=missed, hours=hours)


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
