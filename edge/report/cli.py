"""`omo-edge report [--from D] [--to D] [--out DIR] [--html]`: the store manager's report from
the event log (read-only: safe while the daemon runs). Prints the tables, writes the PNG
charts to DIR and, with --html, one self-contained page."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HELP = "the store manager's report: footfall, dwell, interest, funnel, audience, stock-outs"
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
HTML_NAME = "report.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="PATH",
                        help="store config (TOML): the event log, the time zone, product and "
                             "zone names; default $OMO_EDGE_CONFIG or /etc/omo-edge/config.toml")
    parser.add_argument("--db", action="append", metavar="PATH",
                        help="an event log file instead of the config's (repeat to report "
                             "over several logs, e.g. one per simulated day)")
    parser.add_argument("--from", dest="first", metavar="YYYY-MM-DD",
                        help="first day (inclusive, the store's local time: store.timezone)")
    parser.add_argument("--to", dest="last", metavar="YYYY-MM-DD",
                        help="last day (inclusive)")
    parser.add_argument("--out", type=Path, default=Path("report"), metavar="DIR",
                        help="where the PNG charts go (default ./report)")
    parser.add_argument("--html", action="store_true",
                        help=f"also write DIR/{HTML_NAME}: one page with the charts inlined")
    parser.add_argument("--tz", metavar="ZONE",
                        help="time zone for dates and hours (default store.timezone, or UTC "
                             "without a config)")


def _err(message: str) -> int:
    print(f"omo-edge report: {message}", file=sys.stderr)
    return EXIT_FAIL


def main(args: argparse.Namespace) -> int:
    from edge.config import DEFAULT_PATH, ConfigError, load
    from edge.report.charts import draw
    from edge.report.fonts import INSTALL_HINT, chart_font
    from edge.report.html import page
    from edge.report.period import BadInput, ReportError, period_from_dates
    from edge.report.tables import Names, build
    from edge.report.text import summary

    given = args.config or os.environ.get("OMO_EDGE_CONFIG")
    path = Path(given) if given else DEFAULT_PATH
    config = None
    if given or not args.db or path.exists():
        try:
            config = load(path, require_secrets=False)
        except ConfigError as exc:
            print(f"omo-edge report: config error in {path}:", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return EXIT_USAGE
    logs = [Path(p) for p in args.db] if args.db else [config.storage.path] if config else []
    names = Names()
    tz = "UTC"
    if config is not None:
        names = Names({p.sku: p.name for s in config.shelves for p in s.plates if p.name},
                      {z.id: z.name for z in config.zones if z.name})
        tz = config.timezone
    try:
        period = period_from_dates(args.first, args.last, args.tz or tz)
        report = build(logs, period, names)
    except ReportError as exc:
        print(f"omo-edge report: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, BadInput) else EXIT_FAIL
    font = chart_font()
    if not font.cjk:
        print("omo-edge report: warning: no Japanese font found; Japanese names will show as "
              f"boxes in the charts. Install one:  {INSTALL_HINT}", file=sys.stderr)
    try:
        charts = draw(report, args.out, font)
        if args.html:
            (args.out / HTML_NAME).write_text(page(report, charts), encoding="utf-8")
    except OSError as exc:
        return _err(f"cannot write to {args.out}: {exc.strerror or exc}")
    print(summary(report))
    print()
    print(f"charts: {', '.join(str(c.path) for c in charts)}")
    if args.html:
        print(f"page: {args.out / HTML_NAME}")
    return EXIT_OK
