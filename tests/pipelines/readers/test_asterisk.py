"""Asterisk: hand-written queue_log snippets for every event, and the simulator's
Asterisk output must give the same per-rep story as its canonical output."""

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.config import AsteriskIngestConfig, CadetConfig, SiteConfig
from pipelines.readers.asterisk import Span, read_asterisk, read_queue_log, rebuild_calls, rebuild_presence
from simulator import SimulationConfig, simulate
from simulator.writers import write_asterisk

SETTINGS = AsteriskIngestConfig()

# One morning in a real-looking queue_log: login, a missed ring, an answered call with
# ACW, a transfer to tier 2 (attended), a blind transfer back to the IVR, an abandon,
# a caller hanging up while it rang, pauses per queue and for all queues, logoff.
SNIPPET = """\
1767600000|NONE|NONE|NONE|QUEUESTART|
1767600001|NONE|general|PJSIP/1001|ADDMEMBER|
1767600001|NONE|billing|PJSIP/1001|ADDMEMBER|
1767600002|NONE|NONE|Agent/2002|AGENTLOGIN|PJSIP/2002
1767600100|1767600090.1|general|NONE|ENTERQUEUE||+13125550100|1
1767600115|1767600090.1|general|PJSIP/1001|RINGNOANSWER|15000
1767600120|1767600090.1|general|Agent/2002|CONNECT|20|1767600090.11|5
1767600400|1767600090.1|general|Agent/2002|COMPLETECALLER|20|280|1
1767600400|NONE|NONE|Agent/2002|PAUSEALL|ACW
1767600460|NONE|NONE|Agent/2002|UNPAUSEALL|
1767600500|1767600495.2|billing|NONE|ENTERQUEUE||+13125550199|1
1767600503|1767600495.2|billing|PJSIP/1001|RINGNOANSWER|3000
1767600510|1767600495.2|billing|PJSIP/1001|CONNECT|10|1767600495.21|4
1767600540|1767600495.2|billing|PJSIP/1001|ATTENDEDTRANSFER|BRIDGE|bridge-1|10|30|1
1767600542|1767600495.2|tier2|NONE|ENTERQUEUE||+13125550199|1
1767600550|1767600495.2|tier2|Agent/2002|CONNECT|8|1767600495.22|3
1767600600|1767600495.2|tier2|Agent/2002|BLINDTRANSFER|selfservice|ivr|8|50|1
1767600700|1767600690.3|general|NONE|ENTERQUEUE||+13125550111|1
1767600740|1767600690.3|general|NONE|ABANDON|1|1|40
1767600800|1767600790.4|general|NONE|ENTERQUEUE||+13125550122|1
1767600806|1767600790.4|general|PJSIP/1001|RINGCANCELED|6000
1767600806|1767600790.4|general|NONE|ABANDON|1|1|6
1767600900|NONE|general|PJSIP/1001|PAUSE|Break
1767600900|NONE|billing|PJSIP/1001|PAUSE|Break
1767601800|NONE|general|PJSIP/1001|UNPAUSE|
1767601800|NONE|billing|PJSIP/1001|UNPAUSE|
1767602000|NONE|NONE|PJSIP/1001|PAUSEALL|Technical
1767602600|NONE|NONE|PJSIP/1001|UNPAUSEALL|
1767603000|NONE|general|PJSIP/1001|REMOVEMEMBER|
1767603000|NONE|billing|PJSIP/1001|REMOVEMEMBER|
1767603100|NONE|NONE|Agent/2002|AGENTLOGOFF|PJSIP/2002|3098
"""


@pytest.fixture
def snippet(tmp_path):
    path = tmp_path / "queue_log"
    path.write_text(SNIPPET)
    return path


