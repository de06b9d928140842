"""`omo-edge report`: tables, PNG charts with Japanese names, the HTML page, date filtering
and clear errors, over a small fixed event log written with the real EventLog."""

from __future__ import annotations

import base64
import os
import re
import struct
import subprocess
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge.cli import main
from edge.eventlog import EventLog
from edge.events import Event, format_time, source_uri
from edge.report import Names, build, period_from_dates
from edge.report.charts import CHARTS, DPI, SIZE_IN, draw
from edge.report.fonts import CJK_FAMILIES, chart_font, missing_glyphs
from edge.report.text import summary

BOOT = "c" * 32
SOURCE = source_uri("store-1", "edge-01")
TEA, COLA = "4901000000011", "4901000000028"
NAMES = {TEA: "緑茶 350ml", COLA: "コーラ 500ml"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Tokyo is UTC+9: 2026-01-05T16:00Z is 01:00 on the 6th there
DAY1 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC).timestamp()  # 10:00 in Tokyo on the 5th
DAY2 = datetime(2026, 1, 6, 2, 0, tzinfo=UTC).timestamp()  # 11:00 in Tokyo on the 6th


def _ev(kind: str, at: float, **data: Any) -> Event:
    return Event.new(kind, data, source=SOURCE, bootid=BOOT, epoch_s=at)


