"""Which source a folder's files are: a wrong --source is told before anything lands."""

from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.cli import cli
from pipelines.inputs import SOURCES, looks_like, wrong_source

QUEUE_LOG = "1767600000|1767600000.1|support|NONE|ENTERQUEUE||+15551230000|1\n"
CONTACT = '{"ContactId": "c-1", "InitiationMethod": "INBOUND", "Agent": null}\n'
CALLS = '"call_id","rep_id","started_at"\n"c1","a1",2026-01-05T09:00:00Z\n'
ROSTER = '"rep_id","site","primary_queue"\n"a1","main","support"\n'


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_an_asterisk_folder_given_as_canonical_is_named_as_asterisk(tmp_path):
    folder = _folder(tmp_path, {"queue_log": QUEUE_LOG, "schedules.csv": ROSTER, "Master.csv": "a,b\n"})
    message = wrong_source("canonical", [folder])
    assert "look like asterisk logs" in message and "--source asterisk" in message and "queue_log" in message
    assert wrong_source("asterisk", [folder]) is None


def test_each_platforms_call_records_are_recognised_under_any_name(tmp_path):
    folder = _folder(tmp_path, {"export.txt": QUEUE_LOG, "records": CONTACT, "day1.csv": CALLS, "reps.csv": ROSTER})
    assert looks_like(folder / "export.txt") == "asterisk"
    assert looks_like(folder / "records") == "amazon-connect"
    assert looks_like(folder / "day1.csv") == "canonical"
    assert looks_like(folder / "reps.csv") is None, "a roster sits beside any platform's logs"
    assert wrong_source("amazon-connect", [folder / "day1.csv"]) is not None
    assert wrong_source("canonical", [folder / "reps.csv"]) is None, "nothing to go on: no refusal"


def test_the_cli_refuses_a_wrong_source_at_once_and_lands_nothing(tmp_path):
    folder = _folder(tmp_path, {"queue_log": QUEUE_LOG, "schedules.csv": ROSTER})
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "ingest", "--source", "canonical", str(folder)])
    assert result.exit_code == 2 and "--source asterisk" in result.output
    assert not (tmp_path / "home" / "lake").exists()


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=600), st.sampled_from(["queue.csv", "x.json", "records", "calls.csv"]))
def test_any_bytes_give_a_source_or_none_never_an_error(tmp_path_factory, data, name):
    path = tmp_path_factory.mktemp("sniff") / name
    path.write_bytes(data)
    assert looks_like(path) in (*SOURCES, None)
