import json
import os
import stat

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.lake import Lake
from pipelines.privacy import KEY_ENV, PseudonymKeyError, load_key, normalise_number, pseudonymise

KEY = b"0123456789abcdef0123456789abcdef"


def test_same_number_same_key_same_pseudonym_and_formatting_does_not_matter():
    keys = pseudonymise(pa.array(["+1 (312) 555-0100", "13125550100", "+13125550199", None]), KEY).to_pylist()
    assert keys[0] == keys[1]
    assert keys[0] != keys[2]
    assert keys[3] is None


def test_another_key_gives_unlinkable_pseudonyms():
    numbers = pa.array(["+13125550100", "+13125550199"])
    assert set(pseudonymise(numbers, KEY).to_pylist()).isdisjoint(pseudonymise(numbers, b"another-key-of-16-chars").to_pylist())


@given(st.lists(st.text(alphabet="+0123456789 -()", max_size=16), max_size=50))
def test_pseudonyms_follow_the_normalised_number(numbers):
    keys = pseudonymise(pa.array(numbers, pa.string()), KEY).to_pylist()
    by_number = {}
    for number, key in zip(numbers, keys):
        assert isinstance(key, int)
        by_number.setdefault(normalise_number(number), set()).add(key)
    assert all(len(k) == 1 for k in by_number.values())
    assert len({next(iter(k)) for k in by_number.values()}) == len(by_number)


def test_key_file_is_created_once_private_and_outside_the_lake(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv(KEY_ENV, raising=False)
    first = load_key(tmp_path)
    assert "created a new pseudonymisation key" in caplog.text
    path = tmp_path / "secrets" / "pseudonym.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key(tmp_path) == first
    assert not (tmp_path / "lake").exists()


def test_a_key_file_others_can_read_is_made_private_with_a_warning_and_still_used(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv(KEY_ENV, raising=False)
    key = load_key(tmp_path)
    path = tmp_path / "secrets" / "pseudonym.key"
    os.chmod(path, 0o644)  # restored from a backup, copied with a umask of 022
    assert load_key(tmp_path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "could be read by others (mode 644)" in caplog.text


def test_a_lost_key_over_a_lake_with_callers_is_refused_and_only_new_key_replaces_it(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from pipelines.cli import cli

    monkeypatch.delenv(KEY_ENV, raising=False)
    load_key(tmp_path)
    day = tmp_path / "lake" / "calls" / "date=2026-01-05"
    day.mkdir(parents=True)
    (day / "part.parquet").write_bytes(b"a landed day")
    (tmp_path / "secrets" / "pseudonym.key").unlink()
    with pytest.raises(PseudonymKeyError, match="restore the file") as refused:
        load_key(tmp_path)
    assert "cadet new-key" in str(refused.value)
    assert not (tmp_path / "secrets" / "pseudonym.key").exists(), "no key was made behind the user's back"
    made = CliRunner().invoke(cli, ["--home", str(tmp_path), "new-key"])
    assert made.exit_code == 0 and "will not link" in made.output
    again = CliRunner().invoke(cli, ["--home", str(tmp_path), "new-key"])
    assert again.exit_code == 2 and "never replaces a key" in again.output
    assert len(load_key(tmp_path)) == 64


def test_key_from_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "a-secret-that-is-long-enough")
    assert load_key(tmp_path) == b"a-secret-that-is-long-enough"
    assert not (tmp_path / "secrets").exists()
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(PseudonymKeyError, match="at least 16"):
        load_key(tmp_path)


def test_masking_twice_is_masking_once():
    from pipelines.privacy import mask_numbers

    once = mask_numbers("BLINDTRANSFER to +1 312 555 0199 and 913125550198", b"k" * 16)
    assert mask_numbers(once, b"k" * 16) == once and "5550199" not in once


def test_masking_hides_numbers_but_keeps_times_and_ids():
    from pipelines.privacy import mask_numbers

    line = "1767600100|1767600090.1|general|NONE|ENTERQUEUE||+13125550100|1"
    masked = mask_numbers(line, KEY)
    assert "3125550100" not in masked and masked.startswith("1767600100|1767600090.1|")
    assert mask_numbers(line, KEY) == masked, "the same number masks the same way"
    cdr = '"","13125550100","s","ivr-main","2026-01-05 08:00:00"'
    assert "13125550100" not in mask_numbers(cdr, KEY) and "2026-01-05 08:00:00" in mask_numbers(cdr, KEY)
    row = "c1,,voice,inbound,general,+1 (312) 555-0100,2026-01-05T09:00:00Z"
    assert "555-0100" not in mask_numbers(row, KEY) and "2026-01-05T09:00:00Z" in mask_numbers(row, KEY)


@pytest.mark.parametrize("number", ["881142", "3318842", "04123456", "612345678", "0612345678", "+33 6 12 34 56 78"])
def test_masking_hides_national_numbers_of_six_digits_and_more(number):
    from pipelines.privacy import mask_numbers

    for text in (f"1543601975|1543601975.170|NONE|Agent/1127|OUTDIAL|{number}", f"9,1543601975,x,NONE,Agent/1127,OUTDIAL,{number},,"):
        masked = mask_numbers(text, KEY)
        assert number not in masked and "caller:" in masked
    assert mask_numbers("queue 8800 at 2018-11-30 13:19:35, ext 1127", KEY) == "queue 8800 at 2018-11-30 13:19:35, ext 1127"


def test_scrubbing_for_logs_hides_numbers_without_a_key_and_keeps_times():
    from pipelines.privacy import scrub_numbers

    line = "caller +1 (312) 555-0199 on 2026-01-05 08:00:00, uniqueid 1767600090.1, queue 8800"
    assert scrub_numbers(line) == "caller <number> on 2026-01-05 08:00:00, uniqueid 1767600090.1, queue 8800"


def _prefect_text(flow_name: str, waiting_for: str) -> str:
    """Every log line and state message the Prefect server holds for the newest run of a flow and its tasks, once
    `waiting_for` is among them (logs reach the server in batches, a moment after the run) or after 60 s."""
    import time

    deadline = time.monotonic() + 60
    while waiting_for not in (stored := _stored_text(flow_name)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return stored


def _stored_text(flow_name: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        run = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                                    sort=FlowRunSort.START_TIME_DESC, limit=1)[0]
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])), limit=200)
        tasks = client.read_task_runs(limit=200)
    # a task run's state reaches the server from its events a moment after the run itself: it may not be there yet
    return "\n".join([(run.state.message if run.state else "") or "", *(log.message for log in logs),
                      *((t.state.message if t.state else "") or "" for t in tasks if t.flow_run_id == run.id)])


