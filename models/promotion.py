"""Promotion gates: may a newly trained model replace the champion?

Pure: two fitted models, the training windows and the analysts' verdicts in,
a list of gates (each passed or not, with its number, its limit and the reason
in words) out.

- score stability: Spearman of candidate vs champion scores on the newest window;
- feature drift: no feature's median z moved further than the bound;
- confirmed flags: of the k rep-windows the candidate finds most unusual (k =
  confirmed flags in the training range), the share analysts confirmed must not
  fall more than `review.max_confirmed_drop` below the champion's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from models.review import ReviewSettings, confirmed_precision

if TYPE_CHECKING:  # the settings are read by every command; the model's libraries only by those that train
    from models.anomaly import RepAnomalyModel


class TrainingSettings(BaseModel):
    """The model's parameters and the promotion gates."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    n_estimators: int = Field(200, ge=10, description="trees in the isolation forest")
    random_state: int = Field(0, description="seed, so a retraining on the same data gives the same model")
    null_rows: int = Field(20000, ge=1000, description="rep-windows of the shuffled null centre the anomaly score is calibrated on")
    min_score_stability: float = Field(0.7, ge=-1, le=1, description="Spearman of candidate vs champion scores on the newest window")
    max_feature_drift: float = Field(0.75, gt=0, description="largest allowed move of a feature's median z between trainings")
    min_reps: int = Field(8, ge=2, description="reps with peer-compared features needed before a model is trained")


@dataclass
class Gate:
    name: str
    passed: bool
    value: float | None
    limit: float | None
    reason: str


def promotion_gates(candidate: RepAnomalyModel, champion: RepAnomalyModel | None, newest: pd.DataFrame,
                    settings: TrainingSettings, windows: pd.DataFrame | None = None, verdicts: pd.DataFrame | None = None,
                    review: ReviewSettings | None = None) -> list[Gate]:
    """Whether the candidate may replace the champion, gate by gate, each with its reason.

    `windows` (the training rep-windows) and `verdicts` (analysts' verdicts) feed
    the confirmed-flags gate.
    """
    review = review or ReviewSettings()
    if champion is None:
        return [Gate("first model", True, None, None, "no champion yet: the first model is promoted")]
    gates = []
    shared = [c for c in candidate.features_in_ if c in champion.features_in_]
    if len(newest) >= 3 and all(c in newest for c in champion.features_in_ + candidate.features_in_):
        from scipy.stats import spearmanr

        rho = float(spearmanr(candidate.anomaly_score(newest), champion.anomaly_score(newest)).statistic)
        gates.append(Gate("score stability", rho >= settings.min_score_stability, rho, settings.min_score_stability,
                          f"candidate and champion rank the newest window's reps with Spearman {rho:.2f}"))
    else:
        gates.append(Gate("score stability", True, None, settings.min_score_stability,
                          "too few rep-windows to compare rankings; not blocking"))
    drift = {c: abs(candidate.feature_medians_[c] - champion.feature_medians_[c]) for c in shared}
    worst = max(drift, key=lambda c: drift[c]) if drift else None
    value = drift[worst] if worst else 0.0
    gates.append(Gate("feature drift", value <= settings.max_feature_drift, value, settings.max_feature_drift,
                      f"largest shift of a feature's median z: {value:.2f} ({worst})" if worst else "no shared features"))
    gates.append(_confirmed_gate(candidate, champion, windows, verdicts, review))
    return gates


def _confirmed_gate(candidate: RepAnomalyModel, champion: RepAnomalyModel, windows: pd.DataFrame | None,
                    verdicts: pd.DataFrame | None, review: ReviewSettings) -> Gate:
    """The candidate must find the analysts' confirmed flags about as well as the champion does."""
    if windows is None or verdicts is None or verdicts.empty:
        return Gate("confirmed flags", True, None, None, "no analyst verdicts recorded yet (`cadet review`); not blocking")
    mine = confirmed_precision(windows, candidate.anomaly_score(windows), verdicts)
    if mine is None:
        return Gate("confirmed flags", True, None, None, "no confirmed flag falls in the training range; not blocking")
    # the same confirmed flags fall in the range for both models, so the champion's share exists too
    theirs, k = confirmed_precision(windows, champion.anomaly_score(windows), verdicts) or (0.0, mine[1])
    value, limit = mine[0], theirs - review.max_confirmed_drop
    return Gate("confirmed flags", value >= limit, value, limit,
                f"of the {k} rep-windows it finds most unusual, {value:.0%} are analyst-confirmed flags "
                f"(champion: {theirs:.0%}; allowed drop {review.max_confirmed_drop:.0%})")
