"""Who works in the simulated center: reps, their skills, roles and habits.

Every rep gets natural variation; avoiders get one or two behaviour codes on top,
confounders get a legitimate reason to look different (harder queue, new hire,
part-time, heavy meetings, an accidental do-not-disturb hour).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from simulator.settings import SimulationConfig

PAUSE_REASONS: tuple[str, ...] = ("Break", "Lunch", "Meeting", "Training", "Personal", "Technical", "Admin")
REASON = {name: code for code, name in enumerate(PAUSE_REASONS)}

# Behaviours whose effect needs a tier-1 queue (escalating *to* tier 2).
TIER1_ONLY = {"premature_escalation"}


@dataclass
class Reps:
    """Column arrays, one entry per rep (index = position)."""

    ext: np.ndarray  # extension number, 1001...
    primary_queue: np.ndarray  # queue index
    skills: list[tuple[int, ...]]  # queue indices the rep is offered, primary first
    hired_on: list[dt.date]
    part_time: np.ndarray  # bool
    role: list[str]  # honest / avoider / confounder
    confounder: list[str | None]
    behaviours: list[tuple[str, ...]]
    intensity: np.ndarray
    params: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ext)


def rep_ids(ext: np.ndarray) -> dict[str, list[str]]:
    """Each rep's identifier as each platform writes it."""
    return {
        "canonical": [f"agent{e}" for e in ext],
        "asterisk": [f"PJSIP/{e}" for e in ext],
        "amazon-connect": [f"agent{e}" for e in ext],
    }


def _assign_behaviours(
    rng: np.random.Generator, avoiders: np.ndarray, tier1: np.ndarray, cfg: SimulationConfig
) -> dict[int, tuple[str, ...]]:
    """Deal behaviour codes round-robin so that every configured code is present."""
    codes = list(cfg.avoidance.behaviours)
    order = list(rng.permutation(len(codes)))
    dealt: dict[int, tuple[str, ...]] = {}
    slot = 0
    for rep in avoiders:
        first = codes[order[slot % len(codes)]]
        slot += 1
        if first in TIER1_ONLY and not tier1[rep]:
            first = next(c for c in codes if c not in TIER1_ONLY) if len(codes) > 1 else first
        chosen = [first]
        if cfg.avoidance.max_behaviours_per_rep > 1 and rng.random() < 0.45 and len(codes) > 1:
            second = codes[order[slot % len(codes)]]
            if second != first and (second not in TIER1_ONLY or tier1[rep]):
                chosen.append(second)
                slot += 1
        dealt[int(rep)] = tuple(chosen)
    return dealt


