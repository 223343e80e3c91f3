"""Read Amazon Connect exports: contact records and the agent event stream.

Contact records arrive at least once: they are deduplicated on ContactId,
keeping the latest LastUpdateTimestamp.  Files may hold one JSON object per line
or objects written back to back (Kinesis Firehose); both are read.  Offers come
from the agent event stream (a contact CONNECTING, then CONNECTED, MISSED or
REJECTED in the agent's snapshot), presence from its status snapshots.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from pipelines.config import ConnectIngestConfig
from pipelines.readers.arrow import member_of
from pipelines.readers.canonical import QUARANTINE_COLUMNS, ReadResult, UnreadableFile, read_canonical

_decoder = json.JSONDecoder()
REQUIRED = ("ContactId", "InitiationMethod", "InitiationTimestamp", "DisconnectTimestamp", "LastUpdateTimestamp")
DISCONNECTED_BY = {
    "AGENT_DISCONNECT": "agent",
    "CUSTOMER_DISCONNECT": "caller",
    "CONTACT_FLOW_DISCONNECT": "system",
    "THIRD_PARTY_DISCONNECT": "caller",
    "TELECOM_PROBLEM": "system",
    "EXPIRED": "system",
    "OTHER": "system",
}


def read_json_objects(path: Path) -> tuple[list[tuple[int, dict]], list[tuple]]:
    """(line, object) for every JSON object in the file, and quarantine rows for what is not JSON.

    Objects one per line, back to back on a line (Firehose), spread over many
    lines (pretty-printed, as in the platform's documentation) or inside a JSON
    array are all read; each is numbered by the line it starts on.
    """
    texts, bad = [], []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                texts.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                bad.append((str(path), number, raw.decode("utf-8", errors="backslashreplace").strip(), f"not UTF-8 text at byte {exc.start}"))
                texts.append("\n")
    objects = []
    for number, value, problem, text in _json_values(texts):
        if problem is None and isinstance(value, dict):
            objects.append((number, value))
        else:
            bad.append((str(path), number, text, problem or "not a JSON object"))
    return objects, bad


def _json_values(texts: list[str]):
    """(line, value, problem, raw text) for each JSON value in the lines.

    The lines are read in pieces that begin where a line opens an object or an
    array at its first column (where a record starts), so a broken value costs
    the rest of its piece, never the records after it.
    """
    bounds = [0] + [i for i, t in enumerate(texts) if i and t.startswith(("{", "["))] + [len(texts)]
    for first, stop in zip(bounds, bounds[1:]):
        piece = "".join(texts[first:stop])
        line_starts = np.cumsum([0] + [len(t) for t in texts[first:stop]])
        position, size = 0, len(piece)
        while True:
            while position < size and piece[position] in " \t\r\n,[]":
                position += 1
            if position >= size:
                break
            line = first + int(np.searchsorted(line_starts, position, side="right"))
            try:
                value, end = _decoder.raw_decode(piece, position)
            except json.JSONDecodeError as exc:
                yield line, None, f"invalid JSON ({exc.msg} at line {first + exc.lineno}, column {exc.colno})", \
                    piece[position:].strip()[:2000]
                break
            yield line, value, None, piece[position:end][:2000]
            position = end


def _get(record: dict, *keys):
    for key in keys:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


def _contact_fields(attribute: str) -> pa.Schema:
    s, i = pa.string(), pa.int64()
    return pa.schema(
        [
            ("ContactId", s), ("PreviousContactId", s), ("NextContactId", s), ("Channel", s), ("InitiationMethod", s),
            ("InitiationTimestamp", s), ("DisconnectTimestamp", s), ("LastUpdateTimestamp", s), ("DisconnectReason", s),
            ("TransferCompletedTimestamp", s),
            ("CustomerEndpoint", pa.struct([("Address", s)])),
            ("Queue", pa.struct([("Name", s), ("EnqueueTimestamp", s)])),
            ("Agent", pa.struct([("Username", s), ("ConnectedToAgentTimestamp", s), ("CustomerHoldDuration", i),
                                 ("NumberOfHolds", i), ("AfterContactWorkDuration", i), ("AfterContactWorkStartTimestamp", s)])),
            ("TransferredToEndpoint", pa.struct([("Type", s), ("Address", s)])),
            ("Attributes", pa.struct([(attribute, s)])),
        ]
    )


def _json_lines(path: Path, schema: pa.Schema) -> pa.Table | None:
    """A JSON-lines file read by pyarrow with only `schema`'s fields; None when it needs the careful reader.

    That is when a line is not JSON, holds several objects (Firehose) or is
    blank: then row numbers would no longer be line numbers.
    """
    raw = path.read_bytes()
    lines = raw.count(b"\n") + (0 if raw.endswith(b"\n") or not raw else 1)
    try:
        table = pajson.read_json(
            pa.py_buffer(raw), parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return table if table.num_rows == lines else None


def _contact_rows_fast(path: Path, settings: ConnectIngestConfig) -> tuple[pd.DataFrame, int] | None:
    """JSON-lines contact records read by pyarrow; None when the file needs the careful reader."""
    t = _json_lines(path, _contact_fields(settings.survey_attribute))
    if t is None:
        return None
    column = {name: t[name].combine_chunks() for name in t.column_names}
    for name in REQUIRED:
        if not pc.all(pc.fill_null(pc.not_equal(column[name], ""), False)).as_py():
            return None  # the careful reader names what is missing, line by line

    def col(array) -> np.ndarray:
        return array.to_numpy(zero_copy_only=False)

    agent, queue, moved = column["Agent"], column["Queue"], column["TransferredToEndpoint"]
    frame = pd.DataFrame(
        {
            "line": np.arange(1, t.num_rows + 1),
            "last_update": col(column["LastUpdateTimestamp"]),
            "call_id": col(column["ContactId"]),
            "parent_call_id": col(column["PreviousContactId"]),
            "next_call_id": col(column["NextContactId"]),
            "channel": col(pc.utf8_lower(pc.fill_null(column["Channel"], "VOICE"))),
            "method": col(column["InitiationMethod"]),
            "queue": col(_field(queue, "Name")),
            "remote_number": col(_field(column["CustomerEndpoint"], "Address")),
            "started_at": col(column["InitiationTimestamp"]),
            "enqueued_at": col(_field(queue, "EnqueueTimestamp")),
            "answered_at": col(_field(agent, "ConnectedToAgentTimestamp")),
            "ended_at": col(column["DisconnectTimestamp"]),
            "rep_id": col(_field(agent, "Username")),
            "reason": col(column["DisconnectReason"]),
            "hold_seconds": pd.array(_field(agent, "CustomerHoldDuration").to_pylist(), dtype="Int64"),
            "hold_count": pd.array(_field(agent, "NumberOfHolds").to_pylist(), dtype="Int64"),
            "wrapup_seconds": pd.array(_field(agent, "AfterContactWorkDuration").to_pylist(), dtype="Int64"),
            "transferred_to_type": col(_field(moved, "Type")),
            "transferred_to": col(_field(moved, "Address")),
            "transfer_done": col(column["TransferCompletedTimestamp"]),
            "agent_left": col(_field(agent, "AfterContactWorkStartTimestamp")),
            "score": col(_field(column["Attributes"], settings.survey_attribute)),
        }
    )
    return frame, t.num_rows


TEXT_FIELDS = ("ContactId", "PreviousContactId", "NextContactId", "Channel", "InitiationMethod", "InitiationTimestamp",
               "DisconnectTimestamp", "LastUpdateTimestamp", "DisconnectReason", "TransferCompletedTimestamp")
BLOCKS = {"Agent": ("Username", "ConnectedToAgentTimestamp", "AfterContactWorkStartTimestamp"),
          "Queue": ("Name", "EnqueueTimestamp"), "CustomerEndpoint": ("Address",), "TransferredToEndpoint": ("Type", "Address")}
NUMBERS = ("CustomerHoldDuration", "NumberOfHolds", "AfterContactWorkDuration")


def _wrong_types(record: dict) -> list[str]:
    """The documented fields that hold something other than their documented type (text, object, whole number)."""
    wrong = [k for k in TEXT_FIELDS if record.get(k) is not None and not isinstance(record[k], str)]
    for block, fields in BLOCKS.items():
        value = record.get(block)
        if value is not None and not isinstance(value, dict):
            wrong.append(block)
            continue
        wrong += [f"{block}.{f}" for f in fields if value and value.get(f) is not None and not isinstance(value[f], str)]
        if block == "Agent" and value:
            wrong += [f"Agent.{f}" for f in NUMBERS if value.get(f) is not None
                      and (isinstance(value[f], bool) or not isinstance(value[f], int) or value[f] < 0)]
    if record.get("Attributes") is not None and not isinstance(record["Attributes"], dict):
        wrong.append("Attributes")
    return wrong


def read_contact_records(path: Path, settings: ConnectIngestConfig) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(contacts, quarantine, lines read) from one file of contact records, every version as delivered."""
    fast = _contact_rows_fast(path, settings)
    if fast is not None:
        frame, lines_read = fast
        return _timed(path, frame, [], lines_read)
    objects, bad = read_json_objects(path)
    lines_read = len(objects) + len(bad)  # records read: a record may span lines, a line hold several
    rows = []
    for number, record in objects:
        missing = [k for k in REQUIRED if not record.get(k)]
        if missing:
            bad.append((str(path), number, json.dumps(record)[:2000], f"missing required field(s) {missing}"))
            continue
        wrong = _wrong_types(record)
        if wrong:
            bad.append((str(path), number, json.dumps(record)[:2000], f"field(s) of the wrong type: {', '.join(wrong)}"))
            continue
        agent = record.get("Agent") or {}
        queue = record.get("Queue") or {}
        rows.append(
            {
                "line": number,
                "last_update": record["LastUpdateTimestamp"],
                "call_id": record["ContactId"],
                "parent_call_id": record.get("PreviousContactId"),
                "next_call_id": record.get("NextContactId"),
                "channel": str(record.get("Channel") or "VOICE").lower(),
                "method": record["InitiationMethod"],
                "queue": queue.get("Name"),
                "remote_number": _get(record, "CustomerEndpoint", "Address"),
                "started_at": record["InitiationTimestamp"],
                "enqueued_at": queue.get("EnqueueTimestamp"),
                "answered_at": agent.get("ConnectedToAgentTimestamp"),
                "ended_at": record["DisconnectTimestamp"],
                "rep_id": agent.get("Username"),
                "reason": record.get("DisconnectReason"),
                "hold_seconds": agent.get("CustomerHoldDuration") if agent else None,
                "hold_count": agent.get("NumberOfHolds") if agent else None,
                "wrapup_seconds": agent.get("AfterContactWorkDuration") if agent else None,
                "transferred_to_type": _get(record, "TransferredToEndpoint", "Type"),
                "transferred_to": _get(record, "TransferredToEndpoint", "Address"),
                "transfer_done": record.get("TransferCompletedTimestamp"),
                "agent_left": agent.get("AfterContactWorkStartTimestamp"),
                "score": _get(record, "Attributes", settings.survey_attribute),
            }
        )
    return _timed(path, pd.DataFrame(rows), bad, lines_read)


CONTACT_COLUMNS = ["line", "last_update", "call_id", "parent_call_id", "next_call_id", "channel", "method", "queue",
                   "remote_number", "started_at", "enqueued_at", "answered_at", "ended_at", "rep_id", "reason", "hold_seconds",
                   "hold_count", "wrapup_seconds", "transferred_to_type", "transferred_to", "transfer_done", "agent_left", "score"]
TIMES = ("last_update", "started_at", "enqueued_at", "answered_at", "ended_at", "transfer_done", "agent_left")


def _timed(path: Path, frame: pd.DataFrame, bad: list, lines_read: int) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Times parsed as times (versions compare as instants: '10:00:00Z' sorts after '10:00:00.5Z' as text)."""
    quarantine = pd.DataFrame(bad, columns=QUARANTINE_COLUMNS)
    if frame.empty:  # an empty file (a quiet hour's delivery) or nothing usable: no contacts, with their columns
        frame = pd.DataFrame({c: pd.Series(dtype="datetime64[ns, UTC]" if c in TIMES else object) for c in CONTACT_COLUMNS})
        return frame, quarantine, lines_read
    for column in TIMES:
        if column not in frame:
            frame[column] = None
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601", errors="coerce")
    unreadable = frame.started_at.isna() | frame.ended_at.isna() | frame.last_update.isna()
    for _, row in frame[unreadable].iterrows():
        quarantine.loc[len(quarantine)] = (str(path), row.line, row.call_id, "InitiationTimestamp, DisconnectTimestamp or "
                                           "LastUpdateTimestamp is not an ISO 8601 time")
    return frame[~unreadable], quarantine, lines_read


def newest_versions(contacts: pd.DataFrame) -> pd.DataFrame:
    """One row per ContactId: the latest LastUpdateTimestamp, then the last read, wins."""
    order = ["call_id", "last_update"] + (["file_order"] if "file_order" in contacts else []) + ["line"]
    return contacts.sort_values(order, kind="stable").drop_duplicates("call_id", keep="last")


def to_surveys(contacts: pd.DataFrame) -> pd.DataFrame:
    """The survey score a contact record carries as an attribute, dated later by its call."""
    scored = contacts[contacts.score.notna()]
    scores = pd.to_numeric(scored.score, errors="coerce")
    surveys = pd.DataFrame({"call_id": scored.call_id, "score": scores.astype("Int64"), "surveyed_at": pd.NaT,
                            "updated_at": scored.last_update})
    return surveys[surveys.score.between(1, 5)]


def convention_warnings(contacts: pd.DataFrame, settings: ConnectIngestConfig) -> list[str]:
    """The configured conventions these contact records never show, each with what they do show."""
    hint = "run `cadet inspect --source amazon-connect ...` to see what the records show"
    out = []
    queues = sorted(set(contacts.queue.dropna()))
    if contacts.method.eq("TRANSFER").any() and not set(settings.tier2_queues) & set(queues):
        out.append(f"none of the tier-2 queues {settings.tier2_queues} appears in these records (queues: {', '.join(queues)}), "
                   f"so no transfer counts as an escalation; {hint}")
    numbers = set(contacts.loc[contacts.transferred_to_type.eq("TELEPHONE_NUMBER"), "transferred_to"].dropna())
    if settings.self_service_numbers and not set(settings.self_service_numbers) & numbers:
        out.append(f"no contact was transferred to the self-service numbers in the settings; {hint}")
    seen = set(contacts.rep_id.dropna())
    missing = sorted(set(settings.supervisors) - seen)
    if missing and len(seen):
        out.append(f"supervisors {missing} handle no contact in these records (check the usernames)")
    return out


def rep_contacts(contacts: pd.DataFrame, settings: ConnectIngestConfig) -> pd.Series:
    """Which contact records are calls: not a supervisor's monitoring (MONITOR) nor a named supervisor's."""
    return ~contacts.method.eq("MONITOR") & ~contacts.rep_id.isin(settings.supervisors)


def to_calls(contacts: pd.DataFrame, settings: ConnectIngestConfig, other_queues: pd.Series | None = None) -> pd.DataFrame:
    """Contact records in cadet's calls shape.

    A rep's leg ends when the rep left it: at the transfer (TransferCompletedTimestamp)
    or when after-contact work began, not at DisconnectTimestamp, which is when the
    customer left Amazon Connect, long after a transfer to an outside number.
    `other_queues`: the queue of contacts landed before (call id -> queue), for a
    transfer whose next contact's record came in an earlier run.
    """
    c = contacts
    next_queue = c.next_call_id.map(c.set_index("call_id").queue)
    if other_queues is not None and len(other_queues):
        next_queue = next_queue.fillna(c.next_call_id.map(other_queues))
    self_service = c.transferred_to_type.eq("CONTACT_FLOW") | c.transferred_to.isin(settings.self_service_numbers)
    to_queue = c.next_call_id.notna() & next_queue.notna()
    transferred = self_service | to_queue | c.transferred_to_type.notna()
    never_queued = c.queue.isna() & c.method.ne("OUTBOUND")
    outcome = np.select(
        [never_queued & c.reason.eq("CONTACT_FLOW_DISCONNECT"), never_queued, c.answered_at.notna()],
        ["ivr_self_service", "ivr_abandoned", "answered"],
        default="abandoned",
    )
    answered = c.answered_at.notna()
    left = pd.concat([c.ended_at, c.transfer_done.where(c.transfer_done >= c.answered_at),
                      c.agent_left.where(c.agent_left >= c.answered_at)], axis=1).min(axis=1)
    ended = left.where(answered, c.ended_at)
    return pd.DataFrame(
        {
            "call_id": c.call_id.values,
            "parent_call_id": c.parent_call_id.values,
            "channel": c.channel.values,
            "direction": np.where(c.method.eq("OUTBOUND"), "outbound", "inbound"),
            "queue": c.queue.values,
            "remote_number": c.remote_number.values,
            "started_at": c.started_at.array,
            "enqueued_at": c.enqueued_at.array,
            "answered_at": c.answered_at.array,
            "ended_at": ended.array,
            "rep_id": c.rep_id.where(answered).values,
            "outcome": outcome,
            "disconnected_by": np.where(transferred, "transfer", c.reason.map(DISCONNECTED_BY).values),
            "hold_seconds": pd.array(c.hold_seconds.where(answered).values, dtype="Int64"),
            "hold_count": pd.array(c.hold_count.where(answered).values, dtype="Int64"),
            "wrapup_seconds": pd.array(c.wrapup_seconds.where(answered).values, dtype="Int64"),
            "transfer_kind": np.select(
                [self_service, to_queue & next_queue.isin(settings.tier2_queues), to_queue, transferred],
                ["self_service", "escalation", "queue", "external"],
                default=None,
            ),
            "transfer_to": np.where(self_service, "ivr:self-service", np.where(to_queue, next_queue, c.transferred_to)),
            "ended_on_hold": pd.array([pd.NA] * len(c), dtype="boolean"),  # contact records do not say
            "updated_at": c.last_update.array,
        }
    )


_S = pa.string()
AGENT_EVENT_FIELDS = pa.schema(
    [
        ("EventType", _S),
        ("EventTimestamp", _S),
        (
            "CurrentAgentSnapshot",
            pa.struct(
                [
                    ("AgentStatus", pa.struct([("Name", _S), ("Type", _S), ("StartTimestamp", _S)])),
                    ("Configuration", pa.struct([("Username", _S)])),
                    ("Contacts", pa.list_(pa.struct([("ContactId", _S), ("State", _S), ("StateStartTimestamp", _S)]))),
                ]
            ),
        ),
    ]
)
AGENT_EVENT_TYPES = ("LOGIN", "LOGOUT", "STATE_CHANGE", "HEART_BEAT")


def _field(array, *names):
    for name in names:
        array = pc.struct_field(array, name)
    return array


def _agent_events_fast(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, int] | None:
    """JSON lines read by pyarrow in one go; None when the file needs the careful reader."""
    table = _json_lines(path, AGENT_EVENT_FIELDS)
    if table is None:
        return None
    snapshot = table["CurrentAgentSnapshot"].combine_chunks()
    user = _field(snapshot, "Configuration", "Username")
    kind = table["EventType"].combine_chunks()
    valid = pc.and_(pc.and_(pc.is_valid(user), pc.is_in(kind, value_set=pa.array(AGENT_EVENT_TYPES))), pc.is_valid(table["EventTimestamp"].combine_chunks()))
    if not pc.all(pc.fill_null(valid, False)).as_py():
        return None
    status = _field(snapshot, "AgentStatus")
    statuses = pd.DataFrame(
        {
            "rep_id": user.to_numpy(zero_copy_only=False),
            "event_at": table["EventTimestamp"].to_numpy(),
            "event": kind.to_numpy(zero_copy_only=False),
            "status": _field(status, "Name").to_numpy(zero_copy_only=False),
            "status_type": _field(status, "Type").to_numpy(zero_copy_only=False),
            "since": _field(status, "StartTimestamp").to_numpy(zero_copy_only=False),
            "line": np.arange(1, table.num_rows + 1),
        }
    )
    contacts = _field(snapshot, "Contacts")
    flat = pc.list_flatten(contacts)
    owner = np.asarray(pc.list_parent_indices(contacts).to_numpy(zero_copy_only=False))
    contact_states = pd.DataFrame(
        {
            "rep_id": statuses.rep_id.values[owner] if len(owner) else [],
            "call_id": _field(flat, "ContactId").to_numpy(zero_copy_only=False),
            "state": _field(flat, "State").to_numpy(zero_copy_only=False),
            "since": _field(flat, "StateStartTimestamp").to_numpy(zero_copy_only=False),
        }
    ).dropna()
    return statuses, contact_states, table.num_rows


def read_agent_events(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """(status changes, contact states, quarantine, lines read) from one agent event stream file."""
    fast = _agent_events_fast(path)
    if fast is not None:
        statuses, contact_states, lines = fast
        for frame, columns in ((statuses, ("event_at", "since")), (contact_states, ("since",))):
            for column in columns:
                frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601", errors="coerce")
        return statuses, contact_states, pd.DataFrame(columns=QUARANTINE_COLUMNS), lines
    objects, bad = read_json_objects(path)
    lines_read = len(objects) + len(bad)  # records read: a record may span lines, a line hold several
    statuses, contacts = [], []
    for number, event in objects:
        snapshot = event.get("CurrentAgentSnapshot")
        snapshot = snapshot if isinstance(snapshot, dict) else {}
        user = _get(snapshot, "Configuration", "Username")
        kind = event.get("EventType")
        stamp = event.get("EventTimestamp")
        if not isinstance(user, str) or not user or kind not in AGENT_EVENT_TYPES or not isinstance(stamp, str) or not stamp:
            bad.append((str(path), number, json.dumps(event)[:2000], "not an agent event (needs EventType, EventTimestamp and the agent's Username)"))
            continue
        status = snapshot.get("AgentStatus")
        status = status if isinstance(status, dict) else {}
        statuses.append((user, stamp, kind, _str(status.get("Name")), _str(status.get("Type")), _str(status.get("StartTimestamp")),
                         number))
        listed = snapshot.get("Contacts")
        for contact in listed if isinstance(listed, list) else []:
            if isinstance(contact, dict):
                contacts.append((user, _str(contact.get("ContactId")), _str(contact.get("State")),
                                 _str(contact.get("StateStartTimestamp"))))
    status_frame = pd.DataFrame(statuses, columns=["rep_id", "event_at", "event", "status", "status_type", "since", "line"])
    contact_frame = pd.DataFrame(contacts, columns=["rep_id", "call_id", "state", "since"]).dropna()
    for frame, columns in ((status_frame, ("event_at", "since")), (contact_frame, ("since",))):
        for column in columns:
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601", errors="coerce")
    return status_frame, contact_frame, pd.DataFrame(bad, columns=QUARANTINE_COLUMNS), lines_read


def _status_types(statuses: pd.DataFrame, settings: ConnectIngestConfig) -> pd.DataFrame:
    """Older snapshots carry only the status Name (AWS's own sample has no Type): Available, Offline or custom."""
    missing = statuses.status_type.isna() & statuses.status.notna()
    if not missing.any():
        return statuses
    names = statuses.status.where(missing)
    guessed = np.select([names.isin(settings.available_status_names), names.isin(settings.offline_status_names)],
                        ["ROUTABLE", "OFFLINE"], default="CUSTOM")
    return statuses.assign(status_type=statuses.status_type.where(~missing, guessed))


def _str(value) -> str | None:
    """Text as text; anything else a snapshot holds where text belongs counts as absent."""
    return value if isinstance(value, str) else None


def to_agent_states(statuses: pd.DataFrame) -> pd.DataFrame:
    """Status snapshots into intervals: ROUTABLE = available, CUSTOM = paused (reason = status name).

    With a `file` column (several files read together), each interval names the
    file of the event that ended it, so a status begun in one file and changed
    in the next is one interval, not two halves lost at the seam.
    """
    rows = []
    order = ["rep_id", "event_at"] + (["file_order"] if "file_order" in statuses else []) + ["line"]
    ordered = statuses.sort_values(order, kind="stable")
    files = ordered["file"] if "file" in ordered else pd.Series(None, index=ordered.index, dtype=object)
    # Heartbeats and contact changes repeat the status: only changes and log-ins/outs matter here.
    cols = ordered[["rep_id", "status", "status_type", "since"]]
    before = cols.shift()
    same = ((cols == before) | (cols.isna() & before.isna())).all(axis=1)
    changed = ~same | ordered.event.isin(["LOGIN", "LOGOUT"])
    kept = ordered[changed].assign(_file=files[changed])
    for rep, group in kept.groupby("rep_id", sort=True):
        current = None  # (state, reason, since)
        for event, name, kind, since, at, file in zip(group["event"], group["status"], group["status_type"], group["since"],
                                                      group["event_at"], group["_file"]):
            offline = event == "LOGOUT" or kind == "OFFLINE"
            state = None if offline else ("available" if kind == "ROUTABLE" else "paused")
            start = at if offline or pd.isna(since) else since
            new = None if state is None else (state, name if state == "paused" else None, start)
            if current is not None and (new is None or new[:2] != current[:2] or new[2] != current[2]):
                if start > current[2]:
                    rows.append((rep, current[0], current[1], current[2], start, file))
                current = None
            if new is not None and current is None:
                current = new
    frame = pd.DataFrame(rows, columns=["rep_id", "state", "reason", "started_at", "ended_at", "file"])
    return frame if "file" in statuses else frame.drop(columns=["file"])


def _offers(contact_states: pd.DataFrame, calls: pd.DataFrame) -> pd.DataFrame:
    """CONNECTING then CONNECTED / MISSED / REJECTED: an offer; a miss when the caller hung up is not the rep's.

    Besides the offers table's columns: whether a contact record shows the call answered by nobody, when the
    result came, and (with a `file` column in the states) the file the result came from.
    """
    states = contact_states.drop_duplicates(["rep_id", "call_id", "state", "since"]).sort_values(["rep_id", "call_id", "since"])
    ringing = states[states.state == "CONNECTING"].drop(columns=["file"], errors="ignore")
    results = states[states.state.isin(["CONNECTED", "MISSED", "REJECTED"])]
    merged = pd.merge_asof(
        ringing.sort_values("since"), results.sort_values("since").rename(columns={"since": "done", "state": "result"}),
        left_on="since", right_on="done", by=["rep_id", "call_id"], direction="forward",
    ).dropna(subset=["result"])
    known = calls.drop_duplicates("call_id").set_index("call_id")
    ended = merged.call_id.map(known.ended_at)
    answered_by_nobody = merged.call_id.map(known.answered_at).isna() & member_of(merged.call_id, known.index)
    caller_gone = (merged.result == "MISSED") & answered_by_nobody & (ended == merged.done)
    result = np.select(
        [merged.result == "CONNECTED", caller_gone, merged.result == "MISSED"],
        ["answered", "caller_abandoned", "ring_no_answer"],
        default="declined",
    )
    offers = pd.DataFrame(
        {
            "call_id": merged.call_id.values,
            "rep_id": merged.rep_id.values,
            "offered_at": merged.since.array,
            "ring_seconds": ((merged.done - merged.since).dt.total_seconds()).astype("int64").values,
            "result": result,
            "answered_by_nobody": answered_by_nobody.values,
            "done": merged.done.array,
        }
    )
    return offers.assign(file=merged["file"].values) if "file" in contact_states else offers


def is_agent_events(first_object: dict) -> bool:
    return "CurrentAgentSnapshot" in first_object or "AgentARN" in first_object


CARRIED = "(carried over from an earlier ingest)"
CARRY_COLUMNS = ["kind", "rep_id", "call_id", "event_at", "event", "status", "status_type", "since", "state"]
STALE_CARRY_SECONDS = 86_400  # a ringing contact with no outcome (or no record) a day after the newest event gets none


@dataclass(frozen=True)
class ConnectHistory:
    """What earlier ingests saw that this one's event files continue.

    `carried`: each rep's newest status snapshot (kind 'status'), so a status
    the last file ended in is one interval with its change in the next; and the
    contact states of ringing contacts whose outcome had not come yet, or whose
    miss cannot be judged before the contact record arrives (kind 'contact').
    `calls`: the lake's contacts (call_id, answered_at, ended_at, queue), so a
    miss is judged against a record an earlier run landed, and a transfer
    against the queue its next contact went to.
    """

    carried: pd.DataFrame
    calls: pd.DataFrame


def read_connect(files: list[Path], settings: ConnectIngestConfig) -> list[ReadResult]:
    """Contact records, agent events, and canonical schedules/rosters beside them."""
    return read_connect_incremental(files, settings, None)[0]


def read_connect_incremental(files: list[Path], settings: ConnectIngestConfig, history: ConnectHistory | None
                             ) -> tuple[list[ReadResult], pd.DataFrame, pd.DataFrame]:
    """`read_connect` continuing what earlier ingests left open.

    Returns the results, what to carry on, and the contacts landed before
    whose transfer these records complete (call_id, the queue their next
    contact went to, when that one started).

    A miss is the rep's (ring-no-answer) or the caller's (hung up while it
    rang) only once the contact record says which: until the record arrives,
    the offer is held (skipped, with that reason) and carried to the next run.
    """
    results: list[ReadResult] = []
    record_files, event_files = [], []
    for path in files:
        if path.suffix in (".csv", ".parquet"):
            results.append(read_canonical(path))
            continue
        objects, _ = first_object(path)
        (event_files if objects is not None and is_agent_events(objects) else record_files).append(path)
    if not record_files:
        raise UnreadableFile("no contact records among the files: an Amazon Connect ingest needs them")
    contact_frames, call_results = [], []
    for order, path in enumerate(record_files):
        contacts, quarantine, lines = read_contact_records(path, settings)
        contact_frames.append(contacts.assign(file_order=order))
        call_results.append((path, quarantine, lines))
    # Across files too: each contact once, its newest version, landed for the file that delivered it
    everything = pd.concat(contact_frames, ignore_index=True)
    everything = newest_versions(everything)
    kept = rep_contacts(everything, settings)
    other_queues = None
    if history is not None and "queue" in history.calls and len(history.calls):
        other_queues = history.calls.dropna(subset=["queue"]).drop_duplicates("call_id").set_index("call_id").queue
    calls = to_calls(everything[kept], settings, other_queues)
    # a transfer's next contact whose first contact landed in an earlier run: that contact's transfer, completed
    moved = everything[kept]
    moved = moved[moved.method.isin(["TRANSFER", "QUEUE_TRANSFER"]) & moved.parent_call_id.notna() & moved.queue.notna()
                  & ~member_of(moved.parent_call_id, set(everything.call_id))]
    transfers = pd.DataFrame({"call_id": moved.parent_call_id.values, "queue": moved.queue.values,
                              "next_started_at": moved.started_at.array})
    surveys = to_surveys(everything[kept])
    warnings = convention_warnings(everything, settings)
    for order, (path, quarantine, lines) in enumerate(call_results):
        delivered = everything.file_order.eq(order)
        mine = calls[member_of(calls.call_id, everything.call_id[delivered & kept])]
        monitoring = int((delivered & ~kept).sum())
        superseded = len(contact_frames[order]) - int(delivered.sum())
        reasons = [text for count, text in ((monitoring, "supervisors monitoring calls, not reps' calls"),
                                             (superseded, "older deliveries of contacts a newer record supersedes")) if count]
        results.append(ReadResult(path, "calls", mine.reset_index(drop=True), quarantine, lines,
                                  skipped=monitoring + superseded, skip_reason="; ".join(reasons) or None,
                                  warnings=warnings + _unaccounted(path, lines, len(mine), len(quarantine),
                                                                   monitoring + superseded),
                                  lines_used=len(mine)))
        warnings = []  # said once, with the first file
        results.append(ReadResult(path, "surveys", surveys[member_of(surveys.call_id, mine.call_id)].reset_index(drop=True),
                                  pd.DataFrame(columns=QUARANTINE_COLUMNS), 0))
    # The event files of a run are read together: a status or a ringing contact that one file begins and the next
    # ends is one interval, one offer, landed for the file that ends it.
    read_events, all_statuses, all_contacts = [], [], []
    for order, path in enumerate(event_files):
        statuses, contact_states, quarantine, lines = read_agent_events(path)
        supervisor = statuses.rep_id.isin(settings.supervisors)
        statuses = _status_types(statuses[~supervisor], settings)
        all_statuses.append(statuses.assign(file=str(path), file_order=order))
        all_contacts.append(contact_states[~contact_states.rep_id.isin(settings.supervisors)].assign(file=str(path)))
        read_events.append((path, quarantine, lines, len(statuses), int(supervisor.sum())))
    carry = pd.DataFrame(columns=CARRY_COLUMNS)
    if not event_files:
        return results, history.carried if history is not None else carry, transfers
    statuses = pd.concat(all_statuses, ignore_index=True)
    contact_states = pd.concat(all_contacts, ignore_index=True)
    lookup = calls[["call_id", "answered_at", "ended_at"]]
    if history is not None:
        statuses, contact_states = _continued(statuses, contact_states, history.carried)
        lookup = pd.concat([lookup, history.calls[["call_id", "answered_at", "ended_at"]]], ignore_index=True)
    states = to_agent_states(statuses)
    offers = _offers(contact_states, lookup)
    held_offers = 0
    if history is not None:
        offers, carry, held_offers = _carry(statuses, contact_states, offers, set(lookup.call_id))
    # an offer held from an earlier run and judged now lands with this run's first event file
    offers["file"] = offers.file.where(offers.file != CARRIED, str(event_files[0]))
    offers = offers.drop(columns=["answered_by_nobody", "done"])
    for path, quarantine, lines, used, supervisors in read_events:
        results.append(ReadResult(path, "agent_states", states[states.file == str(path)].drop(columns=["file"]).reset_index(drop=True),
                                  quarantine, lines, skipped=supervisors,
                                  skip_reason="supervisors' events" if supervisors else None, lines_used=used,
                                  warnings=_unaccounted(path, lines, used, len(quarantine), supervisors)))
        results.append(ReadResult(path, "offers", offers[offers.file == str(path)].drop(columns=["file"]).reset_index(drop=True),
                                  pd.DataFrame(columns=QUARANTINE_COLUMNS), 0))
    if held_offers:
        results[-1].warnings.append(
            f"{held_offers:,} missed offers wait for their contact records (a miss is the rep's only if the caller did "
            "not hang up while it rang): they land with the run that reads the records")
    return results, carry, transfers


def _continued(statuses: pd.DataFrame, contact_states: pd.DataFrame, carried: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """This run's events after what the runs before carried over.

    A rep's carried snapshot continues only events that come after it: events
    older than it (an older file again) are read on their own, so they never
    stretch a status over a gap the run does not see.
    """
    snapshots = carried[carried.kind == "status"]
    if len(snapshots):
        snapshots = snapshots.assign(event_at=pd.to_datetime(snapshots.event_at, utc=True),
                                     since=pd.to_datetime(snapshots.since, utc=True))
        earliest = statuses.groupby("rep_id").event_at.min()
        older_here = snapshots.rep_id.map(earliest) < snapshots.event_at
        snapshots = snapshots[~older_here.fillna(False).astype(bool)]
        statuses = pd.concat([snapshots[["rep_id", "event_at", "event", "status", "status_type", "since"]]
                              .assign(line=0, file=CARRIED, file_order=-1), statuses], ignore_index=True)
    ringing = carried[carried.kind == "contact"]
    if len(ringing):
        contact_states = pd.concat([ringing[["rep_id", "call_id", "state"]].assign(
            since=pd.to_datetime(ringing.since, utc=True), file=CARRIED), contact_states], ignore_index=True)
    return statuses, contact_states


def _carry(statuses: pd.DataFrame, contact_states: pd.DataFrame, offers: pd.DataFrame,
           judged: set[str]) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(offers to land, what the next run continues, how many missed offers wait for their contact record).

    `judged`: the contacts whose record this run or an earlier one read."""
    newest = statuses.event_at.max()
    recent = newest - pd.Timedelta(seconds=STALE_CARRY_SECONDS)
    order = ["rep_id", "event_at", "file_order", "line"]
    last = statuses.sort_values(order, kind="stable").drop_duplicates("rep_id", keep="last")
    # a miss no contact record has judged yet, and a contact still ringing, wait for the next run (for a day)
    waiting = offers.result.eq("ring_no_answer") & ~member_of(offers.call_id, judged) & (offers.done >= recent)
    ringing = contact_states[contact_states.state == "CONNECTING"]
    answered = pd.MultiIndex.from_frame(offers[["rep_id", "call_id", "offered_at"]])
    unanswered = ~pd.MultiIndex.from_frame(ringing[["rep_id", "call_id", "since"]]).isin(answered) & (ringing.since >= recent).to_numpy()
    held = offers[waiting]
    held_keys = set(zip(held.rep_id, held.call_id))
    of_held = contact_states[[k in held_keys for k in zip(contact_states.rep_id, contact_states.call_id)]]
    of_held = of_held[of_held.state.isin(["CONNECTING", "MISSED"])]
    contacts = pd.concat([ringing[unanswered], of_held], ignore_index=True).drop_duplicates(["rep_id", "call_id", "state", "since"])
    carry = pd.concat([
        last.assign(kind="status", call_id=None, state=None),
        contacts.assign(kind="contact", event_at=contacts.since, event=None, status=None, status_type=None),
    ], ignore_index=True)[CARRY_COLUMNS]
    return offers[~waiting], carry, int(waiting.sum())


def _unaccounted(path: Path, read: int, used: int, quarantined: int, skipped: int) -> list[str]:
    """Every record read is landed, quarantined or skipped by rule; anything else is said, never lost silently."""
    lost = read - used - quarantined - skipped
    return [f"{lost:,} records of {path} were neither landed, quarantined nor skipped: a fault in cadet, please report "
            "it with the run's log"] if lost else []


def first_object(path: Path, limit: int = 1 << 20) -> tuple[dict | None, int]:
    """The first JSON object of the file (within its first MB) and the line it starts on; (None, 0) if none."""
    with open(path, "rb") as handle:
        head = handle.read(limit)
    texts = head.decode("utf-8", errors="replace").splitlines(keepends=True)
    for number, value, problem, _ in _json_values(texts):
        if problem is None and isinstance(value, dict):
            return value, number
    return None, 0
