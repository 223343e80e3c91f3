"""The analyst's report: written by every scoring run, self-contained, escaped, and clean in a real browser."""

import csv
import os
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.cli import cli
from pipelines.config import CadetConfig
from simulator import SimulationConfig, simulate
from simulator.writers import write_canonical

HOSTILE = 'agent<b>&"x\'</b>'
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def _renamed(tables: dict[str, pa.Table], old: str, new: str) -> dict[str, pa.Table]:
    """The center with one rep's id replaced everywhere it appears."""
    out = {}
    for name, table in tables.items():
        if "rep_id" in table.column_names:
            column = table["rep_id"]
            table = table.set_column(table.column_names.index("rep_id"), "rep_id",
                                     pc.if_else(pc.equal(column, old), pa.scalar(new), column))
        out[name] = table
    return out


@pytest.fixture(scope="module")
def scored(prefect_server, tmp_path_factory):
    """A center whose first avoider has an id full of HTML, run end to end; returns (home, report folder, truth)."""
    center = simulate(SimulationConfig(), n_reps=60, n_days=9, seed=4, workers=1)
    avoider = next(r["rep_id"] for r in center.truth["reps"] if r["role"] == "avoider")
    logs = tmp_path_factory.mktemp("logs")
    write_canonical(_renamed(center.tables, avoider, HOSTILE), logs, "csv")
    home = tmp_path_factory.mktemp("report") / "home"
    result = CliRunner().invoke(cli, ["--home", str(home), "run", "--source", "canonical", str(logs)])
    assert result.exit_code == 0, result.output
    truth = {r["rep_id"]: r for r in center.truth["reps"]}
    truth[HOSTILE] = truth.pop(avoider)
    return home, Path(result.stdout.strip().splitlines()[-1]), truth


def test_every_scoring_run_writes_the_report_and_csv_next_to_the_scores(scored):
    home, folder, truth = scored
    html = (folder / "report.html").read_text()
    with open(folder / "flagged.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {"rep_id", "tier", "score", "behaviours", "evidence"} <= set(rows[0])
    flagged = {r["rep_id"] for r in rows if r["tier"] == "investigate"}
    assert flagged and all(truth[rep]["role"] == "avoider" for rep in flagged)
    assert all(r["evidence"] for r in rows if r["rule_hits"]), "every rule-backed flag carries its evidence in words"
    for section in ("Summary", "Flagged reps", "Reps flagged per behaviour", "Sources ingested", "Worst day",
                    "What made the model call this rep unusual", "Example calls"):
        assert section in html, section
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html, "no network"
    assert "<script" not in html.lower(), "no script: it must render in MLflow's sandboxed viewer"


def test_everything_from_the_input_is_escaped(scored):
    home, folder, _ = scored
    html = (folder / "report.html").read_text()
    assert HOSTILE not in html, "a rep id with markup is never written raw"
    import shlex

    from markupsafe import escape

    assert str(escape(HOSTILE)) in html
    assert str(escape(f"cadet review {shlex.quote(HOSTILE)} --window")) in html, "the verdict command is shell-quoted too"


def test_report_command_rewrites_the_newest_report(scored):
    home, folder, _ = scored
    (folder / "report.html").unlink()
    result = CliRunner().invoke(cli, ["--home", str(home), "report"])
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip().splitlines()[-1]) == folder / "report.html" and (folder / "report.html").exists()


def test_a_lake_without_rule_hits_or_day_features_still_gives_a_report(scored, tmp_path):
    from pipelines.report import write_report

    home, folder, _ = scored
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    for table in ("rule_hits", "rep_day_features"):
        shutil.rmtree(copy / "lake" / table)
    written = write_report(copy, copy / "reports" / folder.name, CadetConfig())
    html = Path(written["report"]).read_text()
    assert written["flagged"] > 0 and "No rule fired" in html and "Worst day" not in html


def test_a_lake_without_presence_or_offers_still_gives_a_report_with_its_timelines(scored, tmp_path):
    """A calls-only export: no agent_states and no offers in the lake at all."""
    from pipelines.report import write_report

    home, folder, _ = scored
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    for table in ("agent_states", "offers"):
        shutil.rmtree(copy / "lake" / table)
    written = write_report(copy, copy / "reports" / folder.name, CadetConfig())
    html = Path(written["report"]).read_text()
    assert written["flagged"] > 0 and "Worst day" in html


def test_report_without_scores_says_what_to_do(tmp_path):
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "report"])
    assert result.exit_code == 1 and "cadet score" in result.output


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER) and os.environ.get("CADET_REQUIRE_BROWSER") != "1",
                    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
def test_report_opens_in_headless_chromium_without_console_errors(scored, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    home, folder, truth = scored
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'chromium'}",
                 "--window-size=1280,1600"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get((folder / "report.html").as_uri())
        errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
        assert not errors, errors
        ranked = driver.find_elements(By.CSS_SELECTOR, "table.ranking tr")[1:]
        sections = driver.find_elements(By.CSS_SELECTOR, "section.rep")
        assert ranked and len(sections) == len(ranked), "one section per flagged rep"
        tiers = {e.text for e in driver.find_elements(By.CSS_SELECTOR, "table.ranking .tier")}
        assert "investigate" in tiers
        assert HOSTILE in driver.find_element(By.ID, "ranking").text, "the hostile id shows as text, not markup"
        strips = driver.find_elements(By.CSS_SELECTOR, "section.rep svg.strip")
        timelines = driver.find_elements(By.CSS_SELECTOR, "section.rep svg.timeline")
        assert strips and timelines and all(s.size["width"] > 100 and s.size["height"] > 30 for s in strips + timelines)
        shots = os.environ.get("CADET_SCREENSHOT_DIR")
        if shots:  # the PNGs in docs/ come from here
            Path(shots).mkdir(parents=True, exist_ok=True)
            height = driver.execute_script("return document.body.scrollHeight")
            driver.set_window_size(1280, min(int(height), 16000))
            driver.find_element(By.ID, "summary").screenshot(str(Path(shots) / "report-summary.png"))
            sections[0].screenshot(str(Path(shots) / "report-rep.png"))
    finally:
        driver.quit()


