"""A camera that vanishes mid-run is reported, retried with back-off and recovered without
restarting the daemon: a video file deleted then replaced, and an MJPEG stream over HTTP
(a real server on loopback) and an RTSP camera (GStreamer's gst-rtsp-server, from Debian)
that stop and come back.

The daemon runs on a manual clock: the test moves it on in small steps while it waits for
what the daemon reports (events, sensor state, counters), so the back-off is clock time."""

from __future__ import annotations

import asyncio
import http.server
import select
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import pytest

from drivers.camera import CaptureSource
from edge.clock import ManualClock
from edge.config import Config, parse
from edge.daemon import Daemon
from edge.eventlog import open_readonly
from edge.services import SimHooks
from tests.sim_fixtures import write_video
from tests.waiting import _Deadline

STATUS = "omo.sensor.status.changed"


def _config(tmp: Path, source: str) -> Config:
    return parse({"store": {"id": "s1", "device": "d1"},
                  "storage": {"path": str(tmp / "events.db"), "min_free_mb": 0},
                  "zones": [{"id": "z"}], "vision": {"enabled": False},
                  "cameras": [{"id": "cam-1", "source": source, "zone": "z", "fps": 10}]},
                 env={})


def _statuses(path: Path) -> list[dict[str, Any]]:
    with open_readonly(path) as log:
        return [dict(s.event.data) for s in log.query(types=[STATUS])]


class Run:
    """The daemon with one camera, its captures, and a way to move its clock on."""

    def __init__(self, config: Config) -> None:
        self.clock = ManualClock(1_767_225_600.0)
        self.captures: list[CaptureSource] = []
        self.daemon = Daemon(config, clock=self.clock, status_every_s=0.05,
                             hooks=SimHooks(capture_opened=lambda _, c: self.captures.append(c)))

    @property
    def capture(self) -> CaptureSource:
        assert len(self.captures) == 1  # one capture, reopened: the daemon never restarted
        return self.captures[0]

    def state(self) -> str:
        return str(self.daemon.services.sensors.get("camera:cam-1"))

    def counters(self) -> dict[str, int]:
        return dict(self.daemon.supervisor.states["camera:cam-1"].counters)

    async def advance_until(self, cond: Callable[[], object], what: str, step: float = 0.1,
                            timeout: float = 30.0) -> None:
        """Move the clock on by `step` until `cond()` holds (polling, with a deadline)."""
        deadline = _Deadline(timeout, what)
        while not cond():
            deadline.check()
            self.clock.advance(step)
            await asyncio.sleep(0.02)


def test_a_deleted_video_file_goes_offline_is_retried_and_recovers_when_replaced(
        tmp_path: Path) -> None:
    video = tmp_path / "cam.avi"
    write_video(video, frames=5, fps=10.0)  # brightness 0, 10, ..., 40
    run = Run(_config(tmp_path, str(video)))

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run.daemon.run(stop, handle_signals=False))
        try:
            # the capture thread counts frames; the source loop then reports it online
            await run.advance_until(lambda: run.captures and run.capture.frames >= 1
                                    and run.state() == "online", "first frame, online")
            video.unlink()  # the camera vanishes (the open file plays out, then it is gone)
            await run.advance_until(lambda: run.state() == "offline", "offline")
            await run.advance_until(lambda: run.counters().get("open_failures", 0) >= 2,
                         "retries that fail")
            assert run.state() == "offline"
            before = run.capture.frames
            replacement = tmp_path / "new.avi"
            frame = np.full((64, 96, 3), 200, np.uint8)
            w = cv2.VideoWriter(str(replacement), cv2.VideoWriter.fourcc(*"MJPG"), 10.0,
                                (96, 64))
            for _ in range(30):
                w.write(frame)
            w.release()
            replacement.rename(video)  # it comes back, with other content
            await run.advance_until(lambda: run.capture.frames >= before + 3
                                    and run.state() == "online", "frames again, online")
            latest = run.capture.latest()
            assert latest is not None and int(latest.image.mean()) > 150  # the new file's
            assert not task.done()
        finally:
            stop.set()
            assert await asyncio.wait_for(task, 20) == 0

    asyncio.run(go())
    statuses = _statuses(tmp_path / "events.db")
    assert [s["status"] for s in statuses] == ["offline", "online"]
    assert statuses[0]["sensor"] == "cam-1" and statuses[0]["kind"] == "camera"
    counters = run.daemon.supervisor.states["camera:cam-1"].counters
    assert counters["disconnects"] == 1 and counters["open_failures"] >= 2
    assert run.capture.opens == 2


