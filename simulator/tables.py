"""Turn the engine's integer columns into cadet's canonical tables (Arrow)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pipelines.config import SiteConfig
from simulator import engine as E
from simulator.plan import SCHEDULE_ACTIVITIES, Plan
from simulator.population import PAUSE_REASONS, Reps, rep_ids
from simulator.settings import SimulationConfig

TS = pa.timestamp("s", tz="UTC")
OUTCOMES = np.array(["answered", "abandoned", "ivr_self_service", "ivr_abandoned"], dtype=object)
DISCONNECTED_BY = np.array(["caller", "agent", "transfer"], dtype=object)
TRANSFER_KINDS = np.array([None, "queue", "escalation", "self_service"], dtype=object)
OFFER_RESULTS = np.array(["answered", "ring_no_answer", "declined", "caller_abandoned"], dtype=object)
SELF_SERVICE_TARGET = "ivr:self-service"


def customer_numbers(caller: np.ndarray) -> np.ndarray:
    """Stable North-American numbers for customer indices (a bijection, so no two callers share one)."""
    v = 2_000_000_000 + (caller.astype(np.int64) * 2_654_435_761 + 12_345) % 7_999_999_999
    return np.char.add("+1", v.astype(str)).astype(object)


def personal_numbers(encoded: np.ndarray) -> np.ndarray:
    """UK mobile numbers for reps' personal contacts; never equal to a customer's."""
    slot = -encoded.astype(np.int64) - 2
    return np.char.add("+447", (700_000_000 + slot).astype(str)).astype(object)


def _ts(seconds: np.ndarray) -> pa.Array:
    seconds = np.asarray(seconds, dtype=np.int64)
    return pa.array(seconds, type=pa.int64(), mask=seconds < 0).cast(TS)


def _strings(values: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.string())


def _lookup(names: list[str], index: np.ndarray) -> pa.Array:
    index = np.asarray(index, dtype=np.int64)
    return pa.array(names, type=pa.string()).take(pa.array(index, mask=index < 0))


def _concat(results: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join the weeks, shifting leg references by each week's leg offset."""
    out: dict[str, list[np.ndarray]] = {}
    offset = 0
    for res in results:
        n_legs = len(res["leg_caller"])
        for key, value in res.items():
            if key in ("leg_parent", "offer_leg"):
                value = np.where(value >= 0, value + offset, value)
            out.setdefault(key, []).append(value)
        offset += n_legs
    return {k: np.concatenate(v) for k, v in out.items()}


