"""Camera capture: reads frames with OpenCV from a device index or V4L2 path, a GStreamer
pipeline (Pi and Jetson CSI cameras), an RTSP or HTTP URL, or a video file, and keeps only
the newest one.

A source containing " ! " (or starting with a GStreamer source element) is a pipeline and is
opened with `cv2.CAP_GSTREAMER`; it must end in `appsink`. OpenCV's wheels are built without
GStreamer: on a Pi or a Jetson use the distribution's OpenCV (`python3-opencv`) for those.
Live sources ask OpenCV to buffer one frame only. `max_fps` caps the frames delivered
(extra frames are grabbed without decoding and counted); `loop` replays a file from its
start when it ends (the simulator's cameras). A file that is corrupt or cut short ends
the capture with a clear reason (`CaptureError` if it gave no frame at all); frames that
fail to decode are counted.

`read()` and `run()` block (put them on a thread of their own: `drivers.base.ThreadedDriver`):
`read()` gives the next frame and raises `CaptureEnded` when the source fails or ends; `run()`
reads until then and returns why (a `CaptureEnd`). A live source (device, stream) paces
itself; a file is played at its own frame rate against the caller's clock, so a recorded
video stands in for a camera. If the reader falls behind, frames are grabbed without
decoding and skipped: the newest frame is what counts. Frames are never written anywhere by
this module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import cv2

from drivers.base import SensorLost
from drivers.readings import Frame


class FrameGate(Protocol):
    """Holds a capture back until the frame it delivered last was consumed downstream.

    The simulator's lockstep (`edge.services.SimHooks.frame_gate`): its cameras are files
    played against its own clock, which can run faster than the model, so it has every frame
    analysed instead of keeping the newest. A real camera never waits: production sets none.
    """

    def wait(self, last: Frame, stop: threading.Event) -> None:
        """Return once `last` was consumed, `stop` is set, or the gate gives up waiting."""


class CaptureError(RuntimeError):
    """The source cannot be opened or yields no frames."""


class CaptureEnd(StrEnum):
    """Why a capture stopped giving frames."""

    STOPPED = "stopped"  # asked to stop
    END_OF_STREAM = "end of stream"  # a file played to its end
    READ_FAILED = "read failed (camera gone?)"  # a live source stopped answering


class CaptureEnded(SensorLost):
    """The capture stopped giving frames; `reason` says why."""

    def __init__(self, reason: CaptureEnd) -> None:
        super().__init__(str(reason))
        self.reason = reason


GST_ELEMENTS = ("v4l2src", "libcamerasrc", "nvarguscamerasrc", "rtspsrc", "uridecodebin",
                "filesrc", "videotestsrc", "udpsrc", "souphttpsrc")


def parse_source(source: str) -> int | str:
    """A device index ("0") becomes an int; anything else is a URL or a path."""
    return int(source) if source.strip().isdigit() else source


def is_gstreamer(source: int | str) -> bool:
    """True for a GStreamer pipeline string ("v4l2src ! videoconvert ! appsink")."""
    if not isinstance(source, str):
        return False
    text = source.strip()
    return " ! " in text or text.split(" ", 1)[0] in GST_ELEMENTS


def is_url(source: int | str) -> bool:
    return isinstance(source, str) and "://" in source and not is_gstreamer(source)


class CaptureSource:
    def __init__(self, camera: str, source: str, *, now: Callable[[], float],
                 fps: float | None = None, pace: bool | None = None,
                 poll_s: float = 0.002, max_fps: float | None = None,
                 loop: bool = False, gate: FrameGate | None = None) -> None:
        self.camera = camera
        self.gate = gate
        self._handed: Frame | None = None  # the last frame delivered (for the gate)
        self.source = parse_source(source)
        self.now = now
        self.fps = fps
        self.max_fps = max_fps
        self.loop = loop
        self.loops = 0
        self.capped = 0
        self.corrupt = 0
        self._count = 0  # frames in a file, as its container says
        self._last_delivered: float | None = None
        self.pace = pace if pace is not None else (
            isinstance(self.source, str) and Path(self.source).is_file())
        self.poll_s = poll_s
        self.frames = 0
        self.skipped = 0
        self.opens = 0
        self._lock = threading.Lock()
        self._newest: Frame | None = None
        self._cap: cv2.VideoCapture | None = None
        self._rate = fps or 10.0
        self.waiting_for: float | None = None  # the clock time the reader waits for
        self._t_open: float | None = None  # clock time of the first read since open
        self._index = 0

    def latest(self) -> Frame | None:
        with self._lock:
            return self._newest

    def open(self) -> float:
        """Open the source; returns its frame rate. Raises CaptureError."""
        src = self.source
        if isinstance(src, str) and not is_url(src) and not is_gstreamer(src) \
                and not Path(src).exists():
            raise CaptureError(f"{src}: no such file or device")
        try:
            cap = cv2.VideoCapture(src, cv2.CAP_GSTREAMER) if is_gstreamer(src) \
                else cv2.VideoCapture(src)
        except cv2.error as exc:
            raise CaptureError(f"OpenCV cannot open {src!r}: {exc}") from None
        if not cap.isOpened():
            cap.release()
            hint = " (is OpenCV built with GStreamer? the pip wheels are not)" \
                if is_gstreamer(src) else ""
            raise CaptureError(f"OpenCV cannot open {src!r}{hint}")
        if not self.pace:
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # live: no backlog inside OpenCV either
        self._cap = cap
        self.opens += 1
        self._count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if self.pace else 0
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self._rate = fps if fps > 0 else (self.fps or 10.0)
        return self._rate

    def close(self) -> None:
        self._t_open = None
        if self._cap is not None:
            cap, self._cap = self._cap, None
            cap.release()

    def _wait_until(self, when: float, stop: threading.Event) -> bool:
        """Wait for the clock to reach `when`; True if asked to stop."""
        self.waiting_for = when
        try:
            while self.now() < when:
                if stop.wait(self.poll_s):
                    return True
            return stop.is_set()
        finally:
            self.waiting_for = None

    def caught_up(self, now: float) -> bool:
        """True while a paced reader has read every frame due by `now`."""
        w = self.waiting_for
        return w is not None and w > now

    def read(self, stop: threading.Event) -> list[Frame]:
        """The next frame (a file waits for the clock to reach its time), or none if `stop`
        was set. Raises CaptureEnded when the source ends or fails, CaptureError if it gives
        no frame at all; opens the source unless `open()` was called."""
        if self._cap is None:
            self.open()
        if self.gate is not None and self._handed is not None:
            last, self._handed = self._handed, None
            self.gate.wait(last, stop)
            if stop.is_set():
                return []
        while True:
            assert self._cap is not None
            cap, fps = self._cap, self._rate
            if self._t_open is None:
                self._t_open, self._index = self.now(), 0
            t_open = self._t_open
            if self.pace:
                if self._wait_until(t_open + self._index / fps, stop):
                    return []
                # behind: skip frames that are already stale, keep the newest
                while self.now() >= t_open + (self._index + 1) / fps:
                    if not cap.grab():
                        self._end()
                        break
                    self._index += 1
                    self.skipped += 1
                if self._t_open != t_open:  # looped back to the start
                    continue
                due = t_open + self._index / fps
            else:
                due = self.now()
            if self._capped(due):
                if not cap.grab():
                    self._end()
                    continue
                self._index += 1
                self.capped += 1
                if stop.is_set():
                    return []
                continue
            ok, image = cap.read()
            if not ok or image is None:
                if self.pace and self._index + 1 < self._count:
                    self._index += 1  # one damaged frame inside the file: skip it
                    self.corrupt += 1
                    continue
                self._end()
                continue
            frame = Frame(self.camera, self.now(), self._index, image)
            self._index += 1
            self.frames += 1
            self._last_delivered = due
            with self._lock:
                self._newest = frame
            if self.gate is not None:
                self._handed = frame
            return [frame]

    def _capped(self, t: float) -> bool:
        """True if a frame due at `t` comes sooner than `max_fps` allows."""
        return bool(self.max_fps) and self._last_delivered is not None \
            and t - self._last_delivered < 0.999 / float(self.max_fps or 1.0)

    def run(self, stop: threading.Event,
            on_frame: Callable[[Frame], None] | None = None) -> CaptureEnd:
        """Read until `stop` is set or the source ends or fails; returns why. Raises
        CaptureError if the source cannot be opened or gives no frame at all."""
        try:
            while not stop.is_set():
                for frame in self.read(stop):
                    if on_frame is not None:
                        on_frame(frame)
            return CaptureEnd.STOPPED
        except CaptureEnded as end:
            return end.reason
        finally:
            self.close()

    def counters(self) -> dict[str, int]:
        return {"frames": self.frames, "skipped_frames": self.skipped,
                "capped_frames": self.capped, "loops": self.loops,
                "corrupt_frames": self.corrupt}

    def _end(self) -> None:
        """The source gave no frame: loop a file back to its start (when asked and it gave
        frames), else close and raise."""
        index = self._index
        cap = self._cap
        if self.loop and self.pace and index > 0 and self.frames > 0 and cap is not None \
                and self._t_open is not None and cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
            self._t_open += index / self._rate  # the start plays where the end would have
            self._index = 0
            self.loops += 1
            return
        self.close()
        if index == 0 or self.frames == 0:
            raise CaptureError(f"{self.source!r} gave no frames (corrupt or empty?)")
        raise CaptureEnded(CaptureEnd.END_OF_STREAM if self.pace else CaptureEnd.READ_FAILED)