# ---------------------------------------------------------------- an MJPEG stream over HTTP
class MjpegServer:
    """multipart/x-mixed-replace JPEG frames of one brightness, on a loopback port, until
    stopped (the listening socket and every open stream are closed)."""

    def __init__(self, port: int, brightness: int) -> None:
        ok, jpeg = cv2.imencode(".jpg", np.full((64, 96, 3), brightness, np.uint8))
        assert ok
        self.jpeg = jpeg.tobytes()
        self.stopping = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while not server.stopping.wait(0.02):  # the camera's own pace
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         b"Content-Length: %d\r\n\r\n" % len(server.jpeg)
                                         + server.jpeg + b"\r\n")
                except OSError:
                    pass  # the reader went away

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StreamServer(Protocol):
    def stop(self) -> None: ...


def _a_stream_stops_and_comes_back(tmp_path: Path, url: str,
                                   serve: Callable[[int], StreamServer]) -> None:
    """The daemon reads `url` from `serve(40)` (grey 40), which then stops; the camera goes
    offline, is retried, and delivers `serve(200)`'s frames when that one starts."""
    server = serve(40)
    run = Run(_config(tmp_path, url))

    async def go() -> None:
        nonlocal server
        stop = asyncio.Event()
        task = asyncio.create_task(run.daemon.run(stop, handle_signals=False))
        try:
            await run.advance_until(lambda: run.captures and run.capture.frames >= 3
                                    and run.state() == "online", "frames, online")
            assert not run.capture.pace
            latest = run.capture.latest()
            assert latest is not None and int(latest.image.mean()) < 100
            server.stop()  # the camera goes away
            await run.advance_until(lambda: run.state() == "offline", "offline")
            await run.advance_until(lambda: run.counters().get("open_failures", 0) >= 2,
                                    "retries that fail")
            before = run.capture.frames
            server = serve(200)  # back, showing something else
            await run.advance_until(lambda: run.capture.frames >= before + 3
                                    and run.state() == "online", "frames again, online")
            latest = run.capture.latest()
            assert latest is not None and int(latest.image.mean()) > 150
            assert not task.done()
        finally:
            stop.set()
            assert await asyncio.wait_for(task, 20) == 0
            server.stop()

    asyncio.run(go())
    statuses = _statuses(tmp_path / "events.db")
    assert [s["status"] for s in statuses] == ["offline", "online"]
    assert "read failed" in str(statuses[0]["detail"])
    counters = run.daemon.supervisor.states["camera:cam-1"].counters
    assert counters["disconnects"] == 1 and counters["open_failures"] >= 2
    assert run.capture.opens == 2


def test_an_http_stream_that_stops_goes_offline_is_retried_and_recovers(
        tmp_path: Path) -> None:
    port = _free_port()
    _a_stream_stops_and_comes_back(tmp_path, f"http://127.0.0.1:{port}/stream.mjpg",
                                   lambda grey: MjpegServer(port, grey))


# ---------------------------------------------------------------- an RTSP camera
SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SERVER = Path(__file__).with_name("rtsp_server.py")


def _have_rtsp_server() -> bool:
    probe = ("import gi; gi.require_version('Gst', '1.0'); "
             "gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import Gst; Gst.init(None); "
             "assert all(Gst.ElementFactory.find(e) for e in "
             "('videotestsrc', 'videoconvert', 'jpegenc', 'rtpjpegpay'))")
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class RtspServer:
    """gst-rtsp-server in a process of its own (tests/rtsp_server.py): a live grey test
    pattern as RTP/JPEG at rtsp://127.0.0.1:PORT/cam, until stopped."""

    def __init__(self, port: int, grey: int) -> None:
        self.proc = subprocess.Popen([SYSTEM_PYTHON, str(RTSP_SERVER), str(port), str(grey)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.stop()
            raise AssertionError(f"the RTSP server did not start: {line!r}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.skipif(not _have_rtsp_server(), reason="no gst-rtsp-server: sudo apt-get install "
                    "-y --no-install-recommends python3-gi gir1.2-gst-rtsp-server-1.0 "
                    "gstreamer1.0-plugins-base gstreamer1.0-plugins-good")
def test_an_rtsp_camera_that_stops_goes_offline_is_retried_and_recovers(
        tmp_path: Path) -> None:
    port = _free_port()
    _a_stream_stops_and_comes_back(tmp_path, f"rtsp://127.0.0.1:{port}/cam",
                                   lambda grey: RtspServer(port, grey))
