"""A shelf controller's own clock, mapped onto the edge's (docs/shelf-protocol.md, "The
controller's clock").

An omo controller may stamp each line with its millisecond clock (uint32, wrapping at 2^32).
The edge reads a line some time after the controller wrote it (USB-serial latency, the
reader's read timeout batching lines, a busy machine), never before. So with `offset` the
edge's time at the controller's millisecond 0, every line satisfies

    arrival - ms / 1000 >= offset

and the lowest such bound seen (the lower envelope) is the offset plus the least latency.
A line is dated `ms / 1000 + offset`: its controller's pace, not its reader's.

- All the lines of one read arrived together, so the freshest (the largest `ms`) gives the
  tightest bound; a read's lines are dated with the offset found after all of them.
- The two clocks drift apart (a crystal's tolerance, tens of ppm): the envelope falls by
  itself when the controller's clock runs fast, and is let rise at `drift_ppm` of the
  controller's elapsed time when it runs slow.
- The clock is unwrapped across 2^32. It going backwards is the controller restarting
  (`resets`); the bound falling by more than `jump_s` at once is a jump of the controller's
  clock (or of the edge's); every line read more than `jump_s` late for `late_s` on end is
  the edge's clock stepped forward (`jumps`). Each re-anchors: the offset is that line's
  bound again.
- A line is never dated after its arrival, nor before the line read before it.
"""

from __future__ import annotations

from dataclasses import dataclass

WRAP_MS = 1 << 32  # the controller's clock is a uint32 of milliseconds
HALF_WRAP_MS = 1 << 31  # a step back of less than this, modulo 2^32, is a step back


@dataclass(frozen=True)
class ClockSettings:
    drift_ppm: float = 200.0  # how fast the offset may rise: the controller's clock runs slow
    jump_s: float = 1.0  # the bound falling by more at once: a jump, re-anchored
    late_s: float = 60.0  # lines all read more than jump_s late this long (s): re-anchored


@dataclass
class ClockState:
    anchored: bool = False
    offset: float = 0.0  # the edge's time at the controller's (unwrapped) millisecond 0
    wrapped_ms: int = 0  # 2^32 per wrap since the anchor
    last_ms: int = 0  # the last stamp, as sent
    last_device_s: float = 0.0  # the last stamp, unwrapped, in seconds
    last_date: float = float("-inf")
    late_since: float | None = None  # the edge's time of the first of a run of late reads


@dataclass
class ClockCounters:
    dated: int = 0  # lines dated on the controller's clock
    anchors: int = 0  # the first line, and every re-anchor
    wraps: int = 0
    resets: int = 0  # the clock went backwards: the controller restarted
    jumps: int = 0  # the clock jumped forward, or the lines stayed late (the edge's clock)


class DeviceClock:
    """One controller's clock on the edge's: `place` dates the stamps of one read."""

    def __init__(self, settings: ClockSettings | None = None) -> None:
        self.settings = settings or ClockSettings()
        self.state = ClockState()
        self.counters = ClockCounters()

    def place(self, stamps: list[int], arrival: float) -> list[float]:
        """The edge's times of one read's stamps (0 <= ms < 2^32, in the order the
        controller wrote them), read at `arrival`. A wrap or a restart within the read
        splits it: each part is dated on its own offset."""
        if not stamps:
            return []
        self.counters.dated += len(stamps)
        if sorted(stamps) == stamps:
            return self._run(stamps, arrival)
        dates: list[float] = []
        start = 0
        for i in range(1, len(stamps)):
            if stamps[i] < stamps[i - 1]:
                dates += self._run(stamps[start:i], arrival)
                start = i
        return dates + self._run(stamps[start:], arrival)

    def _run(self, stamps: list[int], arrival: float) -> list[float]:
        """Date a run of non-decreasing stamps: follow the clock to its first stamp, move
        the offset by its last, and date them all."""
        st = self.state
        fresh = self._follow(stamps[0])
        device_s = (st.wrapped_ms + stamps[-1]) / 1000
        bound = arrival - device_s
        offset = bound if fresh else self._offset(bound, device_s, arrival)
        st.offset = offset
        st.last_ms = stamps[-1]
        st.last_device_s = device_s
        shift = offset + st.wrapped_ms / 1000
        dates = [ms / 1000 + shift for ms in stamps]
        if dates[0] < st.last_date:
            floor = st.last_date
            dates = [max(d, floor) for d in dates]
        if dates[-1] > arrival:  # the offset's float sum may land a hair after the read
            dates = [min(d, arrival) for d in dates]
        st.last_date = dates[-1]
        return dates

    def _follow(self, ms: int) -> bool:
        """Take the clock on to `ms`, the first stamp of a run: True when that anchors it
        afresh (the first stamp, or the controller restarted)."""
        st, c = self.state, self.counters
        if st.anchored and (ms - st.last_ms) % WRAP_MS < HALF_WRAP_MS:
            if ms < st.last_ms:
                st.wrapped_ms += WRAP_MS
                c.wraps += 1
            return False
        if st.anchored:
            c.resets += 1
        c.anchors += 1
        st.anchored = True
        st.wrapped_ms = 0
        st.late_since = None
        return True

    def _offset(self, bound: float, device_s: float, arrival: float) -> float:
        """The offset after a read whose freshest line gives `bound`: the lower envelope,
        let rise with the drift; or `bound` again on a jump."""
        st, s = self.state, self.settings
        rising = st.offset + s.drift_ppm * 1e-6 * max(0.0, device_s - st.last_device_s)
        if bound < rising - s.jump_s:  # the controller's clock leapt ahead (or the edge's back)
            return self._reanchor(bound)
        if bound > rising + s.jump_s:  # read late: a stall, or the edge's clock stepped on
            if st.late_since is None:
                st.late_since = arrival
            elif arrival - st.late_since >= s.late_s:
                return self._reanchor(bound)
        else:
            st.late_since = None
        return min(rising, bound)

    def _reanchor(self, bound: float) -> float:
        self.counters.jumps += 1
        self.counters.anchors += 1
        self.state.late_since = None
        return bound
