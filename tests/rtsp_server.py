"""A real RTSP server for the camera tests: GStreamer's gst-rtsp-server (Debian's
gir1.2-gst-rtsp-server-1.0, run by the system Python, which has PyGObject) serving a live
test pattern of one grey level as RTP/JPEG.

    /usr/bin/python3 tests/rtsp_server.py PORT GREY

It prints "ready" once the server listens on 127.0.0.1:PORT at /cam, then serves until
it is terminated. Not imported by the suite (the project's venv has no PyGObject)."""

import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, grey = int(sys.argv[1]), int(sys.argv[2])
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    colour = 0xFF000000 | (grey << 16) | (grey << 8) | grey
    factory.set_launch(
        f"( videotestsrc is-live=true pattern=solid-color foreground-color={colour} "
        "! video/x-raw,width=96,height=64,framerate=20/1,format=I420 ! jpegenc "
        "! rtpjpegpay name=pay0 pt=26 )")
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print("ready", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
