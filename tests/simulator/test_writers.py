"""The platform outputs must look like what the platforms really write, field for
field, and say the same thing as the canonical tables they came from."""

import csv
import json
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow.parquet as pq
import pytest

from simulator.writers import (
    CANONICAL_TABLES,
    write_amazon_connect,
    write_asterisk,
    write_canonical,
    write_truth,
)

# queue_log data fields per event (docs.asterisk.org "Queue Logs"): epoch|callid|queue|agent|event|data...
QUEUE_LOG_DATA_FIELDS = {
    "ENTERQUEUE": 3,  # url|callerid|position
    "CONNECT": 3,  # holdtime|bridgedchanneluniqueid|ringtime
    "COMPLETEAGENT": 3,  # holdtime|calltime|origposition
    "COMPLETECALLER": 3,
    "BLINDTRANSFER": 5,  # extension|context|holdtime|calltime|origposition
    "ATTENDEDTRANSFER": 5,  # method|bridge|holdtime|calltime|origposition
    "ABANDON": 3,  # position|origposition|waittime
    "RINGNOANSWER": 1,  # ringtime (ms)
    "RINGCANCELED": 1,
    "PAUSE": 1,  # reason
    "UNPAUSE": 1,
    "PAUSEALL": 1,
    "UNPAUSEALL": 1,
    "ADDMEMBER": 1,
    "REMOVEMEMBER": 1,
    "QUEUESTART": 1,
}
CDR_COLUMNS = [
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
    "start", "answer", "end", "duration", "billsec", "disposition", "amaflags", "uniqueid", "userfield",
]


@pytest.fixture(scope="module")
def asterisk_dir(small_center_chicago, tmp_path_factory):
    out = tmp_path_factory.mktemp("asterisk")
    write_asterisk(small_center_chicago.tables, small_center_chicago.truth, out, "America/Chicago")
    return out


@pytest.fixture(scope="module")
def connect_dir(small_center_chicago, tmp_path_factory):
    out = tmp_path_factory.mktemp("connect")
    write_amazon_connect(small_center_chicago.tables, small_center_chicago.truth, out, seed=5)
    return out


def _queue_log(path):
    return [line.split("|") for line in path.read_text().splitlines()]


def test_queue_log_lines_follow_the_documented_layout(asterisk_dir):
    lines = _queue_log(asterisk_dir / "queue_log")
    assert len(lines) > 1000
    epochs = []
    for fields in lines:
        event = fields[4]
        assert event in QUEUE_LOG_DATA_FIELDS, event
        assert len(fields) == 5 + QUEUE_LOG_DATA_FIELDS[event], fields
        epochs.append(int(fields[0]))
        if event in ("ENTERQUEUE", "CONNECT", "ABANDON", "RINGNOANSWER", "COMPLETEAGENT", "COMPLETECALLER"):
            epoch, seq = fields[1].split(".")
            assert epoch.isdigit() and seq.isdigit()
        if event in ("PAUSEALL", "UNPAUSEALL", "QUEUESTART"):
            assert fields[1] == "NONE" and fields[2] == "NONE"
    assert epochs == sorted(epochs), "queue_log is written in time order"


def test_queue_log_tells_the_same_story_as_the_canonical_tables(small_center_chicago, asterisk_dir):
    t = {k: v.to_pandas() for k, v in small_center_chicago.tables.items()}
    events = Counter(fields[4] for fields in _queue_log(asterisk_dir / "queue_log"))
    queued = t["calls"][t["calls"].enqueued_at.notna()]
    assert events["ENTERQUEUE"] == len(queued)
    assert events["CONNECT"] == queued.answered_at.notna().sum()
    assert events["ABANDON"] == (queued.outcome == "abandoned").sum()
    offers = t["offers"]
    assert events["RINGNOANSWER"] == offers.result.isin(["ring_no_answer", "declined"]).sum()
    assert events["RINGCANCELED"] == (offers.result == "caller_abandoned").sum()
    assert events["ATTENDEDTRANSFER"] == (queued.transfer_kind == "escalation").sum()
    assert events["BLINDTRANSFER"] == queued.transfer_kind.isin(["queue", "self_service"]).sum()
    paused = t["agent_states"].query("state == 'paused'")
    assert events["PAUSE"] + events["PAUSEALL"] >= len(paused)
    # every call's lines come in a possible order: enter first, then connect, then one ending
    by_call = {}
    for fields in _queue_log(asterisk_dir / "queue_log"):
        if fields[1] != "NONE":
            by_call.setdefault((fields[1], fields[2]), []).append(fields[4])
    for seq in by_call.values():
        assert seq[0] == "ENTERQUEUE"
        endings = [e for e in seq if e in ("COMPLETEAGENT", "COMPLETECALLER", "BLINDTRANSFER", "ATTENDEDTRANSFER", "ABANDON")]
        assert len(endings) == seq.count("ENTERQUEUE")


