"""Settings of the feature stage: what counts as short, quick, peak, technical, a peer.

Kept beside the features (and merged into `configs/cadet.yaml` under
`features:`) so that the numbers that define a behaviour are visible and
changeable, not buried in code.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FeatureSettings(BaseModel):
    """How cadet measures each behaviour per rep and day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_days: int = Field(7, ge=1, le=92, description="days per rep x window row (one week by default)")
    short_call_seconds: int = Field(30, ge=1, description="a call the rep ends within this many seconds of answering is an early hang-up")
    short_call_share_of_median: float = Field(0.1, ge=0, le=1, description=(
        "the short-call limit follows the centre: this share of the queue's median answered call, at most "
        "short_call_seconds and at least 5 s (0: short_call_seconds everywhere)"))
    quick_transfer_seconds: int = Field(30, ge=1, description="a transfer within this many seconds of answering is a quick transfer")
    fast_escalation_seconds: int = Field(60, ge=1, description="an escalation within this many seconds of answering came before trying")
    repeat_call_hours: int = Field(48, ge=1, description="a call from the same caller within this many hours is a repeat contact")
    waiting_min_seconds: int = Field(10, ge=0, description="a caller counts as waiting once in the queue this long (ringing a rep is not waiting)")
    toggle_pause_seconds: int = Field(60, ge=1, description="a pause shorter than this is a status toggle, not a break")
    peak_interval_minutes: int = Field(30, ge=5, le=120, description="length of the intervals whose offered volume defines peak hours")
    peak_share: float = Field(0.25, gt=0, lt=1, description="the busiest share of each day's open intervals is peak")
    break_reasons: list[str] = Field(
        default_factory=lambda: ["Break", "Personal", "Lunch", "Coffee", "Bathroom", "Away"],
        description="pause reasons that are breaks (compared case-insensitively)",
    )
    technical_reasons: list[str] = Field(
        default_factory=lambda: ["Technical", "System", "IT", "Tech issue", "Equipment"],
        description="pause reasons that claim a technical problem",
    )
    system_pause_reasons: list[str] = Field(
        default_factory=lambda: ["Auto-Pause", "AutoPause", "Auto Pause", "System Pause"],
        description=("pause reasons the platform sets itself (Asterisk's autopause after a ring-no-answer): "
                     "not the rep's choice, so never a break, a toggle or a pause while callers wait"),
    )
    wrapup_reasons: list[str] = Field(default_factory=lambda: ["ACW", "Wrap-up", "AfterCallWork"],
                                      description="pause reasons that are after-call work, never breaks")
    site_wide_window_minutes: int = Field(10, ge=1, description="pauses of one reason starting this close together may be one site-wide event")
    site_wide_min_reps: int = Field(5, ge=2, description="at least this many reps pausing together make a site-wide event ...")
    site_wide_share: float = Field(0.25, gt=0, le=1, description="... and at least this share of the reps logged in at the time")
    customer_lookback_days: int = Field(30, ge=1, description="a dialled number that called in within this many days is a customer")
    new_hire_tenure_days: int = Field(45, ge=1, description="reps hired this recently are compared with other new hires")
    shift_band_hours: list[int] = Field(default_factory=lambda: [10, 14],
                                        description="local hours that split shifts into early / day / late peer groups")
    min_peers: int = Field(8, ge=3, description="a peer group smaller than this falls back to a wider one")
    min_events_for_rate: int = Field(20, ge=1, description="rates from fewer offered or answered calls than this are not compared")
    examples_per_day: int = Field(5, ge=1, le=50, description="example call ids kept per rep, day and kind of evidence")

    @model_validator(mode="after")
    def _bands_ascend(self) -> FeatureSettings:
        if sorted(self.shift_band_hours) != list(self.shift_band_hours) or any(not 0 < h < 24 for h in self.shift_band_hours):
            raise ValueError("shift_band_hours must be ascending hours between 1 and 23")
        return self
