"""Amazon Connect: duplicated deliveries, Firehose-style concatenation, and the same
per-rep story as the simulator's canonical output."""

import json

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.config import CadetConfig, ConnectIngestConfig
from pipelines.readers.connect import read_connect, read_contact_records, read_json_objects
from simulator import SimulationConfig, simulate
from simulator.writers import write_amazon_connect

SETTINGS = ConnectIngestConfig()


def _record(contact_id, updated, **extra):
    record = {
        "AWSAccountId": "123456789012",
        "Agent": {"Username": "jdoe", "ConnectedToAgentTimestamp": "2026-01-05T09:00:10Z", "CustomerHoldDuration": 30,
                  "NumberOfHolds": 1, "AfterContactWorkDuration": 45, "LongestHoldDuration": 30},
        "Attributes": {},
        "Channel": "VOICE",
        "ContactId": contact_id,
        "CustomerEndpoint": {"Address": "+13125550100", "Type": "TELEPHONE_NUMBER"},
        "DisconnectReason": "CUSTOMER_DISCONNECT",
        "DisconnectTimestamp": "2026-01-05T09:05:00Z",
        "InitiationMethod": "INBOUND",
        "InitiationTimestamp": "2026-01-05T08:59:30Z",
        "LastUpdateTimestamp": updated,
        "NextContactId": None,
        "PreviousContactId": None,
        "Queue": {"Name": "general", "EnqueueTimestamp": "2026-01-05T09:00:00Z"},
        "TransferredToEndpoint": None,
    }
    record.update(extra)
    return record


def test_duplicates_keep_the_latest_delivery_and_firehose_concatenation_is_read(tmp_path):
    early = _record("a", "2026-01-05T09:06:00Z")
    late = _record("a", "2026-01-05T09:20:00Z", Attributes={"csat": "5"})
    other = _record("b", "2026-01-05T09:06:00Z", DisconnectReason="AGENT_DISCONNECT")
    path = tmp_path / "ctr.json"
    # Firehose writes objects back to back; a second file line holds a plain JSON line
    path.write_text(json.dumps(late) + json.dumps(early) + json.dumps(other) + "\n" + json.dumps(early) + "\n")
    contacts, quarantine, records = read_contact_records(path, SETTINGS)
    assert quarantine.empty and records == 4 and len(contacts) == 4
    calls, surveys = read_connect([path], SETTINGS)
    assert sorted(calls.good.call_id) == ["a", "b"] and calls.skipped == 2
    assert calls.good.set_index("call_id").loc["a", "updated_at"] == pd.Timestamp("2026-01-05T09:20:00Z")
    assert surveys.good.call_id.tolist() == ["a"] and surveys.good.score.tolist() == [5]


def test_the_newest_version_wins_across_files_whatever_the_order_and_lands_once(tmp_path):
    first = tmp_path / "a.json"
    second = tmp_path / "b.json"
    newest = _record("a", "2026-01-05T09:20:00.5Z", Attributes={"csat": "5"})
    older = _record("a", "2026-01-05T09:20:00Z")  # later as text ('Z' > '.'), earlier as a time
    first.write_text(json.dumps(newest) + "\n")
    second.write_text(json.dumps(older) + "\n" + json.dumps(_record("b", "2026-01-05T09:06:00Z")) + "\n")
    results = read_connect([first, second], SETTINGS)
    calls = {r.file.name: r for r in results if r.table == "calls"}
    assert calls["a.json"].good.call_id.tolist() == ["a"] and calls["b.json"].good.call_id.tolist() == ["b"]
    assert calls["b.json"].skipped == 1 and "newer record" in calls["b.json"].skip_reason
    assert calls["a.json"].good.updated_at.tolist() == [pd.Timestamp("2026-01-05T09:20:00.5Z")]
    surveys = pd.concat([r.good for r in results if r.table == "surveys"])
    assert surveys.call_id.tolist() == ["a"]


def test_broken_json_and_records_missing_fields_are_quarantined(tmp_path):
    path = tmp_path / "ctr.jsonl"
    incomplete = _record("c", "2026-01-05T09:06:00Z")
    del incomplete["DisconnectTimestamp"]
    path.write_bytes(
        (json.dumps(_record("a", "2026-01-05T09:06:00Z")) + "\n" + '{"ContactId": "x", \n' + json.dumps(incomplete) + "\n").encode()
        + b'{"ContactId": "\xff"}\n'
    )
    calls, quarantine, _ = read_contact_records(path, SETTINGS)
    reasons = dict(zip(quarantine.line, quarantine.reason))
    assert calls.call_id.tolist() == ["a"]
    assert reasons[2].startswith("invalid JSON")
    assert "DisconnectTimestamp" in reasons[3]
    assert reasons[4].startswith("not UTF-8")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet='{}[]":,abc 0123456789', max_size=40), max_size=20))