def assemble_tables(
    reps: Reps, plan: Plan, results: list[dict], sim: SimulationConfig, site: SiteConfig, rng: np.random.Generator
) -> dict[str, pa.Table]:
    queue_names = [q.name for q in sim.queues]
    ids = rep_ids(reps.ext)["canonical"]
    R = _concat(results) if results else _concat([_empty_result()])
    n_legs = len(R["leg_caller"])

    # --- inbound legs through the queue ---
    first_leg = R["leg_parent"] < 0
    ivr_seconds = np.where(first_leg, 15 + rng.integers(0, 46, n_legs), 0)
    legs = {
        "started": R["leg_enqueued"] - ivr_seconds,
        "enqueued": R["leg_enqueued"],
        "answered": R["leg_answered"],
        "ended": R["leg_ended"],
        "rep": R["leg_rep"],
        "queue": R["leg_queue"].astype(np.int64),
        "number": customer_numbers(R["leg_caller"]),
        "outcome": OUTCOMES[R["leg_outcome"]],
        "by": DISCONNECTED_BY[R["leg_by"]],
        "hold": np.where(R["leg_answered"] >= 0, R["leg_hold"], -1),
        "holds": np.where(R["leg_answered"] >= 0, R["leg_holds"], -1),
        "wrap": np.where(R["leg_answered"] >= 0, R["leg_wrap"], -1),
        "xfer": TRANSFER_KINDS[R["leg_xfer"]],
        "xfer_to": np.where(
            R["leg_xfer"] == E.XFER_SELF_SERVICE,
            SELF_SERVICE_TARGET,
            np.array(queue_names + [None], dtype=object)[np.where(R["leg_xfer_to"] >= 0, R["leg_xfer_to"], len(queue_names))],
        ),
        "on_hold": np.where(R["leg_answered"] >= 0, R["leg_on_hold"].astype(np.int8), -1),
        "direction": np.full(n_legs, "inbound", dtype=object),
    }

    # --- calls that never left the IVR ---
    ivr = plan.arrival_ivr > 0
    n_ivr = int(ivr.sum())
    ivr_kind = plan.arrival_ivr[ivr]
    ivr_start = plan.arrival_time[ivr]
    ivr_len = np.where(ivr_kind == 1, rng.integers(40, 181, n_ivr), rng.integers(5, 31, n_ivr))
    minus = np.full(n_ivr, -1, dtype=np.int64)
    ivr_calls = {
        "started": ivr_start, "enqueued": minus, "answered": minus, "ended": ivr_start + ivr_len, "rep": minus,
        "queue": minus, "number": customer_numbers(plan.arrival_caller[ivr]),
        "outcome": np.where(ivr_kind == 1, "ivr_self_service", "ivr_abandoned").astype(object),
        "by": np.where(ivr_kind == 1, "system", "caller").astype(object),
        "hold": minus, "holds": minus, "wrap": minus, "xfer": np.full(n_ivr, None, dtype=object),
        "xfer_to": np.full(n_ivr, None, dtype=object), "on_hold": minus,
        "direction": np.full(n_ivr, "inbound", dtype=object),
    }

    # --- outbound calls made by reps ---
    n_out = len(R["out_rep"])
    ring = rng.integers(4, 21, n_out)
    number = R["out_number"]
    out_numbers = np.where(
        number >= 0, customer_numbers(np.maximum(number, 0)), personal_numbers(np.minimum(number, -2))
    )
    # The rep's outbound block covers dialling, the conversation and its wrap-up.
    out_answered = np.minimum(R["out_start"] + ring, R["out_end"] - 2)
    out_ended = np.maximum(R["out_end"] - rng.integers(5, 40, n_out), out_answered + 1)
    out_calls = {
        "started": R["out_start"], "enqueued": np.full(n_out, -1), "answered": out_answered,
        "ended": out_ended, "rep": R["out_rep"],
        "queue": np.full(n_out, -1), "number": out_numbers,
        "outcome": np.full(n_out, "answered", dtype=object),
        "by": np.where(rng.random(n_out) < 0.5, "agent", "caller").astype(object),
        "hold": np.zeros(n_out, dtype=np.int64), "holds": np.zeros(n_out, dtype=np.int64),
        "wrap": R["out_end"] - out_ended, "xfer": np.full(n_out, None, dtype=object),
        "xfer_to": np.full(n_out, None, dtype=object), "on_hold": np.zeros(n_out, dtype=np.int64),
        "direction": np.full(n_out, "outbound", dtype=object),
    }

    parts = [legs, ivr_calls, out_calls]
    cols = {k: np.concatenate([p[k] for p in parts]) for k in legs}
    kind = np.concatenate([np.zeros(n_legs, np.int8), np.ones(n_ivr, np.int8), np.full(n_out, 2, np.int8)])
    local = np.concatenate([np.arange(n_legs), np.arange(n_ivr), np.arange(n_out)])
    order = np.lexsort((local, kind, cols["started"]))
    cols = {k: v[order] for k, v in cols.items()}
    call_id = np.char.add("call-", np.char.zfill(np.arange(1, len(order) + 1).astype(str), 9)).astype(object)
    # where each leg landed after sorting: needed to name parents, offers and surveys
    is_leg = kind[order] == 0
    leg_to_call = np.empty(n_legs, dtype=np.int64)
    leg_to_call[local[order][is_leg]] = np.flatnonzero(is_leg)
    parent = np.full(len(order), -1, dtype=np.int64)
    leg_parent = R["leg_parent"][local[order][is_leg]]
    parent[is_leg] = np.where(leg_parent >= 0, leg_to_call[np.maximum(leg_parent, 0)], -1)

    calls = pa.table(
        {
            "call_id": _strings(call_id),
            "parent_call_id": pa.array(call_id, type=pa.string()).take(pa.array(np.maximum(parent, 0), mask=parent < 0)),
            "channel": pa.array(np.full(len(order), "voice", dtype=object), type=pa.string()),
            "direction": _strings(cols["direction"]),
            "queue": _lookup(queue_names, cols["queue"]),
            "remote_number": _strings(cols["number"]),
            "started_at": _ts(cols["started"]),
            "enqueued_at": _ts(cols["enqueued"]),
            "answered_at": _ts(cols["answered"]),
            "ended_at": _ts(cols["ended"]),
            "rep_id": _lookup(ids, cols["rep"]),
            "outcome": _strings(cols["outcome"]),
            "disconnected_by": _strings(cols["by"]),
            "hold_seconds": pa.array(cols["hold"], type=pa.int32(), mask=cols["hold"] < 0),
            "hold_count": pa.array(cols["holds"], type=pa.int16(), mask=cols["holds"] < 0),
            "wrapup_seconds": pa.array(cols["wrap"], type=pa.int32(), mask=cols["wrap"] < 0),
            "transfer_kind": _strings(cols["xfer"]),
            "transfer_to": _strings(cols["xfer_to"]),
            "ended_on_hold": pa.array(cols["on_hold"] == 1, type=pa.bool_(), mask=cols["on_hold"] < 0),
        }
    )

    offer_call = leg_to_call[R["offer_leg"]]
    o_order = np.lexsort((R["offer_rep"], R["offer_at"], offer_call))
    offers = pa.table(
        {
            "call_id": _strings(call_id[offer_call[o_order]]),
            "rep_id": _lookup(ids, R["offer_rep"][o_order]),
            "offered_at": _ts(R["offer_at"][o_order]),
            "ring_seconds": pa.array(R["offer_ring"][o_order], type=pa.int32()),
            "result": _strings(OFFER_RESULTS[R["offer_result"][o_order]]),
        }
    )

    surveyed = np.flatnonzero(R["leg_csat"] >= 1)
    s_call = leg_to_call[surveyed]
    s_order = np.argsort(s_call, kind="stable")
    surveys = pa.table(
        {
            "call_id": _strings(call_id[s_call[s_order]]),
            "score": pa.array(R["leg_csat"][surveyed][s_order], type=pa.int8()),
            "surveyed_at": _ts(R["leg_csat_at"][surveyed][s_order]),
        }
    )

    states = _agent_states(R, ids)
    schedules = pa.table(
        {
            "rep_id": _lookup(ids, plan.schedule_rep),
            "activity": _strings(np.array(SCHEDULE_ACTIVITIES, dtype=object)[plan.schedule_activity]),
            "starts_at": _ts(plan.schedule_start),
            "ends_at": _ts(plan.schedule_end),
        }
    )
    roster = pa.table(
        {
            "rep_id": pa.array(ids, type=pa.string()),
            "site": pa.array([site.name] * len(ids), type=pa.string()),
            "primary_queue": pa.array([queue_names[q] for q in reps.primary_queue], type=pa.string()),
            "queues": pa.array([";".join(queue_names[q] for q in s) for s in reps.skills], type=pa.string()),
            "hired_on": pa.array(reps.hired_on, type=pa.date32()),
            "contract": pa.array(["part_time" if p else "full_time" for p in reps.part_time], type=pa.string()),
        }
    )
    return {"calls": calls, "offers": offers, "agent_states": states, "surveys": surveys, "schedules": schedules, "reps": roster}


