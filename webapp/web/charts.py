"""Charts drawn on the server as SVG: the geometry here, the markup in templates/reports/_charts.html.

No script and no inline style (the Content-Security-Policy allows neither): shapes carry classes
that webapp/static/css/reports.css colours. Every chart is shown with the table of its figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

WIDTH = 640
HEIGHT = 220
LEFT = 48  # room for the y axis labels
RIGHT = 28  # room for the last day's label
TOP = 12
BOTTOM = 28  # room for the x axis labels
BAR_ROW = 26  # height of one bar of a horizontal bar chart


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Series:
    name: str
    css_class: str
    points: str  # "x,y x,y …" for a polyline
    dots: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value_label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    y_ticks: tuple[Tick, ...] = ()
    x_ticks: tuple[Tick, ...] = ()
    series: tuple[Series, ...] = ()
    bars: tuple[Bar, ...] = ()
    empty: bool = False


def nice_max(value: float, whole: bool = True) -> float:
    """The top of an axis of four equal steps that reaches `value`, each step 1, 2, 2.5 or 5 times
    a power of ten (whole numbers only, for counts, when `whole`)."""
    if value <= 0:
        return 4
    wanted = value / 4
    power = 10 ** math.floor(math.log10(wanted))
    step = next(s * power for s in (1, 2, 2.5, 5, 10) if wanted <= s * power)
    return 4 * (max(step, 1) if whole else step)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _y_ticks(top: float, plot_top: float, plot_bottom: float, unit: str = "") -> tuple[Tick, ...]:
    return tuple(
        Tick(plot_bottom - (plot_bottom - plot_top) * k / 4, _number(top * k / 4) + unit) for k in range(5)
    )


def _x_ticks(days: list[date], x_of) -> tuple[Tick, ...]:
    """A handful of dated ticks, evenly spread, the first and last day always among them."""
    if not days:
        return ()
    wanted = min(len(days), 6)
    indexes = sorted({round(k * (len(days) - 1) / max(wanted - 1, 1)) for k in range(wanted)})
    return tuple(Tick(x_of(i), f"{days[i]:%b} {days[i].day}") for i in indexes)


def line_chart(days: list[date], series: list[tuple[str, str, list[float]]]) -> Chart:
    """One line per series (name, CSS class, a value per day) over the days."""
    plot = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM)
    left, right, top, bottom = plot
    highest = max((v for _, _, values in series for v in values), default=0)
    axis_top = nice_max(highest)
    step = (right - left) / max(len(days) - 1, 1)

    def x_of(i: int) -> float:
        return round(left + i * step, 1) if len(days) > 1 else (left + right) / 2

    def y_of(value: float) -> float:
        return round(bottom - (bottom - top) * value / axis_top, 1)

    lines = []
    for name, css_class, values in series:
        dots = tuple((x_of(i), y_of(v)) for i, v in enumerate(values))
        lines.append(Series(name, css_class, " ".join(f"{x},{y}" for x, y in dots), dots))
    return Chart(
        WIDTH, HEIGHT, *plot, y_ticks=_y_ticks(axis_top, top, bottom), x_ticks=_x_ticks(days, x_of),
        series=tuple(lines), empty=highest == 0,
    )  # fmt: skip


def column_chart(days: list[date], values: list[float | None], unit: str = "") -> Chart:
    """A column per day (None: nothing to measure that day, no column)."""
    plot = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM)
    left, right, top, bottom = plot
    highest = max((v for v in values if v is not None), default=0)
    axis_top = nice_max(highest, whole=False)
    slot = (right - left) / max(len(days), 1)
    width = max(slot * 0.7, 1)

    def x_of(i: int) -> float:
        return round(left + slot * (i + 0.5), 1)

    bars = []
    for i, value in enumerate(values):
        if value is None:
            continue
        height = round((bottom - top) * value / axis_top, 1)
        label = f"{days[i]:%b} {days[i].day}"
        bars.append(Bar(round(x_of(i) - width / 2, 1), bottom - height, round(width, 1), height, label,
                        _number(value) + unit))  # fmt: skip
    return Chart(
        WIDTH, HEIGHT, *plot, y_ticks=_y_ticks(axis_top, top, bottom, unit), x_ticks=_x_ticks(days, x_of),
        bars=tuple(bars), empty=not bars,
    )  # fmt: skip


def bar_chart(rows: list[tuple[str, float]]) -> Chart:
    """Horizontal bars, one per (label, value), in the order given."""
    label_room = 160
    height = TOP + BAR_ROW * max(len(rows), 1) + BOTTOM
    left, right, top, bottom = label_room, WIDTH - 56, TOP, height - BOTTOM
    axis_top = nice_max(max((v for _, v in rows), default=0))
    bars = tuple(
        Bar(left, top + BAR_ROW * i + 4, round((right - left) * value / axis_top, 1), BAR_ROW - 8,
            label, _number(value))
        for i, (label, value) in enumerate(rows)
    )  # fmt: skip
    x_ticks = tuple(
        Tick(round(left + (right - left) * k / 4, 1), _number(axis_top * k / 4)) for k in range(5)
    )
    return Chart(
        WIDTH, height, left, right, top, bottom, x_ticks=x_ticks, bars=bars,
        empty=not any(v for _, v in rows),
    )  # fmt: skip
