"""What a rule is, as written in `configs/rules.yaml`: its behaviour code, feature, thresholds and evidence text.

Validated by pydantic when the settings are read, apart from the estimators
that apply them (`models.rules`), so reading the settings loads neither
scikit-learn nor SciPy: every cadet command reads them, few run the rules.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from features.catalog import BEHAVIOUR_CODES, feature_names


class Severity(StrEnum):
    """How strongly a hit points at avoidance, weakest first (the order hits are ranked in)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


SEVERITIES = tuple(Severity)


def _a_known_feature(value: str) -> str:
    if value not in feature_names():
        raise ValueError(f"unknown feature {value!r}; known: {feature_names()}")
    return value


FeatureName = Annotated[str, AfterValidator(_a_known_feature)]  # a feature of features.catalog, by name


class Condition(BaseModel):
    """An extra condition on another feature; all must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    feature: FeatureName
    min_value: float | None = None
    max_value: float | None = None
    min_z: float | None = None
    max_z: float | None = None


class RuleSpec(BaseModel):
    """One rule as written in rules.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9_.-]+$")
    code: str
    feature: FeatureName
    min_value: float | None = None
    min_z: float | None = None
    context: list[Condition] = Field(default_factory=list)
    min_evidence: dict[str, float] = Field(default_factory=dict, description="window sums that must reach these values")
    min_days: int = Field(2, ge=1, description="days in the window on which the daily value crossed the threshold")
    sustained_days: int = Field(3, ge=1, description="below this many days, or below twice min_evidence, the hit is only 'low'")
    lenient_for_new_hires: bool = Field(False, description="new hires are legitimately slower: their hits are only 'low'")
    max_chance: float = Field(0.001, gt=0, le=1, description=(
        "for a feature that counts events: the largest chance that the rep's count arises at the peers' rate "
        "(a Poisson tail, at least one spread's worth of rate), so a handful of events is never a finding"))
    overwhelming_z: float = Field(8.0, gt=0, description=(
        "a sustained hit this many robust z above peers, with twice the minimum evidence and a count chance cannot "
        "explain (below one in a million), is a case on its own; otherwise one behaviour in one window is a watch item"))
    severity: Literal["low", "medium", "high"] = "medium"
    evidence: str
    examples: str | None = Field(None, description="kind of example calls to attach (features.daily.EVIDENCE_KINDS)")
    fallback_for: str | None = Field(None, description=(
        "id of a stronger rule this one stands in for: it judges only where that rule's evidence is not observable"))

    @field_validator("code")
    @classmethod
    def _known_code(cls, value: str) -> str:
        if value not in BEHAVIOUR_CODES:
            raise ValueError(f"unknown behaviour code {value!r}; known: {list(BEHAVIOUR_CODES)}")
        return value

    @model_validator(mode="after")
    def _has_threshold_and_renders(self) -> RuleSpec:
        if self.min_value is None and self.min_z is None:
            raise ValueError("give min_value, min_z or both")
        try:
            self.evidence.format(**_sample_fields())
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"evidence template cannot be filled: {exc!r}; fields: {sorted(_sample_fields())}") from exc
        return self


class RulesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rules: list[RuleSpec]

    @model_validator(mode="after")
    def _unique_ids(self) -> RulesConfig:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule ids must be unique, repeated: {dupes}")
        unknown = sorted({r.fallback_for for r in self.rules if r.fallback_for and r.fallback_for not in ids})
        if unknown:
            raise ValueError(f"fallback_for names no rule: {unknown}")
        return self


def _sample_fields() -> dict:
    return {"rep": "r", "value": 0.5, "peer_median": 0.1, "z": 3.0, "threshold": 0.2, "days_seen": 3, "days_active": 5,
            "peer_group": "g", "n_peers": 10, "evidence_count": 100.0, "evidence_name": "offers"}