def test_an_error_quoting_a_caller_reaches_no_log_no_run_state_and_no_table_unmasked(prefect_server, tmp_path,
                                                                                     monkeypatch):
    """A reader's own fault on one file, then a failure that escapes the flow, each quoting a raw number."""
    from click.testing import CliRunner

    from pipelines import ingest
    from pipelines.cli import cli
    from simulator import SimulationConfig, simulate
    from simulator.writers import write_canonical

    monkeypatch.setenv(KEY_ENV, KEY.decode())
    logs = tmp_path / "logs"
    write_canonical(simulate(SimulationConfig(), n_reps=6, n_days=2, seed=3, workers=1).tables, logs, "csv")
    read = ingest.read_canonical

    def faulty(path):
        if path.name == "surveys.csv":
            raise ValueError("line 7: cannot make a survey score of '+1 312 555 0199'")
        return read(path)

    monkeypatch.setattr(ingest, "read_canonical", faulty)
    home = tmp_path / "home"
    done = CliRunner().invoke(cli, ["--home", str(home), "ingest", "--source", "canonical", str(logs), "--json"])
    assert done.exit_code == 0, done.output
    surveys = [f for f in json.loads(done.stdout.strip().splitlines()[-1])["files"] if f["file"].endswith("surveys.csv")][0]
    assert surveys["landed"] == 0 and "cadet could not read it (ValueError" in surveys["error"]
    assert Lake(home / "lake").days("calls"), "the other files landed"
    stored = _prefect_text("cadet-ingest", waiting_for="cadet's reader failed")
    assert "cadet's reader failed" in stored and "Traceback" in stored, "the fault is in the run's logs"
    for text in (done.output, stored, *(p.read_bytes().decode(errors="replace") for p in home.rglob("*.parquet"))):
        assert "555 0199" not in text and "5550199" not in text

    def escaping(*args, **kwargs):
        raise RuntimeError("could not write the quarantine of caller 13125550199")

    monkeypatch.setattr(ingest, "write_quarantine", escaping)
    failed = CliRunner().invoke(cli, ["--home", str(home), "ingest", "--source", "canonical", str(logs)])
    assert failed.exit_code != 0 and isinstance(failed.exception, RuntimeError)
    stored = _prefect_text("cadet-ingest", waiting_for="Traceback")
    assert "could not write the quarantine of caller <number>" in stored
    assert "13125550199" not in stored + str(failed.exception)
