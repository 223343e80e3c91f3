"""`cadet report`: the analyst's report, one self-contained HTML file and a CSV next to scores.parquet.

An analyst decides about a person's job from this page, so every flag shows
why (the rule's evidence in words), against whom (the peer group, as a plot),
when (the worst days: states against the queue's volume), on which calls, and
what drove the model.  No script, no external file: it opens from disk and in
MLflow's artifact viewer.  The page is a Jinja2 template with autoescape over
one view per section (`views`), so nothing that came from the input is markup.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.config import CadetConfig
from pipelines.home import Home
from pipelines.report.data import CSV_FILE, META_FILE, REPORT_FILE, ReportData, read_report_data
from pipelines.report.render import render_page
from pipelines.report.views import page_view
from pipelines.storage import write_text_atomic

__all__ = ["CSV_FILE", "FORMULA_START", "META_FILE", "REPORT_FILE", "flagged_csv", "latest_report", "spreadsheet_safe",
           "write_report"]


def flagged_csv(data: ReportData) -> pd.DataFrame:
    """One row per flagged rep and window, for spreadsheets."""
    flagged = data.scores[data.scores.tier != "clear"].sort_values(["score"], ascending=False)
    evidence = data.hits.groupby(["rep_id", "period_start"]).evidence.agg(" | ".join) if len(data.hits) else {}
    out = flagged[["rep_id", "period_start", "period_end", "tier", "score", "anomaly_score", "verdict"]].copy()
    out["behaviours"] = flagged.behaviours.map(lambda v: "; ".join(v))
    out["rule_hits"] = flagged.rule_hits.map(lambda v: "; ".join(v))
    out["top_features"] = flagged.top_features.map(lambda v: "; ".join(v))
    out["evidence"] = [evidence.get((r, s), "") for r, s in zip(flagged.rep_id, flagged.period_start)]
    return spreadsheet_safe(out)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (a rep id or queue name from the logs starting with
    `=`, `+`, `-` or `@`) get a leading apostrophe, so opening flagged.csv shows them and runs nothing."""
    safe = table.copy()
    for column in safe.columns:
        if pd.api.types.is_numeric_dtype(safe[column]):
            continue
        safe[column] = safe[column].map(lambda cell: f"'{cell}" if isinstance(cell, str) and cell.startswith(FORMULA_START)
                                        else cell)
    return safe


def write_report(home: Home | Path | str, folder: Path, config: CadetConfig) -> dict:
    """report.html and flagged.csv next to the folder's scores.parquet, each written atomically."""
    data = read_report_data(home, folder, config)
    html = render_page(page_view(data, config))
    write_text_atomic(folder / REPORT_FILE, html)
    write_text_atomic(folder / CSV_FILE, flagged_csv(data).to_csv(index=False))
    best = data.best
    return {"report": str(folder / REPORT_FILE), "csv": str(folder / CSV_FILE),
            "flagged": int((best.tier != "clear").sum()), "sections": int(min((best.tier != "clear").sum(),
                                                                              config.report.max_rep_sections))}


def latest_report(home: Home | Path | str) -> Path | None:
    """The newest report folder (by its scores file's time), or None."""
    found = sorted(Home.of(home).reports.glob("*/scores.parquet"), key=lambda p: p.stat().st_mtime)
    return found[-1].parent if found else None
