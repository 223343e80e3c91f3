"""The simulated centre's settings: a world of queues, callers, staffing, avoiders and confounders.

They are the simulator's, not cadet's: cadet's settings describe how to read a
real site, these describe a centre that does not exist.  The site itself (its
name, time zone, allotted wrap-up) is cadet's `SiteConfig`, so a simulated
centre is the site cadet is configured for.  `configs/simulation.yaml` spells
the defaults out.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from features.catalog import BEHAVIOUR_CODES
from pipelines.config import Section, read_settings_file


class QueueConfig(Section):
    """One queue (skill) of the simulated centre."""

    name: str
    tier: Literal[1, 2] = 1
    share_of_reps: float = Field(gt=0, le=1, description="share of reps whose primary queue this is")
    mean_talk_seconds: float = Field(gt=0)
    direct_volume_factor: float = Field(1.0, ge=0, description="inbound calls relative to staffing; tier 2 gets fewer direct calls")


def _default_queues() -> list[QueueConfig]:
    return [
        QueueConfig(name="general", share_of_reps=0.45, mean_talk_seconds=240),
        QueueConfig(name="billing", share_of_reps=0.25, mean_talk_seconds=300),
        QueueConfig(name="tech", share_of_reps=0.18, mean_talk_seconds=480),
        QueueConfig(name="tier2", tier=2, share_of_reps=0.12, mean_talk_seconds=540, direct_volume_factor=0.35),
    ]


class AvoidanceConfig(Section):
    """Which reps avoid calls in the simulation, and how hard."""

    share: float = Field(0.12, ge=0, le=1, description="share of reps injected with one or two avoidance behaviours")
    behaviours: list[str] = Field(default_factory=lambda: list(BEHAVIOUR_CODES))
    intensity: float = Field(1.0, gt=0, le=3, description="1.0 = realistic; lower is subtler, higher is blatant")
    max_behaviours_per_rep: int = Field(2, ge=1, le=3)

    @field_validator("behaviours")
    @classmethod
    def _known_behaviours(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(BEHAVIOUR_CODES))
        if unknown:
            raise ValueError(f"unknown behaviour code(s) {unknown}; known: {list(BEHAVIOUR_CODES)}")
        if not value:
            raise ValueError("list at least one behaviour code")
        return value


class ConfounderConfig(Section):
    """Legitimate reasons for odd-looking numbers that cadet must not flag."""

    new_hire_share: float = Field(0.06, ge=0, le=1)
    new_hire_tenure_days: int = Field(45, ge=1, description="a rep hired this recently is a new hire on the first day")
    part_time_share: float = Field(0.12, ge=0, le=1)
    heavy_meetings_share: float = Field(0.04, ge=0, le=1, description="team leads and trainers with daily meetings")
    dnd_accident_share: float = Field(0.04, ge=0, le=1, description="reps with one accidental do-not-disturb hour")
    outages_per_30_days: float = Field(1.0, ge=0, description="site-wide outages when every rep pauses")


class HonestConfig(Section):
    """What every rep does now and then for good reasons, at natural rates (0: never), and how much reps differ.

    The acts an avoider overdoes are also part of honest work: a personal call
    home, a quick status flip, a misrouted caller passed on, a caller sent to
    the card-payment line.  A detector that has only seen them at zero accuses
    the first honest rep who does them.
    """

    personal_calls_per_day: float = Field(0.0, ge=0, description="outbound calls to non-customers per shift")
    toggles_per_day: float = Field(0.0, ge=0, description="pauses shorter than a minute per shift")
    extra_breaks_per_day: float = Field(0.0, ge=0, description="unscheduled 8-20 min breaks per shift")
    tech_pauses_per_day: float = Field(0.0, ge=0, description="genuine technical pauses per shift")
    quick_transfer_share: float = Field(0.01, ge=0, lt=1, description="answered calls passed on within seconds (misrouted)")
    self_service_share: float = Field(0.01, ge=0, lt=1, description="answered calls sent to self-service (payment lines)")
    habit_spread: float = Field(0.0, ge=0, le=1.5, description=(
        "lognormal sigma of how much reps differ in the rates above (0: all reps alike)"))


class SimulationConfig(Section):
    """The simulated contact centre (`cadet simulate`, `cadet demo`): its queues, callers, staffing and who avoids calls."""

    start_date: dt.date = dt.date(2026, 1, 5)
    queues: list[QueueConfig] = Field(default_factory=_default_queues)
    target_occupancy: float = Field(0.78, gt=0.1, lt=1.0, description="share of logged-in time spent on calls")
    ring_timeout_seconds: int = Field(15, ge=5, le=120)
    mean_patience_seconds: float = Field(150, gt=0)
    ivr_self_service_share: float = Field(0.10, ge=0, lt=1)
    ivr_hangup_share: float = Field(0.04, ge=0, lt=1, description="callers who hang up after the IVR menu")
    survey_share: float = Field(0.2, ge=0, le=1, description="share of answered calls with a post-call survey")
    repeat_caller_share: float = Field(0.25, ge=0, lt=1, description="share of calls from callers seen in the last 2 days")
    callback_probability: float = Field(0.6, ge=0, le=1, description="chance an unresolved caller calls back")
    avoidance: AvoidanceConfig = Field(default_factory=AvoidanceConfig)
    confounders: ConfounderConfig = Field(default_factory=ConfounderConfig)
    honest: HonestConfig = Field(default_factory=HonestConfig)

    @model_validator(mode="after")
    def _queues_make_sense(self) -> SimulationConfig:
        names = [q.name for q in self.queues]
        if len(set(names)) != len(names):
            raise ValueError(f"queue names must be unique, got {names}")
        if not any(q.tier == 1 for q in self.queues):
            raise ValueError("at least one tier-1 queue is needed")
        if sum(q.share_of_reps for q in self.queues) <= 0:
            raise ValueError("queue share_of_reps must add up to more than 0")
        return self


def load_world(path: Path | str | None) -> SimulationConfig:
    """A world file (see configs/simulation.yaml); with no path, the built-in defaults."""
    if path is None:
        return SimulationConfig()
    return read_settings_file(path, SimulationConfig, "configs/simulation.yaml")
