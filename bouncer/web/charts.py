"""The timeline plot of one mailing: reactions per hour or day as a stacked bar SVG, drawn on the server.

pygal draws it; its JavaScript (tooltips) is switched off and its inline config `<script>`
is removed, so the SVG runs nothing even if opened on its own. It is served as an image
(`<img>`), which browsers never let run scripts anyway. Only numbers, our own words and
time labels go into it, never mail data.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element

import pygal
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from pygal.style import Style

from ..vocab import COUNTED_KINDS as STAT_KINDS
from .labels import label

# One colour per kind, the same as the count badges on the page (style.css).
COLOURS = {"hard": "#b3261e", "soft": "#e8a33d", "unverified": "#9c8f78", "auto_reply": "#3f6fb5",
           "read_receipt": "#5a9e6f", "feedback_report": "#7b4fa0", "unsubscribe": "#1f8a8a", "human": "#8a8a8a"}
OTHER_COLOUR = "#8a8a8a"  # a kind without a colour of its own
# The hourly plot shows the first three days (when most reactions come); the daily one shows all.
HOURS_PLOTTED = 72


def _style(kinds: Sequence[str]) -> Style:
    """pygal colours series by position: the colours of the kinds that are drawn, in order."""
    return Style(background="#ffffff", plot_background="#ffffff", foreground="#222222", foreground_strong="#222222",
                 foreground_subtle="#d0d0d0",
                 colors=tuple(COLOURS.get(k, OTHER_COLOUR) for k in kinds) or (OTHER_COLOUR,),
                 font_family="system-ui, sans-serif", label_font_size=12, major_label_font_size=12,
                 legend_font_size=13, value_font_size=11)


def _drop_scripts(root: Element) -> Element:
    """Remove every <script> pygal adds (its config block stays even with js=[])."""
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return root


def _moment(point: Mapping[str, Any]) -> datetime:
    """A timeline point's time: '2026-11-28T14:00:00Z' (aware, UTC) or '2026-11-28' (a day)."""
    return datetime.fromisoformat(str(point["t"]).replace("Z", "+00:00"))


def continuous(timeline: Sequence[Mapping[str, Any]], bucket: str) -> list[Mapping[str, Any]]:
    """Every hour (or day) from the first reaction to the last, empty ones included: the x axis is time."""
    if not timeline:
        return []
    hourly = bucket == "hour"
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    points = {_moment(point): point for point in timeline}
    current, last = min(points), max(points)
    filled: list[Mapping[str, Any]] = []
    while current <= last:
        text = current.strftime("%Y-%m-%dT%H:00:00Z" if hourly else "%Y-%m-%d")
        filled.append(points.get(current) or {"t": text, **dict.fromkeys(STAT_KINDS, 0)})
        current += step
    return filled


def x_label(point: Mapping[str, Any], bucket: str) -> str:
    """'28.11. 14:00' for hours (in the reader's time zone), '28.11.2026' for days."""
    if bucket == "hour":
        return format_datetime(_moment(point), "dd.MM. HH:mm")
    return format_date(_moment(point).date(), "medium")


def timeline_svg(timeline: Sequence[Mapping[str, Any]], bucket: str, title: str, *, small: bool = False) -> bytes:
    """A stacked bar per hour or day, one colour per kind of reaction; `title` is our own wording.

    `small` draws for phones: narrower, taller, fewer labels, so the text stays readable.
    """
    width, height, labels = (480, 520, 6) if small else (960, 440, 16)
    timeline = continuous(timeline, bucket)[:HOURS_PLOTTED if bucket == "hour" else None]
    # Kinds without any reaction are left out: fewer shapes to draw, a shorter legend.
    kinds = [kind for kind in STAT_KINDS if any(point.get(kind) for point in timeline)]
    chart = pygal.StackedBar(
        js=[], style=_style(kinds), width=width, height=height, title=title, legend_at_bottom=True,
        legend_at_bottom_columns=2 if small else 3, x_label_rotation=35, show_minor_x_labels=False, truncate_label=-1,
        print_values=False, tooltip_border_radius=0, no_data_text=_("No reactions yet"), truncate_legend=-1,
        margin=12, margin_bottom=56 if small else 40, spacing=8, show_y_guides=True, min_scale=2, max_scale=8,
    )
    chart.add_xml_filter(_drop_scripts)
    chart.x_labels = [x_label(point, bucket) for point in timeline]
    # A few readable labels, however many bars.
    step = max(1, -(-len(timeline) // labels))
    chart.x_labels_major = chart.x_labels[::step]
    for kind in kinds:
        chart.add(label("kind", kind), [point.get(kind, 0) or None for point in timeline])
    return bytes(chart.render())
