"""Charts drawn on the server as SVG: the geometry here, the markup in templates/reports/_charts.html.

No script and no inline style (the Content-Security-Policy allows neither): shapes carry classes
that webapp/static/css/reports.css colours. Every chart is shown with the table of its figures.

A chart has no viewBox: it is as wide as its card and drawn in CSS pixels, so its labels keep
their size (reports.css) at every width instead of shrinking with the drawing. Across, positions
are percentages of the plot's width; down, pixels. The axis labels sit in the chart's margins
(reports.css), outside the plot. Lines, which cannot take percentages, are drawn in a plot of
their own that stretches to the width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

HEIGHT = 220
TOP = 12
BOTTOM = 28  # room for the x axis labels
UNIT_ROOM = 20  # room above the y axis for its unit
BAR_ROW = 40  # one bar of a horizontal bar chart, its name above it
BAR_HEIGHT = 14
LINE_PLOT_WIDTH = 1000  # the stretched plot's units across, for lines
NARROW_TICKS = 3  # labels across a narrow chart (reports.css hides the others)
WIDE_TICKS = 6


@dataclass(frozen=True)
class Tick:
    position: float  # across: a percentage of the plot's width; down: pixels
    label: str
    css_class: str = ""  # "tick-wide" or "tick-narrow": shown on a wide or a narrow chart only


@dataclass(frozen=True)
class Series:
    name: str
    css_class: str
    points: str  # "x,y x,y …" for a polyline in the stretched plot (x out of LINE_PLOT_WIDTH)
    dots: tuple[tuple[float, float], ...]  # (percentage across, pixels down)


@dataclass(frozen=True)
class Bar:
    x: float  # percentages of the plot's width
    y: float  # pixels
    width: float
    height: float
    label: str
    value_label: str


@dataclass(frozen=True)
class Chart:
    height: int
    plot_top: float
    plot_bottom: float
    y_ticks: tuple[Tick, ...] = ()
    x_ticks: tuple[Tick, ...] = ()
    series: tuple[Series, ...] = ()
    bars: tuple[Bar, ...] = ()
    empty: bool = False
    y_unit: str = ""  # the y axis's unit, written above it (its labels are bare numbers)
    line_plot_width: int = LINE_PLOT_WIDTH


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


def _y_ticks(top: float, plot_top: float, plot_bottom: float) -> tuple[Tick, ...]:
    return tuple(Tick(plot_bottom - (plot_bottom - plot_top) * k / 4, _number(top * k / 4)) for k in range(5))


def _spread(count: int, wanted: int) -> set[int]:
    """`wanted` indexes out of `count`, evenly spread, the first and last among them."""
    wanted = min(count, wanted)
    return {round(k * (count - 1) / max(wanted - 1, 1)) for k in range(wanted)}


def _x_ticks(days: list[date], x_of) -> tuple[Tick, ...]:
    """Dated ticks: a handful on a wide chart, three (first, middle, last day) on a narrow one,
    where more would run into each other."""
    if not days:
        return ()
    narrow = _spread(len(days), NARROW_TICKS)
    wide = _spread(len(days), WIDE_TICKS)
    shown = {i: "" if i in wide and i in narrow else "tick-wide" if i in wide else "tick-narrow"
             for i in wide | narrow}  # fmt: skip
    return tuple(Tick(x_of(i), f"{days[i]:%b} {days[i].day}", shown[i]) for i in sorted(shown))


def line_chart(days: list[date], series: list[tuple[str, str, list[float]]]) -> Chart:
    """One line per series (name, CSS class, a value per day) over the days."""
    top, bottom = TOP, HEIGHT - BOTTOM
    highest = max((v for _, _, values in series for v in values), default=0)
    axis_top = nice_max(highest)

    def x_of(i: int) -> float:
        return round(100 * i / (len(days) - 1), 2) if len(days) > 1 else 50.0

    def y_of(value: float) -> float:
        return round(bottom - (bottom - top) * value / axis_top, 1)

    lines = []
    for name, css_class, values in series:
        dots = tuple((x_of(i), y_of(v)) for i, v in enumerate(values))
        points = " ".join(f"{round(x * LINE_PLOT_WIDTH / 100, 1)},{y}" for x, y in dots)
        lines.append(Series(name, css_class, points, dots))
    return Chart(
        HEIGHT, top, bottom, y_ticks=_y_ticks(axis_top, top, bottom), x_ticks=_x_ticks(days, x_of),
        series=tuple(lines), empty=highest == 0,
    )  # fmt: skip


def column_chart(days: list[date], values: list[float | None], unit: str = "") -> Chart:
    """A column per day (None: nothing to measure that day, no column); `unit` names the values
    (e.g. "min"), above the y axis and after each column's value."""
    top, bottom = TOP + (UNIT_ROOM if unit else 0), HEIGHT - BOTTOM
    highest = max((v for v in values if v is not None), default=0)
    axis_top = nice_max(highest, whole=False)
    slot = 100 / max(len(days), 1)
    width = slot * 0.7

    def x_of(i: int) -> float:
        return round(slot * (i + 0.5), 2)

    bars = []
    for i, value in enumerate(values):
        if value is None:
            continue
        height = round((bottom - top) * value / axis_top, 1)
        label = f"{days[i]:%b} {days[i].day}"
        bars.append(Bar(round(x_of(i) - width / 2, 2), bottom - height, round(width, 2), height, label,
                        f"{_number(value)} {unit}".rstrip()))  # fmt: skip
    return Chart(
        HEIGHT, top, bottom, y_ticks=_y_ticks(axis_top, top, bottom), x_ticks=_x_ticks(days, x_of),
        bars=tuple(bars), empty=not bars, y_unit=unit,
    )  # fmt: skip


def bar_chart(rows: list[tuple[str, float]]) -> Chart:
    """Horizontal bars, one per (label, value), in the order given, each named above it."""
    height = TOP + BAR_ROW * max(len(rows), 1) + BOTTOM
    top, bottom = TOP, height - BOTTOM
    axis_top = nice_max(max((v for _, v in rows), default=0))
    bars = tuple(
        Bar(0, top + BAR_ROW * (i + 1) - BAR_HEIGHT - 4, round(100 * value / axis_top, 2), BAR_HEIGHT,
            label, _number(value))
        for i, (label, value) in enumerate(rows)
    )  # fmt: skip
    x_ticks = tuple(Tick(25.0 * k, _number(axis_top * k / 4), "tick-wide" if k % 2 else "") for k in range(5))
    return Chart(height, top, bottom, x_ticks=x_ticks, bars=bars, empty=not any(v for _, v in rows))
