"""Random centres for held-out validation: the world itself differs per seed, not only the calls.

A detector tuned on one simulated centre learns that centre's quirks: its
ring timeout, its queue names, that honest reps never make a personal call.
`random_world(seed)` draws everything a real centre varies in (queues and
their call lengths, ring timeout, patience, staffing, survey and repeat
rates, the honest rates of every act an avoider overdoes and how much reps
differ, confounder shares, site time zone and the site's own names for the
IVR extension, wrap-up pause and self-service line) so a benchmark can
report on worlds nobody looked at while choosing thresholds.

Seeds below `HELD_OUT_FROM` are for tuning; figures are reported on seeds from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HELD_OUT_FROM = 1000

QUEUE_NAMES = ("general", "billing", "sales", "support", "claims", "orders", "accounts", "retention")
TIER2_NAMES = ("tier2", "escalations", "specialists", "level2")
TIMEZONES = ("UTC", "Europe/Paris", "America/Chicago", "Asia/Kolkata")
IVR_EXTENSIONS = ("selfservice", "ivr-payments", "7000", "pay-line")
WRAPUP_REASONS = ("ACW", "Wrap-up", "wrapup", "AfterCall")


@dataclass(frozen=True)
class World:
    """A drawn centre: its site (`SiteConfig(**world.site)`), its world (`SimulationConfig(**world.simulation)`),
    and the site conventions the log writers need."""

    seed: int
    site: dict
    simulation: dict
    self_service_extension: str
    wrapup_reason: str
    self_service_number: str

    def describe(self) -> str:
        sim = self.simulation
        queues = ", ".join(f"{q['name']} {q['mean_talk_seconds']:.0f}s" for q in sim["queues"])
        honest = sim["honest"]
        return (f"world {self.seed}: queues [{queues}], ring timeout {sim['ring_timeout_seconds']} s, "
                f"patience {sim['mean_patience_seconds']:.0f} s, occupancy {sim['target_occupancy']:.2f}, "
                f"avoiders {sim['avoidance']['share']:.0%} at {sim['avoidance']['intensity']:.2f}, "
                f"honest personal calls {honest['personal_calls_per_day']:.2f}/day, toggles {honest['toggles_per_day']:.2f}/day, "
                f"spread {honest['habit_spread']:.2f}, tz {self.site['timezone']}, "
                f"IVR '{self.self_service_extension}', wrap-up '{self.wrapup_reason}'")


def random_world(seed: int, intensity: float = 1.0, avoiders: bool = True) -> World:
    """A centre drawn at random from `seed`; `avoiders=False` gives one where nobody avoids calls."""
    rng = np.random.default_rng([seed, 20261201])
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    n_tier1 = int(rng.integers(2, 5))
    names = list(rng.choice(QUEUE_NAMES, size=n_tier1, replace=False))
    talk = sorted(u(150, 420) for _ in range(n_tier1))
    if rng.random() < 0.6:  # often one queue is much harder (technical, claims): long calls are normal there
        talk[-1] *= u(1.4, 2.0)
    shares = rng.dirichlet(np.full(n_tier1, 3.0)) * u(0.82, 0.92)
    queues = [{"name": str(n), "tier": 1, "share_of_reps": float(s), "mean_talk_seconds": float(t), "direct_volume_factor": 1.0}
              for n, s, t in zip(names, shares, talk)]
    tier2 = str(rng.choice(TIER2_NAMES))
    queues.append({"name": tier2, "tier": 2, "share_of_reps": float(1 - shares.sum()), "mean_talk_seconds": u(420, 720),
                   "direct_volume_factor": u(0.2, 0.5)})
    simulation = {
        "queues": queues,
        "target_occupancy": u(0.65, 0.88),
        "ring_timeout_seconds": int(rng.choice([10, 12, 15, 20, 25, 30])),
        "mean_patience_seconds": u(60, 300),
        "ivr_self_service_share": u(0.02, 0.2),
        "ivr_hangup_share": u(0.01, 0.08),
        "survey_share": u(0.05, 0.3),
        "repeat_caller_share": u(0.1, 0.35),
        "callback_probability": u(0.4, 0.8),
        # drawn either way, so the centre without avoiders is the same world with its avoiders honest
        "avoidance": {"share": u(0.08, 0.16) * avoiders, "intensity": float(intensity),
                      "max_behaviours_per_rep": int(rng.integers(1, 3))},
        "confounders": {"new_hire_share": u(0.03, 0.1), "part_time_share": u(0.05, 0.2),
                        "heavy_meetings_share": u(0.02, 0.06), "dnd_accident_share": u(0.02, 0.06),
                        "outages_per_30_days": u(0.0, 2.0)},
        "honest": {"personal_calls_per_day": u(0.0, 0.6), "toggles_per_day": u(0.0, 1.5), "extra_breaks_per_day": u(0.0, 0.6),
                   "tech_pauses_per_day": u(0.0, 0.3), "quick_transfer_share": u(0.005, 0.03),
                   "self_service_share": u(0.005, 0.03), "habit_spread": u(0.2, 0.6)},
    }
    site = {"timezone": str(rng.choice(TIMEZONES)), "allotted_wrapup_seconds": int(rng.choice([30, 45, 60, 90]))}
    return World(seed=seed, site=site, simulation=simulation,
                 self_service_extension=str(rng.choice(IVR_EXTENSIONS)), wrapup_reason=str(rng.choice(WRAPUP_REASONS)),
                 self_service_number=f"+1800555{int(rng.integers(1000, 9999))}")
