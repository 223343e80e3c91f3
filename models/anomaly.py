"""An isolation forest over peer-normalised window features: reps unlike their peers.

Rules catch what cadet already knows to look for; the forest catches a
combination of metrics that is unlike everyone else's (one metric out of line
while the rest look good).  It sees the robust z-scores of `features.windows`
(each rep against peers on the same queue, shift, contract and tenure), so a
harder queue or a new hire is not unusual by itself.

How unusual is unusual: the score is calibrated against a null centre built
from the centre's own rep-windows, each feature shuffled across them on its
own (features that move together in this centre, like two measures of one
habit, are shuffled as one block).  The null keeps every feature's spread
(its honest tails included) and breaks the links between unrelated habits,
so a rep scores high only when its combination of metrics is rarer than
chance pairings of the centre's own values produce.  A percentile among the
real rep-windows would put the top of any centre on a list, even one where
nobody avoids calls.

Conventions (scikit-learn): `__init__` stores parameters, `fit` returns self,
learned state ends in `_`.  One score direction: `anomaly_score` is in [0, 1]
and higher = more suspicious; it is the share of null rep-windows that were
less unusual.  A feature the source cannot show (all empty) is left out; a
single empty value means "no evidence" and counts as typical (z = 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import check_is_fitted

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


def linked_blocks(matrix: np.ndarray, linked_at: float) -> list[np.ndarray]:
    """Groups of columns that move together in this centre (|Spearman| >= `linked_at`, chained).

    Two measures of one habit (the miss rate with and without the worst day)
    are one piece of evidence; the null shuffles them as one.
    """
    n = matrix.shape[1]
    if n == 0:
        return []
    filled = np.where(np.isfinite(matrix), matrix, 0.0)
    ranks = pd.DataFrame(filled).rank().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.abs(np.corrcoef(ranks, rowvar=False)) if len(matrix) > 2 else np.eye(n)
    corr = np.nan_to_num(np.atleast_2d(corr), nan=0.0)
    _, block = connected_components(csr_matrix(corr >= linked_at), directed=False)
    return [np.flatnonzero(block == b) for b in np.unique(block)]


def null_centre(matrix: np.ndarray, rows: int, random_state: int, linked_at: float = 0.5) -> np.ndarray:
    """At least `rows` rep-windows made of the centre's own values, each block of linked columns shuffled on its own.

    Every real value appears equally often, so the null has the centre's
    tails and the links between measures of one habit; only the pairing of
    unrelated habits is left to chance.
    """
    copies = max(1, -(-int(rows) // max(len(matrix), 1)))
    tiled = np.tile(matrix, (copies, 1))
    rng = np.random.default_rng(random_state)
    out = np.empty_like(tiled)
    for columns in linked_blocks(matrix, linked_at):
        out[:, columns] = tiled[rng.permutation(len(tiled))][:, columns]
    return out


class RepAnomalyModel(BaseEstimator):
    """Isolation forest on clipped peer z-scores; scores in [0, 1], higher = more suspicious.

    In PyOD's idiom: `decision_function(X)` scores new rows and
    `decision_scores_` holds the training rows' scores, both in the one
    direction cadet uses; `anomaly_score` is the domain's name for the same.
    """

    def __init__(self, features=None, n_estimators=200, max_samples="auto", clip_z=8.0, null_rows=20000, linked_at=0.5,
                 random_state=0):
        self.features = features
        self.null_rows = null_rows
        self.linked_at = linked_at
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.clip_z = clip_z
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y=None) -> RepAnomalyModel:
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
        self.null_raw_ = np.sort(self._raw(null_centre(matrix, self.null_rows, self.random_state, self.linked_at)))
        # What the training data looked like, so a successor can tell how far its data drifted.
        self.feature_medians_ = {c: float(np.nanmedian(X[c])) for c in self.features_in_}
        self.decision_scores_ = self.decision_function(X)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The anomaly score (so MLflow's generic model flavour serves scores, not +1/-1 labels)."""
        return self.anomaly_score(X)

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        missing = [c for c in self.features_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"the table lacks features the model was trained on: {missing}")
        return X[self.features_in_].to_numpy(dtype="float64")

    def _raw(self, matrix: np.ndarray) -> np.ndarray:
        """Higher = more isolated (the forest's own score, negated)."""
        return -self.pipeline_.score_samples(matrix)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Share of null rep-windows less unusual than each row: in [0, 1], higher = more suspicious."""
        raw = self._raw(self._matrix(X))
        return np.searchsorted(self.null_raw_, raw, side="left") / len(self.null_raw_)

    def anomaly_score(self, X: pd.DataFrame) -> np.ndarray:
        """The same as `decision_function`, under the name the report and the gates use."""
        return self.decision_function(X)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """How much each feature drove each row's score: the drop in isolation when that feature is set to typical.

        A leave-one-out attribution (one column at a time back to z = 0, the
        peer median); positive = the feature made the rep look unusual.  The
        rows and their one-feature-neutral copies are scored by the forest in
        one batch of about a million values at a time (one call per feature
        cost a third more, in per-call overhead).
        """
        matrix = self._matrix(X)
        n, k = matrix.shape
        out = np.empty((n, k))
        step = max(1, 2**20 // max(1, k * (k + 1)))
        features = np.arange(k)
        for first in range(0, n, step):
            part = matrix[first:first + step]
            copies = np.repeat(part[None], k + 1, axis=0)  # copy 0 as it is, copy j + 1 with feature j neutral
            copies[features + 1, :, features] = 0.0
            raw = self._raw(copies.reshape(-1, k)).reshape(k + 1, len(part))
            out[first:first + step] = (raw[0] - raw[1:]).T
        return pd.DataFrame(out, columns=[name.removeprefix("z_") for name in self.features_in_], index=X.index)

    def top_contributors(self, X: pd.DataFrame, k: int = 3) -> list[list[str]]:
        """The k features that drove each row's score most, strongest first (only those that pushed it up)."""
        contrib = self.contributions(X)
        values, names = contrib.to_numpy(), np.asarray(contrib.columns)
        strongest = np.argsort(-values, axis=1, kind="stable")[:, :k]
        pushed_up = np.take_along_axis(values, strongest, axis=1) > 0
        return [list(names[row][keep]) for row, keep in zip(strongest, pushed_up)]