def test_queue_log_has_no_hold_and_the_caller_number_only_on_enterqueue(asterisk_dir):
    for fields in _queue_log(asterisk_dir / "queue_log"):
        joined = "|".join(fields)
        assert "HOLD" not in fields[4]
        if fields[4] != "ENTERQUEUE":
            assert "+1" not in joined


def test_master_csv_is_cdr_csv_with_local_times(small_center_chicago, asterisk_dir):
    with open(asterisk_dir / "Master.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert all(len(row) == len(CDR_COLUMNS) for row in rows)
    cdr = pd.DataFrame(rows, columns=CDR_COLUMNS)
    calls = small_center_chicago.tables["calls"].to_pandas()
    outbound = calls[calls.direction == "outbound"]
    cdr_out = cdr[cdr.dcontext == "from-internal"]
    assert len(cdr_out) == len(outbound)
    assert len(cdr) == calls.parent_call_id.isna().sum()
    zone = ZoneInfo("America/Chicago")
    start = pd.to_datetime(cdr_out.start).dt.tz_localize(zone).dt.tz_convert("UTC")
    assert sorted(start) == sorted(outbound.started_at)
    assert (cdr_out.duration.astype(int) >= cdr_out.billsec.astype(int)).all()
    assert set(cdr.disposition) <= {"ANSWERED", "NO ANSWER", "BUSY", "FAILED"}
    first = datetime.strptime(cdr.start.iloc[0], "%Y-%m-%d %H:%M:%S")
    assert first.hour >= 6  # local opening hours, not UTC


def test_asterisk_surveys_and_rosters_use_platform_ids(small_center_chicago, asterisk_dir):
    surveys = pd.read_csv(asterisk_dir / "surveys.csv", dtype={"call_id": str})
    assert list(surveys.columns) == ["call_id", "score", "surveyed_at"]
    ids = {f[1] for f in _queue_log(asterisk_dir / "queue_log") if f[4] == "CONNECT"}
    assert set(surveys.call_id.astype(str)) <= ids
    assert surveys.score.between(1, 5).all()
    reps = pd.read_csv(asterisk_dir / "reps.csv")
    assert reps.rep_id.str.startswith("PJSIP/").all()


def test_contact_records_follow_the_connect_data_model(small_center_chicago, connect_dir):
    lines = (connect_dir / "contact_records.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    required = {
        "AWSAccountId", "Agent", "AgentConnectionAttempts", "Attributes", "Channel", "ContactId", "CustomerEndpoint",
        "DisconnectReason", "DisconnectTimestamp", "InitialContactId", "InitiationMethod", "InitiationTimestamp",
        "InstanceARN", "LastUpdateTimestamp", "NextContactId", "PreviousContactId", "Queue", "TransferredToEndpoint",
    }
    for record in records:
        assert required <= record.keys()
        assert record["Channel"] == "VOICE"
        assert record["InitiationMethod"] in {"INBOUND", "OUTBOUND", "TRANSFER"}
        assert record["DisconnectReason"] in {"CUSTOMER_DISCONNECT", "AGENT_DISCONNECT", "CONTACT_FLOW_DISCONNECT"}
        if record["Agent"] is not None:
            agent = record["Agent"]
            assert {"Username", "AgentInteractionDuration", "AfterContactWorkDuration", "CustomerHoldDuration",
                    "NumberOfHolds", "LongestHoldDuration", "ConnectedToAgentTimestamp"} <= agent.keys()
            assert agent["CustomerHoldDuration"] >= agent["LongestHoldDuration"] >= 0
    calls = small_center_chicago.tables["calls"].to_pandas()
    # delivered at least once: duplicates exist, and deduplicating on ContactId
    # (latest LastUpdateTimestamp wins) gives exactly one record per call
    ids = Counter(r["ContactId"] for r in records)
    assert len(records) > len(ids)
    latest = {}
    for record in records:
        if record["ContactId"] not in latest or record["LastUpdateTimestamp"] >= latest[record["ContactId"]]["LastUpdateTimestamp"]:
            latest[record["ContactId"]] = record
    assert len(latest) == len(calls)
    scored = [r for r in latest.values() if "csat" in r["Attributes"]]
    assert len(scored) == small_center_chicago.tables["surveys"].num_rows
    hold = sum(r["Agent"]["CustomerHoldDuration"] for r in latest.values() if r["Agent"] and r["InitiationMethod"] != "OUTBOUND")
    assert hold == calls.loc[calls.direction == "inbound", "hold_seconds"].sum()
    transfers = [r for r in latest.values() if r["InitiationMethod"] == "TRANSFER"]
    assert transfers and all(r["PreviousContactId"] in latest for r in transfers)


def test_agent_event_stream_follows_the_connect_data_model(small_center_chicago, connect_dir):
    events = [json.loads(line) for line in (connect_dir / "agent_events.jsonl").read_text().splitlines()]
    types = Counter(e["EventType"] for e in events)
    assert set(types) == {"LOGIN", "LOGOUT", "STATE_CHANGE", "HEART_BEAT"}
    for event in events[:5000]:
        snapshot = event["CurrentAgentSnapshot"]
        assert snapshot["AgentStatus"]["Type"] in {"ROUTABLE", "CUSTOM", "OFFLINE"}
        assert snapshot["Configuration"]["Username"].startswith("agent")
        assert event["Version"] == "2017-10-01"
    states = Counter(c["State"] for e in events for c in e["CurrentAgentSnapshot"]["Contacts"])
    offers = small_center_chicago.tables["offers"].to_pandas()
    assert states["MISSED"] == offers.result.isin(["ring_no_answer", "caller_abandoned"]).sum()
    assert states["REJECTED"] == (offers.result == "declined").sum()
    assert states["CONNECTED"] == (offers.result == "answered").sum()
    sessions = small_center_chicago.tables["agent_states"].to_pandas()
    assert types["LOGIN"] == types["LOGOUT"]
    assert types["LOGIN"] >= sessions.rep_id.nunique()
    # heartbeats only while nothing else happened for 120 s
    by_agent = {}
    for event in events:
        by_agent.setdefault(event["CurrentAgentSnapshot"]["Configuration"]["Username"], []).append(event["EventTimestamp"])
    for stamps in by_agent.values():
        assert stamps == sorted(stamps)


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_canonical_files_round_trip(small_center_chicago, tmp_path, file_format):
    paths = write_canonical(small_center_chicago.tables, tmp_path, file_format)
    assert [p.stem for p in paths] == list(CANONICAL_TABLES)
    calls = small_center_chicago.tables["calls"]
    if file_format == "parquet":
        back = pq.read_table(tmp_path / "calls.parquet")
        assert back.cast(calls.schema).equals(calls)  # Parquet has no second unit: ms on disk
    else:
        back = pd.read_csv(tmp_path / "calls.csv", dtype=str)
        assert list(back.columns) == calls.column_names
        assert back.started_at.str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").all()
        assert len(back) == calls.num_rows
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files are left behind"


def test_truth_file_lists_every_rep_with_its_ids(small_center_chicago, tmp_path):
    path = write_truth(small_center_chicago.truth, tmp_path)
    truth = json.loads(path.read_text())
    assert len(truth["reps"]) == 24
    for rep in truth["reps"]:
        assert rep["role"] in {"honest", "avoider", "confounder"}
        assert set(rep["ids"]) == {"canonical", "asterisk", "amazon-connect"}
        assert (rep["role"] == "avoider") == bool(rep["behaviours"])
        assert (rep["role"] == "confounder") == (rep["confounder"] is not None)
