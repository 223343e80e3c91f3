"""Convert the "Anonymous Bank" call-center log (Technion, February 1999) into cadet's canonical calls.

    uv run python benchmarks/real/anonymous_bank.py data_anonymous_bank_february.txt ./bank-export/

The log is one tab-separated line per call that reached the bank's voice-response
unit (VRU): `vru+line, call_id, customer_id, priority, type, date (YYMMDD), vru_entry,
vru_exit, vru_time, q_start, q_exit, q_time, outcome (AGENT / HANG / PHANTOM),
ser_start, ser_exit, ser_time, server`, times as the center's wall clock (Israel).

What it shows, and so what the canonical file says:
- who served the call (`server`) and when: answered_at, ended_at, rep_id;
- the service type (`type`: PS, NW, NE, PE, IN, TT) is the queue the call waited in;
- `customer_id` identifies repeat callers (0 = not identified): it goes in
  remote_number and is pseudonymised at ingest like a phone number;
- callers who hung up in the queue (HANG with queue time) are abandoned, in the VRU
  (no queue time) ivr_abandoned; PHANTOM calls (the log's own word for calls whose
  record is incomplete) are abandoned.
What it does not show, and so is left out (not observable, never zero): who hung up
(disconnected_by empty), transfers (no transfer_kind column: unknown), hold, wrap-up,
offers, presence, surveys, schedules, contracts and hiring dates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

TIMEZONE = "Asia/Jerusalem"
COLUMNS = ["vru_line", "call_id", "customer_id", "priority", "type", "date", "vru_entry", "vru_exit", "vru_time", "q_start",
           "q_exit", "q_time", "outcome", "ser_start", "ser_exit", "ser_time", "server"]


def read_log(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [c.strip().replace("+", "_") for c in frame.columns]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise SystemExit(f"{path}: not the Anonymous Bank log (missing columns {missing})")
    return frame.apply(lambda column: column.str.strip())


def _at(day: pd.Series, clock: pd.Series, after: pd.Series | None = None) -> pd.Series:
    """Local wall-clock times on the call's day, past midnight when earlier than `after`; as UTC."""
    local = pd.to_datetime(day + " " + clock, format="%y%m%d %H:%M:%S", errors="coerce")
    if after is not None:
        local = local.where(~(local < after), local + pd.Timedelta(days=1))
    return local


def to_calls(log: pd.DataFrame) -> pd.DataFrame:
    queued = pd.to_numeric(log.q_time, errors="coerce").fillna(0) > 0
    served = log.outcome.eq("AGENT") & log.server.ne("NO_SERVER") & log.server.ne("")
    vru_entry = _at(log.date, log.vru_entry)
    vru_exit = _at(log.date, log.vru_exit, vru_entry)
    q_start = _at(log.date, log.q_start, vru_entry).where(queued)
    q_exit = _at(log.date, log.q_exit, q_start).where(queued)
    ser_start = _at(log.date, log.ser_start, vru_entry).where(served)
    ser_exit = _at(log.date, log.ser_exit, ser_start).where(served)
    ended = ser_exit.fillna(q_exit).fillna(vru_exit)
    outcome = pd.Series("abandoned", index=log.index)
    outcome[served] = "answered"
    outcome[~served & ~queued] = "ivr_abandoned"  # left in the VRU: no rep was ever offered the call
    # A served call answered straight from the VRU was never queued: its queue wait is zero, not unknown.
    enqueued = q_start.where(queued, ser_start)

    def utc(local: pd.Series) -> pd.Series:
        return local.dt.tz_localize(TIMEZONE, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")

    def iso(stamps: pd.Series) -> pd.Series:
        return stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(stamps.notna(), "")

    calls = pd.DataFrame({
        "call_id": log.call_id,
        "channel": "voice",
        "direction": "inbound",
        "queue": log.type.where(queued | served, ""),
        "remote_number": log.customer_id.where(log.customer_id.ne("0"), ""),
        "started_at": iso(utc(vru_entry)),
        "enqueued_at": iso(utc(enqueued)),
        "answered_at": iso(utc(ser_start)),
        "ended_at": iso(utc(ended)),
        "rep_id": log.server.where(served, ""),
        "outcome": outcome,
        "disconnected_by": "",
    })
    return calls[calls.started_at.ne("") & calls.ended_at.ne("")]


def convert(source: Path, out: Path) -> dict:
    """Write `out/calls.csv`; returns what was written and left out."""
    log = read_log(source)
    calls = to_calls(log)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".calls.csv.tmp"
    calls.to_csv(tmp, index=False)
    tmp.replace(out / "calls.csv")
    return {"lines": len(log), "calls": len(calls), "unreadable_times": len(log) - len(calls),
            "agents": int(calls.rep_id.ne("").groupby(calls.rep_id).size().drop("", errors="ignore").size)}


def short_call_shares(source: Path, seconds: int = 10) -> pd.Series:
    """Each agent's share of served calls shorter than `seconds`, straight from the raw log (the known answer)."""
    log = read_log(source)
    served = log[log.outcome.eq("AGENT") & log.server.ne("NO_SERVER")]
    return (pd.to_numeric(served.ser_time, errors="coerce") < seconds).groupby(served.server).mean().sort_values(ascending=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="data_anonymous_bank_february.txt")
    parser.add_argument("out", type=Path, help="folder for calls.csv")
    args = parser.parse_args(argv)
    print(convert(args.source, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
