"""An isolation forest over peer-normalised window features: reps unlike their peers.

Rules catch what cadet already knows to look for; the forest catches a
combination of metrics that is unlike everyone else's (one metric out of line
while the rest look good).  It sees the robust z-scores of `features.windows`
(each rep against peers on the same queue, shift, contract and tenure), so a
harder queue or a new hire is not unusual by itself.

Conventions (scikit-learn): `__init__` stores parameters, `fit` returns self,
learned state ends in `_`.  One score direction: `anomaly_score` is in [0, 1]
and higher = more suspicious; it is the share of the training rep-windows that
were less unusual.  A feature the source cannot show (all empty) is left out;
a single empty value means "no evidence" and counts as typical (z = 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from features.catalog import feature_names


def default_features() -> list[str]:
    """The z-score of every feature (direction-free: the forest isolates either tail)."""
    return [f"z_{name}" for name in feature_names()]


def _clip(values, limit: float):
    return np.clip(values, -limit, limit)


def _with_extremes(values):
    """Append the largest |z| and the number of |z| above 3: one metric out of line must stand out even among
    thirty ordinary ones, where a forest picking one feature per split would rarely look at it."""
    magnitude = np.abs(values)
    return np.column_stack([values, magnitude.max(axis=1), (magnitude > 3).sum(axis=1)])


def usable_features(X: pd.DataFrame, features=None) -> list[str]:
    """The requested features that have a value for at least one rep-window (the rest the source cannot show)."""
    wanted = list(features) if features is not None else default_features()
    return [c for c in wanted if c in X.columns and X[c].notna().any()]


def too_thin_for_a_model(X: pd.DataFrame, min_reps: int, features=None) -> str | None:
    """Why no model can be trained on `X`, in one line; None when it can.

    An isolation forest over peer z-scores needs peers: with a handful of reps
    every rep is "unusual", so cadet scores such a center by its rules alone.
    """
    usable = usable_features(X, features)
    compared = int(X.loc[X[usable].notna().any(axis=1), "rep_id"].nunique()) if usable and len(X) else 0
    if compared >= min_reps:
        return None
    return (f"{compared} rep(s) could be compared with peers (a model needs at least {min_reps}): "
            "no model is trained and the rules alone score")


class RepAnomalyModel(BaseEstimator):
    """Isolation forest on clipped peer z-scores; `anomaly_score` in [0, 1], higher = more suspicious."""

    def __init__(self, features=None, n_estimators=200, max_samples="auto", clip_z=8.0, random_state=0):
        self.features = features
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.clip_z = clip_z
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y=None) -> "RepAnomalyModel":
        wanted = list(self.features) if self.features is not None else default_features()
        # Features the source cannot show are empty everywhere: leave them out rather than pretend.
        self.features_in_ = usable_features(X, wanted)
        self.not_observable_ = [c for c in wanted if c not in self.features_in_]
        if not self.features_in_:
            raise ValueError("no usable features: every requested feature is missing or empty")
        self.pipeline_ = Pipeline([
            ("clip", FunctionTransformer(_clip, kw_args={"limit": self.clip_z})),
            ("typical_when_unknown", SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True)),
            ("extremes", FunctionTransformer(_with_extremes)),
            ("forest", IsolationForest(n_estimators=self.n_estimators, max_samples=self.max_samples,
                                       random_state=self.random_state)),
        ])
        matrix = self._matrix(X)
        self.pipeline_.fit(matrix)
        self.train_raw_ = np.sort(self._raw(matrix))
        # What the training data looked like, so a successor can tell how far its data drifted.
        self.feature_medians_ = {c: float(np.nanmedian(X[c])) for c in self.features_in_}
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The anomaly score (so MLflow's generic model flavour serves scores, not +1/-1 labels)."""
        return self.anomaly_score(X)

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.features_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"the table lacks features the model was trained on: {missing}")
        return X[self.features_in_].to_numpy(dtype="float64")

    def _raw(self, matrix: np.ndarray) -> np.ndarray:
        """Higher = more isolated (the forest's own score, negated)."""
        return -self.pipeline_.score_samples(matrix)

    def anomaly_score(self, X: pd.DataFrame) -> np.ndarray:
        """Share of training rep-windows less unusual than each row: in [0, 1], higher = more suspicious."""
        raw = self._raw(self._matrix(X))
        return np.searchsorted(self.train_raw_, raw, side="left") / len(self.train_raw_)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """How much each feature drove each row's score: the drop in isolation when that feature is set to typical.

        A leave-one-out attribution (one column at a time back to z = 0, the
        peer median); positive = the feature made the rep look unusual.
        """
        matrix = self._matrix(X)
        base = self._raw(matrix)
        out = {}
        for j, name in enumerate(self.features_in_):
            neutral = matrix.copy()
            neutral[:, j] = 0.0
            out[name.removeprefix("z_")] = base - self._raw(neutral)
        return pd.DataFrame(out, index=X.index)

    def top_contributors(self, X: pd.DataFrame, k: int = 3) -> list[list[str]]:
        """The k features that drove each row's score most, strongest first (only those that pushed it up)."""
        contrib = self.contributions(X)
        tops = []
        for _, row in contrib.iterrows():
            ranked = row[row > 0].sort_values(ascending=False)
            tops.append(list(ranked.index[:k]))
        return tops
