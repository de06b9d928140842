"""The capture source: video files decoded by OpenCV, played against a clock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from drivers.camera import CaptureError, CaptureSource
from drivers.readings import Frame
from edge.clock import ManualClock
from tests.sim_fixtures import wait_for, write_video


def test_file_is_decoded_by_opencv_and_paced_by_the_clock(tmp_path: Path) -> None:
    video = tmp_path / "cam.avi"
    write_video(video, frames=6, fps=5.0)
    clock = ManualClock(1000.0)
    cap = CaptureSource("cam-1", str(video), now=clock.now)
    assert cap.pace
    frames: list[Frame] = []
    stop = threading.Event()
    result: list[str] = []
    t = threading.Thread(target=lambda: result.append(cap.run(stop, frames.append)))
    t.start()
    wait_for(lambda: cap.caught_up(clock.now()), what="the first frame")
    assert [f.index for f in frames] == [0]  # the clock has not moved: one frame only
    assert frames[0].image.shape == (64, 96, 3)
    clock.advance(0.2)
    wait_for(lambda: cap.caught_up(clock.now()), what="the second frame")
    assert [f.index for f in frames] == [0, 1]
    clock.advance(0.6)  # three frame periods at once: the stale ones are skipped
    wait_for(lambda: cap.caught_up(clock.now()), what="catching up")
    assert [f.index for f in frames] == [0, 1, 4]
    assert cap.skipped == 2 and cap.latest() is frames[-1]
    assert int(frames[-1].image.mean()) == pytest.approx(40, abs=3)  # really frame 4
    clock.advance(1.0)
    t.join(timeout=5)
    assert result == ["end of stream"]


def test_missing_and_corrupt_sources_raise_capture_error(tmp_path: Path) -> None:
    clock = ManualClock()
    with pytest.raises(CaptureError):
        CaptureSource("c", str(tmp_path / "nope.avi"), now=clock.now).open()
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage" * 50)
    with pytest.raises(CaptureError):
        CaptureSource("c", str(junk), now=clock.now).run(threading.Event())


def test_device_index_is_parsed() -> None:
    assert CaptureSource("c", "0", now=lambda: 0.0).source == 0
    assert CaptureSource("c", "rtsp://cam/stream", now=lambda: 0.0).pace is False
