"""Work units of a large queue_log: cut only where time allows, every line in exactly one unit, read as the whole file reads."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.readers.asterisk import read_queue_log
from pipelines.readers.asterisk_units import _leading_seconds, plan_units

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
def test_the_scan_reads_each_lines_leading_unix_second_as_the_reader_does(lines):
    raw = np.frombuffer("\n".join(lines).encode(), dtype=np.uint8)
    first = np.array([0] + [i + 1 for i, byte in enumerate(raw) if byte == 10], dtype=np.int64)[:len(lines)]
    seconds = _leading_seconds(raw, first) if len(raw) else []
    for line, second in zip(lines, seconds):
        head = line.split("|", 1)[0]
        valid = "|" in line and head.isdigit() and 9 <= len(head) <= 11
        assert second == (int(head) if valid else -1), line


def _plan_line_by_line(files: list[list[int | None]], per_unit: int) -> tuple[list[int], list[int]]:
    """The cuts and each unit's newest second, from every line's second: files oldest first, a cut where every
    timed line before is older than every timed line after, the first such cut at least `per_unit` lines on."""
    files = sorted(files, key=lambda f: min((s for s in f if s is not None), default=-1))
    seconds = [s for f in files for s in f]
    safe = [i for i in range(1, len(seconds))
            if max((s for s in seconds[:i] if s is not None), default=-1) < min((s for s in seconds[i:] if s is not None),
                                                                                default=2**63)]
    cuts, at = [], 0
    while (later := [i for i in safe if i >= at + per_unit]):
        at = later[0]
        cuts.append(at)
    bounds = [*cuts, len(seconds)]
    return cuts, [max((s for s in seconds[:b] if s is not None), default=-1) for b in bounds]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(times, min_size=1, max_size=3), per_unit=st.integers(1, 40), block=st.sampled_from([7, 33, 64, 1 << 20]),
       end_newline=st.booleans())
def test_the_plan_is_the_one_reading_every_line_gives_whatever_the_block_size(tmp_path_factory, monkeypatch, steps,
                                                                             per_unit, block, end_newline):
    """The scan keeps a value only where a cut may fall, never one per line; the units are the same as if it had."""
    import pipelines.readers.asterisk_units as units_module

    monkeypatch.setattr(units_module, "SCAN_BLOCK_BYTES", block)
    folder = tmp_path_factory.mktemp("rotated")
    files = [_seconds(s) for s in steps]
    paths = [_write(folder / f"queue_log.{n}", seconds, end_newline) for n, seconds in enumerate(files)]
    units = plan_units(paths, per_unit)
    if sum(map(len, files)) <= per_unit:
        assert units is None
        return
    cuts, newest = _plan_line_by_line(files, per_unit)
    assert list(np.cumsum([u.lines for u in units])[:-1]) == cuts
    assert [u.newest for u in units] == newest
    for unit in units:  # each span starts and ends at a line's first byte
        for span in unit.spans:
            text = span.path.read_bytes()
            assert span.start == 0 or text[span.start - 1:span.start] == b"\n"
            assert text[span.start:span.end].count(b"\n") + (not text[span.start:span.end].endswith(b"\n")) >= 1


def _cdr(n: int, start: int, end: int) -> str:
    def local(second):
        return np.datetime_as_string(np.datetime64(second, "s")).replace("T", " ")
    return (f'"","1312555{n:04d}","1001","from-queue","","PJSIP/trunk-{n:08d}","PJSIP/1001","Queue","general",'
            f'"{local(start)}","{local(start)}","{local(end)}",{end - start},{end - start},"ANSWERED","DOCUMENTATION","{BASE}.{n}",""')


def _units_of(tmp_path, name, cdr_lines):
    from pipelines.readers.asterisk_units import unit_inputs

    folder = tmp_path / name
    folder.mkdir()
    _write(folder / "queue_log", list(range(BASE, BASE + 6 * 3_600, 60)))  # one line a minute for six hours
    (folder / "Master.csv").write_text("".join(line + "\n" for line in cdr_lines))
    scratch = tmp_path / f"{name}-scratch"
    units, release = unit_inputs([folder / "queue_log", folder / "Master.csv"], "UTC", 60, scratch)
    got = [read() for read in units]
    release()
    return got, scratch


def test_each_master_csv_row_goes_to_the_unit_its_call_ended_in_and_as_context_to_the_units_it_spans(tmp_path):
    """Master.csv is dealt to the units as it is read, never held whole: a row is owned by exactly one unit (the one
    whose time holds its end), given as context to the units its call spans, and nothing spilled stays behind."""
    rng = np.random.default_rng(7)
    calls = [(int(s), int(s + d)) for s, d in zip(rng.integers(BASE - 600, BASE + 6 * 3_600, 300), rng.integers(0, 5_400, 300))]
    lines = [_cdr(n, s, e) for n, (s, e) in enumerate(calls)]
    got, scratch = _units_of(tmp_path, "clean", lines)
    assert len(got) == 6
    newest = [int(i.logs[0][1].fields[0].max()) for i in got]
    owners: dict[int, list[int]] = {}
    for n, inputs in enumerate(got):
        (_, rows, bad), = inputs.cdrs
        assert bad.empty
        lower = newest[n - 1] if n else -(2**62)
        for line, context, start, end in zip(rows.line, rows.context, rows.start, rows.end):
            s, e = int(start.timestamp()), int(end.timestamp())
            assert (s, e) == calls[line - 1]
            if context:
                assert s <= newest[n] and e > lower - 3_600 and not (lower < e <= newest[n])
            else:
                owners.setdefault(line, []).append(n)
                assert e > lower and (e <= newest[n] or n == len(got) - 1)
    assert sorted(owners) == list(range(1, len(calls) + 1)) and all(len(units) == 1 for units in owners.values())
    spanning = [n for n, (s, e) in enumerate(calls, start=1) if s <= newest[0] < e]
    assert spanning and set(spanning) <= set(got[0].cdrs[0][1].line)
    assert not list(scratch.iterdir())

    broken, scratch = _units_of(tmp_path, "broken", lines[:150] + ['"","1001","oops"'] + lines[150:])
    quarantined = broken[0].cdrs[0][2]
    assert quarantined.line.tolist() == [151] and all(i.cdrs[0][2].empty for i in broken[1:])
    for clean, careful in zip(got, broken):  # the careful reader deals the same rows (a line later after the broken one)
        ours, theirs = clean.cdrs[0][1], careful.cdrs[0][1]
        assert ours.uniqueid.tolist() == theirs.uniqueid.tolist() and ours.context.tolist() == theirs.context.tolist()
    assert not list(scratch.iterdir())


def test_units_a_fault_kept_from_reading_leave_nothing_spilled(tmp_path):
    from pipelines.readers.asterisk_units import unit_inputs

    _write(tmp_path / "queue_log", list(range(BASE, BASE + 3 * 3_600, 60)))
    (tmp_path / "Master.csv").write_text(_cdr(1, BASE, BASE + 7_000) + "\n" + _cdr(2, BASE + 100, BASE + 200) + "\n")
    units, release = unit_inputs([tmp_path / "queue_log", tmp_path / "Master.csv"], "UTC", 60, tmp_path / "scratch")
    units[0]()
    assert list((tmp_path / "scratch").iterdir()), "the later units' rows wait on disk, not in memory"
    release()
    assert not list((tmp_path / "scratch").iterdir())


def test_reading_ahead_gives_each_unit_what_reading_in_turn_gives_and_hands_a_fault_to_the_unit_that_asks(tmp_path):
    """The next unit is read on a thread while one is rebuilt: each unit's queue_log lines and Master.csv rows are
    the ones it gets without reading ahead; a read that fails raises for the unit that asks, and nothing is read
    after it; what was spilled is gone once the units are released, even with a read under way."""
    from pipelines.readers.asterisk_units import unit_inputs

    _write(tmp_path / "queue_log", list(range(BASE, BASE + 4 * 3_600, 60)))
    (tmp_path / "Master.csv").write_text("".join(_cdr(n, BASE + 600 * n, BASE + 600 * n + 900) + "\n" for n in range(20)))
    files = [tmp_path / "queue_log", tmp_path / "Master.csv"]

    def each_unit(read_ahead):
        units, release = unit_inputs(files, "UTC", 60, tmp_path / f"scratch-{read_ahead}", read_ahead)
        got = [read() for read in units]
        release()
        return [([list(f) for f in i.logs[0][1].fields], i.cdrs[0][1].to_dict("list")) for i in got]

    in_turn, ahead = each_unit(False), each_unit(True)
    assert len(in_turn) == 4 and ahead == in_turn
    assert not list((tmp_path / "scratch-True").iterdir())

    units, release = unit_inputs(files, "UTC", 60, tmp_path / "scratch", read_ahead=True)
    units[0]()  # the second unit is now read on the thread
    release()
    assert not list((tmp_path / "scratch").iterdir())

    units, release = unit_inputs(files, "UTC", 60, tmp_path / "gone", read_ahead=True)
    (tmp_path / "queue_log").unlink()
    with pytest.raises(FileNotFoundError):
        units[0]()
    release()
    assert not (tmp_path / "gone").exists() or not list((tmp_path / "gone").iterdir())
