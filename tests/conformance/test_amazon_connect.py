"""Amazon Connect as the platform documents and writes it.

Sources: AWS's "Data model for Amazon Connect contact records" (ContactTraceRecord, Agent,
QueueInfo, Endpoint; InitiationMethod INBOUND / OUTBOUND / TRANSFER / QUEUE_TRANSFER /
CALLBACK / API / MONITOR; TransferCompletedTimestamp and TransferredToEndpoint "if this
contact was transferred out of Amazon Connect"; records "delivered at least once", newest
LastUpdateTimestamp wins), the "Agent event streams data model" (AgentEvent,
CurrentAgentSnapshot / PreviousAgentSnapshot, AgentStatus Type ROUTABLE / CUSTOM /
OFFLINE, contact State INCOMING ... ENDED, "REJECTED does not apply to voice contacts"),
AWS's sample agent event (a HEART_BEAT whose AgentStatus has no Type), and a real contact
record from a public repository's test fixture (nulls in HierarchyGroups, Campaign,
Recording fields; whole-second timestamps), whose shape the first record below keeps.
"""

import json

import pandas as pd

from pipelines.config import ConnectIngestConfig
from pipelines.ingest import _protect, enforce_contract
from pipelines.readers.connect import read_connect

T = pd.Timestamp
KEY = b"0123456789abcdef0123456789abcdef"


def contact(contact_id, method="INBOUND", start="2024-01-08T10:00:00Z", end="2024-01-08T10:05:00Z", updated=None,
            queue="billing", enqueued="2024-01-08T10:00:20Z", agent=None, reason="CUSTOMER_DISCONNECT", **extra):
    record = {
        "AWSAccountId": "012345678901", "AWSContactTraceRecordFormatVersion": "2017-03-10", "Channel": "VOICE",
        "ContactId": contact_id, "InitialContactId": None, "PreviousContactId": None, "NextContactId": None,
        "InitiationMethod": method, "InitiationTimestamp": start, "ConnectedToSystemTimestamp": start,
        "DisconnectTimestamp": end, "LastUpdateTimestamp": updated or end, "DisconnectReason": reason,
        "CustomerEndpoint": {"Address": "+13125550100", "Type": "TELEPHONE_NUMBER"},
        "SystemEndpoint": {"Address": "+18005550000", "Type": "TELEPHONE_NUMBER"},
        "Queue": None if queue is None else {"ARN": "arn:queue", "Name": queue, "EnqueueTimestamp": enqueued,
                                            "DequeueTimestamp": None, "Duration": 0},
        "Agent": agent, "AgentConnectionAttempts": 1 if agent else 0, "Attributes": {}, "Campaign": {"CampaignId": None},
        "Recording": None, "Recordings": None, "MediaStreams": [{"Type": "AUDIO"}], "References": [],
        "TransferCompletedTimestamp": None, "TransferredToEndpoint": None, "VoiceIdResult": None,
        "ScheduledTimestamp": None, "ContactDetails": {},
    }
    record.update(extra)
    return record


def agent(username, connected, acw_start=None, acw_seconds=0, hold=0, holds=0):
    return {"ARN": f"arn:agent/{username}", "Username": username, "ConnectedToAgentTimestamp": connected,
            "AgentInteractionDuration": 60, "CustomerHoldDuration": hold, "LongestHoldDuration": hold, "NumberOfHolds": holds,
            "AfterContactWorkStartTimestamp": acw_start, "AfterContactWorkEndTimestamp": None,
            "AfterContactWorkDuration": acw_seconds, "HierarchyGroups": None,
            "RoutingProfile": {"ARN": "arn:rp", "Name": "Basic Routing Profile"}}


def read(tmp_path, records: list[dict], events: list[dict] | None = None, settings: ConnectIngestConfig | None = None):
    (tmp_path / "ctr.json").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    files = [tmp_path / "ctr.json"]
    if events is not None:
        (tmp_path / "agent-events.json").write_text("\n".join(json.dumps(e) for e in events) + "\n")
        files.append(tmp_path / "agent-events.json")
    results = [enforce_contract(r) for r in read_connect(files, settings or ConnectIngestConfig())]
    tables: dict[str, list] = {}
    for r in results:
        tables.setdefault(r.table, []).append(r.good)
    return {k: pd.concat(v, ignore_index=True) for k, v in tables.items()}, results