def draw_reps(n_reps: int, cfg: SimulationConfig, rng: np.random.Generator, allotted_wrapup: float = 60.0) -> Reps:
    """Draw the rep population: skills, tenure, contract, role and per-rep habits."""
    queues = cfg.queues
    share = np.array([q.share_of_reps for q in queues], dtype=float)
    share = share / share.sum()
    # Deterministic proportional split so small centers still staff every queue.
    counts = np.floor(share * n_reps).astype(int)
    for i in np.argsort(-(share * n_reps - counts))[: n_reps - counts.sum()]:
        counts[i] += 1
    if n_reps >= len(queues):
        for i in range(len(queues)):
            if counts[i] == 0:
                counts[int(np.argmax(counts))] -= 1
                counts[i] = 1
    primary = rng.permutation(np.repeat(np.arange(len(queues)), counts))
    tier = np.array([q.tier for q in queues])
    tier1_queues = np.flatnonzero(tier == 1)
    tier1 = tier[primary] == 1

    skills: list[tuple[int, ...]] = []
    for p in primary:
        if tier[p] == 1 and len(tier1_queues) > 1 and rng.random() < 0.3:
            others = tier1_queues[tier1_queues != p]
            skills.append((int(p), int(rng.choice(others))))
        else:
            skills.append((int(p),))

    start = cfg.start_date
    conf = cfg.confounders
    role = ["honest"] * n_reps
    confounder: list[str | None] = [None] * n_reps
    behaviours: list[tuple[str, ...]] = [()] * n_reps

    n_avoiders = int(round(cfg.avoidance.share * n_reps))
    tier1_idx = np.flatnonzero(tier1)
    avoiders = rng.choice(tier1_idx, size=min(n_avoiders, len(tier1_idx)), replace=False)
    for rep, codes in _assign_behaviours(rng, avoiders, tier1, cfg).items():
        role[rep] = "avoider"
        behaviours[rep] = codes

    # The hardest tier-1 queue (longest talk) is the "harder queue" confounder.
    tier1_talk = {i: queues[i].mean_talk_seconds for i in tier1_queues}
    hardest = max(tier1_talk, key=tier1_talk.get)
    if len(tier1_queues) > 1 and tier1_talk[hardest] > min(tier1_talk.values()) * 1.3:
        for rep in range(n_reps):
            if role[rep] == "honest" and primary[rep] == hardest:
                role[rep], confounder[rep] = "confounder", "harder_queue"

    pool = [r for r in rng.permutation(n_reps) if role[r] == "honest"]
    for kind, share_of in (
        ("new_hire", conf.new_hire_share),
        ("part_time", conf.part_time_share),
        ("heavy_meetings", conf.heavy_meetings_share),
        ("dnd_accident", conf.dnd_accident_share),
    ):
        take = int(round(share_of * n_reps))
        chosen, pool = pool[:take], pool[take:]
        for rep in chosen:
            role[rep], confounder[rep] = "confounder", kind

    # Avoiders and other reps may also be part-timers or new hires, but only the
    # honest ones are labelled confounders: the label says why they must not be flagged.
    part_time = np.array([c == "part_time" for c in confounder]) | (rng.random(n_reps) < 0.03)
    hired_on = []
    for rep in range(n_reps):
        if confounder[rep] == "new_hire":
            days_before = int(rng.integers(3, max(4, conf.new_hire_tenure_days - 10)))
        else:
            days_before = int(rng.integers(conf.new_hire_tenure_days + 60, 3000))
        hired_on.append(start - dt.timedelta(days=days_before))

    intensity = np.where(
        np.array([r == "avoider" for r in role]), cfg.avoidance.intensity * rng.uniform(0.8, 1.2, n_reps), 0.0
    )
    reps = Reps(
        ext=np.arange(1001, 1001 + n_reps),
        primary_queue=primary,
        skills=skills,
        hired_on=hired_on,
        part_time=part_time,
        role=role,
        confounder=confounder,
        behaviours=behaviours,
        intensity=intensity,
    )
    reps.params = _habits(reps, rng, allotted_wrapup, cfg.honest)
    return reps


def _honest_rates(p: dict[str, np.ndarray], honest, rng: np.random.Generator) -> None:
    """Natural rates of the acts avoiders overdo, varying between reps by `habit_spread` (random draws only
    when it is set, so a default centre stays the same for a given seed)."""
    n = len(p["p_rna"])
    rates = {"personal_calls_per_day": honest.personal_calls_per_day, "toggles_per_day": honest.toggles_per_day,
             "extra_breaks_per_day": honest.extra_breaks_per_day, "tech_pauses_per_day": honest.tech_pauses_per_day,
             "p_quick_transfer": honest.quick_transfer_share, "p_self_service": honest.self_service_share}
    for key, rate in rates.items():
        p[key] = rate * rng.lognormal(-honest.habit_spread ** 2 / 2, honest.habit_spread, n) if honest.habit_spread \
            else np.full(n, rate)
    if honest.habit_spread:
        for key in ("p_rna", "p_early"):
            p[key] = np.clip(p[key] * rng.lognormal(-honest.habit_spread ** 2 / 2, honest.habit_spread, n), 0.0, 0.2)


