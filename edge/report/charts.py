"""The report's PNG charts, drawn with matplotlib's Agg backend (no display needed).

One chart per table, always all six (a chart with no data says so), at a fixed pixel size,
titled with the period and with units on the axes. Names are drawn with `fonts.chart_font`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.report.fonts import FALLBACK, ChartFont, chart_font
from edge.report.tables import SCREEN_TOTAL, AudienceRow, Report

DPI = 100
SIZE_IN = (10.0, 5.6)  # 1000 x 560 px
TOP_N = 10
BLUE, ORANGE, GREEN, GREY, RED = "#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f", "#d62728"
MAX_STACKED_DAYS = 10
MIN_ROWS = 6
DAY_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf")
FUNNEL_STAGES = (("passed", "#c6dbef"), ("stopped", "#9ecae1"), ("looked", "#6baed6"),
                 ("picked", "#3182bd"), ("bought", "#08519c"))


@dataclass(frozen=True)
class Chart:
    name: str  # file stem
    title: str
    path: Path


def _figure() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _rows_axis(ax: Any, n: int) -> None:
    """Rows at y = n-1 .. 0 keep a bar's height however few they are (at the top)."""
    ax.set_ylim(n - 0.5 - max(n, MIN_ROWS), n - 0.5)


def _legend_below(ax: Any, ncols: int) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.13), fontsize=9, ncols=ncols,
              frameon=False)


def _empty(fig: Any, message: str) -> None:
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=14, color=GREY, wrap=True,
            transform=ax.transAxes)


