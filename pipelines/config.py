"""cadet settings: one pydantic model per section, loaded from YAML.

Every value has a default that works, so cadet runs with no file at all;
`configs/cadet.yaml` spells the same defaults out for people to copy and edit.
An invalid file is rejected with the dotted key and the reason.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.catalog import BEHAVIOUR_CODES
from features.settings import FeatureSettings
from models.combine import ScoringSettings
from models.promotion import TrainingSettings
from models.review import ReviewSettings
from models.rules import RulesConfig

CONFOUNDER_TYPES: tuple[str, ...] = (
    "harder_queue",
    "new_hire",
    "part_time",
    "dnd_accident",
    "heavy_meetings",
)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteConfig(Section):
    """The contact center's site: its name and the zone its clocks run in."""

    name: str = "main"
    timezone: str = Field("UTC", description="IANA zone of the site, used for opening hours and peak hours")
    allotted_wrapup_seconds: int = Field(60, ge=0, description="after-call work each call is allowed")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/Paris'") from exc
        return value


class QueueConfig(Section):
    """One queue (skill) of the simulated center."""

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
    """The simulated contact center (`cadet simulate`)."""

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


class AsteriskIngestConfig(Section):
    """How to read an Asterisk center's conventions from its logs."""

    ring_timeout_seconds: int = Field(15, ge=1, description="the queue's ring timeout; a shorter ring-no-answer is a decline")
    wrapup_pause_reasons: list[str] = Field(default_factory=lambda: ["ACW"], description="pause reasons that mean after-call work")
    self_service_extensions: list[str] = Field(default_factory=lambda: ["selfservice"], description="transfer targets that are the IVR")
    tier2_queues: list[str] = Field(default_factory=lambda: ["tier2"], description="queues a transfer to which is an escalation")
    ivr_self_service_min_seconds: int = Field(30, ge=0, description="an IVR-only call longer than this was served by the IVR")
    merge_interfaces: bool = Field(True, description="one rep per number: Agent/1141, Local/1141@ctx/n, PJSIP/1141 and SIP/1141 are the same person")
    rep_aliases: dict[str, str] = Field(default_factory=dict, description="queue_log member names to the rep id they stand for")
    internal_number_max_digits: int = Field(5, ge=0, description="a dialled number this short is an extension (an internal call)")


class ConnectIngestConfig(Section):
    """How to read an Amazon Connect instance's conventions from its exports."""

    survey_attribute: str = Field("csat", description="contact attribute that holds the post-call survey score (1-5)")
    tier2_queues: list[str] = Field(default_factory=lambda: ["tier2"], description="queues a transfer to which is an escalation")
    self_service_numbers: list[str] = Field(default_factory=list,
                                            description="external numbers (E.164) a transfer to which sends the caller to self-service")
    supervisors: list[str] = Field(default_factory=list, description="usernames that are supervisors or team leads, not reps")
    available_status_names: list[str] = Field(default_factory=lambda: ["Available"],
                                              description="agent status names that mean routable, when a snapshot has no status Type")
    offline_status_names: list[str] = Field(default_factory=lambda: ["Offline"],
                                            description="agent status names that mean logged out, when a snapshot has no status Type")


class IngestConfig(Section):
    """`cadet ingest`: per-platform conventions."""

    asterisk: AsteriskIngestConfig = Field(default_factory=AsteriskIngestConfig)
    connect: ConnectIngestConfig = Field(default_factory=ConnectIngestConfig)


class ReportConfig(Section):
    """`cadet report`: what the analyst's page shows."""

    max_rep_sections: int = Field(100, ge=1, description="flagged reps that get a section of their own, highest first")
    worst_days: int = Field(2, ge=1, le=7, description="days shown on each flagged rep's timeline")


class CadetConfig(Section):
    """All of cadet's settings."""

    site: SiteConfig = Field(default_factory=SiteConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    report: ReportConfig = Field(default_factory=ReportConfig)
    rules_file: str | None = Field(None, description="rule checks (YAML); empty = the rules.yaml shipped with cadet")
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)


class ConfigError(ValueError):
    """A settings file that cannot be used; the message names the file, key and reason."""


def load_config(path: Path | str | None) -> CadetConfig:
    """Read a YAML settings file; with no path, the built-in defaults."""
    if path is None:
        return CadetConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read settings file ({exc.strerror})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top, got {type(raw).__name__}")
    try:
        return CadetConfig.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(part) for part in err["loc"]) or "(top level)"
            reason = err["msg"]
            if err["type"] == "extra_forbidden":
                reason = "unknown key (check the spelling against configs/cadet.yaml)"
            problems.append(f"  {key}: {reason}")
        raise ConfigError(f"{path}: invalid settings\n" + "\n".join(problems)) from exc


def config_as_yaml(config: CadetConfig) -> str:
    """The settings as YAML, in the same shape `load_config` reads."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def bundled_rules_path() -> Path:
    """configs/rules.yaml of this checkout, or the copy packaged with an installed cadet."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "configs" / "rules.yaml", here / "_configs" / "rules.yaml"):
        if candidate.exists():
            return candidate
    raise ConfigError("cadet's rules.yaml is missing from this installation; pass one with rules_file in the settings")


def load_rules(config: CadetConfig, settings_path: Path | str | None = None) -> RulesConfig:
    """The rule checks named by the settings (relative paths are read next to the settings file)."""
    if config.rules_file is None:
        path = bundled_rules_path()
    else:
        path = Path(config.rules_file)
        if not path.is_absolute() and settings_path is not None:
            path = Path(settings_path).parent / path
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read rules file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return RulesConfig.model_validate(raw or {})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = list(err["loc"])
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int) and isinstance(raw, dict):
                try:
                    loc[1] = f"{loc[1]} ({raw['rules'][loc[1]].get('id', '?')})"
                except (IndexError, AttributeError, KeyError, TypeError):
                    pass
            key = ".".join(str(part) for part in loc) or "(top level)"
            reason = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"  {key}: {reason}")
        raise ConfigError(f"{path}: invalid rules\n" + "\n".join(problems)) from exc


class Settings(BaseModel):
    """Everything one command runs with: the settings file and the rules it names, read once and passed down whole.

    Frozen, so no stage can change what another sees; `file` is where they came
    from (None: the built-in defaults), for messages and for MLflow.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: CadetConfig = Field(default_factory=CadetConfig)
    rules: RulesConfig
    file: str | None = None


def load_settings(path: Path | str | None) -> Settings:
    """The settings file (or the defaults) and its rules file, each checked, as one object."""
    config = load_config(path)
    return Settings(config=config, rules=load_rules(config, path), file=str(path) if path is not None else None)


def settings_of(given: Settings | Path | str | None) -> Settings:
    """A flow's `settings` parameter: the settings already loaded (a parent flow's), or the file to load them from."""
    return given if isinstance(given, Settings) else load_settings(given)
