"""Work units of a large queue_log: cut only where time allows, every line in exactly one unit, read as the whole file reads."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.readers.asterisk import read_queue_log
from pipelines.readers.asterisk_units import _scan, plan_units

BASE = 1_767_600_000


def _line(second: int | None, n: int) -> str:
    if second is None:
        return f"garbage line {n}"
    return f"{second}|{BASE}.{n}|general|PJSIP/1001|RINGNOANSWER|15000"


def _write(path, seconds, newline_at_end=True):
    text = "\n".join(_line(s, n) for n, s in enumerate(seconds))
    path.write_text(text + ("\n" if newline_at_end and seconds else ""))
    return path


# Mostly increasing times with jitter (lines a few seconds out of order), repeats and an occasional untimed line.
times = st.lists(st.one_of(st.integers(0, 40).map(lambda d: ("step", d)), st.integers(-30, 0).map(lambda d: ("back", d)),
                           st.just(("bad", 0))), min_size=0, max_size=300)


def _seconds(steps) -> list[int | None]:
    out, now = [], BASE
    for kind, delta in steps:
        if kind == "bad":
            out.append(None)
            continue
        now += delta
        out.append(now)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=times, per_unit=st.integers(1, 60), end_newline=st.booleans())
def test_units_cover_every_line_once_in_order_and_never_cut_inside_time(tmp_path_factory, steps, per_unit, end_newline):
    seconds = _seconds(steps)
    path = _write(tmp_path_factory.mktemp("q") / "queue_log", seconds, end_newline)
    units = plan_units([path], per_unit)
    if len(seconds) <= per_unit:
        assert units is None  # one unit: read as a whole
        return
    assert units is not None
    whole, _ = read_queue_log(path)
    got_lines, got_raw = [], []
    for n, unit in enumerate(units):
        (span,) = unit.spans
        log, bad = read_queue_log(path, span=span)
        lines = sorted(list(log.line) + list(bad.line))
        assert lines == list(range(span.first_line, span.first_line + unit.lines))
        got_lines += list(log.line)
        got_raw += list(log.raw)
        if n < len(units) - 1:
            assert unit.lines >= per_unit
    assert got_lines == list(whole.line) and got_raw == list(whole.raw)
    timed = [(n, s) for n, s in enumerate(seconds) if s is not None]
    bounds = np.cumsum([0] + [u.lines for u in units])
    for cut in bounds[1:-1]:
        before = [s for n, s in timed if n < cut]
        after = [s for n, s in timed if n >= cut]
        if before and after:
            assert max(before) < min(after), "a cut between lines of the same second or out of order"


def test_a_file_whose_lines_are_never_in_order_is_one_unit(tmp_path):
    seconds = [BASE + (n % 2) * 1000 for n in range(200)]  # every later line older than one before it
    units = plan_units([_write(tmp_path / "queue_log", seconds)], 10)
    assert units is not None and len(units) == 1 and units[0].lines == 200


def test_rotated_files_are_cut_in_time_order_across_files(tmp_path):
    older = _write(tmp_path / "queue_log.1", [BASE + n for n in range(100)])
    newer = _write(tmp_path / "queue_log", [BASE + 1000 + n for n in range(100)])
    units = plan_units([newer, older], 30)
    assert [span.path.name for unit in units for span in unit.spans][0] == "queue_log.1"
    assert sum(u.lines for u in units) == 200
    assert [u.newest for u in units] == sorted(u.newest for u in units)


def test_a_database_export_is_read_whole(tmp_path):
    path = tmp_path / "queue_log.csv"
    path.write_text("time,callid,queuename,agent,event,data1\n" + "".join(f"{BASE + n},c,q,a,PAUSE,x\n" for n in range(50)))
    assert plan_units([path], 5) is None


@given(lines=st.lists(st.text(alphabet="0123456789|ab\r", max_size=16), max_size=40))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_scan_reads_each_lines_leading_unix_second_as_the_reader_does(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("s") / "queue_log"
    path.write_bytes("\n".join(lines).encode())
    starts, seconds = _scan(path)
    text = path.read_bytes().decode()
    expected = text.split("\n")
    if expected and expected[-1] == "":
        expected.pop()
    assert len(seconds) == len(expected) and starts[-1] == len(text)
    for line, second, start in zip(expected, seconds, starts):
        head = line.split("|", 1)[0]
        valid = "|" in line and head.isdigit() and 9 <= len(head) <= 11
        assert second == (int(head) if valid else -1), line
        assert text[start:start + len(line)] == line


@pytest.mark.parametrize("block", [7, 64])
def test_the_scan_is_the_same_whatever_its_block_size(tmp_path, monkeypatch, block):
    import pipelines.readers.asterisk_units as units

    path = _write(tmp_path / "queue_log", [BASE + n for n in range(40)])
    whole = _scan(path)
    monkeypatch.setattr(units, "SCAN_BLOCK_BYTES", block)
    starts, seconds = _scan(path)
    assert list(starts) == list(whole[0]) and list(seconds) == list(whole[1])
