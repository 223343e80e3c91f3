"""The contracts between stages: the derived tables a real centre produces pass, a broken one stops its stage."""

import datetime as dt

import numpy as np
import pytest

from features.daily import rep_day_features
from features.windows import rep_window_features
from models.anomaly import RepAnomalyModel
from models.combine import ScoringSettings, combine
from models.rules import RuleSet
from pipelines.config import load_settings
from pipelines.contracts import RepDaySums, RepWindowFeatures, RuleHits, Scores, StageContractBroken, check
from simulator import SimulationConfig, simulate
from tests.models.test_detection import lake_tables


@pytest.fixture(scope="module")
def stages():
    settings = load_settings(None)
    config = settings.config
    center = simulate(SimulationConfig(), n_reps=40, n_days=7, seed=5, workers=1)
    tables = lake_tables(center)
    start = dt.date.fromisoformat(center.truth["start_date"])
    end = start + dt.timedelta(days=6)
    daily = rep_day_features(tables, config.features, config.site.timezone, config.site.allotted_wrapup_seconds, start, end)
    windows = rep_window_features(daily.sums, tables["reps"], daily.rep_queues, daily.observable, config.features, start, end)
    hits = RuleSet.from_config(settings.rules).fit(windows, observable=daily.observable).evaluate(windows, daily.sums,
                                                                                                 daily.evidence)
    model = RepAnomalyModel(n_estimators=50).fit(windows)
    scores = combine(windows, hits, model.decision_function(windows), model.top_contributors(windows), ScoringSettings())
    return daily.sums, windows, hits, scores


def test_what_a_centre_produces_keeps_every_contract_and_is_handed_on_unchanged(stages):
    for model, frame in zip((RepDaySums, RepWindowFeatures, RuleHits, Scores), stages):
        assert check(model, frame, "test") is frame and len(frame)


@pytest.mark.parametrize("which, spoil, says", [
    (0, lambda f: f.assign(talk_seconds=-f.talk_seconds - 1), "a day sum is missing or negative"),
    (0, lambda f: f.drop(columns=["offers_missed"]), "a day sum is missing or negative"),
    (1, lambda f: f.iloc[np.r_[0, 0]], "one row per rep and window"),
    (2, lambda f: f.assign(severity="urgent"), "isin"),
    (3, lambda f: f.assign(score=f.score + 1.5), "less_than_or_equal_to(1)"),
    (3, lambda f: f.assign(tier="suspect"), "isin"),
])
def test_a_table_that_breaks_its_contract_stops_the_stage_saying_which_check_and_how_many_rows(stages, which, spoil, says):
    model = (RepDaySums, RepWindowFeatures, RuleHits, Scores)[which]
    with pytest.raises(StageContractBroken, match="a fault in cadet") as broken:
        check(model, spoil(stages[which]), "the stage")
    assert says in str(broken.value) and "row(s)" in str(broken.value)
