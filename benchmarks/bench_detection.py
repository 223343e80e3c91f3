"""Benchmark: does cadet find the avoiders, and only them, on centres it was not tuned on?  Against two baselines.

    uv run python benchmarks/bench_detection.py                  # held-out worlds 1007-1008, intensities 0.5/0.75/1, 3 formats
    uv run python benchmarks/bench_detection.py --worlds default --seeds 7 11 23 --intensities 1   # the demo's world
    uv run python benchmarks/bench_detection.py --seeds 1003 --formats asterisk --reps 200 --days 21

Held-out protocol: with `--worlds held-out` (the default) every seed draws its
own centre (`simulator.worlds.random_world`: queues and call
lengths, ring timeout, patience, staffing, honest rates of every act an
avoider overdoes and how much reps differ, confounder shares, time zone, the
site's names for its IVR extension, wrap-up pause and self-service line).
Seeds below 1000 are for tuning; report seeds from 1000, which nobody looked
at while choosing thresholds.  The benchmark sets nothing by hand on those
worlds: it runs `cadet inspect` on the logs and accepts its proposals, as a
user starting on their own logs would, and gives cadet only what a site
knows about itself (time zone, allotted wrap-up).  Every seed also gets a
centre of the same world with nobody avoiding calls (`--no-avoider-worlds`).

For every seed, intensity and format: simulate the centre, write it as that
platform's logs, run the real pipeline (`cadet run`: Prefect flows, lake,
MLflow) in a fresh home, and compare the scores with the simulator's truth.
Scores are per rep: the highest window.  Intensity scales the simulator's
avoidance (1.0: the avoider does it on roughly 8-16% of calls, 0.5 on 4-8%).

Figures, for cadet and two baselines computed from the same lake:
- AP: average precision of the rep score for "is an avoider";
- recall@k: share of avoiders among the k highest-scored reps, k = number of avoiders;
- flagged: reps on cadet's investigate list (baselines: |z| > 3, IsolationForest outlier);
- per-behaviour recall: avoiders flagged *for that behaviour* (cadet names codes; the
  baselines name none, so for them any flag counts: generous to them);
- confounders / honest flagged: share of reps with a legitimate reason (or none) on the
  investigate list, confounders also by type and on the watch list.
Baselines: naive KPI z-scores (each rep's classic KPIs against the whole center,
flag on max |z| > 3) and an IsolationForest on the same KPIs (sklearn defaults).

Targets (the script exits 1 when cadet misses one): AP >= 0.9 over the reps the
source can show (an avoider whose only behaviour is long holds is invisible in a
queue_log, which has no hold events; AP over every rep is printed too), every
observable behaviour's recall >= 0.8 over the seeds at intensity >= 0.75,
confounders listed <= 5%, honest reps at investigate <= 1%, nobody at
investigate in a centre without avoiders, and cadet's AP above both baselines'.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

FORMATS = ("canonical", "asterisk", "amazon-connect")
NAIVE_KPIS = ["answer_rate", "aht_seconds", "hold_seconds", "wrapup_seconds", "transfer_rate", "short_call_rate",
              "escalation_rate", "csat"]


def write_logs(center, fmt: str, folder: Path, seed: int, timezone: str, world=None) -> None:
    from simulator.writers import write_amazon_connect, write_asterisk, write_canonical

    if fmt == "canonical":
        write_canonical(center.tables, folder, "csv")
    elif fmt == "asterisk":
        conventions = {"self_service_extension": world.self_service_extension, "wrapup_reason": world.wrapup_reason} if world else {}
        write_asterisk(center.tables, center.truth, folder, timezone, **conventions)
    else:
        write_amazon_connect(center.tables, center.truth, folder, seed=seed,
                             self_service_number=world.self_service_number if world else None)


def settings_for(fmt: str, logs: Path, world, out: Path) -> Path | None:
    """What a user would run with: `cadet inspect`'s proposals, over what the site knows (time zone, allotted wrap-up)."""
    import yaml

    from pipelines.config import CadetConfig
    from pipelines.inputs import find_input_files
    from pipelines.inspect import inspect_logs, render

    if world is None:
        return None
    site = {"site": dict(world.site)}
    if fmt != "canonical":
        files = find_input_files(fmt, [logs])
        proposed = yaml.safe_load(render(inspect_logs(fmt, files, CadetConfig(**site)), "benchmark")) or {}
        for section, values in proposed.items():
            site.setdefault(section, {}).update(values or {})
    out.write_text(yaml.safe_dump(site, sort_keys=False))
    return out


