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
_SCRIPT = re.compile(r"<script[^>]*>.*?</script>", re.S)
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


def distribution_chart(kind_name: str, counts: dict[int, int]) -> Markup:
    """Answers per score, coloured by category (detractors red, passives amber, promoters green)."""
    kind = kind_named(kind_name)
    chart = pygal.Bar(style=_style([CATEGORY_COLOURS[name] for name, _, _ in kind.categories]), height=300, width=720,
                      legend_at_bottom=True, print_values=False, margin=10)
    _config(chart)
    scores = list(range(kind.low, kind.high + 1))
    chart.x_labels = [str(s) for s in scores]
    for name, low, high in kind.categories:
        chart.add(name.capitalize(), [counts.get(s, 0) if low <= s <= high else None for s in scores])
    return _svg(chart, "Answers per score")


def trend_chart(points: Sequence[TrendPoint]) -> Markup:
    chart = pygal.Line(style=_style(), height=280, width=720, show_legend=False, dots_size=5, margin=10,
                       x_label_rotation=0, truncate_label=18)
    _config(chart)
    chart.x_labels = [p.name for p in points]
    chart.add("Score", [{"value": p.score.score, "label": f"{p.score.answers} answers ± {p.score.margin}"} for p in points])
    return _svg(chart, "Score over time")


def segments_chart(groups: Sequence[Group], title: str) -> Markup:
    chart = pygal.HorizontalBar(style=_style(), height=max(140, 60 + 42 * len(groups)), width=720, show_legend=False,
                                print_values=True, margin=10, truncate_label=24)
    _config(chart)
    chart.x_labels = [g.label + (" *" if g.score.small else "") for g in groups]
    chart.add("Score", [g.score.score for g in groups])
    return _svg(chart, title)


def funnel_chart(channels: Sequence[ChannelFunnel]) -> Markup:
    chart = pygal.Bar(style=_style(), height=300, width=720, legend_at_bottom=True, margin=10)
    _config(chart)
    chart.x_labels = ["Sent", "Delivered", "Opened", "Clicked", "Answered"]
    for c in channels:
        chart.add(c.medium, [c.sent, c.delivered, c.opened if c.medium == "email" else None, c.clicked if c.medium == "email" else None, c.answered])
    return _svg(chart, "Channel funnel")
