"""Asterisk as it is written in the field, not as cadet's simulator writes it.

Each case is a small file written the way the documented source writes it, with the
canonical rows cadet must rebuild from it.  Sources:
- Asterisk's queue_log reference ("Queue Logs", Asterisk documentation, Operation >
  Logging): the event names and their data fields, e.g. ENTERQUEUE(url|callerid|position),
  CONNECT(holdtime|bridgedchanneluniqueid|ringtime), COMPLETECALLER(holdtime|calltime|
  origposition), RINGNOANSWER(ringtime in ms), EXITWITHKEY(key|position|origposition|
  waittime), AGENTCALLBACKLOGOFF(exten@context|logintime|reason).
- The realtime queue_log table (time, callid, queuename, agent, event, data1..data5, or one
  `data` column in older schemas) as Wazo's queue_log documentation shows it.
- A public production export of a reporting vendor's copy of that table
  (uid,date_time,callid,queue_name,type,event,param1,param2,param3,entpos,expos,htime,ttime,
  time), whose lines below are the real ones with the caller numbers replaced.
- cdr_csv's Master.csv column order (accountcode, src, dst, dcontext, clid, channel,
  dstchannel, lastapp, lastdata, start, answer, end, duration, billsec, disposition,
  amaflags, uniqueid, userfield), with and without a header row added by an export.
"""

import pandas as pd
import pytest

from pipelines.config import AsteriskIngestConfig
from pipelines.ingest import enforce_contract
from pipelines.readers.asterisk import read_asterisk

T = pd.Timestamp


def utc(epoch: int) -> pd.Timestamp:
    return T(epoch, unit="s", tz="UTC")


def read(tmp_path, files: dict[str, str], settings: AsteriskIngestConfig | None = None, timezone: str = "UTC"):
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    results = [enforce_contract(r) for r in read_asterisk(paths, settings or AsteriskIngestConfig(), timezone)]
    tables = {}
    for r in results:
        tables.setdefault(r.table, []).append(r.good)
    return {k: pd.concat(v, ignore_index=True) for k, v in tables.items()}, results


VENDOR = """\
uid,date_time,callid,queue_name,type,event,param1,param2,param3,entpos,expos,htime,ttime,time
1,1543527289,NONE,NONE,NONE,QUEUESTART,,,,0,0,0,0,"2018-11-29 16:34:49"
5,1543598990,1543598985.25,IT,Local/1127@callback-agent,ADDMEMBER,,,,0,0,0,0,"2018-11-30 12:29:50"
6,1543598990,1543598985.25,NONE,Agent/1127,AGENTCALLBACKLOGIN,hint:1127@default,,,0,0,0,0,"2018-11-30 12:29:50"
7,1543600769,1543600760.106,IT,Local/1141@callback-agent,ADDMEMBER,,,,0,0,0,0,"2018-11-30 12:59:30"
8,1543600769,1543600760.106,NONE,Agent/1141,AGENTCALLBACKLOGIN,hint:1141@default,,,0,0,0,0,"2018-11-30 12:59:30"
9,1543601975,1543601975.170,NONE,Agent/1127,OUTDIAL,5550142,,,0,0,0,0,"2018-11-30 13:19:35"
10,1543601976,1543601975.170,NONE,Agent/1127,OUTCANCEL,5550142,,,0,0,1,0,"2018-11-30 13:19:36"
11,1543602023,1543602022.182,NONE,Agent/1127,OUTDIAL,3318,,,0,0,0,0,"2018-11-30 13:20:23"
12,1543602424,1543602022.182,NONE,Agent/1127,OUTANSWER,3318,COMPLETEAGENT,,0,0,2,398,"2018-11-30 13:27:04"
13,1543602677,1543602660.197,IT,NONE,ENTERQUEUE,13125550100,,,1,0,0,0,"2018-11-30 13:31:17"
14,1543602687,1543602660.197,IT,Agent/1141,RINGNOANSWER,13125550100,,,1,1,10000,0,"2018-11-30 13:31:28"
15,1543602705,1543602660.197,IT,Agent/1127,RINGNOANSWER,13125550100,,,1,1,9000,0,"2018-11-30 13:31:46"
19,1543602753,1543602660.197,IT,Agent/1127,CONNECT,,1543602746.232,6,0,0,76,0,"2018-11-30 13:32:34"
20,1543603600,1543602660.197,IT,Agent/1127,COMPLETECALLER,13125550100,,,1,0,76,847,"2018-11-30 13:46:41"
29,1543852011,1543852000.1574,IT,NONE,ENTERQUEUE,13125550111,,,1,0,0,0,"2018-12-03 10:46:51"
294,1543852202,1543852000.1574,IT,NONE,ABANDON,13125550111,,,1,1,191,0,"2018-12-03 10:50:03"
133,1543625964,1543625961.49,IT,Local/1141@callback-agent,REMOVEMEMBER,,,,0,0,0,0,"2018-11-30 19:59:24"
134,1543625964,1543625961.49,NONE,Agent/1141,AGENTCALLBACKLOGOFF,hint:1141@default,25195,,0,0,0,0,"2018-11-30 19:59:24"
"""


