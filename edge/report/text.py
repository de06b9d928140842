"""The report as plain text: what `omo-edge report` prints."""

from __future__ import annotations

import unicodedata

from edge.report.tables import SCREEN_TOTAL, Report

TOP_N = 10


def _width(text: str) -> int:
    """Terminal columns: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, cols: int) -> str:
    return text + " " * max(0, cols - _width(text))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    cols = [max(_width(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = [_pad(h, c) if i == 0 else h.rjust(c) for i, (h, c) in enumerate(zip(head, cols,
                                                                                  strict=True))]
    out = ["  " + "  ".join(fmt)]
    for r in rows:
        out.append("  " + "  ".join(_pad(v, c) if i == 0 else v.rjust(c + len(v) - _width(v))
                                    for i, (v, c) in enumerate(zip(r, cols, strict=True))))
    return out


def summary(r: Report) -> str:
    lines = [f"Store report {r.span()}: {r.events} events"]
    if r.skipped:
        lines.append("  skipped (malformed): " + ", ".join(
            f"{t} {n}" for t, n in sorted(r.skipped.items())))
    f = r.footfall
    lines += ["", f"Footfall: {f.total} people in over {f.days} day(s)"]
    if f.total:
        lines += _table(["date", "people in"], [[d, str(n)] for d, n in f.by_day])
        busiest = max(range(24), key=lambda h: f.by_hour[h])
        lines.append(f"  busiest hour: {busiest:02d}:00-{busiest + 1:02d}:00 "
                     f"({f.by_hour[busiest]} people in)")
    lines += ["", "Dwell by zone (seconds per stay)"]
    lines += _table(["zone", "stays", "median", "mean", "p90"],
                    [[x.name, str(x.stays), f"{x.median_s:.0f}", f"{x.mean_s:.0f}",
                      f"{x.p90_s:.0f}"] for x in r.dwell]) if r.dwell else ["  none"]
    lines += ["", f"Top {TOP_N} products by interest (points)"]
    lines += _table(["product", "score", "zone s", "attention s", "picked", "returned"],
                    [[x.name, f"{x.score:.1f}", f"{x.zone_s:.0f}", f"{x.attention_s:.0f}",
                      str(x.picked), str(x.returned)] for x in r.interest[:TOP_N]]
                    ) if r.interest else ["  none"]
    lines += ["", f"Funnel per product ({r.sales_receipts} receipts; conversion = units "
                  "bought per shopper passing the zone)"]
    lines += _table(["product", "passed", "stopped", "looked", "picked", "returned", "bought",
                     "conversion", "pick->buy"],
                    [[x.name, str(x.passed), str(x.stopped), str(x.looked), str(x.picked),
                      str(x.returned), str(x.bought), _pct(x.conversion), _pct(x.pick_to_buy)]
                     for x in r.funnel]) if r.funnel else ["  none"]
    lines += ["", "Screen audience per content item"]
    lines += _table(["screen / item", "passing", "watchers", "watched", "attention s", "plays",
                     "on screen s"],
                    [[f"{x.screen} / {'all content' if x.item == SCREEN_TOTAL else x.label}",
                      str(x.passing), str(x.watchers), _pct(x.watch_rate),
                      f"{x.attention_s:.0f}", str(x.plays), f"{x.shown_s:.0f}"]
                     for x in r.audience]) if r.audience else ["  none"]
    rows = [x for x in r.stock if x.outs or x.lows]
    lines += ["", "Stock-outs"]
    lines += _table(["product (shelf/plate)", "ran out", "low", "minutes out"],
                    [[f"{x.name} ({x.shelf}/{x.plate})", str(x.outs), str(x.lows),
                      f"{x.out_minutes:.0f}"] for x in rows]) if rows else ["  none"]
    return "\n".join(lines)
