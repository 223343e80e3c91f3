"""Tiny hand-built lake tables for feature tests (callers already pseudonymised to caller_key)."""

from __future__ import annotations

import pandas as pd

T0 = pd.Timestamp("2026-01-05 08:00", tz="UTC")  # a Monday, 08:00 UTC = site time (UTC)


def at(minutes: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=minutes)


def calls(rows: list[dict]) -> pd.DataFrame:
    """Answered inbound legs unless told otherwise; `answer` and `talk` in minutes/seconds from T0."""
    out = []
    for i, row in enumerate(rows):
        row = dict(row)
        answer = row.pop("answer", 10.0 * i)
        talk = row.pop("talk", 240)
        answered = row.pop("answered", True)
        base = {
            "call_id": f"c{i}", "parent_call_id": None, "channel": "voice", "direction": "inbound", "queue": "general",
            "caller_key": 1000 + i, "started_at": at(answer) - pd.Timedelta(seconds=40),
            "enqueued_at": at(answer) - pd.Timedelta(seconds=20), "answered_at": at(answer) if answered else pd.NaT,
            "ended_at": at(answer) + pd.Timedelta(seconds=talk), "rep_id": "ann" if answered else None,
            "outcome": "answered" if answered else "abandoned", "disconnected_by": "caller", "hold_seconds": 0,
            "hold_count": 0, "wrapup_seconds": 30, "transfer_kind": None, "transfer_to": None, "ended_on_hold": False,
        }
        base.update(row)
        out.append(base)
    frame = pd.DataFrame(out)
    for column in ("started_at", "enqueued_at", "answered_at", "ended_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["caller_key"] = frame["caller_key"].astype("Int64")
    for column in ("hold_seconds", "hold_count", "wrapup_seconds"):
        frame[column] = frame[column].astype("Int64")
    frame["ended_on_hold"] = frame["ended_on_hold"].astype("boolean")
    return frame


def offers(rows: list[tuple]) -> pd.DataFrame:
    """(call_id, rep_id, minutes, ring_seconds, result) tuples."""
    frame = pd.DataFrame(rows, columns=["call_id", "rep_id", "minutes", "ring_seconds", "result"])
    frame["offered_at"] = [at(m) for m in frame.pop("minutes")]
    return frame


def states(rows: list[tuple]) -> pd.DataFrame:
    """(rep_id, state, reason, start minutes, end minutes) tuples."""
    frame = pd.DataFrame(rows, columns=["rep_id", "state", "reason", "start", "end"])
    frame["started_at"] = [at(m) for m in frame.pop("start")]
    frame["ended_at"] = [at(m) for m in frame.pop("end")]
    return frame


def schedules(rows: list[tuple]) -> pd.DataFrame:
    """(rep_id, activity, start minutes, end minutes) tuples."""
    frame = pd.DataFrame(rows, columns=["rep_id", "activity", "start", "end"])
    frame["starts_at"] = [at(m) for m in frame.pop("start")]
    frame["ends_at"] = [at(m) for m in frame.pop("end")]
    return frame


def shift_day(rep: str, *pieces: tuple) -> list[tuple]:
    """A rep logged in from 0 to 480 minutes, cut into the given (state, reason, start, end) pieces."""
    return [(rep, state, reason, start, end) for state, reason, start, end in pieces]
