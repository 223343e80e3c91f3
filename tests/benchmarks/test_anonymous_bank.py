"""The Anonymous Bank converter, and `cadet run` on a log of its shape: what the log cannot show is not observable."""

import random
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pipelines.cli import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "real"))
from anonymous_bank import convert, short_call_shares  # noqa: E402

HEADER = "vru+line\tcall_id\tcustomer_id\tpriority\ttype\tdate\tvru_entry\tvru_exit\tvru_time\tq_start\tq_exit\tq_time\toutcome\tser_start\tser_exit\tser_time\tserver"
# Real lines of the log's first morning (customer ids changed), then one that crosses midnight.
LINES = [
    "AA0101\t34536\t0\t0\tPS\t990201\t7:02:47\t7:02:56\t9\t0:00:00\t0:00:00\t0\tAGENT\t7:02:55\t7:05:41\t166\tDORIT",
    "AA0101\t34537\t0\t0\tPS\t990201\t7:31:45\t7:31:55\t10\t0:00:00\t0:00:00\t0\tAGENT\t7:31:54\t7:31:59\t5\tNO_SERVER",
    "AA0101\t34539\t11111111\t2\tPS\t990201\t8:09:16\t8:09:22\t6\t8:09:22\t8:09:27\t5\tHANG\t0:00:00\t0:00:00\t0\tNO_SERVER",
    "AA0101\t34540\t22222222\t2\tNE\t990201\t8:26:53\t8:26:59\t6\t8:26:59\t8:27:04\t5\tAGENT\t8:27:04\t8:33:38\t394\tMICHAL",
    "AA0101\t34541\t0\t0\tNW\t990201\t23:58:00\t23:58:10\t10\t23:58:10\t23:59:40\t90\tAGENT\t23:59:40\t0:03:10\t210\tTOVA",
]


def test_the_converter_keeps_what_the_log_shows_and_leaves_out_what_it_does_not(tmp_path):
    source = tmp_path / "bank.txt"
    source.write_text(HEADER + "\r\n" + "\r\n".join(LINES) + "\r\n")
    written = convert(source, tmp_path / "out")
    calls = pd.read_csv(tmp_path / "out" / "calls.csv", dtype=str, keep_default_na=False).set_index("call_id")
    assert written["calls"] == 5 and written["agents"] == 3
    assert calls.loc["34536", ["queue", "rep_id", "outcome", "answered_at", "ended_at"]].tolist() == [
        "PS", "DORIT", "answered", "1999-02-01T05:02:55Z", "1999-02-01T05:05:41Z"], "Israel is UTC+2 in February"
    assert calls.loc["34537", "outcome"] == "ivr_abandoned" and calls.loc["34537", "rep_id"] == ""
    assert calls.loc["34539", ["outcome", "remote_number"]].tolist() == ["abandoned", "11111111"]
    assert calls.loc["34541", "ended_at"] == "1999-02-01T22:03:10Z", "a call past midnight ends the next day"
    assert set(calls.disconnected_by) == {""} and "transfer_kind" not in calls.columns and "hold_seconds" not in calls.columns
    assert short_call_shares(source).to_dict() == {"DORIT": 0.0, "MICHAL": 0.0, "TOVA": 0.0}


def _synthetic_log(path: Path, agents: int = 10, days: int = 8, seed: int = 3) -> None:
    rnd = random.Random(seed)
    lines, n = [], 40000
    for day in range(1, days + 1):
        for a in range(agents):
            clock = 8 * 3600 + a * 60
            for _ in range(28):
                n += 1
                talk = rnd.randint(5, 12) if a == 0 and rnd.random() < 0.3 else int(rnd.lognormvariate(5.2, 0.5))
                start, wait = clock, rnd.randint(5, 60)
                hms = lambda t: f"{t // 3600}:{t % 3600 // 60:02d}:{t % 60:02d}"  # noqa: E731
                lines.append("\t".join(["AA0101", str(n), str(rnd.randint(10**7, 10**8)), "2", "PS", f"9902{day:02d}", hms(start),
                                        hms(start + 8), "8", hms(start + 8), hms(start + 8 + wait), str(wait), "AGENT",
                                        hms(start + 8 + wait), hms(start + 8 + wait + talk), str(talk), f"AGENT{a}"]))
                clock += 8 + wait + talk + rnd.randint(30, 200)
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n")


@pytest.mark.slow
def test_cadet_run_on_a_log_of_this_shape_says_what_it_cannot_judge_and_states_no_shift_contract_or_tenure(
        prefect_server, tmp_path):
    _synthetic_log(tmp_path / "bank.txt")
    convert(tmp_path / "bank.txt", tmp_path / "export")
    (tmp_path / "site.yaml").write_text("site:\n  timezone: Asia/Jerusalem\n")
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "--config", str(tmp_path / "site.yaml"), "run",
                                      "--source", "canonical", str(tmp_path / "export")])
    assert result.exit_code == 0, result.output
    assert "not observable from this source: early_hangup.short_calls (needs calls.disconnected_by" in result.stdout
    assert "not observable from this source: quick_transfer.within_seconds (needs calls.transfer_kind" in result.stdout
    folder = Path(result.stdout.strip().splitlines()[-1])
    html = (folder / "report.html").read_text()
    windows = pd.concat([pd.read_parquet(p) for p in (tmp_path / "home" / "lake" / "rep_window_features").rglob("*.parquet")])
    assert windows.early_hangup_rate.isna().all() and windows.quick_transfer_rate.isna().all()
    for stated in ("full-time", "part-time", "tenured", "new hires", "early shift", "day shift", "late shift"):
        assert not windows.peer_group.str.contains(stated).any() and stated not in html, stated
