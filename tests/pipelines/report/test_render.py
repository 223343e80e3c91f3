"""The page from hand-built views, in milliseconds: what each section shows, and that nothing from the logs is markup."""

import datetime as dt

import pandas as pd
from markupsafe import escape

from pipelines.report.plots import MAX_DOTS, day_timeline, peer_strip
from pipelines.report.render import render_page, render_plot
from pipelines.report.views import (
    Card,
    DayView,
    DismissedWindow,
    FeatureRow,
    HitView,
    ModelView,
    OtherWindow,
    PageView,
    RankedRep,
    RepView,
    SummaryView,
    rep_anchor,
)

HOSTILE = 'agent<b>&"x\'</b>'
MONDAY, SUNDAY = dt.date(2026, 1, 5), dt.date(2026, 1, 11)


def _summary(**changes) -> SummaryView:
    fields = dict(cards=(Card(12, "reps scored"), Card(24, "rep-windows"), Card(1, "investigate", "investigate")),
                  first_day=MONDAY, last_day=SUNDAY, model="model version 3", run_id="abc123",
                  per_behaviour=(("missed_calls", 1, 0),), sources=(("canonical", 6, 1200, 3),), not_observable=())
    return SummaryView(**(fields | changes))


def _rep(rep_id: str = HOSTILE, **changes) -> RepView:
    strip = peer_strip("miss_rate", "share", [0.1, 0.2, 0.15], 0.5, 0.15, 0.3, rep_id)
    fields = dict(rep_id=rep_id, anchor=rep_anchor(rep_id), tier="investigate", score=0.91, period_start=MONDAY,
                  period_end=SUNDAY, verdict=None, n_peers=11, peer_group="billing/day", sustained=True, rule_score=0.85,
                  model_score=0.06,
                  hits=(HitView("missed_calls", "missed_calls_high", "high", f"{rep_id} let 40% of offers ring out <i>",
                                strip, ("c-1", "<c-2>")),),
                  model=ModelView(0.9994, (FeatureRow("miss_rate", "50%", "15%", "+4.1", "offers not answered"),), None),
                  timezone="Europe/Paris", days=(), other_windows=(OtherWindow(SUNDAY, SUNDAY, "watch", 0.4, ("long_hold",)),),
                  review_command=f"cadet review '{rep_id}' --window {MONDAY}")
    return RepView(**(fields | changes))


def _page(**changes) -> PageView:
    ranked = RankedRep(1, HOSTILE, rep_anchor(HOSTILE), "investigate", 0.91, ("missed_calls",), MONDAY, SUNDAY, 2, "0.999",
                       ("miss_rate",))
    fields = dict(first_day=MONDAY, last_day=SUNDAY, generated="2026-01-12T03:00:00+00:00", summary=_summary(),
                  ranking=(ranked,), dismissed=(), reps=(_rep(),), more_reps=0, csv_file="flagged.csv")
    return PageView(**(fields | changes))


def test_every_value_from_the_logs_is_escaped_and_the_page_has_no_script():
    html = render_page(_page())
    assert HOSTILE not in html and str(escape(HOSTILE)) in html
    assert "<i>" not in html and "&lt;c-2&gt;" in html, "evidence and call ids are text"
    assert f'href="#{rep_anchor(HOSTILE)}"' in html and f'id="{rep_anchor(HOSTILE)}"' in html
    assert rep_anchor(HOSTILE).replace("-", "").replace("_", "").isalnum(), "the anchor is letters, digits, - and _"
    assert "<script" not in html.lower() and "https://" not in html


def test_the_sections_show_what_their_views_hold():
    html = render_page(_page())
    for text in ("Summary", "Reps flagged per behaviour", "Sources ingested", "1,200", "model version 3", "abc123",
                 "Flagged reps", "Compared with 11 peers", "sustained: flagged in the previous window too",
                 "What made the model call this rep unusual", "Anomaly score 0.9994", "+4.1", "Example calls",
                 "Other flagged windows", "Every rule could be checked", "How to read a flag"):
        assert text in html, text
    assert "Previously dismissed" not in html and "Worst day" not in html and "more flagged reps" not in html


