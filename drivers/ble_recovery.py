"""When a BLE scan has gone quiet, and which recovery stage comes next.

BlueZ scans are known to stop delivering adverts after hours without any error. The
scanner asks `StaleWatch.due(now)` every few seconds; once no advert has come for `stale_s`
(clock seconds, from the scanner's injected clock), the stages are taken one at a time,
each given another `stale_s` to bring adverts back:

1. RESTART_SCAN: stop and start the scan;
2. POWER_CYCLE: power the adapter off and on through BlueZ, then start the scan;
3. EXIT: give up; the daemon exits non-zero and systemd restarts it.

Any advert resets the watch. Without an adapter to power-cycle (a backend that is not
BlueZ, such as the simulator's), only stage 1 is taken, again every `stale_s`: exiting
cannot fix what a power cycle was never tried on. `stale_s` 0 turns the watch off.
Pure logic, no I/O, no clock of its own.
"""

from __future__ import annotations

from enum import IntEnum


class RecoveryStage(IntEnum):
    NONE = 0
    RESTART_SCAN = 1
    POWER_CYCLE = 2
    EXIT = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class StaleWatch:
    """Tracks the last advert and the recovery stage reached since."""

    def __init__(self, stale_s: float, *, full: bool) -> None:
        """`full`: all three stages (an adapter to power-cycle); else restarts only."""
        self.stale_s = stale_s
        self.full = full
        self.stage = RecoveryStage.NONE
        self.since: float | None = None  # the last advert or recovery step

    def started(self, now: float) -> None:
        """The scan (re)started: the quiet time counts from now; the stage is kept, so a scan
        that keeps failing to start still moves on to the next stage."""
        self.since = now

    def heard(self, now: float) -> RecoveryStage:
        """An advert came; returns the stage that had been reached (NONE if none)."""
        reached, self.stage, self.since = self.stage, RecoveryStage.NONE, now
        return reached

    def quiet_s(self, now: float) -> float:
        return 0.0 if self.since is None else max(0.0, now - self.since)

    def due(self, now: float) -> RecoveryStage | None:
        """The stage to take now, None while adverts are recent (or the watch is off)."""
        if self.stale_s <= 0 or self.since is None or now - self.since < self.stale_s:
            return None
        if not self.full:
            return RecoveryStage.RESTART_SCAN
        return RecoveryStage(min(self.stage + 1, RecoveryStage.EXIT))

    def taken(self, stage: RecoveryStage, now: float) -> None:
        """`stage` was taken at `now` (whether it worked shows in the next adverts)."""
        self.stage = stage
        self.since = now
