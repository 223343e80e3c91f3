"""Benchmark: how each stage's wall time and peak memory grow with the centre, as a user runs the stages.

    uv run python benchmarks/bench_growth.py                              # 250, 500, 1000, 2000 reps x 30 days, Asterisk
    uv run python benchmarks/bench_growth.py --reps 250 500 --source canonical

For each size: cadet's simulator writes the centre's logs (seed 1, not timed),
then `cadet ingest`, `cadet features`, `cadet train` and `cadet score` (with
the report) run one after the other on a fresh home, each in a fresh process,
against a Prefect server on loopback that the benchmark starts (so no
temporary server is counted).  Peak memory is the largest process of the
command (its window workers included).  The last lines say how each stage
grows from one size to the next: the ratio of wall time and of peak memory
when the centre doubles.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from bench_features import measured, publish
from bench_ingest import ENV, cadet, start_prefect_server

STAGES = ("ingest", "features", "train", "score")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, nargs="+", default=[250, 500, 1000, 2000])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--source", default="asterisk", choices=["canonical", "asterisk", "amazon-connect"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cadet-bench-growth-"))
    server = start_prefect_server(work)
    os.environ["PREFECT_API_URL"] = ENV["PREFECT_API_URL"]  # the stage commands below inherit it
    rows = []
    try:
        for reps in args.reps:
            logs, home = work / f"logs-{reps}", work / f"home-{reps}"
            cadet("--home", str(work / "sim"), "simulate", "--reps", str(reps), "--days", str(args.days), "--seed", "1",
                  "--format", args.source, "--out", str(logs), "--quiet")
            (logs / "truth.json").unlink(missing_ok=True)
            row = {"reps": reps, "days": args.days}
            for stage in STAGES:
                extra = ["--source", args.source, str(logs)] if stage == "ingest" else []
                wall, _, peak = measured("--home", str(home), stage, *extra)
                row[f"{stage}_s"], row[f"{stage}_peak_mb"] = round(wall, 1), round(peak)
            publish(f"growth ({args.source})", row, f"growth-{args.source}-{reps}x{args.days}")
            rows.append(row)
            shutil.rmtree(logs, ignore_errors=True)
            shutil.rmtree(home, ignore_errors=True)
        print(f"\n| reps x days | {' | '.join(f'{s} wall, peak' for s in STAGES)} |")
        print(f"|---|{'---|' * len(STAGES)}")
        for row in rows:
            cells = " | ".join(f"{row[f'{s}_s']:.1f} s, {row[f'{s}_peak_mb']:,} MB" for s in STAGES)
            print(f"| {row['reps']} x {row['days']} | {cells} |")
        for before, after in zip(rows, rows[1:]):
            factor = after["reps"] / before["reps"]
            growth = ", ".join(f"{s} x{after[f'{s}_s'] / before[f'{s}_s']:.2f} time, x{after[f'{s}_peak_mb'] / before[f'{s}_peak_mb']:.2f} "
                               f"memory" for s in STAGES)
            print(f"{before['reps']} -> {after['reps']} reps (x{factor:g}): {growth}")
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
