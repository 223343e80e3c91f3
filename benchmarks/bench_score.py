"""Benchmark: `cadet train` and `cadet score` (with the analyst's report) on a large center.

    uv run python benchmarks/bench_score.py --reps 2200 --days 30 --keep /tmp/cadet-big
    uv run python benchmarks/bench_score.py --reps 1000 --days 30

Builds the lake and its window features with bench_features.py (not timed;
--keep re-uses them), then times the real commands in fresh processes: the
MLflow training run with registration, and the scoring run, which also writes
report.html and flagged.csv and logs all three to MLflow.  Prints wall time,
rep-windows per second, the report's size and the peak memory.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_features import ROOT, measured, publish


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--keep", type=Path, default=None, help="folder for the lake; re-used when already built")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="cadet-bench-score-"))
    try:
        home = work / "home"
        if not (home / "lake" / "rep_window_features").exists():
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_features.py"), "--reps", str(args.reps),
                            "--days", str(args.days), "--keep", str(work), "--limit", "1000"], check=True, cwd=ROOT)
        shutil.rmtree(home / "mlflow", ignore_errors=True)
        shutil.rmtree(home / "reports", ignore_errors=True)
        train_s, _, train_peak = measured("--home", str(home), "train")
        score_s, done, score_peak = measured("--home", str(home), "score")
        report = Path(done.stdout.strip().splitlines()[-1])
        import pandas as pd

        scores = pd.read_parquet(report / "scores.parquet")
        result = {
            "reps": args.reps, "days": args.days, "rep_windows": len(scores),
            "flagged_reps": int(scores.loc[scores.tier != "clear", "rep_id"].nunique()),
            "train_wall_s": round(train_s, 1), "score_and_report_wall_s": round(score_s, 1),
            "rep_windows_per_s_scored": round(len(scores) / score_s),
            "report_html_kb": round((report / "report.html").stat().st_size / 1024),
            "peak_rss_mb": round(max(train_peak, score_peak)),
        }
        publish("train + score", result, f"score-{args.reps}x{args.days}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
