"""The controller's clock on the edge's (`drivers/device_clock.py`): jitter, bunched reads,
drift, wraps, restarts and jumps, against the times the controller wrote its lines."""

from __future__ import annotations

import random

import pytest

from drivers.device_clock import WRAP_MS, ClockSettings, DeviceClock

EPOCH = 1_700_000_000.0  # the edge's time at the first line


def _controller(n: int, period_s: float, boot_ms: float, ppm: float = 0.0
                ) -> list[tuple[float, int]]:
    """`n` lines `period_s` apart: (true time, the controller's stamp)."""
    return [(EPOCH + i * period_s,
             int(boot_ms + i * period_s * 1000 * (1 + ppm * 1e-6)) % WRAP_MS) for i in range(n)]


def _read(lines: list[tuple[float, int]], arrivals: list[float], clock: DeviceClock
          ) -> list[tuple[float, float, float]]:
    """Feed `lines` to `clock` in reads: each line is read in the first read at or after
    it was written (`arrivals`, ascending). (true time, date, arrival) per line."""
    out: list[tuple[float, float, float]] = []
    i = 0
    for arrival in arrivals:
        batch = []
        while i < len(lines) and lines[i][0] <= arrival:
            batch.append(lines[i])
            i += 1
        dates = clock.place([ms for _, ms in batch], arrival)
        out += [(t, d, arrival) for (t, _), d in zip(batch, dates, strict=True)]
    return out


def _errors(placed: list[tuple[float, float, float]]) -> list[float]:
    return [d - t for t, d, _ in placed]


def _check_bounds(placed: list[tuple[float, float, float]]) -> None:
    """Never dated after its arrival, never before the line read before it."""
    assert all(d <= a for _, d, a in placed)
    dates = [d for _, d, _ in placed]
    assert dates == sorted(dates)


def test_jittered_reads_are_dated_on_the_controllers_pace() -> None:
    """Reads every 0.2 s (a serial timeout) plus up to 0.15 s of latency: dated on arrival,
    lines are up to 0.3 s off; on the clock, within 5 ms once the first reads are in."""
    rng = random.Random(1)
    lines = _controller(2400, 0.05, 123_456_789)
    arrivals, a = [], EPOCH
    while a < lines[-1][0] + 1:
        a += 0.2
        arrivals.append(a + rng.uniform(0.0, 0.15))
    clock = DeviceClock()
    placed = _read(lines, arrivals, clock)
    _check_bounds(placed)
    assert max(a - t for t, _, a in placed) > 0.25  # what dating on arrival would give
    settled = _errors(placed[100:])
    assert max(abs(e) for e in settled) < 0.005
    assert clock.counters.anchors == 1 and clock.counters.dated == len(lines)


def test_bunched_arrivals_after_a_stall_keep_their_spacing() -> None:
    """A stall of 0.8 s, then every line of it read at once: each keeps its own time (within
    5 ms), where dating on arrival would give them one."""
    lines = _controller(400, 0.05, 5_000)
    arrivals = [EPOCH + k * 0.1 + 0.01 for k in range(60)] + \
        [EPOCH + 6.8] + [EPOCH + 6.8 + k * 0.1 + 0.01 for k in range(1, 140)]
    placed = _read(lines, sorted(set(arrivals)), DeviceClock())
    _check_bounds(placed)
    stalled = [(t, d) for t, d, a in placed if a == EPOCH + 6.8]
    assert len(stalled) >= 15
    assert max(abs(d - t) for t, d in stalled) < 0.015
    assert max(abs(e) for e in _errors(placed[20:])) < 0.015


def test_a_first_read_of_a_backlog_is_dated_on_its_freshest_line() -> None:
    """The first read holds 2 s of lines (the reader opened a port with a backlog): the
    freshest line anchors the clock, so the older ones keep their spacing."""
    lines = _controller(100, 0.05, 42)
    placed = _read(lines, [EPOCH + 2.0 + 0.001, EPOCH + 5.0 + 0.002], DeviceClock())
    assert max(abs(e) for e in _errors(placed)) < 0.003


@pytest.mark.parametrize("ppm", [-100.0, -40.0, 40.0, 100.0])
def test_drift_is_followed(ppm: float) -> None:
    """A controller's clock 40-100 ppm fast or slow, over an hour: with the envelope's fall
    and its rise (`drift_ppm` 200), still within 10 ms; without the rise, a slow clock's
    lines would be dated ever earlier (0.36 s after an hour at 100 ppm). (Reads every
    0.2 s, lines every 0.1 s: the freshest line of a read is 0-0.1 s old, and the envelope
    forgets at the rise's pace, so a few ms of bias remain.)"""
    rng = random.Random(2)
    lines = _controller(36_000, 0.1, 1_000_000, ppm)
    arrivals = [EPOCH + k * 0.2 + rng.uniform(0.0, 0.05) for k in range(1, 18_002)]
    placed = _read(lines, arrivals, DeviceClock())
    _check_bounds(placed)
    assert max(abs(e) for e in _errors(placed[50:])) < 0.01
    stiff = _read(lines, arrivals, DeviceClock(ClockSettings(drift_ppm=0.0)))
    if ppm < 0:
        assert min(_errors(stiff)) < ppm * 3600 * 1e-6 * 0.8