def naive_scores(home: Path) -> dict:
    """Both baselines' rep scores and flags, from the classic KPIs of the lake's calls."""
    import pandas as pd
    from sklearn.ensemble import IsolationForest

    from features.kpis import rep_kpis
    from pipelines.lake import Lake

    lake = Lake(home / "lake")
    kpis = rep_kpis(*(lake.read(t).to_pandas() for t in ("calls", "offers", "surveys")))[NAIVE_KPIS]
    kpis = kpis.loc[:, kpis.notna().any()]  # hold is not observable from queue_log
    filled = kpis.fillna(kpis.median())
    z = ((filled - filled.mean()) / filled.std(ddof=0).replace(0, 1)).abs()
    zscore = z.max(axis=1)
    forest = IsolationForest(random_state=0).fit(z.to_numpy())
    iforest = pd.Series(-forest.score_samples(z.to_numpy()), index=kpis.index)
    outlier = pd.Series(forest.predict(z.to_numpy()) == -1, index=kpis.index)
    return {"naive z-scores": (zscore, zscore > 3), "IsolationForest on KPIs": (iforest, outlier)}


def unobservable_codes(home: Path) -> set[str]:
    """Codes every one of whose rules the source cannot show."""
    from pipelines.config import CadetConfig, load_rules
    from pipelines.lake import Lake

    rules = load_rules(CadetConfig()).rules
    blind = set(Lake(home / "lake").read("rules_not_observable").to_pandas().get("rule_id", []))
    by_code: dict[str, set[str]] = {}
    for rule in rules:
        by_code.setdefault(rule.code, set()).add(rule.id)
    return {code for code, ids in by_code.items() if ids <= blind}


def _ranking(reps: list[str], rows: dict, score) -> tuple[float, float]:
    """Average precision and recall@k (k = avoiders) of `score` over `reps`."""
    from sklearn.metrics import average_precision_score

    is_avoider = [rows[rep]["role"] == "avoider" for rep in reps]
    values = [float(score[rep]) for rep in reps]
    k = sum(is_avoider)
    top = sorted(zip(values, is_avoider), key=lambda pair: -pair[0])[:k]
    return float(average_precision_score(is_avoider, values)), sum(a for _, a in top) / max(k, 1)


def measure(truth_reps: list[dict], fmt: str, score, flagged, blind: set[str], behaviours_of=None) -> dict:
    """AP, recall@k, flag shares and per-behaviour hits for one method on one center.

    `ap_observable` leaves out avoiders none of whose behaviours the source can
    show (a long-hold-only avoider in a queue_log): no method can see them.
    """
    rows = {r["ids"][fmt]: r for r in truth_reps}
    reps = [rep for rep in rows if rep in score.index]
    ap, recall_at_k = _ranking(reps, rows, score)
    visible = [rep for rep in reps if rows[rep]["role"] != "avoider" or set(rows[rep]["behaviours"]) - blind]
    ap_observable, recall_observable = _ranking(visible, rows, score)
    per_code: dict[str, list[int]] = {}
    missed = []
    for rep in reps:
        for code in rows[rep]["behaviours"]:
            named = behaviours_of(rep) if behaviours_of else None
            hit = bool(flagged.get(rep, False)) and (named is None or code in named)
            per_code.setdefault(code, [0, 0])
            per_code[code][0] += hit
            per_code[code][1] += 1
            if not hit:
                missed.append({"rep": rep, "behaviour": code, "all": rows[rep]["behaviours"],
                               "named": sorted(named) if named is not None else None, "score": float(score.get(rep, 0))})

    def share(role):
        members = [rep for rep in reps if rows[rep]["role"] == role]
        return sum(bool(flagged.get(rep, False)) for rep in members), len(members)

    return {"ap": ap, "recall_at_k": recall_at_k, "ap_observable": ap_observable, "recall_at_k_observable": recall_observable,
            "flagged_avoiders": share("avoider"), "per_code": per_code, "missed": missed, "confounders": share("confounder"),
            "honest": share("honest")}


