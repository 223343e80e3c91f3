"""The isolation forest: sklearn conventions, one score direction, honest about missing features, explained."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from models.anomaly import RepAnomalyModel


def peers(n=300, seed=0, **overrides):
    """Rep-windows whose z-scores are ordinary noise; keyword arguments override whole columns."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"z_{name}": rng.normal(0, 1, n) for name in ("miss_rate", "talk_ratio", "csat", "toggles_per_shift_hour")})
    for column, values in overrides.items():
        frame[column] = values
    return frame


def test_it_follows_the_estimator_conventions():
    model = RepAnomalyModel(n_estimators=50, features=["z_miss_rate", "z_csat"])
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.decision_function(peers())
    assert model.fit(peers()) is model
    assert model.features_in_ == ["z_miss_rate", "z_csat"]
    assert not hasattr(twin, "pipeline_"), "nothing is learned before fit"
    assert np.array_equal(model.decision_scores_, model.decision_function(peers())), "PyOD's training scores"
    assert np.array_equal(model.anomaly_score(peers()), model.decision_function(peers()))


def test_one_metric_out_of_line_scores_high_and_is_named():
    train = peers()
    model = RepAnomalyModel(n_estimators=100, features=list(train.columns)).fit(train)
    probe = pd.DataFrame([{c: 0.0 for c in train.columns}, {**{c: 0.0 for c in train.columns}, "z_toggles_per_shift_hour": 9.0}])
    score = model.anomaly_score(probe)
    assert ((0 <= score) & (score <= 1)).all()
    assert score[1] > 0.95 > score[0], "higher = more suspicious"
    assert model.top_contributors(probe.iloc[[1]], k=1) == [["toggles_per_shift_hour"]]


def test_a_feature_the_source_cannot_show_is_left_out_and_a_single_gap_counts_as_typical():
    train = peers(z_hold_seconds_per_call=np.nan)
    model = RepAnomalyModel(n_estimators=50, features=[*peers().columns, "z_hold_seconds_per_call"]).fit(train)
    assert "z_hold_seconds_per_call" not in model.features_in_
    assert "z_hold_seconds_per_call" in model.not_observable_
    gap = pd.DataFrame([{c: 0.0 for c in model.features_in_}])
    gap.loc[0, "z_csat"] = np.nan
    typical = pd.DataFrame([{c: 0.0 for c in model.features_in_}])
    assert model.anomaly_score(gap)[0] == pytest.approx(model.anomaly_score(typical)[0])


def test_scoring_needs_the_features_it_was_trained_on():
    model = RepAnomalyModel(n_estimators=20).fit(peers())
    with pytest.raises(ValueError, match="lacks features"):
        model.anomaly_score(peers().drop(columns=["z_csat"]))


def test_the_same_seed_gives_the_same_scores():
    a = RepAnomalyModel(n_estimators=50, random_state=3).fit(peers()).anomaly_score(peers(seed=1))
    b = RepAnomalyModel(n_estimators=50, random_state=3).fit(peers()).anomaly_score(peers(seed=1))
    assert np.array_equal(a, b)


def test_a_centre_where_nobody_stands_out_puts_almost_no_rep_window_beyond_the_null():
    """Calibrated, not ranked: heavy-tailed honest noise and correlated metrics are what the null is made of."""
    rng = np.random.default_rng(5)
    n = 600
    shared = rng.standard_t(4, n)
    honest = pd.DataFrame({"z_miss_rate": shared + 0.5 * rng.standard_t(4, n), "z_decline_rate": shared,
                           "z_talk_ratio": rng.standard_t(4, n), "z_csat": rng.normal(0, 1, n)})
    model = RepAnomalyModel(n_estimators=100, null_rows=20000).fit(honest)
    beyond = int((model.anomaly_score(honest) > 0.999).sum())
    assert beyond <= 3, f"{beyond} of {n} honest rep-windows beyond the null's 99.9th percentile"
    # a percentile among the real rep-windows would have put the top six beyond 0.99 whatever the centre
    assert (model.anomaly_score(honest) > 0.99).sum() < 0.01 * n


def test_a_rep_out_of_line_on_two_unrelated_metrics_at_once_is_beyond_the_null():
    rng = np.random.default_rng(6)
    n = 400
    centre = pd.DataFrame({f"z_{name}": rng.normal(0, 1, n) for name in ("miss_rate", "talk_ratio", "csat", "toggles_per_shift_hour")})
    centre.loc[0, ["z_miss_rate", "z_toggles_per_shift_hour"]] = [4.5, 4.5]
    model = RepAnomalyModel(n_estimators=200).fit(centre)
    score = model.anomaly_score(centre)
    assert score[0] > 0.999, "two metrics jointly out of line is rarer than any chance pairing of the centre's values"
    assert model.null_raw_.size >= 20000


def test_each_contribution_is_the_drop_in_isolation_when_that_feature_alone_is_set_to_typical():
    """Scored in batches (rows and their neutral copies together): the same numbers as one feature at a time."""
    wide = peers(n=400, **{f"z_extra_{i}": np.random.default_rng(i).normal(0, 1, 400) for i in range(26)})
    model = RepAnomalyModel(n_estimators=30, features=list(wide.columns)).fit(wide)
    probe = pd.concat([wide] * 4, ignore_index=True)  # 1,600 rows: more than one batch of 30 features
    probe.loc[7, "z_csat"] = -8.0
    got = model.contributions(probe)
    matrix = probe[model.features_in_].to_numpy(dtype=float)
    base = model._raw(matrix)
    for j, name in enumerate(model.features_in_):
        neutral = matrix.copy()
        neutral[:, j] = 0.0
        assert np.array_equal(got[name.removeprefix("z_")].to_numpy(), base - model._raw(neutral)), name
    assert list(got.index) == list(probe.index)
    top = model.top_contributors(probe.iloc[[7, 8]], k=2)
    assert top[0][0] == "csat" and len(top[0]) <= 2
    assert all(got.loc[8, name] > 0 for name in top[1]), "only features that pushed the score up are named"
