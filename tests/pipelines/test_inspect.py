"""`cadet inspect` proposes a site's own conventions from its logs, and the proposal makes the difference."""

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from pipelines.cli import cli
from pipelines.config import CadetConfig, load_config
from pipelines.ingest import enforce_contract
from pipelines.readers.asterisk import read_asterisk
from pipelines.readers.connect import read_connect
from simulator import simulate
from simulator.settings import QueueConfig, SimulationConfig
from simulator.writers import write_amazon_connect, write_asterisk

SELF_SERVICE_NUMBER = "+18005550142"


@pytest.fixture(scope="module")
def center():
    """A center whose conventions are not cadet's defaults: its escalation queue, its ring timeout."""
    queues = [QueueConfig(name="general", share_of_reps=0.45, mean_talk_seconds=240),
              QueueConfig(name="billing", share_of_reps=0.3, mean_talk_seconds=300),
              QueueConfig(name="escalations", tier=2, share_of_reps=0.25, mean_talk_seconds=540, direct_volume_factor=0.35)]
    return simulate(SimulationConfig(queues=queues, ring_timeout_seconds=10), n_reps=40, n_days=5, seed=12, workers=1)


def _inspect(folder, source, tmp_path):
    out = tmp_path / f"{source}.yaml"
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "inspect", "--source", source, str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, yaml.safe_load(out.read_text()), out.read_text()


def _calls(results):
    return pd.concat([enforce_contract(r).good for r in results if r.table == "calls"], ignore_index=True)


def test_asterisk_conventions_are_proposed_with_their_evidence_and_change_what_lands(center, tmp_path):
    folder = tmp_path / "asterisk"
    write_asterisk(center.tables, center.truth, folder, "UTC", self_service_extension="8800", wrapup_reason="wrapup")
    out, proposed, text = _inspect(folder, "asterisk", tmp_path)
    asterisk = proposed["ingest"]["asterisk"]
    assert asterisk["ring_timeout_seconds"] == 10
    assert asterisk["wrapup_pause_reasons"] == ["wrapup"]
    assert asterisk["tier2_queues"] == ["escalations"]
    assert asterisk["self_service_extensions"] == ["8800"]
    assert "ring-no-answers" in text and "right after a call" in text and "arrive by transfer" in text

    files = sorted(p for p in folder.iterdir() if p.name != "truth.json")
    default = read_asterisk(files, CadetConfig().ingest.asterisk, "UTC")
    tuned_config = load_config(out)
    tuned = read_asterisk(files, tuned_config.ingest.asterisk, "UTC")
    before, after = _calls(default), _calls(tuned)
    assert not before.transfer_kind.isin(["self_service", "escalation"]).any(), "the defaults see neither"
    assert after.transfer_kind.eq("self_service").sum() > 0 and after.transfer_kind.eq("escalation").sum() > 0
    assert before.wrapup_seconds.isna().all() and after.wrapup_seconds.notna().any()
    offers = {name: next(r for r in results if r.table == "offers").good.result.value_counts()
              for name, results in (("before", default), ("after", tuned))}
    assert offers["before"].get("ring_no_answer", 0) == 0, "a 15 s timeout turns every 10 s ring-out into a decline"
    assert offers["after"].get("ring_no_answer", 0) > offers["after"].get("declined", 0)


def test_connect_conventions_are_proposed(center, tmp_path):
    folder = tmp_path / "connect"
    write_amazon_connect(center.tables, center.truth, folder, seed=12, self_service_number=SELF_SERVICE_NUMBER)
    out, proposed, text = _inspect(folder, "amazon-connect", tmp_path)
    connect = proposed["ingest"]["connect"]
    assert connect["tier2_queues"] == ["escalations"]
    assert connect["self_service_numbers"] == [SELF_SERVICE_NUMBER]
    assert "agent statuses" in text
    files = sorted(p for p in folder.iterdir() if p.name != "truth.json")
    assert _calls(read_connect(files, CadetConfig().ingest.connect)).transfer_kind.eq("self_service").sum() == 0
    assert _calls(read_connect(files, load_config(out).ingest.connect)).transfer_kind.eq("self_service").sum() > 0


def test_inspect_on_a_folder_with_nothing_to_read_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "inspect", "--source", "asterisk", str(tmp_path)])
    assert result.exit_code == 1 and "no asterisk files found" in result.output


def test_a_configured_convention_the_logs_never_show_is_named_with_what_they_show(center, tmp_path):
    folder = tmp_path / "asterisk"
    write_asterisk(center.tables, center.truth, folder, "UTC", self_service_extension="8800", wrapup_reason="wrapup")
    files = sorted(p for p in folder.iterdir() if p.name != "truth.json")
    warnings = [w for r in read_asterisk(files, CadetConfig().ingest.asterisk, "UTC") for w in r.warnings]
    text = "\n".join(warnings)
    assert "tier-2 queues ['tier2']" in text and "escalations" in text
    assert "self-service extensions ['selfservice']" in text and "8800" in text
    assert "wrap-up reason ['ACW']" in text and "wrapup" in text
    assert "ring timeout of 15 s" in text
    assert all("cadet inspect" in w for w in warnings)
    tuned = load_config(_inspect(folder, "asterisk", tmp_path)[0])
    assert not [w for r in read_asterisk(files, tuned.ingest.asterisk, "UTC") for w in r.warnings], "the proposal fits"
