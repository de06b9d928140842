"""Capture sources beyond the plain file: pipelines, caps, loops, damaged files, newest-only
hand-over (video files written and decoded by OpenCV)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.base import ThreadedDriver
from drivers.camera import CaptureEnd, CaptureError, CaptureSource, is_gstreamer, is_url
from drivers.readings import Frame
from edge.clock import ManualClock
from tests.sim_fixtures import wait_for, write_video


def _noisy_video(path: Path, frames: int, fps: float = 10.0) -> None:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (96, 64))
    assert w.isOpened()
    for i in range(frames):
        w.write(np.random.default_rng(i).integers(0, 255, (64, 96, 3), np.uint8))
    w.release()


def _play(cap: CaptureSource, clock: ManualClock, seconds: float, step: float
          ) -> tuple[list[Frame], list[CaptureEnd]]:
    frames: list[Frame] = []
    result: list[CaptureEnd] = []
    stop = threading.Event()
    t = threading.Thread(target=lambda: result.append(cap.run(stop, frames.append)))
    t.start()
    elapsed = 0.0
    try:
        while elapsed < seconds and t.is_alive():
            wait_for(lambda: cap.caught_up(clock.now()) or not t.is_alive(), what="catch-up")
            clock.advance(step)
            elapsed += step
    finally:
        stop.set()
        t.join(timeout=5)
    return frames, result


def test_pipeline_strings_and_urls_are_told_apart() -> None:
    assert is_gstreamer("v4l2src device=/dev/video0 ! videoconvert ! appsink")
    assert is_gstreamer("nvarguscamerasrc ! nvvidconv ! video/x-raw,format=BGRx ! appsink")
    assert not is_gstreamer("rtsp://cam/stream") and is_url("rtsp://cam/stream")
    assert not is_gstreamer("/dev/video0") and not is_url("/dev/video0")
    assert not is_gstreamer(0)


def test_a_pipeline_opencv_cannot_open_is_a_clear_error() -> None:
    cap = CaptureSource("c", "videotestsrc num-buffers=3 ! videoconvert ! appsink",
                        now=lambda: 0.0)
    if cv2.getBuildInformation().find("GStreamer:                   YES") >= 0:
        pytest.skip("this OpenCV has GStreamer")
    with pytest.raises(CaptureError, match="GStreamer"):
        cap.open()


def test_frame_rate_cap_delivers_at_most_max_fps(tmp_path: Path) -> None:
    video = tmp_path / "v.avi"
    write_video(video, frames=20, fps=10.0)
    clock = ManualClock(0.0)
    cap = CaptureSource("c", str(video), now=clock.now, max_fps=5.0)
    frames, result = _play(cap, clock, 2.5, 0.1)
    assert [f.index for f in frames][:5] == [0, 2, 4, 6, 8]  # every other frame
    assert cap.capped >= 9 and result == [CaptureEnd.END_OF_STREAM]


def test_a_looped_file_starts_again(tmp_path: Path) -> None:
    video = tmp_path / "v.avi"
    write_video(video, frames=5, fps=10.0)
    clock = ManualClock(0.0)
    cap = CaptureSource("c", str(video), now=clock.now, loop=True)
    frames, result = _play(cap, clock, 1.2, 0.1)
    assert [f.index for f in frames][:8] == [0, 1, 2, 3, 4, 0, 1, 2]
    assert cap.loops >= 2 and result == [CaptureEnd.STOPPED]
    assert int(frames[5].image.mean()) == pytest.approx(0, abs=3)  # really frame 0 again


def test_a_truncated_file_plays_what_it_has_then_ends(tmp_path: Path) -> None:
    video = tmp_path / "v.avi"
    _noisy_video(video, 20)
    data = video.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[:len(data) // 2])
    clock = ManualClock(0.0)
    cap = CaptureSource("c", str(cut), now=clock.now)
    frames, result = _play(cap, clock, 3.0, 0.1)
    assert 5 <= len(frames) < 20
    assert result == [CaptureEnd.END_OF_STREAM]
    assert cap.counters()["corrupt_frames"] >= 1  # the cut is counted, not a crash


def test_a_damaged_frame_inside_a_file_is_counted_and_skipped(tmp_path: Path) -> None:
    video = tmp_path / "v.avi"
    _noisy_video(video, 20)
    data = bytearray(video.read_bytes())
    at = len(data) // 3
    data[at:at + 2000] = b"\x55" * 2000
    bad = tmp_path / "bad.avi"
    bad.write_bytes(bytes(data))
    clock = ManualClock(0.0)
    cap = CaptureSource("c", str(bad), now=clock.now)
    frames, result = _play(cap, clock, 3.0, 0.1)
    assert result == [CaptureEnd.END_OF_STREAM]
    # FFmpeg conceals most of the damage (a frame decodes with errors, one is lost): the
    # capture goes on past it to the end of the file, counting what it could not read
    assert len(frames) >= 18 and frames[-1].index >= 18
    assert len(frames) + cap.corrupt <= 20


def test_a_file_of_garbage_gives_a_capture_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.avi"
    junk.write_bytes(bytes(np.random.default_rng(1).integers(0, 255, 50_000, np.uint8)))
    with pytest.raises(CaptureError):
        CaptureSource("c", str(junk), now=lambda: 0.0).run(threading.Event())


def test_threaded_capture_hands_over_the_newest_frame_only(tmp_path: Path) -> None:
    video = tmp_path / "v.avi"
    write_video(video, frames=25, fps=10.0)
    clock = ManualClock(0.0)
    cap = CaptureSource("c", str(video), now=clock.now)

    async def main() -> list[int]:
        driver = ThreadedDriver("camera:c", cap, newest_only=True)
        await driver.open()
        try:
            # the loop does not read while the clock runs over 2 s of frames
            for _ in range(20):
                await asyncio.to_thread(
                    wait_for, lambda: cap.caught_up(clock.now()), 5.0, "catch-up")
                clock.advance(0.1)
            await asyncio.to_thread(wait_for, lambda: cap.caught_up(clock.now()), 5.0, "end")
            await asyncio.sleep(0)  # let the loop run the hand-over callbacks already queued
            batch = await driver.read()
            return [f.index for f in batch]
        finally:
            await driver.close()

    got = asyncio.run(main())
    assert got == [20]  # one batch, the newest; the 20 before it were replaced
    assert cap.frames + cap.skipped == 21  # every frame was read or skipped, one handed over
