"""`omo-edge signage` as a process: the chosen pygame build has KMSDRM, a headless run draws
frames and speaks sd_notify (READY after the first frame, WATCHDOG only while drawing,
STOPPING), bad invocations end with a clear message and no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pygame
import pytest

from signage.sdl import video_drivers
from tests.signage_fixtures import near

OMO = Path(sys.executable).parent / "omo-edge"


def test_the_pygame_build_has_kmsdrm_and_is_pygame_ce() -> None:
    drivers = video_drivers()
    assert "kmsdrm" in drivers, drivers  # a Raspberry Pi console without X
    assert {"offscreen", "dummy"} <= set(drivers)
    assert getattr(pygame, "IS_CE", False)


def write_config(tmp: Path, screens: str) -> Path:
    path = tmp / "config.toml"
    path.write_text(f'[store]\nid = "s"\ndevice = "d"\ntimezone = "Asia/Tokyo"\n'
                    f'[storage]\npath = "{tmp}/state/events.db"\n'
                    '[[zones]]\nid = "front"\nkind = "screen"\n' + screens)
    return path


SCREEN = ('[[screens]]\nid = "scr"\nzone = "front"\nwidth = 320\nheight = 180\n'
          'rotation = 90\nlayout = "board"\nfps = 60\n')


def run(args: list[str], env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "SDL_AUDIODRIVER": "dummy",
                **(env or {})}
    return subprocess.run([str(OMO), "signage", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def test_headless_run_draws_frames_and_speaks_sd_notify(tmp_path: Path) -> None:
    config = write_config(tmp_path, SCREEN)
    address = str(tmp_path / "notify.sock")
    messages: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(0.2)

        def read() -> None:  # as systemd does: a full queue would block the sender
            while True:
                try:
                    messages.append(sock.recv(4096).decode())
                except TimeoutError:
                    if done.is_set():
                        return
                except OSError:
                    return

        done = threading.Event()
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        shot = tmp_path / "shot.png"
        r = run(["-c", str(config), "--frames", "40", "--screenshot", str(shot)],
                env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "100000"})
        done.set()
        reader.join(5)
        assert r.returncode == 0, r.stderr
    assert messages[0] == "READY=1" and messages[-1] == "STOPPING=1"
    assert "WATCHDOG=1" in messages  # 40 frames at 60/s outlast one 50 ms pet interval
    image = pygame.image.load(str(shot))
    assert image.get_size() == (320, 180)  # the panel, landscape...
    # ...showing portrait content: the board (bottom of the logical canvas) is on the left
    px = image.get_at((20, 90))
    assert near((px.r, px.g, px.b), (16, 96, 64), 30)
    status = (tmp_path / "state" / "signage" / "player-scr.json").read_text()
    assert '"frames": 40' in status


@pytest.mark.parametrize(("screens", "args", "message", "code"), [
    ("", [], "no [[screens]]", 2),
    (SCREEN + SCREEN.replace('"scr"', '"two"'), [], "choose one with --screen", 2),
    (SCREEN, ["--screen", "nope"], "no screen 'nope'", 2),
    (SCREEN, ["--frames", "0"], "--frames must be at least 1", 2),
    (SCREEN, ["--driver", "nosuchdriver"], "cannot open the display", 1),
])
def test_bad_invocations_are_clear(tmp_path: Path, screens: str, args: list[str],
                                   message: str, code: int) -> None:
    r = run(["-c", str(write_config(tmp_path, screens)), *args])
    assert r.returncode == code, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


def test_the_frame_log_names_each_change_with_the_monotonic_time_of_its_flip(
        tmp_path: Path) -> None:
    config = write_config(tmp_path, SCREEN)
    log = tmp_path / "frames.log"
    before = time.monotonic_ns()
    r = run(["-c", str(config), "--frames", "5", "--frame-log", str(log)])
    after = time.monotonic_ns()
    assert r.returncode == 0, r.stderr
    lines = log.read_text().splitlines()
    assert len(lines) == 1  # nothing to play: the splash, one change
    flipped, drawn, item = lines[0].split(" ")
    assert before < int(drawn) <= int(flipped) < after  # CLOCK_MONOTONIC is system-wide
    assert item == "None"


def test_list_drivers() -> None:
    r = run(["--list-drivers"])
    assert r.returncode == 0 and "kmsdrm" in r.stdout.split()


def test_the_signage_bench_runs_and_reports_its_figures() -> None:
    from signage.bench import run as bench
    result = bench(frames=4, triggers=3, seed=1)
    assert result["bench"] == "signage-player" and result["shown"] == 3
    assert result["still_fps"] > 0 and result["video_fps"] > 0 and result["ceiling_fps"] > 0
    assert 0 < result["latency_ms_p50"] <= result["latency_ms_p99"]
    assert set(result["meets_goals"]) == {"still_fps", "video_fps", "latency_ms_p99"}