def test_every_event_of_the_snippet_is_understood(snippet):
    log, bad = read_queue_log(snippet)
    assert bad.empty
    legs, offers, unfinished = rebuild_calls(log, SETTINGS)
    assert unfinished.empty
    legs = legs.set_index("call_id")
    first = legs.loc["1767600090.1"]
    assert (first.outcome, first.rep_id, first.disconnected_by) == ("answered", "Agent/2002", "caller")
    assert first.remote_number == "+13125550100"
    escalated = legs.loc["1767600495.2"]
    assert (escalated.transfer_kind, escalated.transfer_to, escalated.disconnected_by) == ("escalation", "tier2", "transfer")
    second_leg = legs.loc["1767600495.2#2"]
    assert second_leg.parent_call_id == "1767600495.2" and second_leg.queue == "tier2"
    assert (second_leg.transfer_kind, second_leg.transfer_to) == ("self_service", "ivr:self-service")
    assert legs.loc["1767600690.3"].outcome == "abandoned"
    results = offers.groupby("result").size().to_dict()
    assert results == {"answered": 3, "ring_no_answer": 1, "declined": 1, "caller_abandoned": 1}
    declined = offers[offers.result == "declined"].iloc[0]
    assert declined.ring_seconds == 3 and declined.offered_at == pd.Timestamp(1767600500, unit="s", tz="UTC")

    states, acw = rebuild_presence(log, SETTINGS)
    agent = states[states.rep_id == "PJSIP/1001"]
    assert agent.state.tolist() == ["available", "paused", "available", "paused", "available"]
    assert agent.reason.tolist()[1::2] == ["Break", "Technical"]
    paused = agent[agent.state == "paused"]
    assert ((paused.ended_at - paused.started_at).dt.total_seconds()).tolist() == [900, 600]
    other = states[states.rep_id == "Agent/2002"]
    assert other.state.tolist() == ["available"], "an ACW pause is after-call work, not a break"
    assert acw.values.tolist() == [["Agent/2002", 1767600400, 1767600460]]


def test_calls_have_no_hold_and_get_wrapup_from_acw(snippet):
    results = read_asterisk([snippet], SETTINGS, "UTC")
    calls = next(r for r in results if r.table == "calls").good.set_index("call_id")
    assert calls.hold_seconds.isna().all(), "queue_log cannot show hold: not observable, never zero"
    assert calls.loc["1767600090.1", "wrapup_seconds"] == 60
    assert calls.loc["1767600495.2", "wrapup_seconds"] == 0
    assert pd.isna(calls.loc["1767600690.3", "wrapup_seconds"])


def test_bad_lines_are_quarantined_with_reasons(tmp_path):
    path = tmp_path / "queue_log"
    path.write_bytes(
        SNIPPET.encode()
        + b"1767604000|1.1|general\n"
        + b"yesterday|1.2|general|NONE|ENTERQUEUE||+1312|1\n"
        + b"1767604001|1.3|general|NONE|TELEPORT|x\n"
        + b"1767604002|1.4|general|NONE|ENTERQUEUE||+13125550\xff|1\n"
        + b"1767604003|1.5|general|NONE|ENTERQUEUE||+13125550177|1\n"
    )
    log, bad = read_queue_log(path)
    reasons = dict(zip(bad.line, bad.reason))
    n = SNIPPET.count("\n")
    assert reasons[n + 1].startswith("truncated")
    assert reasons[n + 2] == "bad timestamp: not Unix seconds"
    assert reasons[n + 3] == "unknown event TELEPORT"
    assert reasons[n + 4].startswith("not UTF-8")
    raw = dict(zip(bad.line, bad.raw))
    assert raw[n + 4] == "1767604002|1.4|general|NONE|ENTERQUEUE||+13125550\\xff|1", "shown as it is, the byte escaped"
    legs, offers, unfinished = rebuild_calls(log, SETTINGS)
    assert "no end in these files" in unfinished.reason.iloc[0] and unfinished.line.tolist() == [n + 5]


def test_lines_from_a_clock_gone_wrong_are_quarantined_and_the_rest_land(tmp_path):
    path = tmp_path / "queue_log"
    future = [f"{t}|9.{i}|general|NONE|ENTERQUEUE||+13125550100|1\n" for i, t in enumerate((4417804800, 9999999000, 10413792000))]
    path.write_text(SNIPPET + "".join(future))
    results = read_asterisk([path], SETTINGS, "UTC")
    calls = next(r for r in results if r.table == "calls")
    assert not calls.good.call_id.str.startswith("9.").any() and len(calls.good)
    assert calls.quarantine.reason.str.contains("not a plausible time").sum() == 3