def test_random_garbage_never_crashes(tmp_path, garbage):
    path = tmp_path / "ctr.jsonl"
    good = json.dumps(_record("a", "2026-01-05T09:06:00Z"))
    path.write_text("\n".join([good] + [g.replace("\n", " ") for g in garbage]) + "\n")
    calls, quarantine, _ = read_contact_records(path, SETTINGS)
    assert "a" in set(calls.call_id)
    assert quarantine.reason.str.len().gt(0).all()
    objects, bad = read_json_objects(path)
    assert {n for n, _ in objects} | set(b[1] for b in bad) >= {1}
    landed = next(r for r in read_connect([path], SETTINGS) if r.table == "calls")
    assert landed.lines_read == landed.landed + landed.quarantined + landed.skipped and not landed.warnings


def test_simulated_connect_output_tells_the_same_per_rep_story_as_canonical(tmp_path):
    config = CadetConfig()
    center = simulate(SimulationConfig(), n_reps=30, n_days=8, seed=5, workers=1)
    write_amazon_connect(center.tables, center.truth, tmp_path, seed=5)
    results = read_connect(sorted(p for p in tmp_path.iterdir() if p.name != "truth.json"), config.ingest.connect)
    assert all(r.quarantined == 0 for r in results)
    got = {t: pd.concat([r.good for r in results if r.table == t], ignore_index=True) for t in ("calls", "offers", "agent_states", "surveys")}
    want = {t: center.tables[t].to_pandas() for t in ("calls", "offers", "agent_states", "surveys")}
    for table in got:
        assert len(got[table]) == len(want[table]), table

    def story(calls, offers, agent_states, surveys):
        inbound = calls[(calls.direction == "inbound") & calls.answered_at.notna()]
        paused = agent_states[agent_states.state == "paused"]
        return pd.DataFrame(
            {
                "offered": offers.groupby("rep_id").size(),
                "answered": offers[offers.result == "answered"].groupby("rep_id").size(),
                "missed": offers[offers.result.isin(["ring_no_answer", "declined"])].groupby("rep_id").size(),
                "transferred": inbound[inbound.transfer_kind.notna()].groupby("rep_id").size(),
                "hold": inbound.groupby("rep_id").hold_seconds.sum(),
                "wrapup": inbound.groupby("rep_id").wrapup_seconds.sum(),
                "pause_seconds": (paused.ended_at - paused.started_at).dt.total_seconds().groupby(paused.rep_id).sum(),
                "outbound": calls[calls.direction == "outbound"].groupby("rep_id").size(),
            }
        ).fillna(0).sort_index()

    expected, actual = story(**want), story(**got)
    # A ring-no-answer in the very second the caller gave up reads as the caller's: allow one per rep.
    assert (actual.missed - expected.missed).abs().max() <= 1
    pd.testing.assert_frame_equal(actual.drop(columns="missed"), expected.drop(columns="missed"), check_dtype=False)
    assert got["calls"].groupby(["direction", "outcome"]).size().equals(want["calls"].groupby(["direction", "outcome"]).size())


def test_agent_events_with_a_bad_line_fall_back_and_quarantine_it(tmp_path):
    from pipelines.readers.connect import read_agent_events

    def event(kind, at, status="Available", status_type="ROUTABLE"):
        return json.dumps({
            "EventType": kind, "EventTimestamp": at, "AgentARN": "arn:x",
            "CurrentAgentSnapshot": {"AgentStatus": {"Name": status, "Type": status_type, "StartTimestamp": at},
                                     "Configuration": {"Username": "jdoe"}, "Contacts": []},
        })

    good = [event("LOGIN", "2026-01-05T09:00:00Z"), event("STATE_CHANGE", "2026-01-05T10:00:00Z", "Break", "CUSTOM"),
            event("LOGOUT", "2026-01-05T10:15:00Z", "Offline", "OFFLINE")]
    fast = tmp_path / "fast.jsonl"
    fast.write_text("\n".join(good) + "\n")
    slow = tmp_path / "slow.jsonl"
    slow.write_text("\n".join(good[:2] + ['{"EventType": "STATE_CHANGE"}', "{oops"] + good[2:]) + "\n")
    from pipelines.readers.connect import to_agent_states

    a, _, qa, _ = read_agent_events(fast)
    b, _, qb, _ = read_agent_events(slow)
    assert qa.empty and sorted(qb.line) == [3, 4]
    states = to_agent_states(b)
    assert to_agent_states(a).equals(states)
    assert states.state.tolist() == ["available", "paused"]
    assert states.reason.isna().tolist() == [True, False] and states.reason.iloc[1] == "Break"


