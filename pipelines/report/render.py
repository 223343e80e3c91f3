"""The report's page from its views, through Jinja2 with autoescape: no value reaches the page unescaped."""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from pipelines.report.plots import LEGEND, MISSED_COLOUR, QUEUE_COLOUR, STATE_COLOURS, DayTimeline, PeerStrip
from pipelines.report.views import PageView

TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.cache
def environment() -> Environment:
    """Autoescape on for every template (they are HTML and SVG), and a missing value is an error, not an empty cell."""
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)


def render_page(page: PageView) -> str:
    """The whole page as one self-contained string: the style inline, the plots inline SVG, no script."""
    css = Markup((TEMPLATES / "report.css").read_text(encoding="utf-8"))  # cadet's own file, not input
    return environment().get_template("report.html.j2").render(
        page=page, css=css, legend=LEGEND, colours=STATE_COLOURS, queue_colour=QUEUE_COLOUR, missed_colour=MISSED_COLOUR)


def render_plot(plot: PeerStrip | DayTimeline) -> Markup:
    """One plot as inline SVG, as the page draws it."""
    macros = environment().get_template("plots.html.j2").module
    return macros.peer_strip(plot) if isinstance(plot, PeerStrip) else macros.day_timeline(plot)