def _day(t0: float, people: int, sold_tea: int, receipt: str) -> list[Event]:
    """One trading hour: footfall, stays, insight windows, a sale, audience and plays,
    and the tea running out for ten minutes."""
    start = format_time(t0)
    return [
        _ev("omo.presence.footfall.window", t0 + 60, counter="door-1", zone="entrance",
            window_start=start, window_s=60, **{"in": people, "out": 0, "occupancy": people}),
        _ev("omo.presence.zone.exited", t0 + 100, visitor="0123456789abcdef", zone="drinks",
            dwell_s=30.0),
        _ev("omo.presence.zone.exited", t0 + 110, visitor="0123456789abcdee", zone="drinks",
            dwell_s=10.0),
        _ev("omo.presence.zone.exited", t0 + 120, visitor="0123456789abcded", zone="entrance",
            dwell_s=4.0),
        _ev("omo.insight.product.interest", t0 + 900, window_start=start, window_s=900,
            products=[{"sku": TEA, "zone": "drinks", "score": 12.5, "zone_s": 300,
                       "attention_s": 60, "picked": 4, "returned": 1},
                      {"sku": COLA, "zone": "drinks", "score": 3.0, "zone_s": 120,
                       "attention_s": 0, "picked": 1, "returned": 0}]),
        _ev("omo.insight.funnel.window", t0 + 900, window_start=start, window_s=900,
            coverage=1.0,
            zones=[{"zone": "drinks", "passed": 20, "stopped": 8, "passed_seen": 20,
                    "stopped_seen": 8}],
            products=[{"sku": TEA, "zone": "drinks", "passed": 20, "stopped": 8, "looked": 5,
                       "picked": 4, "returned": 1, "bought": sold_tea,
                       "picked_not_bought": 0},
                      {"sku": COLA, "zone": "drinks", "passed": 20, "stopped": 8,
                       "looked": 0, "picked": 1, "returned": 0, "bought": 1,
                       "picked_not_bought": 0}]),
        _ev("omo.pos.sale.recorded", t0 + 400, receipt=receipt, sold_at=format_time(t0 + 400),
            via="cloud", lines=[{"sku": TEA, "quantity": sold_tea}, {"sku": COLA,
                                                                       "quantity": 1}]),
        _ev("omo.signage.item.played", t0 + 30, screen="screen-1", item=f"product:{TEA}",
            duration_s=10.0),
        _ev("omo.vision.audience.window", t0 + 60, camera="cam-1", zone="promo", window_s=60,
            passing=10, watchers=4, attention_s=20.0, screen="screen-1"),
        _ev("omo.vision.audience.items", t0 + 900, camera="cam-1", zone="promo",
            screen="screen-1", window_s=900, items=[
                {"item": f"product:{TEA}", "passing": 10, "watchers": 4, "attention_s": 20.0}]),
        _ev("omo.shelf.stock.low", t0 + 200, shelf="shelf-1", plate="p1", sku=TEA,
            remaining=2, threshold=3),
        _ev("omo.shelf.stock.out", t0 + 300, shelf="shelf-1", plate="p1", sku=TEA),
        _ev("omo.shelf.stock.changed", t0 + 900, shelf="shelf-1", plate="p1", sku=TEA,
            count=24, delta=24, reason="restock"),
        # the cola runs out five minutes before the daemon stops: nobody knows what follows
        _ev("omo.shelf.stock.out", t0 + 1000, shelf="shelf-1", plate="p2", sku=COLA),
        _ev("omo.device.daemon.stopped", t0 + 1300, reason="signal", uptime_s=1300.0),
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config (Tokyo time, Japanese product names) beside a two-day event log."""
    tmp = tmp_path_factory.mktemp("report")
    with EventLog(tmp / "events.db") as log:
        log.append_many(_day(DAY1, 30, 2, "R-1") + _day(DAY2, 50, 3, "R-2"))
    (tmp / "config.toml").write_text(f"""
[store]
id = "store-1"
device = "edge-01"
timezone = "Asia/Tokyo"

[storage]
path = "{tmp / 'events.db'}"

[[zones]]
id = "drinks"
name = "飲料"

[[zones]]
id = "entrance"
name = "入口"

[[shelves]]
id = "shelf-1"
port = "/dev/null"
zone = "drinks"
[[shelves.plates]]
id = "p1"
sku = "{TEA}"
unit_grams = 372
name = "{NAMES[TEA]}"
[[shelves.plates]]
id = "p2"
sku = "{COLA}"
unit_grams = 538
name = "{NAMES[COLA]}"
""", encoding="utf-8")
    return tmp


@pytest.fixture(scope="module")
def made(store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("charts")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing" for tofu
        rc, text = _run(["report", "-c", str(store / "config.toml"), "--out", str(out),
                         "--html"])
    assert rc == 0, text
    return out, text


def _run(argv: list[str]) -> tuple[int, str]:
    import contextlib
    import io

    buf, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, buf.getvalue() + err.getvalue()


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_report_writes_every_chart_as_a_png_of_the_set_size(made: tuple[Path, str]
                                                                  ) -> None:
    from matplotlib.image import imread

    out, _ = made
    width, height = int(SIZE_IN[0] * DPI), int(SIZE_IN[1] * DPI)
    for name, _, _ in CHARTS:
        data = (out / f"{name}.png").read_bytes()
        assert _png_size(data) == (width, height), name
        pixels = imread(out / f"{name}.png")  # decodes the whole file: a valid PNG
        assert pixels.shape[:2] == (height, width) and pixels.std() > 0.05, name
        assert 5_000 < len(data) < 300_000, name  # drawn, and small enough to mail


def test_the_tables_add_up_over_both_days(store: Path) -> None:
    r = build([store / "events.db"], period_from_dates(None, None, "Asia/Tokyo"),
              Names(NAMES))
    assert r.footfall.total == 80
    assert r.footfall.by_day == (("2026-01-05", 30), ("2026-01-06", 50))
    assert r.footfall.by_hour[10] == 30 and r.footfall.by_hour[11] == 50  # Tokyo hours
    assert [(d, h[10], h[11]) for d, h in r.footfall.by_day_hour] == [
        ("2026-01-05", 30, 0), ("2026-01-06", 0, 50)]
    drinks = next(x for x in r.dwell if x.zone == "drinks")
    assert (drinks.stays, drinks.median_s) == (4, 20.0)
    assert [x.name for x in r.interest] == [NAMES[TEA], NAMES[COLA]]
    assert r.interest[0].score == 25.0
    tea = next(x for x in r.funnel if x.sku == TEA)
    assert (tea.passed, tea.picked, tea.bought, r.sales_receipts) == (40, 8, 5, 2)
    assert tea.conversion == pytest.approx(5 / 40)
    item = next(x for x in r.audience if x.item == f"product:{TEA}")
    assert (item.label, item.passing, item.watchers, item.plays) == (NAMES[TEA], 20, 8, 2)
    tea_out, cola_out = r.stock
    assert (tea_out.name, tea_out.outs, tea_out.lows, tea_out.out_minutes) == (
        NAMES[TEA], 2, 2, 20.0)
    assert (cola_out.name, cola_out.outs, cola_out.out_minutes) == (NAMES[COLA], 2, 10.0)


def test_japanese_names_are_drawn_with_a_cjk_font(store: Path, tmp_path: Path) -> None:
    from matplotlib import font_manager

    font = chart_font()
    assert font.cjk, "no Japanese font: make fonts (fonts-ipaexfont-gothic)"
    assert font.family in CJK_FAMILIES
    assert missing_glyphs(font, "".join(NAMES.values()) + "飲料入口") == ""
    # matplotlib resolves the charts' family list to that very file
    props = font_manager.FontProperties(family=[font.family, "DejaVu Sans"])
    found = font_manager.findfont(props, fallback_to_default=False)
    assert font.path and os.path.samefile(str(found), font.path)
    r = build([store / "events.db"], period_from_dates(None, None, "Asia/Tokyo"),
              Names(NAMES))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draw(r, tmp_path, font, only=["top-products"])
    assert not [w for w in caught if "missing from" in str(w.message)]


def test_the_dejavu_fallback_would_draw_boxes() -> None:
    from edge.report.fonts import FALLBACK, ChartFont

    assert missing_glyphs(ChartFont(FALLBACK, None, cjk=False), NAMES[TEA]) == "緑茶"


def test_the_text_summary_names_products_and_totals(made: tuple[Path, str]) -> None:
    _, text = made
    assert "2026-01-05 to 2026-01-06 (Asia/Tokyo)" in text
    assert "Footfall: 80 people in over 2 day(s)" in text
    assert NAMES[TEA] in text and "飲料" in text
    assert "Traceback" not in text


def test_the_html_page_is_self_contained(made: tuple[Path, str]) -> None:
    out, _ = made
    page = (out / "report.html").read_text(encoding="utf-8")
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(CHARTS)
    assert {base64.b64decode(d) for d in images} == {
        (out / f"{name}.png").read_bytes() for name, _, _ in CHARTS}
    assert re.findall(r'(?:src|href)="(?!data:)', page) == []  # nothing fetched
    assert "<link" not in page and "<script" not in page
    assert NAMES[TEA] in page


def test_from_and_to_keep_only_those_local_days(store: Path) -> None:
    day2 = build([store / "events.db"], period_from_dates("2026-01-06", "2026-01-06",
                                                          "Asia/Tokyo"), Names(NAMES))
    assert "Footfall: 50 people in over 1 day(s)" in summary(day2)
    r = build([store / "events.db"], period_from_dates("2026-01-05", "2026-01-05",
                                                       "Asia/Tokyo"), Names(NAMES))
    assert r.footfall.by_day == (("2026-01-05", 30),) and r.sales_receipts == 1
    # the same instants in UTC: DAY2's window (02:00Z) is on the 6th too, DAY1's on the 5th
    utc = build([store / "events.db"], period_from_dates("2026-01-06", None, "UTC"))
    assert utc.footfall.total == 50 and utc.footfall.by_hour[2] == 50


@pytest.mark.parametrize("argv, message", [
    (["--from", "5 Jan"], "--from '5 Jan': give a date as YYYY-MM-DD"),
    (["--from", "2026-02-30"], "give a date as YYYY-MM-DD"),
    (["--from", "2026-01-06", "--to", "2026-01-05"], "is before --from"),
])
def test_bad_dates_are_usage_errors(store: Path, argv: list[str], message: str) -> None:
    rc, text = _run(["report", "-c", str(store / "config.toml"), "--out",
                     str(store / "bad"), *argv])
    assert rc == 2 and message in text and "Traceback" not in text


def test_a_period_without_events_says_so(store: Path) -> None:
    rc, text = _run(["report", "-c", str(store / "config.toml"), "--from", "2027-01-01",
                     "--out", str(store / "none")])
    assert rc == 1 and "no events to report" in text and "2027-01-01" in text


def test_an_empty_log_says_so(tmp_path: Path) -> None:
    EventLog(tmp_path / "empty.db").close()
    rc, text = _run(["report", "--db", str(tmp_path / "empty.db"), "--out", str(tmp_path)])
    assert rc == 1 and "no events to report" in text


def test_a_missing_log_is_a_clear_error_without_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "report", "--db", str(tmp_path / "nope.db"),
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1
    assert "no event log at" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_content_items_are_named_for_a_manager() -> None:
    names = Names({"4901": "緑茶"})
    assert names.item("product:4901") == "緑茶"
    assert names.item("asset://promo-spring-sale.png") == "promo-spring-sale"
    assert names.item("https://cdn.example/ads/bento.mp4?v=2") == "bento"
    assert names.item("text:9f2c") == "text:9f2c"
