"""The whole `cadet run` on generated hostile input: a documented exit, no traceback, every line accounted for."""

import json
import string

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.cli import cli
from tests.pipelines.readers.test_asterisk import SNIPPET

HEADER = "call_id,channel,direction,queue,remote_number,started_at,answered_at,ended_at,rep_id,outcome,disconnected_by"
GOOD = "c{n},voice,inbound,general,+1312555{n:04d},2026-01-05T09:{m:02d}:00Z,2026-01-05T09:{m:02d}:20Z,2026-01-05T09:{m:02d}:50Z,rep{r},answered,caller"
JUNK = st.one_of(
    st.text(alphabet=string.printable.replace("\n", "").replace("\r", ""), max_size=90),
    st.lists(st.sampled_from(["", "voice", "inbound", "answered", "x", "2026-01-05T09:00:00Z", "1677-01-01T00:00:00Z",
                              "9999-12-31T23:59:59Z", "-5", "+1312", "agent", "NaN", '"']), min_size=1, max_size=14).map(",".join),
)
SLOW = settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.slow
@SLOW
@given(st.lists(st.one_of(st.integers(0, 59).map(lambda n: ("good", n)), JUNK.map(lambda j: ("junk", j))), min_size=1, max_size=40))
def test_cadet_run_on_hostile_canonical_input(prefect_server, tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("export")
    body = [GOOD.format(n=i, m=v % 60, r=v % 3) if kind == "good" else v for i, (kind, v) in enumerate(lines)]
    (folder / "calls.csv").write_text(HEADER + "\n" + "\n".join(body) + "\n")
    home = tmp_path_factory.mktemp("home")
    result = CliRunner().invoke(cli, ["--home", str(home), "run", "--source", "canonical", str(folder), "--json"])
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        assert "nothing usable was read" in result.output or "cadet run:" in result.output
        return
    summary = json.loads(result.stdout.strip().splitlines()[-2])
    for report in summary["ingest"]["files"]:
        assert report["read"] == report["landed"] + report["quarantined"] + report["skipped"], report
    assert summary["ingest"]["files"][0]["read"] == len(body)


@pytest.mark.slow
@SLOW
@given(st.lists(st.lists(st.sampled_from(["", "NONE", "1767600100", "1767600090.1", "general", "PJSIP/1001", "ENTERQUEUE",
                                          "CONNECT", "COMPLETECALLER", "RINGNOANSWER", "PAUSE", "ADDMEMBER", "+13125550100",
                                          "15000", "-1", "x"]), max_size=9).map("|".join), max_size=30))
def test_cadet_run_on_hostile_asterisk_input(prefect_server, tmp_path_factory, garbage):
    folder = tmp_path_factory.mktemp("asterisk")
    (folder / "queue_log").write_text(SNIPPET + "\n".join(garbage) + "\n")
    result = CliRunner().invoke(cli, ["--home", str(tmp_path_factory.mktemp("home")), "run", "--source", "asterisk",
                                      str(folder), "--json"])
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