def test_the_clock_wrapping_at_2_32_is_unwrapped() -> None:
    lines = _controller(400, 0.05, WRAP_MS - 7_000)  # wraps 7 s in
    assert lines[-1][1] < lines[0][1]
    clock = DeviceClock()
    placed = _read(lines, [EPOCH + k * 0.25 + 0.002 for k in range(1, 90)], clock)
    _check_bounds(placed)
    assert max(abs(e) for e in _errors(placed)) < 0.01
    assert clock.counters.wraps == 1 and clock.counters.anchors == 1


def test_a_wrap_within_one_read_is_unwrapped() -> None:
    clock = DeviceClock()
    clock.place([WRAP_MS - 500], EPOCH)
    dates = clock.place([WRAP_MS - 300, WRAP_MS - 100, 100, 300], EPOCH + 0.8)
    assert dates == pytest.approx([EPOCH + 0.2, EPOCH + 0.4, EPOCH + 0.6, EPOCH + 0.8])
    assert clock.counters.wraps == 1


def test_a_controller_restart_re_anchors() -> None:
    """The controller restarts (its clock goes back to 0) 10 s in: counted, re-anchored,
    and the lines after it dated on the new clock."""
    before = _controller(200, 0.05, 9_000_000)
    after = [(t + 10.5, ms) for t, ms in _controller(200, 0.05, 0)]
    clock = DeviceClock()
    placed = _read(before + after, [EPOCH + k * 0.1 + 0.003 for k in range(1, 211)], clock)
    _check_bounds(placed)
    assert clock.counters.resets == 1 and clock.counters.anchors == 2
    assert max(abs(e) for e in _errors(placed)) < 0.06  # the read that holds the restart
    assert max(abs(e) for e in _errors(placed[-150:])) < 0.005


def test_a_restart_within_one_read_dates_each_part_on_its_own_clock() -> None:
    clock = DeviceClock()
    clock.place([50_000], EPOCH)
    dates = clock.place([50_100, 50_200, 3, 103], EPOCH + 0.5)
    assert dates[:2] == pytest.approx([EPOCH + 0.1, EPOCH + 0.2])
    assert dates[2:] == pytest.approx([EPOCH + 0.4, EPOCH + 0.5])
    assert clock.counters.resets == 1


def test_a_forward_jump_re_anchors_at_once() -> None:
    clock = DeviceClock()
    for k in range(10):
        clock.place([1000 + k * 100], EPOCH + k * 0.1)
    jumped = clock.place([500_000], EPOCH + 1.0)
    assert jumped == [pytest.approx(EPOCH + 1.0)]
    assert clock.place([500_100], EPOCH + 1.1) == [pytest.approx(EPOCH + 1.1)]
    assert clock.counters.jumps == 1 and clock.counters.anchors == 2


def test_the_edges_clock_stepping_forward_re_anchors_after_late_s() -> None:
    """The edge's clock steps 30 s forward (NTP): every line then looks 30 s late. A stall
    never lasts that long, so after `late_s` the clock re-anchors."""
    clock = DeviceClock(ClockSettings(late_s=10.0))
    for k in range(20):
        clock.place([k * 100], EPOCH + k * 0.1)
    stepped = [clock.place([2000 + k * 100], EPOCH + 30 + 2.0 + k * 0.1)[0] for k in range(150)]
    assert stepped[0] == pytest.approx(EPOCH + 2.0)  # a stall, as far as it can tell
    assert clock.counters.jumps == 1
    assert stepped[-1] == pytest.approx(EPOCH + 30 + 2.0 + 149 * 0.1)


def test_no_stamps_no_dates() -> None:
    assert DeviceClock().place([], EPOCH) == []


def test_a_half_wrap_step_is_never_dated_after_its_read() -> None:
    """A step of just under 2^31 ms is taken as a wrap; re-anchored on a bound of
    -4.29e6 s, the float sum once dated the line 4e-10 s after the read (found by the
    reader's fuzz test)."""
    for reads in ([[2147483652, 3]], [[2147483652], [3]]):
        clock = DeviceClock()
        dates = [d for stamps in reads for d in clock.place(stamps, 2.0)]
        assert dates and all(d <= 2.0 for d in dates)