def test_a_vendor_copy_of_the_queue_log_table_is_read_by_its_header(tmp_path):
    tables, results = read(tmp_path, {"queue_log.csv": VENDOR})
    assert all(r.quarantine.empty for r in results), [r.quarantine.reason.tolist() for r in results]
    calls = tables["calls"].set_index("call_id")
    answered = calls.loc["1543602660.197"]
    assert (answered.queue, answered.rep_id, answered.outcome, answered.disconnected_by) == ("IT", "Agent/1127", "answered", "caller")
    assert (answered.enqueued_at, answered.answered_at, answered.ended_at) == (utc(1543602677), utc(1543602753), utc(1543603600))
    assert answered.remote_number == "13125550100" and pd.isna(answered.hold_seconds)
    assert (calls.loc["1543852000.1574", "outcome"], calls.loc["1543852000.1574", "disconnected_by"]) == ("abandoned", "caller")

    offers = tables["offers"].sort_values("offered_at")
    assert offers[["rep_id", "ring_seconds"]].values.tolist() == [["Agent/1141", 10], ["Agent/1127", 9], ["Agent/1127", 6]]
    assert offers.result.tolist()[-1] == "answered"


def test_a_dialler_s_out_events_are_outbound_and_internal_calls(tmp_path):
    """OUTDIAL opens a call the rep dials; OUTANSWER (talk time in ttime) or OUTCANCEL/... ends it."""
    calls = read(tmp_path, {"queue_log.csv": VENDOR})[0]["calls"].set_index("call_id")
    cancelled = calls.loc["1543601975.170"]
    assert (cancelled.direction, cancelled.outcome, cancelled.rep_id) == ("outbound", "abandoned", "Agent/1127")
    assert cancelled.remote_number == "5550142" and pd.isna(cancelled.answered_at)
    extension = calls.loc["1543602022.182"]
    assert (extension.direction, extension.outcome, extension.disconnected_by) == ("internal", "answered", "agent")
    assert (extension.started_at, extension.answered_at, extension.ended_at) == (utc(1543602023), utc(1543602026), utc(1543602424))


def test_one_person_under_several_interfaces_is_one_rep(tmp_path):
    """app_agent_pool: the agent Agent/1141 logs in from the member Local/1141@callback-agent."""
    tables = read(tmp_path, {"queue_log.csv": VENDOR})[0]
    reps = set(tables["calls"].rep_id.dropna()) | set(tables["offers"].rep_id) | set(tables["agent_states"].rep_id)
    assert reps == {"Agent/1127", "Agent/1141"}, "no phantom Local/... reps"
    session = tables["agent_states"][tables["agent_states"].rep_id == "Agent/1141"]
    assert session[["state", "started_at", "ended_at"]].values.tolist() == [["available", utc(1543600769), utc(1543625964)]]