def test_the_rep_s_leg_ends_at_the_transfer_out_not_when_the_customer_hung_up(tmp_path):
    """An external transfer: the customer stayed on with the outside party for 1,156 s more."""
    record = contact("ext-1", end="2024-01-08T10:21:16Z",
                     agent=agent("jdoe", "2024-01-08T10:00:30Z", acw_start="2024-01-08T10:02:00Z", acw_seconds=45),
                     TransferCompletedTimestamp="2024-01-08T10:02:00Z", reason="THIRD_PARTY_DISCONNECT",
                     TransferredToEndpoint={"Address": "+18005550123", "Type": "TELEPHONE_NUMBER"})
    calls = read(tmp_path, [record])[0]["calls"].iloc[0]
    assert calls.ended_at == T("2024-01-08T10:02:00Z")
    assert (calls.transfer_kind, calls.disconnected_by, calls.wrapup_seconds) == ("external", "transfer", 45)

    to_self_service = read(tmp_path, [record], settings=ConnectIngestConfig(self_service_numbers=["+18005550123"]))[0]["calls"]
    assert to_self_service.transfer_kind.iloc[0] == "self_service"


def test_an_outside_number_a_call_was_transferred_to_is_stored_only_as_a_pseudonym(tmp_path):
    record = contact("ext-2", agent=agent("jdoe", "2024-01-08T10:00:30Z"), TransferCompletedTimestamp="2024-01-08T10:01:00Z",
                     TransferredToEndpoint={"Address": "+18005550123", "Type": "TELEPHONE_NUMBER"})
    results = read(tmp_path, [record])[1]
    protected = _protect(next(r for r in results if r.table == "calls"), KEY)
    stored = protected.good.transfer_to.iloc[0]
    assert "8005550123" not in stored and stored.startswith("caller:")
    assert "remote_number" not in protected.good and protected.good.caller_key.notna().all()


def test_initiation_methods_directions_chains_and_unanswered_contacts(tmp_path):
    first = contact("a", agent=agent("jdoe", "2024-01-08T10:00:30Z", acw_start="2024-01-08T10:03:00Z"),
                    NextContactId="b", reason=None)
    second = contact("b", method="TRANSFER", start="2024-01-08T10:03:00Z", end="2024-01-08T10:09:00Z", queue="tier2",
                     enqueued="2024-01-08T10:03:05Z", agent=agent("asmith", "2024-01-08T10:03:40.250Z"), PreviousContactId="a",
                     reason="AGENT_DISCONNECT")
    records = [
        first, second,
        contact("c", method="QUEUE_TRANSFER", start="2024-01-08T11:00:00Z", end="2024-01-08T11:05:00Z",
                agent=agent("jdoe", "2024-01-08T11:00:40Z")),
        contact("d", method="CALLBACK", start="2024-01-08T12:00:00Z", end="2024-01-08T12:05:00Z",
                agent=agent("jdoe", "2024-01-08T12:00:40Z")),
        contact("e", method="API", start="2024-01-08T13:00:00Z", end="2024-01-08T13:05:00Z",
                agent=agent("jdoe", "2024-01-08T13:00:40Z")),
        contact("f", method="OUTBOUND", queue=None, start="2024-01-08T14:00:00Z", end="2024-01-08T14:05:00Z",
                agent=agent("jdoe", "2024-01-08T14:00:10Z")),
        contact("g", agent=None),  # the caller hung up in the queue: no Agent block at all
        contact("h", queue=None, agent=None, reason="CONTACT_FLOW_DISCONNECT"),
    ]
    tables, results = read(tmp_path, records)
    assert all(r.quarantine.empty for r in results), [r.quarantine.reason.tolist() for r in results]
    calls = tables["calls"].set_index("call_id")
    assert (calls.loc["a", "transfer_kind"], calls.loc["a", "transfer_to"], calls.loc["a", "ended_at"]) == \
        ("escalation", "tier2", T("2024-01-08T10:03:00Z"))
    assert calls.loc["b", "parent_call_id"] == "a" and calls.loc["b", "answered_at"] == T("2024-01-08T10:03:40.250Z")
    assert calls.loc["b", "disconnected_by"] == "agent"
    assert calls.direction.to_dict() == {"a": "inbound", "b": "inbound", "c": "inbound", "d": "inbound", "e": "inbound",
                                         "f": "outbound", "g": "inbound", "h": "inbound"}
    assert (calls.loc["g", "outcome"], pd.isna(calls.loc["g", "rep_id"])) == ("abandoned", True)
    assert calls.loc["h", "outcome"] == "ivr_self_service"