def test_records_as_the_documentation_shows_them_pretty_printed_or_in_an_array_are_read(tmp_path):
    """One record over many lines, a JSON array of them, a broken one between two good ones: every record is
    landed, quarantined or skipped, and a record counts once however many lines it takes."""
    from pipelines.readers.connect import first_object, is_agent_events

    pretty = tmp_path / "sample.json"
    pretty.write_text(json.dumps(_record("a", "2026-01-05T09:06:00Z"), indent=4) + "\n")
    array = tmp_path / "array.json"
    array.write_text(json.dumps([_record("b", "2026-01-05T09:06:00Z"), _record("c", "2026-01-05T09:06:00Z")], indent=2))
    broken = tmp_path / "broken.json"
    text = json.dumps(_record("d", "2026-01-05T09:06:00Z"), indent=4)
    broken.write_text(json.dumps(_record("e", "2026-01-05T09:06:00Z"), indent=4) + "\n" + text[: len(text) // 2] + "\n"
                      + json.dumps(_record("f", "2026-01-05T09:06:00Z"), indent=4) + "\n")
    results = [r for r in read_connect([pretty, array, broken], SETTINGS) if r.table == "calls"]
    by_file = {r.file.name: r for r in results}
    assert by_file["sample.json"].good.call_id.tolist() == ["a"] and by_file["sample.json"].lines_read == 1
    assert sorted(by_file["array.json"].good.call_id) == ["b", "c"] and by_file["array.json"].lines_read == 2
    bad = by_file["broken.json"]
    assert sorted(bad.good.call_id) == ["e", "f"] and bad.quarantined == 1 and bad.lines_read == 3
    assert bad.quarantine.line.tolist() == [len(text.splitlines()) + 1]
    assert bad.quarantine.reason.iloc[0].startswith("invalid JSON")
    assert all(r.lines_read == r.landed + r.quarantined + r.skipped and not r.warnings for r in results)

    event = tmp_path / "agent-event.json"
    event.write_text(json.dumps({"AgentARN": "arn:x", "EventType": "LOGIN", "EventTimestamp": "2026-01-05T09:00:00Z",
                                 "CurrentAgentSnapshot": {"Configuration": {"Username": "jdoe"}}}, indent=2))
    found, line = first_object(event)
    assert is_agent_events(found) and line == 1


def _snapshot(kind, at, status, status_type, since, contacts=()):
    """One agent event of jdoe: the status and the contacts (id, state, since) it shows."""
    return json.dumps({"EventType": kind, "EventTimestamp": at, "AgentARN": "arn:x",
                       "CurrentAgentSnapshot": {"AgentStatus": {"Name": status, "Type": status_type, "StartTimestamp": since},
                                                "Configuration": {"Username": "jdoe"},
                                                "Contacts": [{"ContactId": c, "State": s, "StateStartTimestamp": t}
                                                             for c, s, t in contacts]}})


def test_a_status_and_a_ringing_contact_split_over_two_event_files_are_one_interval_and_one_offer(tmp_path):
    """Firehose cuts the agent event stream into files every few minutes: what one file begins and the next
    ends is read as one, and lands for the file that ends it."""
    first, second = tmp_path / "events-0900.json", tmp_path / "events-0905.json"
    first.write_text(_snapshot("LOGIN", "2026-01-05T09:00:00Z", "Available", "ROUTABLE", "2026-01-05T09:00:00Z") + "\n"
                     + _snapshot("STATE_CHANGE", "2026-01-05T09:04:55Z", "Available", "ROUTABLE", "2026-01-05T09:00:00Z",
                             [("a", "CONNECTING", "2026-01-05T09:04:55Z")]) + "\n")
    second.write_text(_snapshot("STATE_CHANGE", "2026-01-05T09:05:10Z", "Available", "ROUTABLE", "2026-01-05T09:00:00Z",
                            [("a", "MISSED", "2026-01-05T09:05:10Z")]) + "\n"
                      + _snapshot("STATE_CHANGE", "2026-01-05T09:07:00Z", "Lunch", "CUSTOM", "2026-01-05T09:07:00Z") + "\n"
                      + _snapshot("LOGOUT", "2026-01-05T10:07:00Z", "Offline", "OFFLINE", "2026-01-05T10:07:00Z") + "\n")
    records = tmp_path / "ctr.json"
    records.write_text(json.dumps(_record("a", "2026-01-05T09:20:00Z")) + "\n")
    results = read_connect([records, first, second], SETTINGS)
    states = {r.file.name: r.good for r in results if r.table == "agent_states"}
    offers = {r.file.name: r.good for r in results if r.table == "offers"}
    assert states["events-0900.json"].empty and offers["events-0900.json"].empty
    got = states["events-0905.json"]
    assert got.state.tolist() == ["available", "paused"]
    assert got.started_at.tolist() == [pd.Timestamp("2026-01-05T09:00:00Z"), pd.Timestamp("2026-01-05T09:07:00Z")]
    offer = offers["events-0905.json"]
    assert offer.result.tolist() == ["ring_no_answer"] and offer.ring_seconds.tolist() == [15]


def test_what_one_night_leaves_open_the_next_night_finishes(tmp_path):
    """Night one ends with the rep available and a contact ringing; night two has the miss, the change to
    lunch (no heartbeat before it) and the contact record showing the caller hung up while it rang: one
    interval, and a miss that is the caller's, not the rep's. Night one again changes nothing."""
    from pipelines.readers.connect import CARRY_COLUMNS, ConnectHistory, read_connect_incremental

    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    (one / "events.json").write_text(
        _snapshot("LOGIN", "2026-01-05T23:00:00Z", "Available", "ROUTABLE", "2026-01-05T23:00:00Z") + "\n"
        + _snapshot("STATE_CHANGE", "2026-01-05T23:59:55Z", "Available", "ROUTABLE", "2026-01-05T23:00:00Z",
                [("gone", "CONNECTING", "2026-01-05T23:59:55Z")]) + "\n")
    (one / "records.json").write_text(json.dumps(_record("other", "2026-01-05T23:30:00Z")) + "\n")
    (two / "events.json").write_text(
        _snapshot("STATE_CHANGE", "2026-01-06T00:00:12Z", "Available", "ROUTABLE", "2026-01-05T23:00:00Z",
              [("gone", "MISSED", "2026-01-06T00:00:12Z")]) + "\n"
        + _snapshot("STATE_CHANGE", "2026-01-06T00:01:00Z", "Lunch", "CUSTOM", "2026-01-06T00:01:00Z") + "\n")
    hung_up = _record("gone", "2026-01-06T00:02:00Z", Agent=None, InitiationTimestamp="2026-01-05T23:59:40Z",
                      DisconnectTimestamp="2026-01-06T00:00:12Z",
                      Queue={"Name": "general", "EnqueueTimestamp": "2026-01-05T23:59:50Z"})
    (two / "records.json").write_text(json.dumps(hung_up) + "\n")

    def night(folder, history):
        results, carry, _ = read_connect_incremental(sorted(folder.iterdir()), SETTINGS, history)
        tables = {t: pd.concat([r.good for r in results if r.table == t], ignore_index=True) for t in ("calls", "offers", "agent_states")}
        return tables, carry, results

    empty = ConnectHistory(pd.DataFrame(columns=CARRY_COLUMNS), pd.DataFrame(columns=["call_id", "answered_at", "ended_at"]))
    first, carry, _ = night(one, empty)
    assert first["offers"].empty and first["agent_states"].empty
    assert set(carry.kind) == {"status", "contact"}
    lake_calls = first["calls"][["call_id", "answered_at", "ended_at"]]
    second, carry, results = night(two, ConnectHistory(carry, lake_calls))
    assert second["offers"].result.tolist() == ["caller_abandoned"]
    states = second["agent_states"]
    assert states.state.tolist() == ["available"] and states.started_at.iloc[0] == pd.Timestamp("2026-01-05T23:00:00Z")
    assert states.ended_at.iloc[0] == pd.Timestamp("2026-01-06T00:01:00Z")
    again, _, _ = night(one, ConnectHistory(carry, pd.concat([lake_calls, second["calls"][lake_calls.columns]])))
    assert again["agent_states"].empty and again["offers"].empty, "an older night never stretches a status over the next"

    # Without the contact record yet, the miss waits (it may be the caller's) rather than count against the rep
    (two / "records.json").write_text("")
    waiting, _, results = night(two, ConnectHistory(night(one, empty)[1], lake_calls))
    assert waiting["offers"].empty and any("wait for their contact records" in w for r in results for w in r.warnings)