def _habits(reps: Reps, rng: np.random.Generator, allotted_wrapup: float = 60.0, honest=None) -> dict[str, np.ndarray]:
    """Per-rep rates and durations: natural variation, then confounders, then avoidance."""
    n = len(reps)
    lognorm = lambda sigma: rng.lognormal(0.0, sigma, n)  # noqa: E731
    p = {
        "talk_mult": lognorm(0.10),
        "p_hold": np.clip(rng.normal(0.18, 0.04, n), 0.05, 0.35),
        "hold_mean": 45.0 * lognorm(0.2),
        "wrap_mean": 0.67 * allotted_wrapup * lognorm(0.2),  # most reps finish inside the allowance
        "p_rna": np.clip(0.02 * lognorm(0.4), 0.004, 0.06),
        "p_decline": np.full(n, 0.004),
        "p_early": np.clip(rng.normal(0.012, 0.004, n), 0.0, 0.03),
        "p_quick_transfer": np.full(n, 0.01),
        "p_transfer": np.clip(rng.normal(0.04, 0.01, n), 0.01, 0.08),
        "p_escalate": np.clip(rng.normal(0.06, 0.015, n), 0.02, 0.1),
        "fast_escalation": np.zeros(n, dtype=bool),
        "p_self_service": np.full(n, 0.01),
        "p_linger": np.zeros(n),
        "linger_mult": np.ones(n),
        "csat_offset": rng.normal(0.0, 0.2, n),
        "p_cherry": np.zeros(n),
        "p_status_game": np.zeros(n),
        "toggles_per_day": np.zeros(n),
        "extra_breaks_per_day": np.zeros(n),
        "tech_pauses_per_day": np.zeros(n),
        "personal_calls_per_day": np.zeros(n),
        "honest_pauses_per_day": rng.uniform(0.5, 2.5, n),
        "outbound_per_day": rng.uniform(0.3, 2.0, n),
    }
    if honest is not None:
        _honest_rates(p, honest, rng)
    for rep in range(n):
        if reps.confounder[rep] == "new_hire":
            p["talk_mult"][rep] *= 1.3
            p["p_hold"][rep] *= 1.4
            p["hold_mean"][rep] *= 1.2
            p["p_transfer"][rep] *= 1.6
            p["p_escalate"][rep] *= 1.6
            p["wrap_mean"][rep] *= 1.3
            p["p_rna"][rep] *= 1.3
            p["csat_offset"][rep] -= 0.15
        intensity = reps.intensity[rep]
        for code in reps.behaviours[rep]:
            _inject(p, rep, code, intensity)
    return p


def _inject(p: dict[str, np.ndarray], rep: int, code: str, i: float) -> None:
    """Shift one rep's habits by a behaviour code, scaled by intensity `i`."""
    if code == "missed_calls":
        p["p_rna"][rep] += 0.12 * i
        p["p_decline"][rep] += 0.04 * i
    elif code == "early_hangup":
        p["p_early"][rep] += 0.10 * i
    elif code == "long_hold":
        p["p_hold"][rep] = min(0.85, p["p_hold"][rep] + 0.3 * i)
        p["hold_mean"][rep] *= 1.0 + 3.0 * i
    elif code == "quick_transfer":
        p["p_quick_transfer"][rep] += 0.15 * i
    elif code == "premature_escalation":
        p["p_escalate"][rep] += 0.10 * i
        p["fast_escalation"][rep] = True
    elif code == "self_service_push":
        p["p_self_service"][rep] += 0.08 * i
    elif code == "excessive_breaks":
        p["extra_breaks_per_day"][rep] = 3.0 * i
    elif code == "tech_excuse":
        p["tech_pauses_per_day"][rep] = 1.5 * i
    elif code == "personal_calls":
        p["personal_calls_per_day"][rep] = 4.0 * i
    elif code == "lingering":
        p["p_linger"][rep] = min(0.9, 0.7 * i)
        p["linger_mult"][rep] = 2.0
    elif code == "excessive_wrapup":
        p["wrap_mean"][rep] *= 1.0 + 2.5 * i
    elif code == "status_gaming":
        p["p_status_game"][rep] = min(0.9, 0.35 * i)
        p["toggles_per_day"][rep] = 10.0 * i
    elif code == "cherry_picking":
        p["p_cherry"][rep] = min(0.9, 0.6 * i)
        p["csat_offset"][rep] += 0.3
    else:  # pragma: no cover - guarded by config validation
        raise ValueError(f"unknown behaviour code {code!r}")
