"""The contract page's spend chart, drawn on the server as SVG: cumulative spend per day (a line from the start to
today), the budget (a horizontal line, with the 80 % warning level), today (a vertical marker) and the forecast to
the end date at the current rate (dashed). :func:`chart` works out the geometry; ``_contract_spend.html`` draws it
with its labels in the page's language, and a table with the same figures follows it for screen readers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from .metering import SpendPicture

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 16, 40


@dataclass(frozen=True)
class SpendChart:
    width: int
    height: int
    left: int
    top: int
    plot_width: float
    plot_height: float
    points: str                                 # the cumulative spend, "x,y x,y ..."
    forecast: tuple[float, float, float, float] | None     # x1, y1, x2, y2
    budget_y: float
    warn_y: float
    today_x: float | None
    y_ticks: list[tuple[float, float]]          # (euros, y)
    x_labels: list[tuple[date, float]]          # (day, x)
    last: tuple[float, float] | None            # the latest point


def _nice_step(top: float, count: int = 5) -> float:
    raw = top / count
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def chart(view: SpendPicture, *, starts_on: date, ends_on: date) -> SpendChart:
    """The geometry of the spend chart of one contract (this module's documentation)."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = max((ends_on - starts_on).days + 1, 1)
    top_value = float(max(view.budget, view.forecast, view.spent, Decimal("1"))) * 1.1
    step = _nice_step(top_value)
    top_value = math.ceil(top_value / step) * step

    def x(day: date, end_of_day: bool = True) -> float:
        offset = (day - starts_on).days + (1 if end_of_day else 0)
        return round(LEFT + plot_width * min(max(offset, 0), span) / span, 1)

    def y(value: float) -> float:
        return round(TOP + plot_height * (1 - value / top_value), 1)

    points = [(x(starts_on, end_of_day=False), y(0))] if view.days else []
    points += [(x(day), y(float(value))) for day, value in view.days]
    forecast = None
    today_x = None
    if starts_on <= view.today <= ends_on:
        today_x = x(view.today)
        if points:
            forecast = (points[-1][0], points[-1][1], x(ends_on), y(float(view.forecast)))
    count = min(6, span)
    labels = [(starts_on + timedelta(days=round(i * (span - 1) / max(count - 1, 1))), 0.0) for i in range(count)]
    labels = [(day, x(day, end_of_day=False) + plot_width / span / 2) for day, _ in dict(labels).items()]
    ticks = [(value, y(value)) for value in [i * step for i in range(int(top_value / step) + 1)]]
    return SpendChart(width=WIDTH, height=HEIGHT, left=LEFT, top=TOP, plot_width=plot_width, plot_height=plot_height,
                      points=" ".join(f"{px},{py}" for px, py in points), forecast=forecast,
                      budget_y=y(float(view.budget)), warn_y=y(float(view.budget) * 0.8), today_x=today_x,
                      y_ticks=ticks, x_labels=labels, last=points[-1] if points else None)