def test_database_export_variant_reads_the_same(snippet, tmp_path):
    rows = ["time,callid,queuename,agent,event,data1,data2,data3,data4,data5"]
    for line in SNIPPET.splitlines():
        fields = line.split("|") + [""] * 10
        stamp = pd.Timestamp(int(fields[0]), unit="s").strftime("%Y-%m-%d %H:%M:%S.000000")
        rows.append(",".join([stamp, *fields[1:10]]))
    export = tmp_path / "queue_log.csv"
    export.write_text("\n".join(rows) + "\n")
    flat, _ = read_queue_log(snippet)
    db, bad = read_queue_log(export)
    assert bad.empty
    a, b = rebuild_calls(flat, SETTINGS)[0], rebuild_calls(db, SETTINGS)[0]
    assert a.drop(columns=["file", "end_file"]).equals(b.drop(columns=["file", "end_file"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet="0123456789|ABCDEFGHIJKLMNOPQRSTUVWXYZ.NONE/ +", max_size=60), max_size=30))
def test_random_garbage_lines_never_crash_and_are_all_accounted_for(tmp_path, garbage):
    path = tmp_path / "queue_log"
    good = SNIPPET.splitlines()
    path.write_text("\n".join(good + [g.replace("\n", " ") for g in garbage]) + "\n")
    log, bad = read_queue_log(path)
    assert len(log.line) + len(bad) == len(good) + len(garbage)
    assert set(range(1, len(good) + 1)) <= set(log.line.tolist())
    assert bad.reason.str.len().gt(0).all()
    rebuild_calls(log, SETTINGS)
    rebuild_presence(log, SETTINGS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from([b"1767600090|1.1|sales|NONE|ENTERQUEUE||+4420794609|1", b"\r", b"\n", b"\r\n", b"|",
                                 "é".encode(), b"\xff", b"\xef\xbb\xbf", b"x"]), max_size=40))
def test_each_line_of_a_queue_log_is_one_row_in_order_whatever_its_line_ends_and_bytes(tmp_path, pieces):
    """A line is what comes between newlines, one carriage return before its newline dropped; a line that is not
    UTF-8 is quarantined as it is, never decoded by guesswork; whole files and work-unit spans split alike."""
    raw = b"".join(pieces)
    path = tmp_path / "queue_log"
    path.write_bytes(raw)
    log, bad = read_queue_log(path)
    expected = raw.split(b"\n")
    if expected[-1] == b"":  # the newline that ends the last line starts none
        expected.pop()
    expected = [line[:-1] if line.endswith(b"\r") else line for line in expected]
    rows = pd.concat([pd.DataFrame({"line": log.line, "raw": list(log.raw)}), bad[["line", "raw"]]]).sort_values("line")
    assert rows.line.tolist() == list(range(1, len(expected) + 1))
    for got, line in zip(rows.raw, expected):
        assert got == line.decode("utf-8", errors="backslashreplace")
    not_text = {n for n, line in enumerate(expected, start=1) if _not_utf8(line)}
    assert not_text <= set(bad.line[bad.reason.str.startswith("not UTF-8")])
    span, span_bad = read_queue_log(path, span=Span(path, 0, len(raw), 1))
    assert list(span.raw) == list(log.raw) and span_bad.line.tolist() == bad.line.tolist()


