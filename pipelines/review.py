"""The analysts' verdict store: append-only, under `<home>/reviews/`, one JSON file per verdict.

One file per verdict, written atomically, never rewritten: a verdict cannot be
lost or half-written, two analysts recording at once cannot clash, and the
history stays (the last verdict for a rep and window is the one in force).
Verdicts live outside the lake and the MLflow store, so re-runs and
retraining never touch them.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pandas as pd

from models.review import VERDICT_COLUMNS, VERDICTS
from pipelines.home import Home
from pipelines.storage import write_text_atomic


def reviews_folder(home: Home | Path | str) -> Path:
    return Home.of(home).reviews


def record_verdict(home: Path, rep_id: str, period_start: dt.date, period_end: dt.date, verdict: str, reviewer: str,
                   reason: str | None = None, note: str | None = None, behaviours: list[str] | None = None,
                   rule_hits: list[str] | None = None, now: dt.datetime | None = None) -> Path:
    """Append one verdict; a dismissal needs a reason.  Returns the file written."""
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}; choose one of {', '.join(VERDICTS)}")
    if verdict == "dismissed" and not (reason or "").strip():
        raise ValueError("a dismissal needs a reason (--reason), so the next analyst knows why the flag was wrong")
    if not reviewer.strip():
        raise ValueError("say who reviewed (--by)")
    recorded = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    record = {"rep_id": rep_id, "period_start": period_start.isoformat(), "period_end": period_end.isoformat(),
              "verdict": verdict, "reason": reason, "reviewer": reviewer, "recorded_at": recorded.isoformat(),
              "note": note, "behaviours": sorted(behaviours or []), "rule_hits": sorted(rule_hits or [])}
    path = reviews_folder(home) / f"{recorded:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.json"
    write_text_atomic(path, json.dumps(record, indent=1))
    return path


def read_verdicts(home: Path) -> pd.DataFrame:
    """Every verdict ever recorded, oldest first; a file that cannot be read stops with its name."""
    records = []
    for path in sorted(reviews_folder(home).glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            records.append({column: record.get(column) for column in VERDICT_COLUMNS})
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable verdict ({exc}); move it aside to continue") from exc
    frame = pd.DataFrame(records, columns=VERDICT_COLUMNS)
    if frame.empty:
        return frame
    frame["period_start"] = pd.to_datetime(frame.period_start).dt.date
    frame["period_end"] = pd.to_datetime(frame.period_end).dt.date
    frame["recorded_at"] = pd.to_datetime(frame.recorded_at, utc=True)
    return frame.sort_values("recorded_at").reset_index(drop=True)
