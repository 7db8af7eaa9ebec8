"""Charts drawn on the server as inline SVG.

Bureaus run on closed intranets, so nothing is fetched from a CDN and no JavaScript chart
library is involved: a chart is a string of SVG put straight into the page, which also
prints exactly as it shows. Each chart is an image to assistive technology (role="img"
with <title> and <desc>); the numbers themselves are in a table next to it, which is what
screen readers read and what carries the links to the ledger.

Text is Chinese, so label widths are estimated per character (CJK characters are about
one em wide, Latin letters and digits about half) and long labels are shortened with "…";
the full label is kept in a <title> tooltip.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

FONT_FAMILY = "'Microsoft YaHei', 'PingFang SC', 'WenQuanYi Micro Hei', 'Noto Sans CJK SC', sans-serif"
INK = "#1f2933"
MUTED = "#616e7c"
GRID = "#d9dee4"


@dataclass(frozen=True)
class Series:
    name: str
    color: str


@dataclass(frozen=True)
class Bar:
    """One row of a horizontal bar chart: a value per series (None: nothing to show)."""

    label: str
    values: tuple[Decimal | None, ...]
    note: str = ""


@dataclass(frozen=True)
class Point:
    day: date
    value: Decimal | None


def _char_width(ch: str, font_size: float) -> float:
    return font_size if ord(ch) > 0x2E7F else font_size * 0.56


def text_width(text: str, font_size: float) -> float:
    """Rough rendered width: wide (CJK, full-width punctuation) characters one em, others half."""
    return sum(_char_width(ch, font_size) for ch in text)


def shorten(text: str, max_width: float, font_size: float) -> str:
    if text_width(text, font_size) <= max_width:
        return text
    budget = max_width - font_size  # room for the "…"
    width, end = 0.0, 0
    for end, ch in enumerate(text):  # noqa: B007 (end is used after the loop)
        width += _char_width(ch, font_size)
        if width > budget:
            break
    return text[:end] + "…"


def format_value(value: Decimal | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}{unit}" if unit == "%" else f"{value}{unit}"


def _svg_open(*, chart_id: str, width: int, height: int, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'font-family="{FONT_FAMILY}" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
    ]


def _legend(series: Sequence[Series], *, x: float, y: float, font_size: int) -> list[str]:
    parts = []
    for s in series:
        parts.append(f'<rect x="{x:.1f}" y="{y - font_size + 2:.1f}" width="12" height="12" fill="{s.color}"/>')
        parts.append(f'<text x="{x + 16:.1f}" y="{y:.1f}" font-size="{font_size}" fill="{INK}">{escape(s.name)}</text>')
        x += 16 + text_width(s.name, font_size) + 18
    return parts


def bar_chart(
    *,
    chart_id: str,
    title: str,
    desc: str,
    bars: Sequence[Bar],
    series: Sequence[Series],
    unit: str = "%",
    max_value: Decimal = Decimal(100),
    width: int = 640,
) -> SafeString:
    """Horizontal bars, one row per `Bar`; the series are drawn over each other, first
    widest (completion over sign-off: every signed-off measure is a completed one).

    The value printed after the bar is the first series'; `note` follows it.
    """
    # Long lists (every department) get tighter rows so the ranking stays one screen tall.
    font_size, row_height, top = 13, (26 if len(bars) <= 16 else 21), 30
    label_width = min(240, max(90, max((text_width(b.label, font_size) for b in bars), default=0) + 8))
    value_width = max((text_width(_bar_value_text(b, unit), 12) for b in bars), default=40) + 12
    plot_x = label_width + 8
    plot_width = max(120, width - plot_x - value_width)
    height = top + max(1, len(bars)) * row_height + 22
    parts = _svg_open(chart_id=chart_id, width=width, height=height, title=title, desc=desc)
    parts += _legend(series, x=plot_x, y=16, font_size=12)
    axis_bottom = top + max(1, len(bars)) * row_height
    for tick in range(0, 101, 25):
        x = plot_x + plot_width * tick / 100
        tick_value = max_value * tick / 100
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{axis_bottom}" stroke="{GRID}"/>')
        label = f"{tick_value:.0f}{unit}"
        parts.append(
            f'<text x="{x:.1f}" y="{axis_bottom + 15}" font-size="11" fill="{MUTED}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    if not bars:
        parts.append(
            f'<text x="{plot_x + plot_width / 2:.1f}" y="{top + 17}" font-size="{font_size}" fill="{MUTED}" '
            f'text-anchor="middle">{escape(_("暂无数据"))}</text>'
        )
    for i, bar in enumerate(bars):
        y = top + i * row_height
        parts.append("<g>")
        parts.append(f"<title>{escape(bar.label)}:{escape(_bar_value_text(bar, unit))}</title>")
        parts.append(
            f'<text x="{label_width:.1f}" y="{y + 17}" font-size="{font_size}" fill="{INK}" '
            f'text-anchor="end">{escape(shorten(bar.label, label_width - 4, font_size))}</text>'
        )
        parts.append(
            f'<rect x="{plot_x:.1f}" y="{y + 5}" width="{plot_width:.1f}" height="{row_height - 10}" fill="#f0f2f5"/>'
        )
        for s, value in zip(series, bar.values, strict=False):
            if value is None or max_value <= 0:
                continue
            share = min(Decimal(1), max(Decimal(0), value / max_value))
            inset = 0 if s is series[0] else 4
            parts.append(
                f'<rect x="{plot_x:.1f}" y="{y + 5 + inset}" width="{float(share) * plot_width:.1f}" '
                f'height="{row_height - 10 - 2 * inset}" fill="{s.color}"/>'
            )
        parts.append(
            f'<text x="{plot_x + plot_width + 6:.1f}" y="{y + 17}" font-size="12" fill="{INK}">'
            f"{escape(_bar_value_text(bar, unit))}</text>"
        )
        parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text and attribute above is escaped)


def _bar_value_text(bar: Bar, unit: str) -> str:
    first = bar.values[0] if bar.values else None
    return format_value(first, unit) + (f" · {bar.note}" if bar.note else "")


def line_chart(
    *,
    chart_id: str,
    title: str,
    desc: str,
    lines: Sequence[tuple[Series, Sequence[Point]]],
    unit: str = "%",
    width: int = 640,
    height: int = 240,
) -> SafeString:
    """Lines over days. The y axis starts at the highest multiple of ten below the data
    (rates of 96–99% would be a flat line on 0–100%) and says so in its labels; a day
    without a value breaks the line rather than pretending it was zero."""
    left, right, top, bottom = 48, 64, 30, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [p.value for _s, points in lines for p in points if p.value is not None]
    days = sorted({p.day for _s, points in lines for p in points})
    parts = _svg_open(chart_id=chart_id, width=width, height=height, title=title, desc=desc)
    parts += _legend([s for s, _p in lines], x=left, y=16, font_size=12)
    if not values or not days:
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" font-size="13" fill="{MUTED}" '
            f'text-anchor="middle">{escape(_("暂无数据"))}</text></svg>'
        )
        return mark_safe("".join(parts))  # noqa: S308 (escaped above)
    low = Decimal(int(min(values) // 10 * 10))
    high = Decimal(100) if unit == "%" else max(values)
    if high <= low:
        high = low + 10
    first_day, last_day = days[0], days[-1]
    span = max(1, (last_day - first_day).days)

    def x_of(day: date) -> float:
        if first_day == last_day:
            return left + plot_w / 2
        return left + plot_w * (day - first_day).days / span

    def y_of(value: Decimal) -> float:
        return top + plot_h * float((high - value) / (high - low))

    steps = 4
    for i in range(steps + 1):
        tick = low + (high - low) * i / steps
        y = y_of(tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" fill="{MUTED}" text-anchor="end">'
            f"{escape(f'{tick:.0f}{unit}')}</text>"
        )
    for day in _day_ticks(days):
        x = x_of(day)
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 18}" font-size="11" fill="{MUTED}" text-anchor="middle">'
            f"{escape(_('%(m)d月%(d)d日') % {'m': day.month, 'd': day.day})}</text>"
        )
    for series, points in lines:
        ordered = sorted(points, key=lambda p: p.day)
        for run in _runs(ordered):
            coords = " ".join(f"{x_of(p.day):.1f},{y_of(p.value):.1f}" for p in run if p.value is not None)
            if len(run) == 1:
                p = run[0]
                parts.append(f'<circle cx="{x_of(p.day):.1f}" cy="{y_of(p.value):.1f}" r="3" fill="{series.color}"/>')  # type: ignore[arg-type]
            else:
                parts.append(f'<polyline points="{coords}" fill="none" stroke="{series.color}" stroke-width="2"/>')
        last = next((p for p in reversed(ordered) if p.value is not None), None)
        if last is not None:
            parts.append(
                f'<text x="{x_of(last.day) + 6:.1f}" y="{y_of(last.value) + 4:.1f}" font-size="12" '
                f'fill="{series.color}">{escape(format_value(last.value, unit))}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text and attribute above is escaped)


def _runs(points: Sequence[Point]) -> list[list[Point]]:
    """Consecutive points that have values; a None splits the line."""
    runs: list[list[Point]] = [[]]
    for p in points:
        if p.value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(p)
    return [r for r in runs if r]


def _day_ticks(days: Sequence[date], most: int = 6) -> list[date]:
    if len(days) <= most:
        return list(days)
    step = (len(days) - 1) / (most - 1)
    return [days[round(i * step)] for i in range(most)]
