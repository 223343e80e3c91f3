import pandas as pd
import pytest

from features.kpis import center_kpis, rep_kpis

T0 = pd.Timestamp("2026-01-05 09:00", tz="UTC")


def _calls(rows):
    defaults = dict(direction="inbound", parent_call_id=None, transfer_kind=None, hold_seconds=0, wrapup_seconds=30, outcome="answered")
    frame = pd.DataFrame([{**defaults, **row} for row in rows])
    for column in ("enqueued_at", "answered_at", "ended_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _at(seconds):
    return T0 + pd.Timedelta(seconds=seconds)


def test_rep_kpis_on_a_hand_built_day():
    calls = _calls([
        dict(call_id="c1", rep_id="ann", enqueued_at=_at(0), answered_at=_at(10), ended_at=_at(310), hold_seconds=60),
        dict(call_id="c2", rep_id="ann", enqueued_at=_at(400), answered_at=_at(405), ended_at=_at(425), transfer_kind="queue"),
        dict(call_id="c3", rep_id="bob", enqueued_at=_at(0), answered_at=_at(20), ended_at=_at(620), wrapup_seconds=90),
        dict(call_id="c4", rep_id=None, enqueued_at=_at(50), answered_at=None, ended_at=_at(100), outcome="abandoned", wrapup_seconds=None),
    ])
    offers = pd.DataFrame({
        "call_id": ["c1", "c2", "c3", "c3", "c4"],
        "rep_id": ["ann", "ann", "ann", "bob", "bob"],
        "result": ["answered", "answered", "ring_no_answer", "answered", "caller_abandoned"],
    })
    surveys = pd.DataFrame({"call_id": ["c1", "c3"], "score": [5, 3]})
    kpis = rep_kpis(calls, offers, surveys)
    ann, bob = kpis.loc["ann"], kpis.loc["bob"]
    assert ann.offered == 3 and ann.answered == 2
    assert ann.answer_rate == pytest.approx(2 / 3)
    assert bob.offered == 1, "a caller hanging up while it rang is not the rep's miss"
    assert ann.talk_seconds == pytest.approx((240 + 20) / 2)
    assert ann.hold_seconds == pytest.approx(30)
    assert ann.aht_seconds == pytest.approx((300 + 30 + 20 + 30) / 2)
    assert ann.transfer_rate == 0.5 and ann.short_call_rate == 0.5
    assert bob.csat == 3 and ann.csat == 5 and ann.surveys == 1
    assert (calls.call_id == ["c1", "c2", "c3", "c4"]).all(), "inputs are not modified"


def test_hold_that_cannot_be_observed_stays_unknown():
    calls = _calls([dict(call_id="c1", rep_id="ann", enqueued_at=_at(0), answered_at=_at(5), ended_at=_at(305), hold_seconds=None)])
    calls["hold_seconds"] = calls["hold_seconds"].astype("Int32")
    offers = pd.DataFrame({"call_id": ["c1"], "rep_id": ["ann"], "result": ["answered"]})
    kpis = rep_kpis(calls, offers, pd.DataFrame({"call_id": [], "score": []}))
    assert pd.isna(kpis.loc["ann", "hold_seconds"])
    assert kpis.loc["ann", "talk_seconds"] == 300


def test_center_kpis():
    calls = _calls([
        dict(call_id="c1", rep_id="ann", enqueued_at=_at(0), answered_at=_at(10), ended_at=_at(310)),
        dict(call_id="c2", rep_id="ann", enqueued_at=_at(0), answered_at=_at(30), ended_at=_at(130)),
        dict(call_id="c3", rep_id=None, enqueued_at=_at(0), answered_at=None, ended_at=_at(60), outcome="abandoned", wrapup_seconds=None),
        dict(call_id="c4", rep_id="bob", enqueued_at=_at(0), answered_at=_at(5), ended_at=_at(65), parent_call_id="c1"),
    ])
    service = center_kpis(calls, pd.DataFrame({"call_id": ["c1"], "score": [4]}))
    assert service["offered_calls"] == 3, "transfer legs are not new offered calls"
    assert service["abandonment_rate"] == pytest.approx(1 / 3)
    assert service["asa_seconds"] == pytest.approx(20)
    assert service["service_level_20s"] == 0.5
    assert service["aht_seconds"] == pytest.approx((330 + 130) / 2)
    assert service["csat"] == 4