def _not_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def test_simulated_asterisk_output_tells_the_same_per_rep_story_as_canonical(tmp_path):
    config = CadetConfig(site=SiteConfig(timezone="America/Chicago"))
    center = simulate(SimulationConfig(), n_reps=30, n_days=8, seed=5, site=config.site, workers=1)
    write_asterisk(center.tables, center.truth, tmp_path, "America/Chicago")
    files = sorted(p for p in tmp_path.iterdir() if p.name != "truth.json")
    results = read_asterisk(files, config.ingest.asterisk, "America/Chicago")
    assert all(r.quarantined == 0 for r in results), [r.quarantine.head() for r in results if r.quarantined]
    got = {t: pd.concat([r.good for r in results if r.table == t], ignore_index=True) for t in ("calls", "offers", "agent_states")}
    ids = {r["ids"]["canonical"]: r["ids"]["asterisk"] for r in center.truth["reps"]}
    want = {t: center.tables[t].to_pandas() for t in ("calls", "offers", "agent_states")}
    for frame in want.values():
        frame["rep_id"] = frame.rep_id.map(ids)

    def story(calls, offers, agent_states):
        states = agent_states
        inbound = calls[(calls.direction == "inbound") & calls.answered_at.notna()]
        paused = states[states.state == "paused"]
        return pd.DataFrame(
            {
                "offered": offers.groupby("rep_id").size(),
                "answered": offers[offers.result == "answered"].groupby("rep_id").size(),
                "missed": offers[offers.result.isin(["ring_no_answer", "declined"])].groupby("rep_id").size(),
                "declined": offers[offers.result == "declined"].groupby("rep_id").size(),
                "transferred": inbound[inbound.transfer_kind.notna()].groupby("rep_id").size(),
                "escalated": inbound[inbound.transfer_kind == "escalation"].groupby("rep_id").size(),
                "wrapup": inbound.groupby("rep_id").wrapup_seconds.sum(),
                "pause_seconds": (paused.ended_at - paused.started_at).dt.total_seconds().groupby(paused.rep_id).sum(),
                "outbound": calls[calls.direction == "outbound"].groupby("rep_id").size(),
            }
        ).fillna(0).sort_index()

    expected, actual = story(**want), story(**got)
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False)
    assert len(got["calls"]) == len(want["calls"])
    assert got["calls"].hold_seconds.isna().all()
    assert (got["calls"].outcome.value_counts().sort_index() == want["calls"].outcome.value_counts().sort_index()).all()


def test_a_broken_cdr_line_is_quarantined_and_the_rest_land(tmp_path):
    from pipelines.readers.asterisk import read_cdr

    good = ('"","1001","13125550100","from-internal","""Agent 1001"" <1001>","PJSIP/1001-00000001","PJSIP/trunk","Dial",'
            '"PJSIP/13125550100@trunk,60","2026-01-05 09:00:00","2026-01-05 09:00:10","2026-01-05 09:05:00",300,290,'
            '"ANSWERED","DOCUMENTATION","1767603600.7",""')
    path = tmp_path / "Master.csv"
    path.write_text(good + "\n" + '"","1001","oops"\n' + good.replace("2026-01-05 09:00:00", "yesterday") + "\n")
    rows, quarantine = read_cdr(path, "Europe/Paris")
    assert rows.line.tolist() == [1]
    assert rows.start.iloc[0] == pd.Timestamp("2026-01-05T08:00:00Z"), "CDR times are the PBX's local time"
    reasons = dict(zip(quarantine.line, quarantine.reason))
    assert reasons[2].startswith("has 3 fields") and "not a local time" in reasons[3]


def test_older_and_rarer_endings(tmp_path):
    """COMPLETEAGENT, the pre-1.6 TRANSFER, EXITWITHTIMEOUT and EXITEMPTY end legs too."""
    path = tmp_path / "queue_log"
    path.write_text(
        "1767600000|1.1|general|NONE|ENTERQUEUE||+13125550100|1\n"
        "1767600005|1.1|general|PJSIP/1001|CONNECT|5|1.11|2\n"
        "1767600300|1.1|general|PJSIP/1001|COMPLETEAGENT|5|295|1\n"
        "1767600400|2.2|general|NONE|ENTERQUEUE||+13125550101|1\n"
        "1767600402|2.2|general|PJSIP/1001|CONNECT|2|2.21|2\n"
        "1767600420|2.2|general|PJSIP/1001|TRANSFER|6000|from-internal|2|18|1\n"
        "1767600500|3.3|general|NONE|ENTERQUEUE||+13125550102|1\n"
        "1767600800|3.3|general|NONE|EXITWITHTIMEOUT|1|1|300\n"
        "1767600900|4.4|general|NONE|ENTERQUEUE||+13125550103|1\n"
        "1767600901|4.4|general|NONE|EXITEMPTY|1|1|1\n"
    )
    log, bad = read_queue_log(path)
    assert bad.empty
    legs = rebuild_calls(log, SETTINGS)[0].set_index("call_id")
    assert legs.loc["1.1", "disconnected_by"] == "agent"
    assert (legs.loc["2.2", "transfer_kind"], legs.loc["2.2", "transfer_to"]) == ("external", "6000")
    assert (legs.loc["3.3", "outcome"], legs.loc["3.3", "disconnected_by"]) == ("abandoned", "system")
    assert legs.loc["4.4", "outcome"] == "abandoned"