def footfall(fig: Any, r: Report) -> None:
    f = r.footfall
    if f.total == 0:
        _empty(fig, "No footfall in this period\n(footfall comes from a door counter)")
        return
    hours = [h for h in range(24) if f.by_hour[h]]
    lo, hi = max(0, hours[0] - 1), min(23, hours[-1] + 1)
    xs = list(range(lo, hi + 1))
    ax = fig.add_subplot()
    if 1 < f.days <= MAX_STACKED_DAYS:  # one colour a day: which days made each hour
        from datetime import date

        bottom = [0] * len(xs)
        for i, (day, per_hour) in enumerate(f.by_day_hour):
            heights = [per_hour[h] for h in xs]
            label = date.fromisoformat(day).strftime("%a %d %b")
            ax.bar(xs, heights, bottom=bottom, width=0.8, color=DAY_COLOURS[i % 10],
                   label=label)
            bottom = [b + v for b, v in zip(bottom, heights, strict=True)]
        ax.legend(title="day", fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        totals = ax.bar(xs, [0] * len(xs), bottom=bottom, width=0.8)
        ax.bar_label(totals, labels=[str(b) if b else "" for b in bottom], padding=2,
                     fontsize=9)
    else:
        bars = ax.bar(xs, [f.by_hour[h] for h in xs], color=BLUE, width=0.8)
        ax.bar_label(bars, padding=2, fontsize=9)
    ax.set_ylim(0, max(f.by_hour) * 1.12)
    ax.set_xticks(xs, [f"{h:02d}:00" for h in xs], rotation=45 if len(xs) > 12 else 0)
    ax.set_xlabel(f"hour of day (local time, {r.period.tz_name})")
    ax.set_ylabel(f"people in (total over {f.days} day{'s' if f.days != 1 else ''})")
    ax.set_title(f"Footfall by hour: {f.total} people in", loc="left")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def dwell(fig: Any, r: Report) -> None:
    rows = r.dwell
    if not rows:
        _empty(fig, "No zone stays in this period\n(dwell comes from BLE presence)")
        return
    ax = fig.add_subplot()
    ys = list(range(len(rows)))[::-1]
    bars = ax.barh(ys, [x.median_s for x in rows], color=BLUE, label="median stay")
    ax.scatter([x.p90_s for x in rows], ys, color=ORANGE, marker="|", s=300, linewidths=3,
               label="9 in 10 stays are shorter than this", zorder=3)
    top = max(max(x.p90_s for x in rows), max(x.median_s for x in rows))
    for bar, x in zip(bars, rows, strict=True):  # beside the bar and its p90 mark
        ax.text(max(x.median_s, x.p90_s) + top * 0.02, bar.get_y() + bar.get_height() / 2,
                f"{x.median_s:.0f} s  ({x.stays} stays)", va="center", fontsize=9)
    ax.set_yticks(ys, [x.name for x in rows])
    _rows_axis(ax, len(rows))
    ax.set_xlabel("time in the zone per stay (seconds)")
    ax.set_title("Dwell by zone: how long a visitor stays", loc="left")
    ax.set_xlim(0, top * 1.3 or 1)
    _legend_below(ax, 2)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def interest(fig: Any, r: Report) -> None:
    rows = r.interest[:TOP_N]
    if not rows:
        _empty(fig, "No product interest in this period\n(from the insight processor)")
        return
    ax = fig.add_subplot()
    ys = list(range(len(rows)))[::-1]
    bars = ax.barh(ys, [x.score for x in rows], color=GREEN)
    ax.bar_label(bars, labels=[f"{x.score:.0f}  ({x.picked} picked)" for x in rows],
                 padding=4, fontsize=9)
    ax.set_yticks(ys, [x.name for x in rows])
    _rows_axis(ax, len(rows))
    ax.set_xlabel("interest score (points: minutes stopped and looking, pick-ups, returns)")
    ax.set_xlim(0, max(x.score for x in rows) * 1.25 or 1)
    ax.set_title(f"Top {len(rows)} products by interest", loc="left")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def funnel(fig: Any, r: Report) -> None:
    rows = r.funnel[:TOP_N]
    if not rows:
        _empty(fig, "No funnel in this period\n(from the insight processor and the POS)")
        return
    left, right = fig.subplots(1, 2, width_ratios=(3, 1.3), sharey=True)
    n = len(FUNNEL_STAGES)
    height = 0.8 / n
    base = list(range(len(rows)))[::-1]
    for i, (stage, colour) in enumerate(FUNNEL_STAGES):
        ys = [y + 0.4 - height * (i + 0.5) for y in base]
        left.barh(ys, [getattr(x, stage) for x in rows], height=height, color=colour,
                  label=stage)
    left.set_yticks(base, [x.name for x in rows])
    _rows_axis(left, len(rows))
    left.set_xlabel("people (passed, stopped, looked) and units (picked, bought)")
    left.legend(loc="upper left", bbox_to_anchor=(0.0, -0.13), fontsize=9, ncols=5,
                frameon=False)
    left.set_title("Funnel per product", loc="left")
    left.grid(axis="x", alpha=0.3)
    left.set_axisbelow(True)
    conv = [100.0 * (x.conversion or 0.0) for x in rows]
    bars = right.barh(base, conv, color=BLUE)
    right.bar_label(bars, labels=[f"{c:.1f}%" if x.passed else "-" for c, x in zip(
        conv, rows, strict=True)], padding=3, fontsize=9)
    right.set_xlim(0, max(conv) * 1.35 or 1)
    right.set_xlabel("conversion (%): units bought\nper 100 shoppers passing its zone")
    right.set_title("Conversion", loc="left")
    right.grid(axis="x", alpha=0.3)
    right.set_axisbelow(True)


def _audience_rows(r: Report) -> list[AudienceRow]:
    """Each screen's whole audience, then the items with the largest audience (then the
    most plays) over every screen. An item fewer than `vision.min_people` people saw in its
    item window is not in the log (k-anonymity)."""
    totals = [x for x in r.audience if x.item == SCREEN_TOTAL]
    items = sorted((x for x in r.audience if x.item != SCREEN_TOTAL and x.passing),
                   key=lambda x: (-x.passing, -x.watchers, -x.plays))
    return (totals + items)[:TOP_N]


def _audience_label(x: AudienceRow, screens: int) -> str:
    if x.item == SCREEN_TOTAL:
        return f"{x.screen}: all content"
    return x.label if screens == 1 else f"{x.label} ({x.screen})"


def audience(fig: Any, r: Report) -> None:
    rows = _audience_rows(r)
    if not rows:
        _empty(fig, "No screen audience in this period\n(from cameras on screens "
                    "(vision) and the signage player's proof of play)")
        return
    screens = {x.screen for x in rows}
    ax = fig.add_subplot()
    base = list(range(len(rows)))[::-1]
    h = 0.38
    ax.barh([y + h / 2 for y in base], [x.passing for x in rows], height=h, color="#9ecae1",
            label="passing (faces seen)")
    bars = ax.barh([y - h / 2 for y in base], [x.watchers for x in rows], height=h,
                   color=BLUE, label="watchers (looked at the screen)")
    ax.bar_label(bars, labels=[", ".join(
        ([f"{100 * x.watch_rate:.0f}% watched"] if x.watch_rate is not None else [])
        + ([f"{x.plays} plays"] if x.plays else [])) for x in rows], padding=3, fontsize=9)
    ax.set_yticks(base, [_audience_label(x, len(screens)) for x in rows])
    _rows_axis(ax, len(rows))
    ax.set_xlabel("people (an item is counted only when enough people saw it in its item "
                  "window to stay anonymous: vision.min_people)")
    ax.set_xlim(0, max(max(x.passing for x in rows), 1) * 1.3)
    ax.set_title("Screen audience per content item", loc="left")
    _legend_below(ax, 2)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def stock_outs(fig: Any, r: Report) -> None:
    from matplotlib.ticker import MaxNLocator

    rows = [x for x in r.stock if x.outs or x.lows][:TOP_N]
    if not rows:
        _empty(fig, "No stock-outs or low stock in this period")
        return
    left, right = fig.subplots(1, 2, sharey=True)
    base = list(range(len(rows)))[::-1]
    h = 0.38
    left.barh([y + h / 2 for y in base], [x.outs for x in rows], height=h, color=RED,
              label="ran out")
    left.barh([y - h / 2 for y in base], [x.lows for x in rows], height=h, color=ORANGE,
              label="fell to low stock")
    left.set_yticks(base, [x.name for x in rows])
    _rows_axis(left, len(rows))
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel("times")
    _legend_below(left, 2)
    left.set_title("Stock-outs and low stock", loc="left")
    left.grid(axis="x", alpha=0.3)
    left.set_axisbelow(True)
    bars = right.barh(base, [x.out_minutes for x in rows], color=RED)
    right.bar_label(bars, labels=[f"{x.out_minutes:.0f} min" for x in rows], padding=3,
                    fontsize=9)
    right.set_xlim(0, max(max(x.out_minutes for x in rows), 1) * 1.3)
    right.set_xlabel("minutes out of stock (until refilled)")
    right.set_title("Time out of stock", loc="left")
    right.grid(axis="x", alpha=0.3)
    right.set_axisbelow(True)


CHARTS: tuple[tuple[str, str, Callable[[Any, Report], None]], ...] = (
    ("footfall-by-hour", "Footfall by hour", footfall),
    ("dwell-by-zone", "Dwell by zone", dwell),
    ("top-products", "Top products by interest", interest),
    ("funnel", "Funnel and conversion per product", funnel),
    ("screen-audience", "Screen audience per content item", audience),
    ("stock-outs", "Stock-outs", stock_outs),
)


def draw(report: Report, out: Path, font: ChartFont | None = None,
         only: Sequence[str] = ()) -> list[Chart]:
    """Write the charts as `out/<name>.png` (all six, or those named in `only`)."""
    from matplotlib import rc_context

    font = font or chart_font()
    out.mkdir(parents=True, exist_ok=True)
    made: list[Chart] = []
    rc: dict[str, Any] = {"font.family": [font.family, FALLBACK], "axes.titlesize": 14,
          "axes.titleweight": "normal", "axes.spines.top": False, "axes.spines.right": False}
    for name, title, draw_one in CHARTS:
        if only and name not in only:
            continue
        path = out / f"{name}.png"
        with rc_context(rc):  # type: ignore[arg-type]  # a plain dict of known keys
            fig = _figure()
            draw_one(fig, report)
            fig.suptitle(f"{title} · {report.span()}", fontsize=10, color=GREY,
                         x=0.99, ha="right")
            fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
        made.append(Chart(name, title, path))
    return made
