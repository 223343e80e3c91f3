"""cadet settings: one pydantic model per section, loaded from YAML.

Every value has a default that works, so cadet runs with no file at all;
`configs/cadet.yaml` spells the same defaults out for people to copy and edit.
An invalid file is rejected with the dotted key and the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from features.settings import FeatureSettings
from models.combine import ScoringSettings
from models.promotion import TrainingSettings
from models.review import ReviewSettings
from models.rule_specs import RulesConfig


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
    lines_per_unit: int = Field(500_000, ge=1, description="queue_log lines read, rebuilt and landed at a time: "
                                "an ingest's memory follows this, not the size of its files")
    read_ahead: bool = Field(True, description="read the next work unit while one is rebuilt and landed: faster on "
                             "two cores or more, for one more unit's inputs in memory")


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


SettingsModel = TypeVar("SettingsModel", bound=BaseModel)


class ConfigError(ValueError):
    """A settings file that cannot be used; the message names the file, key and reason."""


MOVED_SECTIONS = {
    "simulation": "the simulated centre's settings are not cadet's: move this section's keys to a file of their own "
                  "(see configs/simulation.yaml) and pass it with `cadet simulate --world FILE` or `cadet demo --world FILE`",
}


def load_config(path: Path | str | None) -> CadetConfig:
    """Read a YAML settings file; with no path, the built-in defaults."""
    if path is None:
        return CadetConfig()
    return read_settings_file(path, CadetConfig, "configs/cadet.yaml", MOVED_SECTIONS)


def read_settings_file(path: Path | str, model: type[SettingsModel], example: str,
                       moved: dict[str, str] | None = None) -> SettingsModel:
    """A YAML file validated by `model`; any problem is a ConfigError naming the file, each dotted key and the reason."""
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
    gone = [f"  {key}: {why}" for key, why in (moved or {}).items() if key in raw]
    if gone:
        raise ConfigError(f"{path}: invalid settings\n" + "\n".join(gone))
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(part) for part in err["loc"]) or "(top level)"
            reason = err["msg"]
            if err["type"] == "extra_forbidden":
                reason = f"unknown key (check the spelling against {example})"
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
