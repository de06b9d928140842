"""The report's period: `--from`/`--to` dates in the store's time zone, as UTC bounds."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo


class ReportError(Exception):
    """A report cannot be made (no log, an empty period, a bad date): the message says why."""


class BadInput(ReportError):
    """What the user gave is wrong (a date, a time zone): a usage error."""


def _utc_text(dt: datetime) -> str:
    """The event log's time format (RFC 3339, UTC, milliseconds): compared as text."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(frozen=True)
class Period:
    """Whole local days `first`..`last` (inclusive; None: open) in time zone `tz`."""

    tz_name: str = "UTC"
    first: date | None = None
    last: date | None = None

    @property
    def tz(self) -> tzinfo:
        return UTC if self.tz_name == "UTC" else zoneinfo.ZoneInfo(self.tz_name)

    @property
    def since(self) -> str | None:
        """The first instant, as the log's UTC text, or None."""
        if self.first is None:
            return None
        return _utc_text(datetime.combine(self.first, time(), tzinfo=self.tz))

    @property
    def until(self) -> str | None:
        """The instant after the last day (exclusive), or None."""
        if self.last is None:
            return None
        return _utc_text(datetime.combine(self.last + timedelta(days=1), time(),
                                          tzinfo=self.tz))

    def label(self) -> str:
        first = self.first.isoformat() if self.first else "start of the log"
        last = self.last.isoformat() if self.last else "end of the log"
        return f"{first} to {last} ({self.tz_name})"


def parse_day(text: str, flag: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{flag} {text!r}: give a date as YYYY-MM-DD (e.g. 2026-01-05)"
                          ) from None


def period_from_dates(first: str | None, last: str | None, tz_name: str = "UTC") -> Period:
    """`--from`/`--to` as given (YYYY-MM-DD, both inclusive) in time zone `tz_name`."""
    try:
        zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"unknown time zone {tz_name!r}") from None
    d0 = parse_day(first, "--from") if first else None
    d1 = parse_day(last, "--to") if last else None
    if d0 and d1 and d1 < d0:
        raise BadInput(f"--to {d1} is before --from {d0}")
    return Period(tz_name, d0, d1)