def test_an_empty_ranking_a_blind_rule_and_a_dismissed_flag_are_each_said():
    page = _page(ranking=(), reps=(), summary=_summary(not_observable=(("long_hold_high", "hold times"),)),
                 dismissed=(DismissedWindow("agent7", MONDAY, SUNDAY, "watch", 0.5, ("long_hold",), "headset fault"),),
                 more_reps=3)
    html = render_page(page)
    assert "No rep is on the investigate or watch list" in html
    assert "long_hold_high" in html and "needs hold times" in html and "Every rule could be checked" not in html
    assert "Previously dismissed" in html and "headset fault" in html
    assert "3 more flagged reps are in the ranking and in flagged.csv" in html


def test_a_rep_the_model_alone_flagged_says_so_and_a_verdict_is_shown():
    html = render_page(_page(reps=(_rep("agent9", hits=(), verdict="confirmed"),)))
    assert "No rule fired: the model alone put this rep on the list" in html
    assert "Analyst verdict for this window: confirmed" in html


def test_a_worst_day_is_drawn_with_its_legend():
    day = pd.Timestamp("2026-01-05", tz="Europe/Paris")
    states = pd.DataFrame({"rep_id": ["a"], "state": ["paused"], "reason": ["Break"],
                           "started_at": [day + pd.Timedelta(hours=10)], "ended_at": [day + pd.Timedelta(hours=11)]})
    empty_calls = pd.DataFrame({"call_id": [], "answered_at": pd.Series([], dtype="datetime64[ns, Europe/Paris]"),
                                "ended_at": pd.Series([], dtype="datetime64[ns, Europe/Paris]")})
    empty_offers = pd.DataFrame({"call_id": [], "result": [], "offered_at": pd.Series([], dtype="datetime64[ns, Europe/Paris]")})
    queued = pd.DataFrame({"enqueued_at": pd.Series([], dtype="datetime64[ns, Europe/Paris]")})
    timeline = day_timeline("a", day, states, empty_calls, empty_offers, queued, "billing", set())
    html = render_page(_page(reps=(_rep(days=(DayView(MONDAY, timeline), DayView(MONDAY, timeline))),)))
    assert "Worst days" in html and "Monday 2026-01-05 (Europe/Paris)" in html and html.count('class="timeline"') == 2
    assert "calls offered to the queue per 30 min" in html and "paused (Break) 10:00-11:00" in html


def test_a_plots_labels_are_escaped():
    svg = render_plot(peer_strip("miss_rate", "share", [0.1, 0.2], 0.5, 0.15, 0.3, "<img src=x onerror=alert(1)>"))
    assert "<img" not in svg and "&lt;img" in svg


def test_a_big_peer_group_is_drawn_as_its_distribution_not_every_dot():
    import numpy as np

    peers = np.random.default_rng(1).normal(0.05, 0.01, size=2000)
    svg = render_plot(peer_strip("miss_rate", "share", peers, 0.3, 0.05, 0.1, "agent1"))
    assert "against 2000 peers" in svg and svg.count("<circle") == MAX_DOTS + 1
    assert "agent1 30% · peer median 5%" in svg, "the rep and the peer median are labelled"


def test_nothing_to_plot_is_no_plot():
    assert peer_strip("miss_rate", "share", [], float("nan"), None, None, "agent1") is None


def test_timeline_shows_states_calls_and_missed_offers_of_that_day():
    day = pd.Timestamp("2026-01-05", tz="Europe/Paris")
    states = pd.DataFrame({"rep_id": ["a", "a"], "state": ["available", "paused"], "reason": [None, "Technical"],
                           "started_at": [day + pd.Timedelta(hours=8), day + pd.Timedelta(hours=12)],
                           "ended_at": [day + pd.Timedelta(hours=12), day + pd.Timedelta(hours=13)]})
    calls = pd.DataFrame({"call_id": ["c1"], "answered_at": [day + pd.Timedelta(hours=9)],
                          "ended_at": [day + pd.Timedelta(hours=9, minutes=5)]})
    offers = pd.DataFrame({"call_id": ["c2"], "result": ["ring_no_answer"], "offered_at": [day + pd.Timedelta(hours=10)]})
    queued = pd.DataFrame({"enqueued_at": [day + pd.Timedelta(hours=h) for h in (9, 9.2, 10)]})
    svg = render_plot(day_timeline("a", day, states, calls, offers, queued, "billing", {"Technical"}))
    assert "paused (Technical) 12:00-13:00" in svg and "c1 09:00:00-09:05:00" in svg
    assert "ring_no_answer c2 at 10:00:00" in svg and "09:00 2 calls offered to billing" in svg
    assert "07:00" in svg and "14:00" in svg and "03:00" not in svg, "the axis spans the active hours, not the night"
