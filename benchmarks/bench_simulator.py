"""Benchmark: `cadet simulate` end to end, as a user runs it.

    uv run python benchmarks/bench_simulator.py                 # 1000 reps x 30 days, canonical CSV
    uv run python benchmarks/bench_simulator.py --formats canonical asterisk amazon-connect --reps 200

Runs the real command in a fresh process (imports, simulation, writing files),
and prints wall time, activity events per second, rows written and the peak
resident memory of the largest process.  The issue's target: 1000 reps x 30 days
in at most 60 s on 2 cores (canonical output).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(reps: int, days: int, fmt: str, file_format: str, seed: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="cadet-bench-"))
    cmd = [sys.executable, "-m", "pipelines.cli", "simulate", "--reps", str(reps), "--days", str(days),
           "--seed", str(seed), "--format", fmt, "--file-format", file_format, "--out", str(out), "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    peak_mb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    if done.returncode != 0:
        raise SystemExit(f"cadet simulate failed:\n{done.stderr}")
    events = int(re.search(r"([\d,]+) activity events", done.stdout).group(1).replace(",", ""))
    calls = int(re.search(r"calls: ([\d,]+) rows", done.stdout).group(1).replace(",", ""))
    size_mb = sum(p.stat().st_size for p in out.iterdir()) / 2**20
    lines = 0
    if fmt == "asterisk":
        with open(out / "queue_log", "rb") as handle:
            lines = sum(1 for _ in handle)
    shutil.rmtree(out)
    return {
        "format": fmt if fmt != "canonical" else f"canonical/{file_format}",
        "reps": reps, "days": days, "wall_s": round(wall, 1), "events": events,
        "events_per_s": round(events / wall), "calls": calls, "queue_log_lines": lines,
        "output_mb": round(size_mb), "peak_rss_mb": round(peak_mb),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--formats", nargs="+", default=["canonical"], choices=["canonical", "asterisk", "amazon-connect"])
    parser.add_argument("--file-format", default="csv", choices=["csv", "parquet"])
    parser.add_argument("--limit-seconds", type=float, default=60.0, help="fail if canonical output takes longer")
    args = parser.parse_args()
    print(f"cadet simulate benchmark on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    results = []
    for fmt in args.formats:
        result = run_once(args.reps, args.days, fmt, args.file_format, args.seed)
        results.append(result)
        print("  " + "  ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in result.items()), flush=True)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "simulator.json").write_text(json.dumps(results, indent=1))
    slow = [r for r in results if r["format"].startswith("canonical") and r["wall_s"] > args.limit_seconds]
    if slow:
        raise SystemExit(f"too slow: {slow[0]['wall_s']} s > {args.limit_seconds} s")


if __name__ == "__main__":
    main()