def test_a_supervisor_monitoring_a_call_is_not_a_rep_and_named_supervisors_are_left_out(tmp_path):
    records = [contact("m", method="MONITOR", agent=agent("boss", "2024-01-08T10:00:30Z")),
               contact("n", agent=agent("lead", "2024-01-08T10:01:30Z")),
               contact("o", agent=agent("jdoe", "2024-01-08T10:02:30Z"))]
    tables, results = read(tmp_path, records, settings=ConnectIngestConfig(supervisors=["lead"]))
    assert tables["calls"].call_id.tolist() == ["o"]
    calls = next(r for r in results if r.table == "calls")
    assert calls.skipped == 2 and "supervisor" in calls.skip_reason


def test_several_deliveries_the_newest_wins_whatever_the_file_order(tmp_path):
    newer = contact("x", updated="2024-01-08T10:30:00Z", agent=agent("jdoe", "2024-01-08T10:00:30Z", acw_seconds=90))
    older = contact("x", updated="2024-01-08T10:06:00Z", agent=agent("jdoe", "2024-01-08T10:00:30Z", acw_seconds=0))
    calls = read(tmp_path, [newer, older])[0]["calls"]
    assert len(calls) == 1 and calls.wrapup_seconds.iloc[0] == 90


def snapshot(username, status, kind=None, since="2024-01-08T07:00:00.000Z", contacts=(), profile="Agents"):
    status_block = {"ARN": "arn:status", "Name": status, "StartTimestamp": since}
    if kind is not None:
        status_block["Type"] = kind
    return {"AgentStatus": status_block, "Configuration": {"Username": username, "FirstName": "A", "LastName": "B",
                                                            "AgentHierarchyGroups": None, "RoutingProfile": {"Name": profile}},
            "Contacts": [{"ContactId": c, "State": s, "StateStartTimestamp": t, "Channel": "VOICE",
                          "InitiationMethod": "INBOUND"} for c, s, t in contacts]}


def event(kind, at, current, previous=None):
    return {"AWSAccountId": "012345678901", "AgentARN": "arn:agent", "EventId": f"{kind}-{at}", "EventType": kind,
            "EventTimestamp": at, "InstanceARN": "arn:instance", "Version": "2017-10-01",
            "CurrentAgentSnapshot": current, "PreviousAgentSnapshot": previous}


