"""The simulated centre: reps, rosters and demand drawn, calls routed week by week, cadet's canonical tables assembled.

The same arguments always give the same centre, whatever the number of worker processes.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from pipelines.config import SiteConfig
from simulator.engine import ChunkInput, run_chunk
from simulator.plan import Plan, build_plan
from simulator.population import Reps, draw_reps, rep_ids
from simulator.settings import SimulationConfig
from simulator.tables import assemble_tables

CHUNK_DAYS = 7
Progress = Callable[[int, int, str], None]  # (done, total, what), as cadet's flows report


@dataclass
class Center:
    """A simulated center: canonical tables, the truth, and how big it was."""

    tables: dict[str, pa.Table]
    truth: dict
    n_reps: int
    n_days: int
    seed: int

    @property
    def events(self) -> int:
        """Activity events: a start and an end per call leg, one per offer, a start and an end per presence interval."""
        calls, offers, states = self.tables["calls"], self.tables["offers"], self.tables["agent_states"]
        return 2 * calls.num_rows + offers.num_rows + 2 * states.num_rows


def _chunk_inputs(reps: Reps, plan: Plan, sim: SimulationConfig, site: SiteConfig, n_days: int, seeds: list[int]) -> list[ChunkInput]:
    n_chunks = math.ceil(n_days / CHUNK_DAYS)
    params = {k: v.tolist() for k, v in reps.params.items()}
    queued = plan.arrival_ivr == 0
    inputs = []
    for k in range(n_chunks):
        day_lo, day_hi = k * CHUNK_DAYS, min((k + 1) * CHUNK_DAYS, n_days)
        days = [d for d in plan.days if day_lo <= d.index < day_hi]
        if not days:
            inputs.append(None)
            continue
        # The chunk owns everything from its first local midnight to the next chunk's.
        lo, hi = _local_midnight(sim, site, day_lo), _local_midnight(sim, site, day_hi)
        s = (plan.shift_day >= day_lo) & (plan.shift_day < day_hi)
        b = (plan.block_start >= lo) & (plan.block_start < hi)
        a = queued & (plan.arrival_time >= lo) & (plan.arrival_time < hi)
        arrival_ids = np.flatnonzero(a)
        dnd = {
            int(r): (int(st), int(en))
            for r, st, en in zip(plan.dnd_rep, plan.dnd_start, plan.dnd_end)
            if lo <= st < hi
        }
        inputs.append(
            ChunkInput(
                seed=seeds[k],
                queue_tier=[q.tier for q in sim.queues],
                queue_talk=[q.mean_talk_seconds for q in sim.queues],
                rep_skills=reps.skills,
                params=params,
                login_rep=plan.shift_rep[s].tolist(),
                login_at=plan.login[s].tolist(),
                logout_at=plan.logout[s].tolist(),
                block_rep=plan.block_rep[b].tolist(),
                block_start=plan.block_start[b].tolist(),
                block_end=plan.block_end[b].tolist(),
                block_kind=plan.block_kind[b].tolist(),
                block_reason=plan.block_reason[b].tolist(),
                block_fixed=plan.block_fixed_end[b].tolist(),
                block_number=plan.block_number[b].tolist(),
                block_personal=plan.block_personal[b].tolist(),
                arrival_time=plan.arrival_time[a].tolist(),
                arrival_queue=plan.arrival_queue[a].tolist(),
                arrival_caller=plan.arrival_caller[a].tolist(),
                arrival_repeat=plan.arrival_repeat[a].tolist(),
                arrival_id=arrival_ids.tolist(),
                caller_difficult=plan.caller_difficult,
                dnd=dnd,
                open_hours=[(d.opens, d.closes) for d in days],
                ring_timeout=sim.ring_timeout_seconds,
                mean_patience=sim.mean_patience_seconds,
                callback_probability=sim.callback_probability,
                survey_share=sim.survey_share,
            )
        )
    return inputs


def _local_midnight(sim: SimulationConfig, site: SiteConfig, day_index: int) -> int:
    date = sim.start_date + dt.timedelta(days=day_index)
    return int(dt.datetime.combine(date, dt.time(0), tzinfo=ZoneInfo(site.timezone)).timestamp())


def _run_chunks(inputs: list[ChunkInput | None], workers: int, progress: Progress) -> list[dict[str, np.ndarray]]:
    todo = [i for i in inputs if i is not None]
    results: list = [None] * len(todo)
    progress(0, len(todo), "routing calls, week by week")
    if workers <= 1 or len(todo) <= 1:
        for k, chunk in enumerate(todo):
            results[k] = run_chunk(chunk)
            progress(k + 1, len(todo), "routing calls, week by week")
        return results
    # spawn, not fork: the parent may hold pyarrow/Prefect threads that fork would copy mid-state.
    with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_chunk, chunk): k for k, chunk in enumerate(todo)}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            progress(done, len(todo), "routing calls, week by week")
    return results


def _no_progress(done: int, total: int, what: str) -> None:
    return None


def simulate(
    world: SimulationConfig,
    n_reps: int,
    n_days: int,
    seed: int,
    site: SiteConfig | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Center:
    """Simulate `n_reps` reps over `n_days` days of `world` at `site` (cadet's default site when None).

    The same arguments always give the same center.
    """
    progress = progress or _no_progress
    if n_reps < 1:
        raise ValueError("a center needs at least 1 rep")
    if n_days < 1:
        raise ValueError("simulate at least 1 day")
    sim, site = world, site or SiteConfig()
    root = np.random.SeedSequence(seed)
    pop_seq, plan_seq, chunk_seq, table_seq = root.spawn(4)
    n_chunks = math.ceil(n_days / CHUNK_DAYS)
    chunk_seeds = [int(s.generate_state(1)[0]) for s in chunk_seq.spawn(n_chunks)]

    progress(0, 1, "drawing reps, rosters and demand")
    reps = draw_reps(n_reps, sim, np.random.default_rng(pop_seq), site.allotted_wrapup_seconds)
    plan = build_plan(reps, sim, n_days, site.timezone, np.random.default_rng(plan_seq))
    inputs = _chunk_inputs(reps, plan, sim, site, n_days, chunk_seeds)
    if workers is None:
        workers = os.cpu_count() or 1
        if n_reps * n_days < 3000:  # process start-up costs more than it saves
            workers = 1
    progress(1, 1, "drawing reps, rosters and demand")
    results = _run_chunks(inputs, workers, progress)
    progress(0, 1, "assembling canonical tables")
    tables = assemble_tables(reps, plan, results, sim, site, np.random.default_rng(table_seq))
    truth = build_truth(reps, plan, sim, site, n_reps, n_days, seed)
    progress(1, 1, "assembling canonical tables")
    return Center(tables=tables, truth=truth, n_reps=n_reps, n_days=n_days, seed=seed)


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_truth(reps: Reps, plan: Plan, sim: SimulationConfig, site: SiteConfig, n_reps: int, n_days: int, seed: int) -> dict:
    """What really happened: each rep's role and behaviours, and the site events."""
    ids = rep_ids(reps.ext)
    queue_names = [q.name for q in sim.queues]
    rows = []
    for i in range(n_reps):
        rows.append(
            {
                "rep_id": ids["canonical"][i],
                "ids": {fmt: ids[fmt][i] for fmt in ids},
                "role": reps.role[i],
                "confounder": reps.confounder[i],
                "behaviours": list(reps.behaviours[i]),
                "intensity": round(float(reps.intensity[i]), 3),
                "primary_queue": queue_names[reps.primary_queue[i]],
                "queues": [queue_names[q] for q in reps.skills[i]],
                "contract": "part_time" if reps.part_time[i] else "full_time",
                "hired_on": reps.hired_on[i].isoformat(),
            }
        )
    return {
        "generator": "cadet simulate",
        "seed": seed,
        "n_reps": n_reps,
        "n_days": n_days,
        "start_date": sim.start_date.isoformat(),
        "site": site.name,
        "timezone": site.timezone,
        "reps": rows,
        "outages": [{"start": _iso(s), "end": _iso(e), "reason": "Technical"} for s, e in plan.outages],
        "dnd_windows": [
            {"rep_id": ids["canonical"][r], "start": _iso(s), "end": _iso(e)}
            for r, s, e in zip(plan.dnd_rep.tolist(), plan.dnd_start.tolist(), plan.dnd_end.tolist())
        ],
        "notes": (
            "Weeks are simulated independently: a callback that would fall in the next week is dropped. "
            "Roles: honest, avoider (with behaviour codes), confounder (with the legitimate reason)."
        ),
    }


__all__ = ["Center", "simulate"]
