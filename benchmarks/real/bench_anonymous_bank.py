"""Benchmark on real data: `cadet run` on the Anonymous Bank call-center log, agents ranked.

    uv run python benchmarks/real/bench_anonymous_bank.py PATH/TO/data_anonymous_bank_february.txt

Where the file comes from and its terms: benchmarks/real/README.md (it is not in this
repository).  The script converts the log (benchmarks/real/anonymous_bank.py), runs the
real pipeline (`cadet run --source canonical`: Prefect flows, lake, MLflow) in a fresh
home with the site's time zone as the only setting, and prints, per agent: the share of
served calls under 10 s read straight from the raw log (the known answer), cadet's best
window score, tier and behaviours, and the rules cadet lists as not observable.
Nothing here is tuned to the answer: the settings are cadet's defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from anonymous_bank import TIMEZONE, convert, short_call_shares  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="data_anonymous_bank_february.txt")
    parser.add_argument("--home", type=Path, default=None, help="keep the cadet home here (default: a temporary folder)")
    args = parser.parse_args(argv)
    if not args.source.exists():
        raise SystemExit(f"{args.source}: no such file; see benchmarks/real/README.md for where to get it")

    work = Path(tempfile.mkdtemp(prefix="cadet-bank-"))
    home = args.home or work / "home"
    converted = convert(args.source, work / "export")
    config = work / "site.yaml"
    config.write_text(f"site:\n  name: anonymous-bank\n  timezone: {TIMEZONE}\n")
    env = os.environ | {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "--home", str(home), "--config", str(config), "run",
                           "--source", "canonical", str(work / "export"), "--json"], cwd=ROOT, capture_output=True, text=True,
                          env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
        raise SystemExit(f"cadet run failed with status {done.returncode}")
    lines = done.stdout.strip().splitlines()
    folder = Path(lines[-1])
    summary = json.loads(lines[-2])
    traceback = "Traceback" in done.stdout + done.stderr

    scores = pd.read_parquet(folder / "scores.parquet")
    best = scores.sort_values("score", ascending=False).drop_duplicates("rep_id").set_index("rep_id")
    truth = short_call_shares(args.source)
    table = pd.DataFrame({"short_share": truth}).join(best[["score", "tier", "behaviours"]], how="outer")
    table["cadet_rank"] = table.score.rank(ascending=False, method="min")
    table = table.sort_values("short_share", ascending=False)
    blind = sorted({b["rule_id"] for w in summary["features"]["windows"] for b in w["not_observable"]})

    print(f"Anonymous Bank, February 1999: {converted['lines']:,} log lines -> {converted['calls']:,} calls, "
          f"{converted['agents']} agents; `cadet run` {wall:.1f} s (wall, incl. Prefect's temporary server)")
    print(f"report: {folder / 'report.html'}  traceback printed: {traceback}")
    print("rules not observable from this log:", ", ".join(blind) or "-")
    print(f"{'agent':<10} {'<10 s share':>11} {'cadet rank':>10} {'score':>6}  tier         behaviours")
    for rep, row in table.iterrows():
        print(f"{rep:<10} {row.short_share:>11.1%} {row.cadet_rank:>10.0f} {row.score:>6.2f}  {row.tier:<12} "
              f"{', '.join(row.behaviours) if isinstance(row.behaviours, (list, tuple)) or hasattr(row.behaviours, '__len__') else '-'}")
    print(f"median agent's <10 s share: {truth.median():.2%}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "anonymous_bank.json").write_text(table.assign(behaviours=table.behaviours.map(
        lambda b: list(b) if b is not None and not isinstance(b, float) else [])).reset_index(names="agent").to_json(orient="records", indent=1))
    return 1 if traceback else 0


if __name__ == "__main__":
    sys.exit(main())
