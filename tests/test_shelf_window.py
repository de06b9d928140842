"""The detector's per-sample stability check (written out in `PlateDetector.add` for speed)
against `PlateDetector.stable_level`, the plain statement of it: the same level to the last
bit, on every sample, for the default window and others."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from edge.shelf.detector import DetectorSettings, Phase, PlateDetector

# weights near a level, with the spread and trend around their limits (8 g and 3.5 g), now
# and then a step; signed zeros included (a sum from 0 turns -0.0 into 0.0)
STEP = st.one_of(st.floats(-6.0, 6.0), st.sampled_from([0.0, -0.0, 4.0, -4.0, 8.0, -8.0]),
                 st.floats(-400.0, 400.0))


def _check(window: int, base: float, steps: list[float]) -> None:
    det = PlateDetector(100.0, DetectorSettings(window=window))
    grams = base
    for i, step in enumerate(steps):
        grams = grams + step if i % 7 else step * 0.5 + base  # back near the base now and then
        det.add(float(i) / 4, grams)
        level = det.stable_level()
        if det.phase is Phase.LEARNING:
            assert level is None
        elif det.phase is Phase.IDLE:  # stayed or came idle: the baseline is the level
            assert level is not None and repr(det.baseline) == repr(level), (steps, i)


@settings(max_examples=300, derandomize=True, deadline=None)
@example(base=-0.0, steps=[-0.0] * 8)  # an empty plate reporting "-0.0": the level is 0.0
@given(base=st.one_of(st.floats(-30_000.0, 30_000.0), st.sampled_from([0.0, -0.0])),
       steps=st.lists(STEP, min_size=6, max_size=60))
def test_the_default_window_gives_stable_levels_bit_for_bit(base: float,
                                                            steps: list[float]) -> None:
    _check(6, base, steps)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(window=st.sampled_from([3, 4, 5, 7, 8]), base=st.floats(-30_000.0, 30_000.0),
       steps=st.lists(STEP, min_size=6, max_size=40))
def test_other_windows_give_stable_levels_bit_for_bit(window: int, base: float,
                                                      steps: list[float]) -> None:
    _check(window, base, steps)


def test_a_noisy_plate_at_rest_is_idle_at_its_mean() -> None:
    det = PlateDetector(100.0)
    for i, g in enumerate([1000.2, 999.1, 1001.3, 1000.0, 998.9, 1000.7, 1000.4]):
        det.add(i / 4, g)
    assert det.phase is Phase.IDLE
    assert det.baseline == sum([999.1, 1001.3, 1000.0, 998.9, 1000.7, 1000.4]) / 6