def test_what_is_carried_to_the_next_run_holds_no_phone_number(tmp_path):
    from pipelines.readers.asterisk import CARRY_COLUMNS, AsteriskHistory, landed_legs, read_asterisk_incremental

    path = tmp_path / "queue_log"
    path.write_text("1767600000|NONE|general|PJSIP/1|ADDMEMBER|\n"
                    "1767600010|5.1|general|NONE|ENTERQUEUE||+13125550100|1\n"
                    "1767600015|5.1|general|PJSIP/1|CONNECT|5|5.11|3\n"
                    "1767600100|5.1|general|PJSIP/1|BLINDTRANSFER|913125550199|outside|5|85|1\n"
                    "1767600110|6.1|general|NONE|ENTERQUEUE||+13125550101|1\n")
    history = AsteriskHistory(pd.DataFrame(columns=CARRY_COLUMNS), landed_legs(), b"k" * 16)
    _, carry = read_asterisk_incremental([path], SETTINGS, "UTC", history)
    assert {"5.1", "6.1"} <= set(carry.callid), "the just-transferred call and the open one are carried"
    text = carry.astype(str).to_csv()
    for number in ("3125550100", "3125550101", "3125550199"):
        assert number not in text


def test_wrapup_is_read_from_the_pause_alone_and_ends_at_the_next_break_or_logoff(tmp_path):
    """A static member (in queues.conf, never an ADDMEMBER line) has wrap-up too; a break taken straight from
    wrap-up, or a logoff, ends the wrap-up there rather than at some later unpause."""
    path = tmp_path / "queue_log"
    path.write_text(
        "1767600000|1.1|general|NONE|ENTERQUEUE||+13125550100|1\n"
        "1767600005|1.1|general|PJSIP/7|CONNECT|5|1.11|2\n"
        "1767600300|1.1|general|PJSIP/7|COMPLETECALLER|5|295|1\n"
        "1767600300|NONE|NONE|PJSIP/7|PAUSEALL|ACW\n"
        "1767600345|NONE|NONE|PJSIP/7|UNPAUSEALL|\n"
        "1767601000|NONE|general|PJSIP/8|ADDMEMBER|\n"
        "1767601010|2.2|general|NONE|ENTERQUEUE||+13125550101|1\n"
        "1767601015|2.2|general|PJSIP/8|CONNECT|5|2.21|2\n"
        "1767601100|2.2|general|PJSIP/8|COMPLETEAGENT|5|85|1\n"
        "1767601100|NONE|NONE|PJSIP/8|PAUSEALL|ACW\n"
        "1767601120|NONE|NONE|PJSIP/8|PAUSEALL|Lunch\n"
        "1767604720|NONE|NONE|PJSIP/8|UNPAUSEALL|\n"
        "1767604800|3.3|general|NONE|ENTERQUEUE||+13125550102|1\n"
        "1767604805|3.3|general|PJSIP/8|CONNECT|5|3.31|2\n"
        "1767604900|3.3|general|PJSIP/8|COMPLETECALLER|5|95|1\n"
        "1767604900|NONE|NONE|PJSIP/8|PAUSEALL|ACW\n"
        "1767604930|NONE|general|PJSIP/8|REMOVEMEMBER|\n"
        "1767690000|NONE|general|PJSIP/8|ADDMEMBER|\n"
        "1767690100|NONE|NONE|PJSIP/8|UNPAUSEALL|\n"
    )
    calls = next(r for r in read_asterisk([path], SETTINGS, "UTC") if r.table == "calls").good.set_index("call_id")
    assert calls.wrapup_seconds.to_dict() == {"1.1": 45, "2.2": 20, "3.3": 30}
    log, _ = read_queue_log(path)
    states, _ = rebuild_presence(log, SETTINGS)
    lunch = states[states.reason == "Lunch"]
    assert len(lunch) == 1 and (lunch.ended_at - lunch.started_at).iloc[0].total_seconds() == 3600