def test_interfaces_merge_by_number_and_member_names_by_setting(tmp_path):
    log = """\
1767600001|NONE|sales|Local/1001@from-queue/n|ADDMEMBER|
1767600002|NONE|sales|Jane Doe|ADDMEMBER|
1767600100|1767600090.1|sales|NONE|ENTERQUEUE||+13125550100|1
1767600105|1767600090.1|sales|PJSIP/1001|CONNECT|5|1767600090.2|3
1767600200|1767600090.1|sales|PJSIP/1001|COMPLETEAGENT|5|95|1
1767600300|1767600290.3|sales|NONE|ENTERQUEUE||+13125550101|1
1767600315|1767600290.3|sales|Jane Doe|RINGNOANSWER|15000
1767600318|1767600290.3|sales|SIP/1001|CONNECT|18|1767600290.4|3
1767600400|1767600290.3|sales|SIP/1001|COMPLETECALLER|18|82|1
1767600500|1767600490.5|sales|NONE|ENTERQUEUE||+13125550102|1
1767600502|1767600490.5|sales|PJSIP/1001|CONNECT|2|1767600490.6|2
1767600600|1767600490.5|sales|PJSIP/1001|COMPLETECALLER|2|98|1
1767603000|NONE|sales|Local/1001@from-queue/n|REMOVEMEMBER|
"""
    tables = read(tmp_path, {"queue_log": log}, AsteriskIngestConfig(rep_aliases={"Jane Doe": "PJSIP/1002"}))[0]
    assert set(tables["calls"].rep_id) == {"PJSIP/1001"}, "PJSIP/1001, SIP/1001 and Local/1001@... are one rep, named by the interface taking most calls"
    assert tables["offers"].rep_id.tolist().count("PJSIP/1002") == 1
    assert set(tables["agent_states"].rep_id) == {"PJSIP/1001"}

    kept_apart = read(tmp_path, {"queue_log": log}, AsteriskIngestConfig(merge_interfaces=False))[0]
    assert set(kept_apart["calls"].rep_id) == {"PJSIP/1001", "SIP/1001"}


def test_an_unknown_table_layout_is_refused_with_the_layouts_expected_and_the_rest_lands(tmp_path):
    strange = "id,stamp,callid,queue,member,event,info\n1,1543527289,1.1,IT,Agent/1,ENTERQUEUE,x\n"
    good = "1767600100|1767600090.1|general|NONE|ENTERQUEUE||+13125550100|1\n1767600140|1767600090.1|general|NONE|ABANDON|1|1|40\n"
    tables, results = read(tmp_path, {"queue_log_export.csv": strange, "queue_log": good})
    refused = next(r for r in results if r.problem)
    assert refused.file.name == "queue_log_export.csv"
    assert "a layout cadet does not know" in refused.problem and "time,callid,queuename,agent,event,data1" in refused.problem
    assert tables["calls"].call_id.tolist() == ["1767600090.1"]


def test_the_older_realtime_table_with_one_data_column_reads_in_the_site_s_zone(tmp_path):
    table = """\
time,callid,queuename,agent,event,data
2012-07-03 15:27:23.896208,NONE,NONE,Agent/3001,AGENTCALLBACKLOGIN,1002@pcm-dev
2012-07-03 15:30:00.120000,1341343800.7,q1,NONE,ENTERQUEUE,|+33612345678|1
2012-07-03 15:30:05.900000,1341343800.7,q1,Agent/3001,CONNECT,5|1341343805.8|2
2012-07-03 15:32:05.000000,1341343800.7,q1,Agent/3001,COMPLETEAGENT,5|120|1
2012-07-03 15:40:00.000000,NONE,NONE,Agent/3001,AGENTCALLBACKLOGOFF,1002@pcm-dev|756|CommandLogoff
"""
    tables, results = read(tmp_path, {"queue_log.csv": table}, timezone="Europe/Paris")
    assert all(r.quarantine.empty for r in results)
    call = tables["calls"].iloc[0]
    assert call.answered_at == T("2012-07-03 13:30:05", tz="UTC"), "Paris summer time is UTC+2; fractions are dropped"
    assert (call.rep_id, call.disconnected_by, call.remote_number) == ("Agent/3001", "agent", "+33612345678")
    assert tables["agent_states"].ended_at.iloc[0] == T("2012-07-03 13:40:00", tz="UTC")


