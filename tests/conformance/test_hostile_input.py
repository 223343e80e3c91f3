"""Generated hostile input through whole readers and the contract: never an exception, every line accounted for."""

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.config import AsteriskIngestConfig, ConnectIngestConfig
from pipelines.ingest import enforce_contract
from pipelines.readers.asterisk import read_asterisk
from pipelines.readers.connect import read_connect
from tests.conformance.test_asterisk import VENDOR
from tests.pipelines.readers.test_asterisk import SNIPPET

FIELD = st.one_of(st.just(""), st.just("NONE"), st.just("NULL"), st.text(alphabet=string.printable.replace("\n", "").replace("\r", ""),
                                                                       max_size=14),
                  st.integers(-10**12, 10**12).map(str), st.sampled_from(["ENTERQUEUE", "CONNECT", "COMPLETECALLER", "RINGNOANSWER",
                                                                        "PAUSE", "ADDMEMBER", "OUTDIAL", "OUTANSWER", "ABANDON"]))
HOSTILE = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _accounted(results, lines: int) -> None:
    checked = [enforce_contract(r) for r in results]
    for r in checked:
        assert r.quarantine.reason.astype(str).str.len().gt(0).all()
    calls = [r for r in checked if r.table == "calls"]
    assert sum(r.lines_read for r in calls) <= lines


@HOSTILE
@given(st.lists(st.lists(FIELD, min_size=0, max_size=11).map("|".join), max_size=25), st.randoms(use_true_random=False))
def test_hostile_queue_log_lines_beside_real_ones(tmp_path, garbage, rnd):
    lines = SNIPPET.splitlines() + garbage
    rnd.shuffle(lines)
    (tmp_path / "queue_log").write_text("\n".join(lines) + "\n")
    results = read_asterisk([tmp_path / "queue_log"], AsteriskIngestConfig(), "UTC")
    _accounted(results, len(lines))


@HOSTILE
@given(st.lists(st.lists(FIELD, min_size=0, max_size=15).map(",".join), max_size=25))
def test_hostile_rows_in_a_vendor_table_export(tmp_path, garbage):
    text = VENDOR + "\n".join(garbage) + "\n"
    (tmp_path / "queue_log.csv").write_text(text)
    results = read_asterisk([tmp_path / "queue_log.csv"], AsteriskIngestConfig(), "UTC")
    _accounted(results, text.count("\n"))


JSON_VALUE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**15, 10**15), st.text(max_size=12),
                                    st.sampled_from(["2024-01-08T10:00:00Z", "2024-01-08T10:00:28.062Z", "not a time"])),
                          lambda children: st.dictionaries(st.sampled_from(["Username", "Name", "Address", "Type", "State",
                                                                              "ConnectedToAgentTimestamp", "EnqueueTimestamp"]),
                                                           children, max_size=4) | st.lists(children, max_size=3), max_leaves=8)
CONTACT_KEYS = ["ContactId", "InitiationMethod", "InitiationTimestamp", "DisconnectTimestamp", "LastUpdateTimestamp", "Agent",
                "Queue", "CustomerEndpoint", "TransferredToEndpoint", "TransferCompletedTimestamp", "NextContactId",
                "PreviousContactId", "DisconnectReason", "Attributes", "Channel"]


@HOSTILE
@given(st.lists(st.dictionaries(st.sampled_from(CONTACT_KEYS), JSON_VALUE, max_size=10), max_size=15),
       st.lists(st.dictionaries(st.sampled_from(["EventType", "EventTimestamp", "CurrentAgentSnapshot"]), JSON_VALUE, max_size=3),
                max_size=10))
def test_hostile_contact_records_and_agent_events(tmp_path, records, events):
    good = {"ContactId": "ok", "InitiationMethod": "INBOUND", "InitiationTimestamp": "2024-01-08T10:00:00Z",
            "DisconnectTimestamp": "2024-01-08T10:05:00Z", "LastUpdateTimestamp": "2024-01-08T10:06:00Z"}
    (tmp_path / "ctr.json").write_text("\n".join(json.dumps(r) for r in [good, *records]) + "\n")
    agent = {"EventType": "HEART_BEAT", "EventTimestamp": "2024-01-08T10:00:00Z",
             "CurrentAgentSnapshot": {"Configuration": {"Username": "a"}, "AgentStatus": {"Name": "Available"}}}
    (tmp_path / "events.json").write_text("\n".join(json.dumps(e) for e in [agent, *events]) + "\n")
    results = read_connect([tmp_path / "ctr.json", tmp_path / "events.json"], ConnectIngestConfig())
    _accounted(results, len(records) + 1)
    calls = next(enforce_contract(r) for r in results if r.table == "calls")
    assert calls.landed + calls.quarantined + calls.skipped == calls.lines_read == len(records) + 1
    states = next(r for r in results if r.table == "agent_states")  # intervals, not records: counted before the contract
    assert states.lines_used + states.quarantined + states.skipped == states.lines_read == len(events) + 1
    assert not any(r.warnings for r in results if r.table in ("calls", "agent_states")), "every record is accounted for"
