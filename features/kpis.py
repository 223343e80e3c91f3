"""Per-rep contact-center KPIs from canonical tables.

These are the numbers a support manager already knows (answer rate, AHT, hold,
wrap-up, transfer rate, CSAT); the avoidance features build on them.
Pure functions: DataFrames in, DataFrame out, inputs untouched.
"""

from __future__ import annotations

import pandas as pd

KPI_COLUMNS = (
    "offered",
    "answered",
    "answer_rate",
    "aht_seconds",
    "talk_seconds",
    "hold_seconds",
    "wrapup_seconds",
    "transfer_rate",
    "escalation_rate",
    "short_call_rate",
    "csat",
    "surveys",
)


def rep_kpis(calls: pd.DataFrame, offers: pd.DataFrame, surveys: pd.DataFrame) -> pd.DataFrame:
    """One row per rep with the classic KPIs.

    `answer_rate` is answered offers over all offers the rep could act on
    (ring-no-answer and declines count against the rep; a caller hanging up
    while it rang does not).  Handle time is talk + hold + wrap-up of the
    inbound calls the rep answered.  Hold is NaN when the source cannot show it.
    """
    acted = offers[offers["result"] != "caller_abandoned"]
    offer_counts = acted.groupby("rep_id")["result"].agg(
        offered="size", answered=lambda r: int((r == "answered").sum())
    )
    inbound = calls[(calls["direction"] == "inbound") & calls["answered_at"].notna() & calls["rep_id"].notna()]
    connected = (inbound["ended_at"] - inbound["answered_at"]).dt.total_seconds()
    hold = inbound["hold_seconds"].astype("float64")
    per_call = pd.DataFrame(
        {
            "rep_id": inbound["rep_id"],
            "talk_seconds": connected - hold.fillna(0.0),
            "hold_seconds": hold,
            "wrapup_seconds": inbound["wrapup_seconds"].astype("float64"),
            "handle": connected + inbound["wrapup_seconds"].astype("float64").fillna(0.0),
            "transferred": inbound["transfer_kind"].isin(["queue", "self_service", "external"]),
            "escalated": inbound["transfer_kind"] == "escalation",
            "short": connected < 30,
        }
    )
    per_rep = per_call.groupby("rep_id").agg(
        aht_seconds=("handle", "mean"),
        talk_seconds=("talk_seconds", "mean"),
        hold_seconds=("hold_seconds", "mean"),
        wrapup_seconds=("wrapup_seconds", "mean"),
        transfer_rate=("transferred", "mean"),
        escalation_rate=("escalated", "mean"),
        short_call_rate=("short", "mean"),
    )
    rated = surveys.merge(calls[["call_id", "rep_id"]], on="call_id", how="inner")
    csat = rated.groupby("rep_id")["score"].agg(csat="mean", surveys="size")
    out = offer_counts.join(per_rep, how="outer").join(csat, how="left")
    out["answer_rate"] = out["answered"] / out["offered"]
    out["surveys"] = out["surveys"].fillna(0).astype(int)
    return out[list(KPI_COLUMNS)].sort_index()


def center_kpis(calls: pd.DataFrame, surveys: pd.DataFrame) -> dict[str, float]:
    """Center-wide service levels: abandonment, speed of answer, AHT, CSAT."""
    queued = calls[(calls["direction"] == "inbound") & calls["enqueued_at"].notna() & calls["parent_call_id"].isna()]
    answered = queued[queued["answered_at"].notna()]
    asa = (answered["answered_at"] - answered["enqueued_at"]).dt.total_seconds()
    handle = (answered["ended_at"] - answered["answered_at"]).dt.total_seconds() + answered["wrapup_seconds"].astype(
        "float64"
    ).fillna(0.0)
    return {
        "offered_calls": float(len(queued)),
        "abandonment_rate": float((queued["outcome"] == "abandoned").mean()) if len(queued) else float("nan"),
        "asa_seconds": float(asa.mean()) if len(asa) else float("nan"),
        "service_level_20s": float((asa <= 20).mean()) if len(asa) else float("nan"),
        "aht_seconds": float(handle.mean()) if len(handle) else float("nan"),
        "csat": float(surveys["score"].mean()) if len(surveys) else float("nan"),
    }
