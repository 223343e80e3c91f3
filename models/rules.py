"""Explained rule checks over rep x window features (configured in `configs/rules.yaml`).

A rule names one behaviour code and one feature, and fires when the rep's
window value is at least `min_value` AND at least `min_z` robust z-scores
above peers, with enough evidence behind it (calls, shift hours) and on
enough separate days (a pattern, not one bad day).  A hit seen on fewer than
`sustained_days` days, or with less than twice the minimum evidence, is
downgraded to `low` and says so: thin data is a watch item, not an accusation.  Optional `context`
conditions encode the expert's "one metric out of line while the others look
good" (e.g. cherry-picking: high skip share on repeat callers AND CSAT not
below peers).  A rule whose features the source cannot show reports itself as
not observable instead of judging anyone.

Rules follow scikit-learn's estimator conventions (`__init__` stores
parameters, `fit` returns self, learned state ends in `_`), so they can be
cloned, configured with `set_params` and tested like estimators.  A rule's one
parameter is its `RuleSpec`, the validated entry of rules.yaml, so the fields
and their defaults are declared once.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from features.catalog import DERIVED, FEATURES_BY_NAME, OBSERVABLE_FROM, evidence_of, needs_of
from models.rule_specs import SEVERITIES, Condition, RulesConfig, RuleSpec

# A hit is a case on its own only when chance at the peers' rate is below one in a million; only a count can say
# that (a few long pauses make minutes per hour jump), so durations and ratios always need corroboration.
OVERWHELMING_CHANCE = 1e-6
HIT_COLUMNS = [
    "rep_id", "period_start", "period_end", "rule_id", "code", "severity", "feature", "value", "peer_median", "z",
    "threshold", "days_seen", "days_active", "peer_group", "n_peers", "evidence", "examples", "overwhelming",
]


class Rule(BaseEstimator):
    """A rule check; see the module docstring.  `predict` gives hits, `explain` their evidence."""

    def __init__(self, spec: RuleSpec):
        self.spec = spec

    def fit(self, X: pd.DataFrame, y=None, observable: dict[str, bool] | None = None) -> Rule:
        """Check the features exist and record whether the source can show them."""
        features = [self.spec.feature, *[c.feature for c in self.spec.context]]
        missing = [f for f in features if f not in X.columns]
        if missing:
            raise ValueError(f"rule {self.spec.id}: features {missing} are not in the feature table")
        self.feature_names_in_ = np.array(features, dtype=object)
        # The rule stands on its own feature; a context the source cannot show is skipped (and the hit says so).
        needs = sorted(needs_of(self.spec.feature))
        shown = observable if observable is not None else {n: bool(X[self.spec.feature].notna().any()) for n in needs}
        self.not_observable_ = [n for n in needs if not shown.get(n, False)]
        self.superseded_ = False  # set by RuleSet when the rule it stands in for can judge
        self.context_not_observable_ = [c.feature for c in self.spec.context
                                        if any(not shown.get(n, bool(X[c.feature].notna().any())) for n in needs_of(c.feature))]
        return self

    @property
    def observable_(self) -> bool:
        return not self.not_observable_

    def threshold(self, X: pd.DataFrame) -> pd.Series:
        """The value each rep must reach: the larger of `min_value` and peer median + `min_z` spreads."""
        limit = pd.Series(-np.inf, index=X.index)
        if self.spec.min_value is not None:
            limit = np.maximum(limit, self.spec.min_value)
        if self.spec.min_z is not None:
            z, value = X[f"z_{self.spec.feature}"], X[self.spec.feature]
            with np.errstate(divide="ignore", invalid="ignore"):
                spread = (value - X[f"peer_{self.spec.feature}"]) / z
            limit = np.maximum(limit, X[f"peer_{self.spec.feature}"] + self.spec.min_z * spread.where(np.isfinite(spread)))
        return limit

    def predict(self, X: pd.DataFrame) -> pd.Series:
        """True where the window features satisfy every condition and the evidence minimums (days not yet counted)."""
        check_is_fitted(self, "feature_names_in_")
        if not self.observable_ or self.superseded_:
            return pd.Series(False, index=X.index)
        value = X[self.spec.feature]
        hit = value.notna()
        if self.spec.min_value is not None:
            hit &= value >= self.spec.min_value
        if self.spec.min_z is not None:
            hit &= X[f"z_{self.spec.feature}"].fillna(-np.inf) >= self.spec.min_z
        for cond in self.spec.context:
            hit &= _holds(X, cond)
        for column, minimum in (self.spec.min_evidence or {}).items():
            hit &= X[column].fillna(0) >= minimum
        chance = self.chance(X)
        if chance is not None:
            hit &= chance.fillna(1.0) <= self.spec.max_chance
        return hit

    def chance(self, X: pd.DataFrame) -> pd.Series | None:
        """How likely the rep's event count is at the peers' rate: P(N >= count), N ~ Poisson(rate x exposure).

        The rate is the peer median, and at least the feature's smallest
        spread (a centre where most reps have none still has chance events).
        None when the feature does not count events or the sums are absent.
        """
        counted = FEATURES_BY_NAME.get(self.spec.feature)
        if counted is None or not counted.counts_events or counted.numerator not in X or counted.denominator not in X:
            return None
        from scipy.stats import poisson  # here, not at the top: every command loads the rules' settings, few check them

        rate = np.maximum(X[f"peer_{self.spec.feature}"].fillna(0.0), counted.spread) / counted.scale
        expected = rate * X[counted.denominator].astype("float64")
        count = X[counted.numerator].astype("float64")
        return pd.Series(poisson.sf(np.ceil(count) - 1, expected), index=X.index)

    def explain(self, X: pd.DataFrame, daily: pd.DataFrame, evidence: pd.DataFrame | None = None,
                lookup: EvidenceLookup | None = None) -> pd.DataFrame:
        """Hits with their numbers, days seen and up to five example call ids."""
        lookup = lookup or EvidenceLookup(daily, evidence)
        hit = self.predict(X)
        rows = X[hit]
        if rows.empty:
            return pd.DataFrame(columns=HIT_COLUMNS)
        limits = self.threshold(X)[hit]
        days_seen = self._days_seen(rows, limits, lookup)
        keep = days_seen >= self.spec.min_days
        rows, limits, days_seen = rows[keep], limits[keep], days_seen[keep]
        evidence_name, _ = evidence_of(self.spec.feature)
        examples = lookup.examples_for(rows, self.spec.examples)
        chance = self.chance(rows)
        out = []
        for (i, row), example_calls in zip(rows.iterrows(), examples):
            fields = {
                "rep": row.rep_id, "value": row[self.spec.feature], "peer_median": _num(row[f"peer_{self.spec.feature}"]),
                "z": _num(row[f"z_{self.spec.feature}"]), "threshold": _num(limits[i]), "days_seen": int(days_seen[i]),
                "days_active": int(row.days_active), "peer_group": row.peer_group, "n_peers": int(row.n_peers),
                "evidence_count": float(row[evidence_name]), "evidence_name": evidence_name,
            }
            solid = days_seen[i] >= self.spec.sustained_days and all(
                float(row[column]) >= 2 * minimum for column, minimum in (self.spec.min_evidence or {}).items()
            )
            text = self.spec.evidence.format(**fields)
            if self.context_not_observable_:
                text += (f" Not checked, because this source cannot show it: {', '.join(self.context_not_observable_)}.")
            if not solid:
                text += (f" Thin evidence ({fields['days_seen']} days, {fields['evidence_count']:.0f} {evidence_name}):"
                         " a watch item, not a finding on its own.")
            if self.spec.lenient_for_new_hires and bool(row.get("new_hire", False)):
                solid = False
                text += " New hire, compared with new hires: slower work is expected while learning; a watch item."
            out.append({
                "rep_id": row.rep_id, "period_start": row.period_start, "period_end": row.period_end,
                "rule_id": self.spec.id, "code": self.spec.code, "severity": self.spec.severity if solid else "low",
                "feature": self.spec.feature,
                "value": float(row[self.spec.feature]), "peer_median": fields["peer_median"], "z": fields["z"],
                "threshold": fields["threshold"], "days_seen": fields["days_seen"], "days_active": fields["days_active"],
                "peer_group": row.peer_group, "n_peers": fields["n_peers"],
                "evidence": text,
                "examples": example_calls,
                "overwhelming": bool(solid and np.isfinite(fields["z"]) and fields["z"] >= self.spec.overwhelming_z
                                     and chance is not None and chance.loc[i] <= OVERWHELMING_CHANCE),
            })
        return pd.DataFrame(out, columns=HIT_COLUMNS)

    def _days_seen(self, rows: pd.DataFrame, limits: pd.Series, lookup: EvidenceLookup) -> pd.Series:
        """Days in the window on which the rep's own daily value crossed the rep's threshold.

        The robust miss rate counts days by the plain miss rate; a derived
        feature counts the days with any of its evidence (e.g. a skipped repeat caller).
        """
        name = "miss_rate" if self.spec.feature == "miss_rate_excl_worst_day" else self.spec.feature
        days = lookup.days_of(rows.rep_id)
        if name in FEATURES_BY_NAME:
            days = days.assign(_value=FEATURES_BY_NAME[name].value(days))
        else:
            days = days.assign(_value=np.where(days[FEATURES_BY_NAME[DERIVED[name].parts[0]].numerator] > 0, np.inf, -np.inf))
        wanted = pd.DataFrame({"rep_id": rows.rep_id.to_numpy(), "start": rows.period_start.to_numpy(),
                               "end": rows.period_end.to_numpy(), "limit": limits.to_numpy(), "_hit": rows.index})
        joined = wanted.merge(days[["rep_id", "day", "_value"]], on="rep_id")
        inside = (joined.day >= joined.start) & (joined.day <= joined.end) & (joined._value >= joined.limit)
        return joined[inside].groupby("_hit").size().reindex(rows.index, fill_value=0)


class EvidenceLookup:
    """Daily rows and example calls, indexed once for all rules."""

    def __init__(self, daily: pd.DataFrame, evidence: pd.DataFrame | None):
        self._daily = daily.reset_index(drop=True)
        self._evidence = evidence if evidence is not None else pd.DataFrame(columns=["rep_id", "day", "kind", "call_id", "magnitude"])

    def days_of(self, reps: pd.Series) -> pd.DataFrame:
        return self._daily[self._daily.rep_id.isin(set(reps))]

    def examples_for(self, rows: pd.DataFrame, kind: str | None, limit: int = 5) -> list[list[str]]:
        """Up to `limit` example call ids per hit row, the most telling first."""
        if not kind or self._evidence.empty:
            return [[] for _ in range(len(rows))]
        mine = self._evidence[(self._evidence.kind == kind) & self._evidence.rep_id.isin(set(rows.rep_id))]
        wanted = pd.DataFrame({"rep_id": rows.rep_id.to_numpy(), "start": rows.period_start.to_numpy(),
                               "end": rows.period_end.to_numpy(), "_hit": np.arange(len(rows))})
        joined = wanted.merge(mine, on="rep_id")
        joined = joined[(joined.day >= joined.start) & (joined.day <= joined.end)]
        joined = joined.sort_values(["_hit", "magnitude", "call_id"], ascending=[True, False, True])
        picked = joined.groupby("_hit").head(limit).groupby("_hit").call_id.agg(list)
        return [picked.get(i, []) for i in range(len(rows))]


def _num(value) -> float:
    return float(value) if value is not None and not (isinstance(value, float) and math.isnan(value)) else float("nan")


def _holds(X: pd.DataFrame, cond: Condition) -> pd.Series:
    value, z = X[cond.feature], X[f"z_{cond.feature}"]
    ok = pd.Series(True, index=X.index)
    if cond.min_value is not None:
        ok &= value >= cond.min_value
    if cond.max_value is not None:
        ok &= value <= cond.max_value
    if cond.min_z is not None:
        ok &= z >= cond.min_z
    if cond.max_z is not None:
        ok &= z <= cond.max_z
    # A context feature the source cannot show does not block the rule: it only ever adds a doubt.
    return ok | value.isna()


class RuleSet(BaseEstimator):
    """All configured rules together."""

    def __init__(self, rules=()):
        self.rules = rules

    @classmethod
    def from_config(cls, config: RulesConfig) -> RuleSet:
        return cls(rules=tuple(Rule(spec) for spec in config.rules))

    def fit(self, X: pd.DataFrame, y=None, observable: dict[str, bool] | None = None) -> RuleSet:
        self.rules_ = [clone(rule).fit(X, observable=observable) for rule in self.rules]
        judging = {r.spec.id for r in self.rules_ if r.observable_}
        for rule in self.rules_:
            rule.superseded_ = bool(rule.spec.fallback_for) and rule.spec.fallback_for in judging
        return self

    def not_observable(self) -> pd.DataFrame:
        """Rules that cannot judge anyone from this source, and what the source is missing."""
        check_is_fitted(self, "rules_")
        rows = [{"rule_id": r.spec.id, "code": r.spec.code, "feature": r.spec.feature,
                 "missing": "; ".join(OBSERVABLE_FROM[n] for n in r.not_observable_)}
                for r in self.rules_ if r.not_observable_]
        return pd.DataFrame(rows, columns=["rule_id", "code", "feature", "missing"])

    def evaluate(self, X: pd.DataFrame, daily: pd.DataFrame, evidence: pd.DataFrame | None = None) -> pd.DataFrame:
        """Every hit of every rule, most severe first."""
        check_is_fitted(self, "rules_")
        lookup = EvidenceLookup(daily, evidence)
        hits = [rule.explain(X, daily, evidence, lookup) for rule in self.rules_ if rule.observable_]
        hits = [h for h in hits if len(h)]
        if not hits:
            return pd.DataFrame(columns=HIT_COLUMNS)
        out = pd.concat(hits, ignore_index=True)
        out["_rank"] = out.severity.map({s: i for i, s in enumerate(SEVERITIES)})
        return out.sort_values(["_rank", "z"], ascending=[False, False]).drop(columns="_rank").reset_index(drop=True)