def one_center(seed: int, fmt: str, reps: int, days: int, work: Path, intensity: float, worlds: str,
               avoiders: bool = True) -> dict:
    import pandas as pd

    from pipelines.config import SiteConfig
    from pipelines.failures import RunFailed
    from pipelines.run import run_flow
    from simulator import SimulationConfig, simulate
    from simulator.worlds import random_world

    world = random_world(seed, intensity, avoiders) if worlds == "held-out" else None
    if world:
        simulated, site = SimulationConfig(**world.simulation), SiteConfig(**world.site)
    else:
        simulated, site = SimulationConfig(avoidance={"intensity": intensity, "share": 0.12 if avoiders else 0.0}), SiteConfig()
    center = simulate(simulated, n_reps=reps, n_days=days, seed=seed, site=site)
    tag = f"{fmt}-{seed}-{intensity:g}-{'a' if avoiders else 'none'}"
    logs, home = work / f"{tag}-logs", work / f"{tag}-home"
    write_logs(center, fmt, logs, seed, site.timezone, world)
    (logs / "truth.json").unlink(missing_ok=True)
    settings = settings_for(fmt, logs, world, work / f"{tag}.yaml")
    started = time.perf_counter()
    try:
        summary = run_flow(fmt, [str(logs)], str(home), settings=str(settings) if settings else None)
    except RunFailed as failure:
        raise SystemExit(f"cadet run failed on {fmt} seed {seed}: {failure}") from None
    elapsed = time.perf_counter() - started
    scores = pd.read_parquet(Path(summary["report"]) / "scores.parquet")
    best = scores.sort_values("score", ascending=False).drop_duplicates("rep_id").set_index("rep_id")
    investigate = scores[scores.tier == "investigate"]
    named = investigate.groupby("rep_id").behaviours.agg(lambda lists: {c for codes in lists for c in codes})
    on_list = pd.Series(best.index.isin(named.index), index=best.index)
    blind = unobservable_codes(home)
    truth = center.truth["reps"]
    results = {"cadet": measure(truth, fmt, best.score, on_list, blind, lambda rep: named.get(rep, set()))}
    for name, (score, flagged) in naive_scores(home).items():
        results[name] = measure(truth, fmt, score, flagged, blind)
    tier_of = best.tier.to_dict()
    by_role: dict[str, dict[str, int]] = {}
    for rep in truth:
        kind = rep["confounder"] or rep["role"] if rep["role"] == "confounder" else rep["role"]
        tier = tier_of.get(rep["ids"][fmt], "clear")
        by_role.setdefault(kind, {"reps": 0, "watch": 0, "investigate": 0})
        by_role[kind]["reps"] += 1
        if tier in ("watch", "investigate"):
            by_role[kind][tier] += 1
    # Who reached investigate without avoiding calls, and on what: the rows to read when a target is missed.
    innocent = {rep["ids"][fmt]: rep["confounder"] or rep["role"] for rep in truth if rep["role"] != "avoider"}
    accused = [{"rep": rep, "kind": innocent[rep], "score": round(float(row.score), 3), "behaviours": list(row.behaviours),
                "rule_hits": list(row.rule_hits), "model_score": round(float(row.model_score), 3)}
               for rep, row in best.iterrows() if rep in innocent and row.tier == "investigate"]
    shutil.rmtree(logs, ignore_errors=True)
    if not os.environ.get("CADET_BENCH_KEEP"):
        shutil.rmtree(home, ignore_errors=True)
    return {"accused": accused,"seed": seed, "format": fmt, "reps": reps, "days": days, "intensity": intensity, "run_s": round(elapsed, 1),
            "avoiders": avoiders, "world": world.describe() if world else "default", "not_observable": sorted(blind),
            "methods": results, "by_role": by_role}


def _pct(pair) -> str:
    hit, total = pair
    return f"{hit}/{total} ({hit / total:.0%})" if total else "-"


def _sum_pairs(pairs) -> tuple[int, int]:
    pairs = list(pairs)
    return sum(p[0] for p in pairs), sum(p[1] for p in pairs)