def test_a_wrapup_open_at_the_end_of_a_file_is_finished_by_the_next_file(tmp_path):
    """The next night's unpause closes the wrap-up of a static member's last call, whose pause was carried."""
    from pipelines.readers.asterisk import CARRY_COLUMNS, AsteriskHistory, landed_legs, read_asterisk_incremental

    first, second = tmp_path / "night1", tmp_path / "night2"
    first.mkdir(), second.mkdir()
    (first / "queue_log").write_text("1767600000|1.1|general|NONE|ENTERQUEUE||+13125550100|1\n"
                                     "1767600005|1.1|general|PJSIP/7|CONNECT|5|1.11|2\n"
                                     "1767600300|1.1|general|PJSIP/7|COMPLETECALLER|5|295|1\n"
                                     "1767600300|NONE|NONE|PJSIP/7|PAUSEALL|ACW\n")
    (second / "queue_log").write_text("1767600340|NONE|NONE|PJSIP/7|UNPAUSEALL|\n")
    history = AsteriskHistory(pd.DataFrame(columns=CARRY_COLUMNS), landed_legs(), b"k" * 16)
    results, carry = read_asterisk_incremental([first / "queue_log"], SETTINGS, "UTC", history)
    assert set(carry.event) >= {"ENTERQUEUE", "COMPLETECALLER", "PAUSEALL"}, "the call and its open wrap-up go on"
    results, _ = read_asterisk_incremental([second / "queue_log"], SETTINGS, "UTC",
                                           AsteriskHistory(carry, landed_legs(), b"k" * 16, wrapup_logged=True))
    calls = next(r for r in results if r.table == "calls").good
    assert calls.set_index("call_id").wrapup_seconds.to_dict() == {"1.1": 40}


def test_a_work_unit_sees_only_the_landed_legs_of_its_own_calls_and_the_newest_entry_of_a_leg_landed_twice():
    """Narrowing the lake's history to a unit's call ids keeps every lookup those ids make, and nothing else."""
    import pyarrow as pa

    from pipelines.readers.asterisk import CARRY_COLUMNS, AsteriskHistory, landed_legs

    first = landed_legs(["1.1", "2.2#2", "3.3"], [100, 200, 300])
    again = landed_legs(["2.2#2", "4.4"], [250, 400])  # a later unit landed leg 2 of call 2.2 again (its wrap-up settled)
    history = AsteriskHistory(pd.DataFrame(columns=CARRY_COLUMNS), pa.concat_tables([first, again]), b"k" * 16,
                              known=pa.chunked_array([pa.array(["1.1", "2.2", "3.3"]), pa.array(["2.2", "4.4", "9.9"])]))
    mine = history.about(pa.array(["2.2", "9.9", "7.7"]))
    assert mine.landed_entered().to_dict() == {"2.2#2": 250}
    assert sorted(mine.calls_landed().to_pylist()) == ["2.2"]
    assert sorted(mine.known.to_pylist()) == ["2.2", "9.9"]
    everything = history.about(None)
    assert everything.landed_entered().to_dict() == {"1.1": 100, "2.2#2": 250, "3.3": 300, "4.4": 400}
    assert sorted(everything.known.to_pylist()) == ["1.1", "2.2", "3.3", "4.4", "9.9"]