def _on_list(folder: Path) -> list[str]:
    import pandas as pd

    scores = pd.read_parquet(folder / "scores.parquet")
    return list(scores[scores.tier == "investigate"].sort_values("score", ascending=False).rep_id.drop_duplicates())


def test_a_dismissal_needs_a_reason_and_a_reviewer(scored):
    home, folder, _ = scored
    rep = [r for r in _on_list(folder) if r != HOSTILE][0]
    result = CliRunner().invoke(cli, ["--home", str(home), "review", rep, "--verdict", "dismissed", "--by", "alice"])
    assert result.exit_code == 2 and "needs a reason" in result.output
    result = CliRunner().invoke(cli, ["--home", str(home), "review", rep, "--verdict", "confirmed"], env={"CADET_REVIEWER": ""})
    assert result.exit_code == 2 and "--by" in result.output
    assert not (home / "reviews").exists() or not list((home / "reviews").iterdir()), "nothing half-recorded"


def test_verdicts_survive_reruns_dismissed_flags_stay_down_and_confirmed_ones_reach_the_gate(scored):
    import pandas as pd

    home, folder, _ = scored
    dismissed, confirmed = [r for r in _on_list(folder) if r != HOSTILE][:2]
    for rep, args in ((dismissed, ["--verdict", "dismissed", "--reason", "covering the supervisor desk"]),
                      (confirmed, ["--verdict", "confirmed", "--note", "listened to the example calls"])):
        result = CliRunner().invoke(cli, ["--home", str(home), "review", rep, *args, "--by", "alice"])
        assert result.exit_code == 0, result.output
    stored = {p: p.read_bytes() for p in (home / "reviews").iterdir()}
    assert len(stored) == 2
    result = CliRunner().invoke(cli, ["--home", str(home), "score"])
    assert result.exit_code == 0, result.output
    rescored = Path(result.stdout.strip().splitlines()[-1])
    scores = pd.read_parquet(rescored / "scores.parquet")
    mine = scores[scores.rep_id == dismissed]
    assert mine.previously_dismissed.any() and (mine.tier[mine.previously_dismissed] == "clear").all()
    assert (scores[scores.rep_id == confirmed].tier == "investigate").any(), "a confirmed rep stays on the list"
    html = (rescored / "report.html").read_text()
    assert "Previously dismissed" in html and "covering the supervisor desk" in html
    ranking = html[html.index('id="ranking"'):html.index('id="dismissed"')]
    assert f">{dismissed}<" not in ranking, "a dismissed flag is not raised again"
    result = CliRunner().invoke(cli, ["--home", str(home), "train", "--json"])
    assert result.exit_code == 0, result.output
    import json

    gates = {g["name"]: g for g in json.loads(result.stdout.strip().splitlines()[-1])["gates"]}
    assert gates["confirmed flags"]["value"] is not None and "analyst-confirmed" in gates["confirmed flags"]["reason"]
    assert {p: p.read_bytes() for p in (home / "reviews").iterdir()} == stored, "re-runs and retraining never touch verdicts"
    listed = CliRunner().invoke(cli, ["--home", str(home), "review", "--list"])
    assert dismissed in listed.output and "covering the supervisor desk" in listed.output
    assert not re.search(r"\b(nan|None)\b", listed.output), "an empty reason or note is an empty cell"


def test_a_verdict_on_a_rep_who_was_not_flagged_is_refused_without_force(scored):
    import pandas as pd

    home, folder, _ = scored
    scores = pd.read_parquet(folder / "scores.parquet")
    best = scores.sort_values("score").drop_duplicates("rep_id", keep="last")
    clear = best[best.tier == "clear"].rep_id.iloc[0]
    before = set((home / "reviews").iterdir()) if (home / "reviews").exists() else set()
    result = CliRunner().invoke(cli, ["--home", str(home), "review", clear, "--verdict", "confirmed", "--by", "alice"])
    assert result.exit_code == 2 and "was not flagged" in result.output and "--force" in result.output
    after = set((home / "reviews").iterdir()) if (home / "reviews").exists() else set()
    assert after == before, "no training label was recorded"


@settings(deadline=None)  # the first example pays for importing pandas
@given(st.text(max_size=30))
def test_no_csv_cell_can_start_a_formula_and_the_text_is_kept(text):
    import pandas as pd

    from pipelines.report import FORMULA_START, spreadsheet_safe

    table = pd.DataFrame({"rep_id": [text, '=HYPERLINK("http://x.example","open")'], "score": [-0.5, 0.9]})
    safe = spreadsheet_safe(table)
    assert not any(cell.startswith(FORMULA_START) for cell in safe.rep_id)
    assert safe.rep_id[0] in (text, f"'{text}") and safe.rep_id[1] == '\'=HYPERLINK("http://x.example","open")'
    assert safe.score.tolist() == [-0.5, 0.9], "numbers stay numbers"
    assert table.rep_id[0] == text, "the input table is not changed"
