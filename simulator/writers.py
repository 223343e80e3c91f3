"""Write a simulated center to disk: canonical files, Asterisk logs or Amazon Connect exports.

The platform writers translate the canonical tables into what those platforms
really write, including what they cannot show: Asterisk's queue_log has no
in-call hold, so hold time simply does not appear there.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.storage import atomic_path, write_lines_atomic, write_text_atomic

CANONICAL_TABLES = ("calls", "offers", "agent_states", "surveys", "schedules", "reps")
SELF_SERVICE_EXTENSION = "selfservice"
WRAPUP_PAUSE_REASON = "ACW"


def _epoch(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Timestamps as int64 epoch seconds, -1 for null."""
    arr = pc.cast(col, pa.timestamp("s", tz="UTC")).cast(pa.int64())
    return np.asarray(pc.fill_null(arr, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _str(col) -> np.ndarray:
    return np.asarray(col.to_pylist(), dtype=object)


def _iso(epochs: np.ndarray) -> np.ndarray:
    """ISO 8601 UTC strings ('2026-01-05T08:00:00Z'); None where the epoch is negative."""
    epochs = np.asarray(epochs, dtype=np.int64)
    text = np.char.add(np.datetime_as_string(epochs.astype("datetime64[s]"), unit="s"), "Z").astype(object)
    text[epochs < 0] = None
    return text


def _iso1(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _session_edges(reps: list, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which presence intervals open and close a login session (rows sorted by rep, then time).

    An interval continues a session when the same rep's previous interval ends
    exactly where it starts.
    """
    rep_arr = np.asarray(reps, dtype=object)
    same_rep = np.r_[False, rep_arr[1:] == rep_arr[:-1]]
    opens = ~(same_rep & (np.r_[-1, end[:-1]] == start))
    closes = np.r_[opens[1:], True]
    return opens, closes


def write_truth(truth: dict, out: Path) -> Path:
    return write_text_atomic(out / "truth.json", json.dumps(truth, indent=1) + "\n")


def _write_table(table: pa.Table, path: Path, file_format: str) -> Path:
    with atomic_path(path) as tmp:
        if file_format == "parquet":
            pq.write_table(table, tmp, compression="zstd")
        else:
            pacsv.write_csv(_csv_ready(table), tmp)
    return path


def _csv_ready(table: pa.Table) -> pa.Table:
    """Timestamps as ISO 8601 with 'Z', so any spreadsheet or parser reads them the same way."""
    cols = []
    for name in table.column_names:
        col = table[name]
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col, format="%Y-%m-%dT%H:%M:%SZ")
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def write_canonical(tables: dict[str, pa.Table], out: Path, file_format: str = "csv") -> list[Path]:
    """cadet's own format: one file per table (docs/data-model.md)."""
    suffix = "parquet" if file_format == "parquet" else "csv"
    return [_write_table(tables[name], out / f"{name}.{suffix}", file_format) for name in CANONICAL_TABLES]


# --------------------------------------------------------------------------- Asterisk

def _join(columns: list, sep: str = "|") -> pa.Array:
    return pc.binary_join_element_wise(*[pa.array(c, type=pa.string()) if not isinstance(c, (pa.Array, pa.ChunkedArray)) else c for c in columns], sep)


def _ints(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).astype(str).astype(object)


def asterisk_callids(calls: pa.Table) -> np.ndarray:
    """Asterisk uniqueids ('epoch.sequence'); a transferred caller keeps the channel, so legs share it."""
    n = calls.num_rows
    started = _epoch(calls["started_at"])
    ids = np.char.add(np.char.add(started.astype(str), "."), np.arange(1, n + 1).astype(str)).astype(object)
    index_of = {cid: i for i, cid in enumerate(calls["call_id"].to_pylist())}
    parents = calls["parent_call_id"].to_pylist()
    for i, parent in enumerate(parents):  # legs are sorted by start, so a parent precedes its child
        if parent is not None:
            ids[i] = ids[index_of[parent]]
    return ids


def write_asterisk(tables: dict[str, pa.Table], truth: dict, out: Path, timezone: str,
                   self_service_extension: str = SELF_SERVICE_EXTENSION, wrapup_reason: str = WRAPUP_PAUSE_REASON) -> list[Path]:
    """queue_log, Master.csv (CDR), surveys.csv keyed by uniqueid, and the schedule files beside them.

    `self_service_extension` and `wrapup_reason` are the site's own conventions (an IVR
    extension such as 8800, a `wrapup` pause), so readers can be tested on a center
    whose conventions are not cadet's defaults.
    """
    calls, offers, states = tables["calls"], tables["offers"], tables["agent_states"]
    agent_of = {r["ids"]["canonical"]: r["ids"]["asterisk"] for r in truth["reps"]}
    skills = {r["ids"]["canonical"]: r["queues"] for r in truth["reps"]}
    callid = asterisk_callids(calls)
    callid_of = dict(zip(calls["call_id"].to_pylist(), callid))

    rows: list[tuple[np.ndarray, np.ndarray, pa.Array]] = []  # (epoch, order, line)
    single: tuple[list, list, list] = ([], [], [])  # presence and system lines, one by one

    def emit(epoch, order, fields):
        epoch = np.asarray(epoch, dtype=np.int64)
        rows.append((epoch, np.full(len(epoch), order, dtype=np.int8), _join([_ints(epoch)] + list(fields))))

    direction = _str(calls["direction"])
    queued = np.asarray(calls["enqueued_at"].is_valid().to_numpy(zero_copy_only=False)) & (direction == "inbound")
    q = calls.filter(pa.array(queued))
    q_id = callid[queued]
    q_queue = _str(q["queue"])
    enq, ans, end = _epoch(q["enqueued_at"]), _epoch(q["answered_at"]), _epoch(q["ended_at"])
    n = q.num_rows
    empty = np.full(n, "", dtype=object)
    none = np.full(n, "NONE", dtype=object)
    emit(enq, 1, [q_id, q_queue, none, np.full(n, "ENTERQUEUE", dtype=object), empty, _str(q["remote_number"]), np.full(n, "1", dtype=object)])

    answered = ans >= 0
    agent = np.array([agent_of.get(r) if r is not None else "NONE" for r in q["rep_id"].to_pylist()], dtype=object)
    wait = np.where(answered, ans - enq, end - enq)
    talk = np.where(answered, end - ans, 0)
    a = answered
    answered_offers = offers.filter(pc.equal(offers["result"], "answered"))
    ring_of = dict(zip(answered_offers["call_id"].to_pylist(), answered_offers["ring_seconds"].to_pylist()))
    ring = np.array([ring_of.get(c, 0) for c in q["call_id"].to_pylist()], dtype=np.int64)
    emit(ans[a], 3, [q_id[a], q_queue[a], agent[a], np.full(a.sum(), "CONNECT", dtype=object), _ints(wait[a]),
                     np.char.add(q_id[a].astype(str), "1").astype(object), _ints(ring[a])])
    kind = _str(q["transfer_kind"])
    to = _str(q["transfer_to"])
    by = _str(q["disconnected_by"])
    completed = a & (kind == None)  # noqa: E711
    ev = np.where(by == "agent", "COMPLETEAGENT", "COMPLETECALLER").astype(object)
    c = completed
    emit(end[c], 4, [q_id[c], q_queue[c], agent[c], ev[c], _ints(wait[c]), _ints(talk[c]), np.full(c.sum(), "1", dtype=object)])
    blind = a & ((kind == "queue") | (kind == "self_service"))
    ext = np.where(kind == "self_service", self_service_extension, to).astype(object)
    ctx = np.where(kind == "self_service", "ivr", "queues").astype(object)
    b = blind
    emit(end[b], 4, [q_id[b], q_queue[b], agent[b], np.full(b.sum(), "BLINDTRANSFER", dtype=object), ext[b], ctx[b],
                     _ints(wait[b]), _ints(talk[b]), np.full(b.sum(), "1", dtype=object)])
    att = a & (kind == "escalation")
    emit(end[att], 4, [q_id[att], q_queue[att], agent[att], np.full(att.sum(), "ATTENDEDTRANSFER", dtype=object),
                       np.full(att.sum(), "BRIDGE", dtype=object), np.char.add("bridge-", q_id[att].astype(str)).astype(object),
                       _ints(wait[att]), _ints(talk[att]), np.full(att.sum(), "1", dtype=object)])
    ab = ~answered
    emit(end[ab], 4, [q_id[ab], q_queue[ab], none[ab], np.full(ab.sum(), "ABANDON", dtype=object),
                      np.full(ab.sum(), "1", dtype=object), np.full(ab.sum(), "1", dtype=object), _ints(wait[ab])])

    # Offers that did not connect: RINGNOANSWER (timeout or reject), RINGCANCELED (caller hung up).
    result = _str(offers["result"])
    miss = result != "answered"
    o_call = np.array([callid_of[c] for c in offers["call_id"].to_pylist()], dtype=object)
    o_queue_of = dict(zip(q["call_id"].to_pylist(), q_queue))
    o_queue = np.array([o_queue_of[c] for c in offers["call_id"].to_pylist()], dtype=object)
    o_agent = np.array([agent_of[r] for r in offers["rep_id"].to_pylist()], dtype=object)
    o_end = _epoch(offers["offered_at"]) + np.asarray(offers["ring_seconds"].to_numpy(), dtype=np.int64)
    o_ev = np.where(result == "caller_abandoned", "RINGCANCELED", "RINGNOANSWER").astype(object)
    ring_ms = _ints(np.asarray(offers["ring_seconds"].to_numpy(), dtype=np.int64) * 1000)
    emit(o_end[miss], 2, [o_call[miss], o_queue[miss], o_agent[miss], o_ev[miss], ring_ms[miss]])

    # Wrap-up is logged the way many Asterisk centers do it: the agent pauses with reason ACW.
    wrap = np.asarray(pc.fill_null(q["wrapup_seconds"], 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    w = answered & (wrap > 0)
    emit(end[w], 5, [none[w], none[w], agent[w], np.full(w.sum(), "PAUSEALL", dtype=object), np.full(w.sum(), wrapup_reason, dtype=object)])
    emit(end[w] + wrap[w], 0, [none[w], none[w], agent[w], np.full(w.sum(), "UNPAUSEALL", dtype=object), empty[w]])

    # Presence: members join their queues at login, pause with a reason, leave at logout.
    s_rep = states["rep_id"].to_pylist()
    s_state = _str(states["state"])
    s_reason = np.array([r or "" for r in states["reason"].to_pylist()], dtype=object)
    s_start, s_end = _epoch(states["started_at"]), _epoch(states["ended_at"])
    s_agent = np.array([agent_of[r] for r in s_rep], dtype=object)
    session_start, session_end = _session_edges(s_rep, s_start, s_end)
    outages = [(_to_epoch(o["start"]), _to_epoch(o["end"])) for o in truth.get("outages", [])]
    for i in np.flatnonzero(session_start):
        for queue in skills[s_rep[i]]:
            rows_single(single, s_start[i], 0, ["NONE", queue, s_agent[i], "ADDMEMBER", ""])
    for i in np.flatnonzero(session_end):
        for queue in skills[s_rep[i]]:
            rows_single(single, s_end[i], 6, ["NONE", queue, s_agent[i], "REMOVEMEMBER", ""])
    paused = np.flatnonzero(s_state == "paused")
    for i in paused:
        site_wide = s_reason[i] == "Technical" and any(o0 <= s_start[i] <= o0 + 120 and s_end[i] == o1 for o0, o1 in outages)
        if site_wide:
            rows_single(single, s_start[i], 5, ["NONE", "NONE", s_agent[i], "PAUSEALL", s_reason[i]])
            rows_single(single, s_end[i], 0, ["NONE", "NONE", s_agent[i], "UNPAUSEALL", ""])
        else:
            for queue in skills[s_rep[i]]:
                rows_single(single, s_start[i], 5, ["NONE", queue, s_agent[i], "PAUSE", s_reason[i]])
                rows_single(single, s_end[i], 0, ["NONE", queue, s_agent[i], "UNPAUSE", ""])
    days = sorted({int(e) // 86400 for e in enq}) if n else []
    for day in days:
        rows_single(single, day * 86400 + 3 * 3600, 0, ["NONE", "NONE", "NONE", "QUEUESTART", ""])

    rows.append((np.asarray(single[0], dtype=np.int64), np.asarray(single[1], dtype=np.int8), pa.array(single[2], pa.string())))
    epoch = np.concatenate([r[0] for r in rows])
    order = np.concatenate([r[1] for r in rows])
    lines = pa.chunked_array([r[2] for r in rows]).combine_chunks() if rows else pa.array([], pa.string())
    idx = np.lexsort((np.arange(len(epoch)), order, epoch))
    ordered = lines.take(pa.array(idx))
    text = (line for start in range(0, len(ordered), 200_000) for line in ordered.slice(start, 200_000).to_pylist())
    paths = [write_lines_atomic(out / "queue_log", text)]
    paths.append(_write_cdr(calls, callid, agent_of, out / "Master.csv", timezone))
    surveys = tables["surveys"]
    s_ids = np.array([callid_of[c] for c in surveys["call_id"].to_pylist()], dtype=object)
    survey_table = pa.table({"call_id": pa.array(s_ids, pa.string()), "score": surveys["score"], "surveyed_at": surveys["surveyed_at"]})
    paths.append(_write_table(survey_table, out / "surveys.csv", "csv"))
    paths.append(_write_table(_with_ids(tables["schedules"], agent_of), out / "schedules.csv", "csv"))
    paths.append(_write_table(_with_ids(tables["reps"], agent_of), out / "reps.csv", "csv"))
    return paths


def rows_single(single: tuple[list, list, list], epoch, order, fields) -> None:
    """One queue_log line (presence and system events are few, so no vectorising needed)."""
    single[0].append(int(epoch))
    single[1].append(order)
    single[2].append("|".join([str(int(epoch))] + [str(f) for f in fields]))


def _to_epoch(text: str) -> int:
    return int(dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp())


def _with_ids(table: pa.Table, mapping: dict[str, str]) -> pa.Table:
    ids = pa.array([mapping[r] for r in table["rep_id"].to_pylist()], pa.string())
    return table.set_column(table.column_names.index("rep_id"), "rep_id", ids)


def _local(epochs: np.ndarray, timezone: str) -> list[str]:
    """Asterisk's cdr_csv writes the PBX's local wall-clock time (usegmtime=no)."""
    zone = ZoneInfo(timezone)
    ts = pa.array(np.asarray(epochs, dtype=np.int64), mask=np.asarray(epochs) < 0).cast(pa.timestamp("s", tz="UTC"))
    local = pc.local_timestamp(pc.cast(ts, pa.timestamp("s", tz=zone.key)))
    return pc.fill_null(pc.strftime(local, format="%Y-%m-%d %H:%M:%S"), "").to_pylist()


def _q(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _write_cdr(calls: pa.Table, callid: np.ndarray, agent_of: dict[str, str], path: Path, timezone: str) -> Path:
    """Master.csv: one CDR per call (first leg of each channel) in cdr_csv's column order.

    accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata,
    start, answer, end, duration, billsec, disposition, amaflags, uniqueid, userfield;
    every field quoted except duration and billsec, as cdr_csv writes them.
    """
    keep = ~np.asarray(calls["parent_call_id"].is_valid().to_numpy(zero_copy_only=False))
    c = calls.filter(pa.array(keep))
    ids = callid[keep].tolist()
    start, answer, end = _epoch(c["started_at"]), _epoch(c["answered_at"]), _epoch(c["ended_at"])
    outbound = (np.asarray(c["direction"].to_pylist(), dtype=object) == "outbound")
    # The IVR answers every inbound call at once; an outbound call is answered when the callee picks up.
    answer = np.where(outbound, answer, start)
    start_l, answer_l, end_l = _local(start, timezone), _local(answer, timezone), _local(end, timezone)
    duration, billsec = (end - start).tolist(), np.where(answer >= 0, end - answer, 0).tolist()
    rows = zip(
        outbound.tolist(), c["remote_number"].to_pylist(), c["rep_id"].to_pylist(), c["queue"].to_pylist(),
        c["outcome"].to_pylist(), start_l, answer_l, end_l, duration, billsec, ids,
    )

    def lines():
        for n, (out_call, number, rep, queue, outcome, s_l, a_l, e_l, dur, bill, uid) in enumerate(rows):
            digits = number.lstrip("+")
            ext = agent_of[rep].split("/", 1)[1] if rep is not None else ""
            if out_call:
                fields = (ext, digits, "from-internal", f'"Agent {ext}" <{ext}>', f"PJSIP/{ext}-{n:08x}", "PJSIP/trunk",
                          "Dial", f"PJSIP/{digits}@trunk,60")
            else:
                app = "Queue" if queue is not None else ("Playback" if outcome == "ivr_self_service" else "BackGround")
                fields = (digits, "s", "ivr-main", f'"" <{digits}>', f"PJSIP/trunk-{n:08x}",
                          f"PJSIP/{ext}" if ext else "", app, queue or "ivr-menu")
            disposition = "ANSWERED" if a_l else "NO ANSWER"
            yield ",".join(
                [_q(""), *(_q(f) for f in fields), _q(s_l), _q(a_l), _q(e_l), str(dur), str(bill), _q(disposition),
                 _q("DOCUMENTATION"), _q(uid), _q("")]
            )

    return write_lines_atomic(path, lines())


# --------------------------------------------------------------------------- Amazon Connect

ACCOUNT = "123456789012"
INSTANCE = "arn:aws:connect:us-east-1:123456789012:instance/7d3b0a4e-1c2f-4e8a-9b6d-5f0e2a1c3d4b"


@functools.cache
def _agent_arn(username: str) -> str:
    """Connect names agents by a UUID in their ARN; derive a stable one from the username."""
    return f"{INSTANCE}/agent/{uuid.uuid5(uuid.NAMESPACE_URL, 'cadet-sim/' + username)}"


def _uuids(seed: int, n: int, salt: int) -> np.ndarray:
    rng = np.random.default_rng([seed, salt])
    raw = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64)
    return np.array([str(uuid.UUID(int=(int(a) << 64 | int(b)) & ((1 << 128) - 1), version=4)) for a, b in raw], dtype=object)


def _j(value) -> str:
    return "null" if value is None else json.dumps(value)


def write_amazon_connect(tables: dict[str, pa.Table], truth: dict, out: Path, seed: int, attribute: str = "csat",
                         self_service_number: str | None = None) -> list[Path]:
    """Contact records (JSON lines, delivered at least once) and the agent event stream.

    With `self_service_number`, pushes to self-service are transfers to that outside
    number (a site's self-service line) instead of to a contact flow.
    """
    calls, offers, states, surveys = tables["calls"], tables["offers"], tables["agent_states"], tables["surveys"]
    user_of = {r["ids"]["canonical"]: r["ids"]["amazon-connect"] for r in truth["reps"]}
    profile_of = {r["ids"]["canonical"]: r["primary_queue"] for r in truth["reps"]}
    n = calls.num_rows
    contact_id = _uuids(seed, n, 1)
    call_ids = calls["call_id"].to_pylist()
    index_of = {c: i for i, c in enumerate(call_ids)}
    parent = [index_of[p] if p is not None else -1 for p in calls["parent_call_id"].to_pylist()]
    child = [-1] * n
    initial = list(range(n))
    for i, p in enumerate(parent):
        if p >= 0:
            child[p] = i
            initial[i] = initial[p]
    score = dict(zip(surveys["call_id"].to_pylist(), surveys["score"].to_pylist()))
    survey_at = dict(zip(surveys["call_id"].to_pylist(), _epoch(surveys["surveyed_at"]).tolist()))
    attempts: dict[str, int] = {}
    for c in offers["call_id"].to_pylist():
        attempts[c] = attempts.get(c, 0) + 1

    started, enq, ans, end = (_epoch(calls[c]).tolist() for c in ("started_at", "enqueued_at", "answered_at", "ended_at"))
    iso_start, iso_enq, iso_ans, iso_end = (_iso(np.array(x)).tolist() for x in (started, enq, ans, end))
    wrap = calls["wrapup_seconds"].to_pylist()
    hold = calls["hold_seconds"].to_pylist()
    holds = calls["hold_count"].to_pylist()
    direction = calls["direction"].to_pylist()
    queue = calls["queue"].to_pylist()
    rep = calls["rep_id"].to_pylist()
    number = calls["remote_number"].to_pylist()
    outcome = calls["outcome"].to_pylist()
    by = calls["disconnected_by"].to_pylist()
    kind = calls["transfer_kind"].to_pylist()
    rng = np.random.default_rng([seed, 2])
    redeliver = rng.random(n)

    records: list[str] = []
    for i in range(n):
        cid = call_ids[i]
        agent = None
        acw_end = end[i] + (wrap[i] or 0)
        if rep[i] is not None and ans[i] >= 0:
            agent = {
                "ARN": _agent_arn(user_of[rep[i]]),
                "AfterContactWorkDuration": wrap[i] or 0,
                "AfterContactWorkStartTimestamp": iso_end[i],
                "AfterContactWorkEndTimestamp": _iso1(acw_end),
                "AgentInteractionDuration": max(0, end[i] - ans[i] - (hold[i] or 0)),
                "ConnectedToAgentTimestamp": iso_ans[i],
                "CustomerHoldDuration": hold[i] or 0,
                "HierarchyGroups": None,
                "LongestHoldDuration": (hold[i] or 0) if (holds[i] or 0) <= 1 else int((hold[i] or 0) * 0.7),
                "NumberOfHolds": holds[i] or 0,
                "RoutingProfile": {"ARN": f"{INSTANCE}/routing-profile/{profile_of[rep[i]]}", "Name": profile_of[rep[i]]},
                "Username": user_of[rep[i]],
            }
        q = None
        if queue[i] is not None:
            dequeue = iso_ans[i] if ans[i] >= 0 else iso_end[i]
            q = {
                "ARN": f"{INSTANCE}/queue/{queue[i]}",
                "DequeueTimestamp": dequeue,
                "Duration": (ans[i] if ans[i] >= 0 else end[i]) - enq[i],
                "EnqueueTimestamp": iso_enq[i],
                "Name": queue[i],
            }
        if direction[i] == "outbound":
            method = "OUTBOUND"
        elif parent[i] >= 0:
            method = "TRANSFER"
        else:
            method = "INBOUND"
        reason = {
            "agent": "AGENT_DISCONNECT",
            "caller": "CUSTOMER_DISCONNECT",
            "transfer": "AGENT_DISCONNECT",
            "system": "CONTACT_FLOW_DISCONNECT",
        }[by[i] or "caller"]
        transferred_to = None
        if kind[i] == "self_service":
            transferred_to = ({"Address": self_service_number, "Type": "TELEPHONE_NUMBER"} if self_service_number
                              else {"Address": "Self-service IVR", "Type": "CONTACT_FLOW"})
        attributes = {}
        last_update = acw_end + 1
        if cid in score:
            attributes[attribute] = str(score[cid])
            last_update = max(last_update, survey_at[cid] + 1)
        record = {
            "AWSAccountId": ACCOUNT,
            "AWSContactTraceRecordFormatVersion": "2017-03-10",
            "Agent": agent,
            "AgentConnectionAttempts": attempts.get(cid, 0),
            "Attributes": attributes,
            "Channel": "VOICE",
            "ConnectedToSystemTimestamp": iso_start[i],
            "ContactId": contact_id[i],
            "CustomerEndpoint": {"Address": number[i], "Type": "TELEPHONE_NUMBER"},
            "DisconnectReason": reason,
            "DisconnectTimestamp": iso_end[i],
            "InitialContactId": contact_id[initial[i]],
            "InitiationMethod": method,
            "InitiationTimestamp": iso_start[i],
            "InstanceARN": INSTANCE,
            "LastUpdateTimestamp": _iso1(last_update),
            "MediaStreams": [{"Type": "AUDIO"}],
            "NextContactId": contact_id[child[i]] if child[i] >= 0 else None,
            "PreviousContactId": contact_id[parent[i]] if parent[i] >= 0 else None,
            "Queue": q,
            "Recording": None,
            "SystemEndpoint": {"Address": "+18005550100", "Type": "TELEPHONE_NUMBER"},
            "TransferCompletedTimestamp": iso_end[i] if kind[i] is not None else None,
            "TransferredToEndpoint": transferred_to,
        }
        if outcome[i] in ("ivr_self_service", "ivr_abandoned"):
            record["AgentConnectionAttempts"] = 0
        # At-least-once delivery: an early copy before the survey arrived, or a plain duplicate.
        if cid in score and redeliver[i] < 0.5:
            early = dict(record, Attributes={}, LastUpdateTimestamp=_iso1(acw_end + 1))
            records.append(json.dumps(early, separators=(",", ":")))
        records.append(json.dumps(record, separators=(",", ":")))
        if redeliver[i] > 0.99:
            records.append(json.dumps(record, separators=(",", ":")))
    paths = [write_lines_atomic(out / "contact_records.jsonl", records)]
    paths.append(
        _write_agent_events(calls, offers, states, contact_id, index_of, iso_enq, end, user_of, profile_of, out / "agent_events.jsonl", seed)
    )
    paths.append(_write_table(_with_ids(tables["schedules"], user_of), out / "schedules.csv", "csv"))
    paths.append(_write_table(_with_ids(tables["reps"], user_of), out / "reps.csv", "csv"))
    return paths


def _write_agent_events(calls, offers, states, contact_id, index_of, enq_iso, end, user_of, profile_of, path: Path, seed: int) -> Path:
    """LOGIN / STATE_CHANGE / LOGOUT / HEART_BEAT events with the agent's snapshot after each change."""
    events: list[tuple[int, int, str, str, str, str | None]] = []  # (epoch, order, rep, type, status, contact json)
    reps = states["rep_id"].to_pylist()
    st_a, en_a = _epoch(states["started_at"]), _epoch(states["ended_at"])
    opens, closes = _session_edges(reps, st_a, en_a)
    st, en, opens, closes = st_a.tolist(), en_a.tolist(), opens.tolist(), closes.tolist()
    state = states["state"].to_pylist()
    reason = states["reason"].to_pylist()
    for i in range(len(reps)):
        first, last = opens[i], closes[i]
        status = "Available" if state[i] == "available" else reason[i]
        if first:
            events.append((st[i], 0, reps[i], "LOGIN", status, None))
        events.append((st[i], 1, reps[i], "STATE_CHANGE", status, None))
        if last:
            events.append((en[i], 8, reps[i], "STATE_CHANGE", "Offline", None))
            events.append((en[i], 9, reps[i], "LOGOUT", "Offline", None))

    queue = calls["queue"].to_pylist()
    parent_valid = calls["parent_call_id"].is_valid().to_pylist()
    o_call = offers["call_id"].to_pylist()
    o_rep = offers["rep_id"].to_pylist()
    o_at = _epoch(offers["offered_at"]).tolist()
    o_ring = offers["ring_seconds"].to_pylist()
    o_res = offers["result"].to_pylist()
    result_state = {"answered": "CONNECTED", "ring_no_answer": "MISSED", "declined": "REJECTED", "caller_abandoned": "MISSED"}

    def contact(i, state_name, at):
        return (
            '{"Channel":"VOICE","ConnectedToAgentTimestamp":null,"ContactId":"%s","InitialContactId":"%s",'  # noqa: UP031 (JSON braces)
            '"InitiationMethod":"%s","Queue":{"ARN":"%s/queue/%s","Name":"%s"},"QueueTimestamp":"%s",'
            '"State":"%s","StateStartTimestamp":"%s"}'
            % (contact_id[i], contact_id[i], "TRANSFER" if parent_valid[i] else "INBOUND", INSTANCE, queue[i], queue[i],
               enq_iso[i], state_name, _iso1(at))
        )

    for k in range(len(o_call)):
        i = index_of[o_call[k]]
        done = o_at[k] + o_ring[k]
        events.append((o_at[k], 2, o_rep[k], "STATE_CHANGE", None, contact(i, "CONNECTING", o_at[k])))
        events.append((done, 3, o_rep[k], "STATE_CHANGE", None, contact(i, result_state[o_res[k]], done)))
        if o_res[k] == "answered":
            events.append((end[i], 4, o_rep[k], "STATE_CHANGE", None, contact(i, "ENDED", end[i])))
    events.sort(key=lambda e: (e[2], e[0], e[1]))

    # Snapshots carry the current status; heartbeats fill silences of 120 s or more.
    ids = _uuids(seed, len(events) * 2 + 1, 3)

    def lines():
        k = 0
        current_status: dict[str, tuple[str, int]] = {}
        prev_rep, prev_t = None, None
        for epoch, _, rep, etype, status, contact_json in events:
            if rep == prev_rep and prev_t is not None and current_status.get(rep, ("Offline", 0))[0] != "Offline":
                beat = prev_t + 120
                while beat < epoch:
                    yield _agent_event(ids[k % len(ids)], beat, "HEART_BEAT", rep, current_status[rep], None, user_of, profile_of)
                    k += 1
                    beat += 120
            if status is not None:
                current_status[rep] = (status, epoch)
            yield _agent_event(ids[k % len(ids)], epoch, etype, rep, current_status.get(rep, ("Offline", epoch)), contact_json, user_of, profile_of)
            k += 1
            prev_rep, prev_t = rep, epoch

    return write_lines_atomic(path, lines())


def _agent_event(event_id, epoch, etype, rep, status, contact_json, user_of, profile_of) -> str:
    name, since = status
    kind = "ROUTABLE" if name == "Available" else "OFFLINE" if name == "Offline" else "CUSTOM"
    user = user_of[rep]
    profile = profile_of[rep]
    stamp = _iso1(epoch)
    return (
        '{"AWSAccountId":"%s","AgentARN":"%s","CurrentAgentSnapshot":{"AgentStatus":{"ARN":"%s/agent-state/%s",'  # noqa: UP031 (JSON braces)
        '"Name":"%s","StartTimestamp":"%s","Type":"%s"},"Configuration":{"AgentHierarchyGroups":null,"FirstName":"%s",'
        '"LastName":"","RoutingProfile":{"ARN":"%s/routing-profile/%s","Name":"%s"},"Username":"%s"},"Contacts":[%s]},'
        '"EventId":"%s","EventTimestamp":"%s","EventType":"%s","InstanceARN":"%s","Version":"2017-10-01"}'
        % (ACCOUNT, _agent_arn(user), INSTANCE, name, name, _iso1(since), kind, user, INSTANCE, profile,
           profile, user, contact_json or "", event_id, stamp, etype, INSTANCE)
    )
