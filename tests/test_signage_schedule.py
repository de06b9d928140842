"""Schedule slots and screen hours in the store's time zone, across midnight."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

from signage.schedule import Schedule
from tests.signage_fixtures import config

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def at(day: int, hour: int, minute: int = 0) -> float:
    # 2026-11-30 is a Monday
    monday = dt.datetime(2026, 11, 30, hour, minute, tzinfo=TOKYO)
    return (monday + dt.timedelta(days=day)).timestamp()


def test_slots_by_weekday_time_and_past_midnight(tmp_path: Path) -> None:
    cfg = config(tmp_path, on="07:00", off="01:00", schedule=[
        {"playlist": "night", "days": ["fri"], "start": "22:00", "end": "02:00"},
        {"playlist": "breakfast", "days": ["mon", "tue", "wed", "thu", "fri"],
         "start": "06:00", "end": "10:30"}])
    s = Schedule(cfg.screens[0], TOKYO)
    assert s.playlist(at(0, 6, 0)) == "breakfast"  # Monday 06:00
    assert s.playlist(at(0, 10, 30)) == "default"  # the end is exclusive
    assert s.playlist(at(5, 8)) == "default"  # Saturday morning
    assert s.playlist(at(4, 23)) == "night"  # Friday 23:00
    assert s.playlist(at(5, 1, 59)) == "night"  # Saturday 01:59 belongs to Friday's slot
    assert s.playlist(at(3, 23)) == "default"  # Thursday 23:00
    # 07:00 on, 01:00 off: on until past midnight
    assert s.screen_on(at(0, 7)) and s.screen_on(at(0, 0, 30))
    assert not s.screen_on(at(0, 1)) and not s.screen_on(at(0, 6, 59))
    utc = dt.datetime(2026, 11, 29, 21, 0, tzinfo=dt.UTC).timestamp()  # Monday 06:00 Tokyo
    assert s.playlist(utc) == "breakfast"