def report(centers: list[dict], recall_from: float = 0.75) -> bool:
    """Print the tables and check the targets; False when cadet misses one."""
    ok = True

    def missed(message: str) -> None:
        nonlocal ok
        ok = False
        print(f"TARGET MISSED: {message}", file=sys.stderr)

    with_avoiders = [c for c in centers if c["avoiders"]]
    without = [c for c in centers if not c["avoiders"]]
    methods = list(centers[0]["methods"])
    print("\nWorlds:\n")
    for world in sorted({c["world"] for c in centers}):
        print(f"- {world}")
    print("\n| format | intensity | method | AP | AP (observable) | recall@k | flagged avoiders | confounders at investigate |"
          " honest at investigate | seeds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    # cadet's avoiders on either list: the watch list is where a single behaviour in a single week goes
    for fmt in FORMATS:
        for intensity in sorted({c["intensity"] for c in with_avoiders}):
            mine = [c for c in with_avoiders if c["format"] == fmt and c["intensity"] == intensity]
            if not mine:
                continue
            cadet_ap = None
            for name in methods:
                ms = [c["methods"][name] for c in mine]
                ap, ap_obs = (sum(m[k] for m in ms) / len(ms) for k in ("ap", "ap_observable"))
                spread = f" ({min(m['ap_observable'] for m in ms):.2f}-{max(m['ap_observable'] for m in ms):.2f})" if len(ms) > 1 else ""
                rk = sum(m["recall_at_k_observable"] for m in ms) / len(ms)
                conf, honest = _sum_pairs(m["confounders"] for m in ms), _sum_pairs(m["honest"] for m in ms)
                flagged = _pct(_sum_pairs(m['flagged_avoiders'] for m in ms))
                if name == "cadet":
                    listed = sum(c["by_role"].get("avoider", {}).get("watch", 0) for c in mine)
                    flagged += f" (+{listed} on watch)"
                print(f"| {fmt} | {intensity:g} | {name} | {ap:.3f} | {ap_obs:.3f}{spread} | {rk:.2f} | "
                      f"{flagged} | {_pct(conf)} | {_pct(honest)} | {len(ms)} |")
                if name == "cadet":
                    cadet_ap = ap_obs
                    if ap_obs < 0.9:
                        missed(f"{fmt} intensity {intensity:g}: AP {ap_obs:.3f} < 0.9")
                    if conf[1] and conf[0] / conf[1] > 0.05:
                        missed(f"{fmt} intensity {intensity:g}: confounders at investigate {_pct(conf)} > 5%")
                    if honest[1] and honest[0] / honest[1] > 0.01:
                        missed(f"{fmt} intensity {intensity:g}: honest at investigate {_pct(honest)} > 1%")
                elif cadet_ap is not None and ap_obs >= cadet_ap:
                    missed(f"{fmt} intensity {intensity:g}: {name} AP {ap_obs:.3f} >= cadet's {cadet_ap:.3f}")

    print("\nPer-behaviour recall of cadet (avoiders on the investigate list for that behaviour), over the seeds;"
          " n/o = not observable from that source:\n")
    intensities = sorted({c["intensity"] for c in with_avoiders})
    columns = [(fmt, i) for fmt in FORMATS for i in intensities if any(c["format"] == fmt and c["intensity"] == i for c in with_avoiders)]
    print("| behaviour | " + " | ".join(f"{fmt} @{i:g}" for fmt, i in columns) + " |")
    print("|---|" + "---|" * len(columns))
    codes = sorted({code for c in with_avoiders for code in c["methods"]["cadet"]["per_code"]})
    for code in codes:
        cells = []
        for fmt, intensity in columns:
            mine = [c for c in with_avoiders if c["format"] == fmt and c["intensity"] == intensity]
            if code in mine[0]["not_observable"]:
                cells.append("n/o")
                continue
            pair = _sum_pairs(c["methods"]["cadet"]["per_code"].get(code, [0, 0]) for c in mine)
            cells.append(_pct(pair))
            if intensity >= recall_from and pair[1] and pair[0] / pair[1] < 0.8:
                missed(f"{fmt} intensity {intensity:g}: {code} recall {_pct(pair)} < 0.8")
        print(f"| {code} | " + " | ".join(cells) + " |")

    print("\nConfounders and honest reps by type, all centres with avoiders (watch / investigate):\n")
    print("| format | " + " | ".join(kind for kind in _kinds(with_avoiders)) + " |")
    print("|---|" + "---|" * len(_kinds(with_avoiders)))
    for fmt in FORMATS:
        mine = [c for c in with_avoiders if c["format"] == fmt]
        if mine:
            print(f"| {fmt} | " + " | ".join(_role_cell(mine, kind) for kind in _kinds(with_avoiders)) + " |")

    if without:
        print("\nCentres where nobody avoids calls (every rep honest or a confounder):\n")
        print("| format | seed | reps | on watch | at investigate |")
        print("|---|---|---|---|---|")
        for c in without:
            reps = sum(v["reps"] for v in c["by_role"].values())
            watch = sum(v["watch"] for v in c["by_role"].values())
            investigate = sum(v["investigate"] for v in c["by_role"].values())
            print(f"| {c['format']} | {c['seed']} | {reps} | {watch} | {investigate} |")
            if investigate:
                missed(f"{c['format']} seed {c['seed']}: {investigate} rep(s) at investigate in a centre without avoiders")
    return ok


def _kinds(centers: list[dict]) -> list[str]:
    return sorted({k for c in centers for k in c["by_role"] if k != "avoider"})


def _role_cell(centers: list[dict], kind: str) -> str:
    rows = [c["by_role"][kind] for c in centers if kind in c["by_role"]]
    reps = sum(r["reps"] for r in rows)
    return f"{sum(r['watch'] for r in rows)} / {sum(r['investigate'] for r in rows)} of {reps}" if reps else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", choices=("held-out", "default"), default="held-out",
                        help="held-out: a random world per seed (report seeds >= 1000); default: the demo's world")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1007, 1008],
                        help="world seeds (1001-1006 were read while developing; 1007 and 1008 are the reported ones)")
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--intensities", type=float, nargs="+", default=[0.5, 0.75, 1.0],
                        help="how strongly avoiders avoid (simulation.avoidance.intensity; 1 = 8-16%% of calls)")
    parser.add_argument("--no-avoider-worlds", action=argparse.BooleanOptionalAction, default=True,
                        help="also run each seed's world with nobody avoiding calls")
    args = parser.parse_args()
    if args.worlds == "held-out" and min(args.seeds) < 1000:
        print("note: seeds below 1000 are tuning worlds; held-out figures come from seeds >= 1000", file=sys.stderr)
    from bench_ingest import ENV, start_prefect_server

    work = Path(tempfile.mkdtemp(prefix="cadet-bench-detection-"))  # CADET_BENCH_KEEP=1 keeps the homes to look into
    server = start_prefect_server(work)
    os.environ.update(PREFECT_API_URL=ENV["PREFECT_API_URL"], PREFECT_LOGGING_LEVEL="WARNING", DO_NOT_TRACK="1",
                      MLFLOW_DISABLE_TELEMETRY="true", PREFECT_HOME=str(work / "prefect-client"))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    runs = [(fmt, seed, i, True) for fmt in args.formats for seed in args.seeds for i in args.intensities]
    if args.no_avoider_worlds:
        runs += [(fmt, seed, 1.0, False) for fmt in args.formats for seed in args.seeds]
    try:
        centers = []
        for n, (fmt, seed, intensity, avoiders) in enumerate(runs, 1):
            centers.append(one_center(seed, fmt, args.reps, args.days, work, intensity, args.worlds, avoiders))
            c = centers[-1]
            cadet = c["methods"]["cadet"]
            print(f"[{n}/{len(runs)}] {fmt} seed {seed} intensity {intensity:g}{'' if avoiders else ' no avoiders'}: "
                  f"cadet AP {cadet['ap_observable']:.3f}, honest at investigate {_pct(cadet['honest'])}, "
                  f"run {c['run_s']} s", flush=True)
            for row in c["accused"]:
                print(f"    not an avoider, at investigate: {row}", flush=True)
            (out / f"detection-{args.worlds}.json").write_text(json.dumps(centers, indent=1))
        ok = report(centers)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if os.environ.get("CADET_BENCH_KEEP"):
            print(f"homes kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