def test_agent_events_status_names_without_type_custom_statuses_and_contact_states(tmp_path):
    records = [contact("r1", agent=None, start="2024-01-08T07:10:00Z", end="2024-01-08T07:12:00Z", enqueued="2024-01-08T07:10:30Z"),
               contact("r2", agent=agent("jdoe", "2024-01-08T07:20:15Z"), start="2024-01-08T07:20:00Z",
                       end="2024-01-08T07:25:00Z", enqueued="2024-01-08T07:20:05Z")]
    events = [
        event("LOGIN", "2024-01-08T07:00:00.000Z", snapshot("jdoe", "Offline", since="2024-01-08T06:00:00.000Z")),
        event("STATE_CHANGE", "2024-01-08T07:00:28.062Z", snapshot("jdoe", "Available", since="2024-01-08T07:00:28.062Z")),
        event("STATE_CHANGE", "2024-01-08T07:11:00.000Z", snapshot("jdoe", "Available", since="2024-01-08T07:00:28.062Z",
              contacts=[("r1", "INCOMING", "2024-01-08T07:10:50.000Z"), ("r1", "CONNECTING", "2024-01-08T07:10:51.000Z")])),
        event("STATE_CHANGE", "2024-01-08T07:11:16.000Z", snapshot("jdoe", "Available", since="2024-01-08T07:00:28.062Z",
              contacts=[("r1", "MISSED", "2024-01-08T07:11:16.000Z")])),
        event("STATE_CHANGE", "2024-01-08T07:20:10.000Z", snapshot("jdoe", "Available", since="2024-01-08T07:00:28.062Z",
              contacts=[("r2", "CONNECTING", "2024-01-08T07:20:10.000Z")])),
        event("STATE_CHANGE", "2024-01-08T07:20:15.000Z", snapshot("jdoe", "Available", since="2024-01-08T07:00:28.062Z",
              contacts=[("r2", "CONNECTED", "2024-01-08T07:20:15.000Z")])),
        event("STATE_CHANGE", "2024-01-08T07:22:00.000Z", snapshot("jdoe", "Available", since="2024-01-08T07:00:28.062Z",
              contacts=[("r2", "CONNECTED_ONHOLD", "2024-01-08T07:22:00.000Z")])),
        event("HEART_BEAT", "2024-01-08T07:24:00.000Z", snapshot("jdoe", "Available", since="2024-01-08T07:00:28.062Z")),
        event("STATE_CHANGE", "2024-01-08T07:30:00.000Z", snapshot("jdoe", "Lunch", kind="CUSTOM", since="2024-01-08T07:30:00.000Z")),
        event("STATE_CHANGE", "2024-01-08T08:00:00Z", snapshot("jdoe", "Available", kind="ROUTABLE", since="2024-01-08T08:00:00Z")),
        event("LOGOUT", "2024-01-08T09:00:00.500Z", snapshot("jdoe", "Offline", since="2024-01-08T09:00:00.500Z")),
        event("STATE_CHANGE", "2024-01-08T07:05:00Z", snapshot("boss", "Available", since="2024-01-08T07:05:00Z")),
    ]
    tables, results = read(tmp_path, records, events, ConnectIngestConfig(supervisors=["boss"]))
    assert all(r.quarantine.empty for r in results), [r.quarantine.reason.tolist() for r in results]
    states = tables["agent_states"]
    assert states[["rep_id", "state", "reason"]].fillna("").values.tolist() == [
        ["jdoe", "available", ""], ["jdoe", "paused", "Lunch"], ["jdoe", "available", ""]]
    assert states.started_at.iloc[0] == T("2024-01-08T07:00:28.062Z") and states.ended_at.iloc[-1] == T("2024-01-08T09:00:00.500Z")
    offers = tables["offers"].set_index("call_id")
    assert offers.loc["r1", "result"] == "ring_no_answer" and offers.loc["r1", "ring_seconds"] == 25
    assert offers.loc["r2", "result"] == "answered"
    assert set(tables["offers"].rep_id) == {"jdoe"}


def test_rejected_and_error_contact_states(tmp_path):
    """REJECTED (a chat or task the agent declined; voice shows MISSED) is a decline; ERROR is no offer result."""
    records = [contact("t1", agent=None, start="2024-01-08T07:10:00Z", end="2024-01-08T07:12:00Z", enqueued="2024-01-08T07:10:05Z"),
               contact("t2", agent=None, start="2024-01-08T07:20:00Z", end="2024-01-08T07:22:00Z", enqueued="2024-01-08T07:20:05Z")]
    events = [
        event("LOGIN", "2024-01-08T07:00:00Z", snapshot("jdoe", "Available", kind="ROUTABLE", since="2024-01-08T07:00:00Z")),
        event("STATE_CHANGE", "2024-01-08T07:10:10Z", snapshot("jdoe", "Available", kind="ROUTABLE", since="2024-01-08T07:00:00Z",
              contacts=[("t1", "CONNECTING", "2024-01-08T07:10:10Z")])),
        event("STATE_CHANGE", "2024-01-08T07:10:14Z", snapshot("jdoe", "Available", kind="ROUTABLE", since="2024-01-08T07:00:00Z",
              contacts=[("t1", "REJECTED", "2024-01-08T07:10:14Z")])),
        event("STATE_CHANGE", "2024-01-08T07:20:10Z", snapshot("jdoe", "Available", kind="ROUTABLE", since="2024-01-08T07:00:00Z",
              contacts=[("t2", "CONNECTING", "2024-01-08T07:20:10Z")])),
        event("STATE_CHANGE", "2024-01-08T07:20:12Z", snapshot("jdoe", "Available", kind="ROUTABLE", since="2024-01-08T07:00:00Z",
              contacts=[("t2", "ERROR", "2024-01-08T07:20:12Z")])),
        event("LOGOUT", "2024-01-08T08:00:00Z", snapshot("jdoe", "Offline", kind="OFFLINE", since="2024-01-08T08:00:00Z")),
    ]
    tables, results = read(tmp_path, records, events)
    assert all(r.quarantine.empty for r in results)
    offers = tables["offers"]
    assert offers[["call_id", "result", "ring_seconds"]].values.tolist() == [["t1", "declined", 4]]