def test_rarer_documented_events(tmp_path):
    """EXITWITHKEY, AGENTDUMP, auto-pause after a ring-no-answer, PAUSEALL beside one PAUSE per queue, system lines."""
    log = """\
1767600000|NONE|NONE|NONE|QUEUESTART|
1767600000|NONE|NONE|NONE|SYSCOMPAT|
1767600001|NONE|sales|PJSIP/1001|ADDMEMBER|
1767600001|NONE|support|PJSIP/1001|ADDMEMBER|
1767600100|1767600090.1|sales|NONE|DID|+18005550000
1767600100|1767600090.1|sales|NONE|ENTERQUEUE||+13125550100|1
1767600101|1767600090.1|sales|NONE|INFO|caller chose option 2
1767600130|1767600090.1|sales|NONE|EXITWITHKEY|2|1|1|30
1767600200|1767600190.2|sales|NONE|ENTERQUEUE||+13125550101|1
1767600215|1767600190.2|sales|PJSIP/1001|RINGNOANSWER|15000
1767600215|NONE|sales|PJSIP/1001|PAUSE|Auto-Pause
1767600215|NONE|support|PJSIP/1001|PAUSE|Auto-Pause
1767600230|1767600190.2|sales|NONE|AGENTDUMP|
1767600400|NONE|sales|PJSIP/1001|UNPAUSE|
1767600400|NONE|support|PJSIP/1001|UNPAUSE|
1767600500|NONE|NONE|PJSIP/1001|PAUSEALL|Lunch
1767600500|NONE|sales|PJSIP/1001|PAUSE|Lunch
1767600500|NONE|support|PJSIP/1001|PAUSE|Lunch
1767602300|NONE|NONE|PJSIP/1001|UNPAUSEALL|
1767602300|NONE|sales|PJSIP/1001|UNPAUSE|
1767602300|NONE|support|PJSIP/1001|UNPAUSE|
1767603000|NONE|sales|PJSIP/1001|REMOVEMEMBER|
1767603000|NONE|support|PJSIP/1001|REMOVEMEMBER|
"""
    tables, results = read(tmp_path, {"queue_log": log})
    assert all(r.quarantine.empty for r in results)
    calls = tables["calls"].set_index("call_id")
    assert (calls.loc["1767600090.1", "outcome"], calls.loc["1767600090.1", "disconnected_by"]) == ("abandoned", "caller")
    assert calls.loc["1767600190.2", "outcome"] == "abandoned"
    states = tables["agent_states"]
    assert states[["state", "reason"]].fillna("").values.tolist() == [
        ["available", ""], ["paused", "Auto-Pause"], ["available", ""], ["paused", "Lunch"], ["available", ""]]
    assert (states.ended_at - states.started_at).dt.total_seconds().tolist() == [214, 185, 100, 1800, 700]


