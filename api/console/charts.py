"""Results charts as SVG, drawn on the server by pygal: no JavaScript, they print as they look."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pygal
from markupsafe import Markup
from pygal.style import Style

from campaigns.programs.kinds import kind_named
from campaigns.results.breakdowns import Group, TrendPoint
from campaigns.results.insights import ChannelFunnel

CATEGORY_COLOURS = {
    "detractor": "#b91c1c", "passive": "#d97706", "promoter": "#15803d",
    "unsatisfied": "#b91c1c", "satisfied": "#15803d", "hard": "#b91c1c", "neutral": "#d97706", "easy": "#15803d",
}
_SCRIPT = re.compile(r"<script[^>]*>.*?</script>", re.DOTALL)
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def _style(colours: Sequence[str] = ("#1d4ed8", "#0891b2", "#7c3aed", "#db2777", "#65a30d")) -> Style:
    return Style(background="transparent", plot_background="transparent", foreground="#1f2933", foreground_strong="#1f2933",
                 foreground_subtle="#9aa5b1", colors=tuple(colours), font_family=FONT, label_font_size=13,
                 major_label_font_size=13, value_font_size=12, legend_font_size=13, title_font_size=15, tooltip_font_size=12)


def _config(chart: pygal.graph.graph.Graph) -> None:
    chart.config.js = []  # pygal links a tooltip script from the web by default; the report needs none
    chart.config.disable_xml_declaration = True
    chart.config.explicit_size = False
    chart.config.show_y_guides = True


def _svg(chart: pygal.graph.graph.Graph, title: str) -> Markup:
    # pygal writes its tooltip config as an inline script; the page has no use for it.
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{Markup.escape(title)}" ', 1)
    return Markup(svg)


def _count_labels(chart: pygal.graph.graph.Graph, highest: int) -> None:
    """Whole-number axis labels for counts (pygal would print 0.2, 0.4, ... for small numbers)."""
    step = max(1, -(-highest // 5))
    chart.y_labels = list(range(0, highest + step, step))


def distribution_chart(kind_name: str, counts: dict[int, int]) -> Markup:
    """Answers per score, each bar coloured by its category (detractors red, passives amber, promoters green)."""
    kind = kind_named(kind_name)
    chart = pygal.Bar(style=_style(), height=260, width=560, show_legend=False, print_values=True, margin=10)
    _config(chart)
    scores = list(range(kind.low, kind.high + 1))
    chart.x_labels = [str(s) for s in scores]
    _count_labels(chart, max(counts.values(), default=0))
    chart.add("Answers", [{"value": counts.get(s, 0), "color": CATEGORY_COLOURS[kind.category(s)], "label": kind.category(s)} for s in scores])
    return _svg(chart, "Answers per score, by category")


def trend_chart(points: Sequence[TrendPoint]) -> Markup:
    chart = pygal.Line(style=_style(), height=240, width=560, show_legend=False, dots_size=5, margin=10,
                       x_label_rotation=0, truncate_label=18, print_values=True)
    _config(chart)
    if points:
        low, high = SCALES[points[0].score.kind]
        chart.range = (low, high)
    chart.x_labels = [p.name for p in points]
    chart.add("Score", [{"value": p.score.score, "label": f"{p.score.answers} answers ± {p.score.margin}"} for p in points])
    return _svg(chart, "Score over time")


SCALES = {"nps": (-100, 100), "csat": (0, 100), "ces": (1, 7)}


def segments_chart(groups: Sequence[Group], title: str) -> Markup:
    """Each group's score side by side on the kind's whole scale, so groups compare at a glance."""
    chart = pygal.HorizontalBar(style=_style(), height=max(120, 50 + 34 * len(groups)), width=560, show_legend=False,
                                print_values=True, margin=10, truncate_label=28)
    _config(chart)
    if groups:
        low, high = SCALES[groups[0].score.kind]
        chart.range = (low, high)
        chart.y_labels = [low, (low + high) / 2, high] if groups[0].score.kind != "ces" else list(range(low, high + 1))
    top_down = list(reversed(groups))  # pygal draws the first bar at the bottom; keep the table's order
    chart.x_labels = [g.label + (" *" if g.score.small else "") for g in top_down]
    chart.add("Score", [g.score.score for g in top_down])
    return _svg(chart, title)


def funnel_chart(channels: Sequence[ChannelFunnel]) -> Markup:
    chart = pygal.Bar(style=_style(), height=300, width=560, legend_at_bottom=True, margin=10)
    _config(chart)
    chart.x_labels = ["Sent", "Delivered", "Opened", "Clicked", "Answered"]
    _count_labels(chart, max((c.sent for c in channels), default=0))
    for c in channels:
        chart.add(c.medium, [c.sent, c.delivered, c.opened if c.medium == "email" else None, c.clicked if c.medium == "email" else None, c.answered])
    return _svg(chart, "Channel funnel")