def _agent_states(R: dict[str, np.ndarray], ids: list[str]) -> pa.Table:
    """Login sessions split into available and paused intervals."""
    s_rep, s_in, s_out = R["session_rep"], R["session_login"], R["session_logout"]
    order = np.lexsort((s_in, s_rep))
    s_rep, s_in, s_out = s_rep[order], s_in[order], s_out[order]
    p_rep, p_start, p_end, p_reason = R["pause_rep"], R["pause_start"], R["pause_end"], R["pause_reason"]
    order = np.lexsort((p_start, p_rep))
    p_rep, p_start, p_end, p_reason = p_rep[order], p_start[order], p_end[order], p_reason[order]

    shift = np.int64(1) << 40
    session_of = np.searchsorted(s_rep * shift + s_in, p_rep * shift + p_start, side="right") - 1
    first_in_session = np.ones(len(p_rep), dtype=bool)
    first_in_session[1:] = session_of[1:] != session_of[:-1]
    prev_end = np.empty(len(p_rep), dtype=np.int64)
    prev_end[1:] = p_end[:-1]
    boundary = np.where(first_in_session, s_in[session_of] if len(p_rep) else prev_end, prev_end)
    avail_mask = p_start > boundary
    last_end = s_in.copy()
    if len(p_rep):
        np.maximum.at(last_end, session_of, p_end)
    tail_mask = s_out > last_end

    rep = np.concatenate([p_rep, p_rep[avail_mask], s_rep[tail_mask]])
    start = np.concatenate([p_start, boundary[avail_mask], last_end[tail_mask]])
    end = np.concatenate([p_end, p_start[avail_mask], s_out[tail_mask]])
    n_p, n_a, n_t = len(p_rep), int(avail_mask.sum()), int(tail_mask.sum())
    state = np.concatenate([np.full(n_p, "paused", dtype=object), np.full(n_a + n_t, "available", dtype=object)])
    reason = np.concatenate([np.array(PAUSE_REASONS, dtype=object)[p_reason], np.full(n_a + n_t, None, dtype=object)])
    order = np.lexsort((start, rep))
    return pa.table(
        {
            "rep_id": _lookup(ids, rep[order]),
            "state": _strings(state[order]),
            "reason": _strings(reason[order]),
            "started_at": _ts(start[order]),
            "ended_at": _ts(end[order]),
        }
    )


def _empty_result() -> dict[str, np.ndarray]:
    z = np.zeros(0, dtype=np.int64)
    keys = [
        "leg_caller", "leg_queue", "leg_enqueued", "leg_answered", "leg_ended", "leg_rep", "leg_outcome", "leg_by",
        "leg_hold", "leg_holds", "leg_wrap", "leg_xfer", "leg_xfer_to", "leg_on_hold", "leg_attended", "leg_resolved",
        "leg_csat", "leg_csat_at", "leg_parent", "leg_repeat", "leg_arrival", "offer_leg", "offer_rep", "offer_at",
        "offer_ring", "offer_result", "pause_rep", "pause_start", "pause_end", "pause_reason", "out_rep", "out_start",
        "out_end", "out_number", "out_personal", "session_rep", "session_login", "session_logout",
    ]
    return {k: z.copy() for k in keys}