def test_a_dialler_call_open_at_the_end_of_a_night_lands_whole_with_the_next_night(tmp_path):
    """OUTDIAL before midnight, OUTANSWER after: carried (holding no number), landed once with its real start;
    the ending read again later without its OUTDIAL changes nothing. Every line is landed, held or quarantined."""
    from pipelines.readers.asterisk import CARRY_COLUMNS, AsteriskHistory, landed_legs, read_asterisk_incremental

    nights = {"one": "1767600000|NONE|NONE|Agent/1127|AGENTCALLBACKLOGIN|hint:1127@default\n"
                     "1767643000|9.1|NONE|Agent/1127|OUTDIAL|13125550142\n"
                     "1767643001|9.2|NONE|Agent/1127|OUTDIAL|3318\n",
              "two": "1767643300|9.1|NONE|Agent/1127|OUTANSWER|13125550142|280|COMPLETEAGENT\n"
                     "1767643100|9.2|NONE|Agent/1127|OUTANSWER|3318|90|COMPLETECALLER\n",
              "three": "1767643300|9.1|NONE|Agent/1127|OUTANSWER|13125550142|280|COMPLETEAGENT\n"}
    paths = {}
    for name, text in nights.items():
        (tmp_path / name).mkdir()
        paths[name] = tmp_path / name / "queue_log"
        paths[name].write_text(text)
    empty = pd.DataFrame(columns=CARRY_COLUMNS)
    results, carry = read_asterisk_incremental([paths["one"]], SETTINGS, "UTC", AsteriskHistory(empty, landed_legs(), b"k" * 16))
    first = next(r for r in results if r.table == "calls")
    assert first.good.empty and first.quarantined == 0 and first.skipped == 2
    assert {"9.1", "9.2"} <= set(carry.callid) and "3125550142" not in carry.astype(str).to_csv()
    results, _ = read_asterisk_incremental([paths["two"]], SETTINGS, "UTC", AsteriskHistory(carry, landed_legs(), b"k" * 16))
    second = next(r for r in results if r.table == "calls")
    calls = second.good.set_index("call_id")
    assert calls.direction.to_dict() == {"9.1": "outbound", "9.2": "internal"}
    assert calls.loc["9.1", "started_at"] == pd.Timestamp(1767643000, unit="s", tz="UTC")
    assert calls.loc["9.1", "remote_number"].startswith("caller_key:") and calls.loc["9.2", "remote_number"] == "3318"
    assert second.lines_read == second.lines_used + second.quarantined + second.skipped
    results, _ = read_asterisk_incremental([paths["three"]], SETTINGS, "UTC", AsteriskHistory(
        carry.iloc[0:0], landed_legs(), b"k" * 16, known=frozenset({"9.1", "9.2"})))
    third = next(r for r in results if r.table == "calls")
    assert third.good.empty and third.skipped == 1 and third.quarantined == 0 and not third.warnings


def _cdr_line(n: int, start: str, end: str) -> str:
    return (f'"","1001","1312555{n:04d}","from-internal","""Agent 1001"" <1001>","PJSIP/1001-{n:08d}","PJSIP/trunk","Dial",'
            f'"PJSIP/1312555{n:04d}@trunk,60","{start}","{start}","{end}",300,290,"ANSWERED","DOCUMENTATION","17676{n:05d}.7",""')


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.sampled_from(["good", "good", "good", "bad start", "no end"]), min_size=0, max_size=60),
       block=st.integers(400, 3000))  # a block holds at least one whole row
def test_master_csv_read_a_block_at_a_time_is_read_as_the_careful_reader_reads_it(tmp_path, kinds, block):
    """A large Master.csv is never held whole: whatever the block size, the rows and the quarantined times are the
    careful, line-by-line reader's."""
    from pipelines.readers.asterisk import CdrBlocks, read_cdr_closely

    lines = []
    for n, kind in enumerate(kinds):
        start = "yesterday" if kind == "bad start" else f"2026-01-05 09:{n % 60:02d}:00"
        lines.append(_cdr_line(n, start, "" if kind == "no end" else "2026-01-05 10:00:00"))
    path = tmp_path / f"Master-{block}.csv"
    path.write_text("".join(line + "\n" for line in lines))
    blocks = CdrBlocks(path, "Europe/Paris", block_bytes=block)
    got = list(blocks)
    want_rows, want_quarantine = read_cdr_closely(path, "Europe/Paris")
    got_rows = pd.concat(got, ignore_index=True) if got else want_rows.iloc[:0]
    assert got_rows.line.tolist() == want_rows.line.tolist()
    pd.testing.assert_frame_equal(got_rows.reset_index(drop=True), want_rows.reset_index(drop=True), check_dtype=False)
    pd.testing.assert_frame_equal(blocks.quarantine.reset_index(drop=True), want_quarantine.reset_index(drop=True),
                                  check_dtype=False)


def test_a_master_csv_line_the_block_reader_cannot_take_sends_the_file_to_the_careful_reader(tmp_path):
    from pipelines.readers.asterisk import CdrBlocks, CloserLook

    path = tmp_path / "Master.csv"
    path.write_text("\n".join([_cdr_line(1, "2026-01-05 09:00:00", "2026-01-05 09:05:00"), '"","1001","oops"', ""]))
    with pytest.raises(CloserLook):
        list(CdrBlocks(path, "UTC", block_bytes=100))