MASTER_ROWS = [
    '"","1001","5550199","from-internal","""Rep"" <1001>","PJSIP/1001-00000001","PJSIP/trunk-00000002","Dial",'
    '"PJSIP/5550199@trunk","2026-01-05 09:00:00","2026-01-05 09:00:10","2026-01-05 09:05:10",310,300,"ANSWERED",'
    '"DOCUMENTATION","1767603600.5",""',
    '"","13125550144","s","ivr-main","""Caller"" <13125550144>","PJSIP/trunk-00000003","","Playback","menu",'
    '"2026-01-05 09:10:00","2026-01-05 09:10:00","2026-01-05 09:11:00",60,60,"ANSWERED","DOCUMENTATION","1767604200.6",""',
]
QUEUE = "1767600001|NONE|sales|PJSIP/1001|ADDMEMBER|\n1767603000|NONE|sales|PJSIP/1001|REMOVEMEMBER|\n" \
        "1767601000|1767600990.1|sales|NONE|ENTERQUEUE||+13125550100|1\n1767601050|1767600990.1|sales|NONE|ABANDON|1|1|50\n"


@pytest.mark.parametrize("header", [False, True])
def test_master_csv_with_or_without_a_header_row(tmp_path, header):
    head = ("accountcode,src,dst,dcontext,clid,channel,dstchannel,lastapp,lastdata,start,answer,end,duration,billsec,"
            "disposition,amaflags,uniqueid,userfield\n") if header else ""
    tables, results = read(tmp_path, {"queue_log": QUEUE, "Master.csv": head + "\n".join(MASTER_ROWS) + "\n"}, timezone="UTC")
    assert all(r.quarantine.empty for r in results), [r.quarantine.reason.tolist() for r in results]
    calls = tables["calls"].set_index("call_id")
    out = calls.loc["1767603600.5"]
    assert (out.direction, out.rep_id, out.remote_number, out.outcome) == ("outbound", "PJSIP/1001", "5550199", "answered")
    assert calls.loc["1767604200.6", "outcome"] == "ivr_self_service"


def test_attended_transfer_in_its_bridge_app_and_link_forms(tmp_path):
    """ATTENDEDTRANSFER(BRIDGE|bridge|holdtime|calltime|origposition), (APP|app|...), (LINK|chan1|chan2|...)."""
    log = """\
1767600001|NONE|sales|PJSIP/1001|ADDMEMBER|
1767600100|1.1|sales|NONE|ENTERQUEUE||+13125550100|1
1767600105|1.1|sales|PJSIP/1001|CONNECT|5|1.11|2
1767600160|1.1|sales|PJSIP/1001|ATTENDEDTRANSFER|BRIDGE|bridge-7|5|55|1
1767600162|1.1|tier2|NONE|ENTERQUEUE||+13125550100|1
1767600170|1.1|tier2|NONE|ABANDON|1|1|8
1767600200|2.2|sales|NONE|ENTERQUEUE||+13125550101|1
1767600205|2.2|sales|PJSIP/1001|CONNECT|5|2.21|2
1767600300|2.2|sales|PJSIP/1001|ATTENDEDTRANSFER|APP|VoiceMail|5|95|1
1767600400|3.3|sales|NONE|ENTERQUEUE||+13125550102|1
1767600405|3.3|sales|PJSIP/1001|CONNECT|5|3.31|2
1767600500|3.3|sales|PJSIP/1001|ATTENDEDTRANSFER|LINK|PJSIP/1001-01|PJSIP/2001-02|5|95|1
1767603000|NONE|sales|PJSIP/1001|REMOVEMEMBER|
"""
    tables, results = read(tmp_path, {"queue_log": log})
    assert all(r.quarantine.empty for r in results)
    calls = tables["calls"].set_index("call_id")
    assert (calls.loc["1.1", "transfer_kind"], calls.loc["1.1", "transfer_to"]) == ("escalation", "tier2")
    assert calls.loc["1.1#2", "parent_call_id"] == "1.1"
    for call in ("2.2", "3.3"):
        assert (calls.loc[call, "transfer_kind"], calls.loc[call, "disconnected_by"]) == ("external", "transfer")
    assert calls.loc["3.3", "ended_at"] == utc(1767600500)
