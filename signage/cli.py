"""`omo-edge signage`: run the signage player for one screen."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

HELP = "run the signage player for one screen (its own process and systemd unit)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="PATH",
                        help="store config (TOML); default $OMO_EDGE_CONFIG or "
                             "/etc/omo-edge/config.toml")
    parser.add_argument("--screen", metavar="ID",
                        help="the [[screens]] id to drive (needed when there are several)")
    parser.add_argument("--driver", metavar="NAME",
                        help="SDL video driver: kmsdrm, x11, wayland, offscreen, dummy "
                             "(default $SDL_VIDEODRIVER, else SDL's choice)")
    parser.add_argument("--frames", type=int, metavar="N",
                        help="stop after N turns of the frame loop (at the frame rate; a "
                             "frame is presented only when it changed) (headless demos, checks)")
    parser.add_argument("--screenshot", metavar="PNG", type=Path,
                        help="write the last frame to this PNG file on exit")
    parser.add_argument("--frame-log", metavar="PATH", type=Path,
                        help="append a line per content change when its first frame is "
                             "flipped: CLOCK_MONOTONIC ns of the flip's end and of its "
                             "start, and the item id (benches)")
    parser.add_argument("--list-drivers", action="store_true",
                        help="print the SDL video drivers this build has and exit")


def _fail(message: str, code: int) -> int:
    print(f"omo-edge signage: {message}", file=sys.stderr)
    return code


def main(args: argparse.Namespace) -> int:
    from edge import logsetup
    from edge.cli import load_config_or_exit
    from signage.sdl import video_drivers

    if args.list_drivers:
        print(" ".join(video_drivers()))
        return 0
    if args.frames is not None and args.frames < 1:
        return _fail("--frames must be at least 1", 2)
    config = load_config_or_exit(args, require_secrets=False)
    screens = {s.id: s for s in config.screens}
    if not screens:
        return _fail("the config has no [[screens]]", 2)
    if args.screen is None and len(screens) > 1:
        return _fail("several screens (" + ", ".join(screens) + "): choose one with --screen",
                     2)
    screen = screens.get(args.screen) if args.screen else next(iter(screens.values()))
    if screen is None:
        return _fail(f"no screen {args.screen!r}; screens: " + ", ".join(screens), 2)
    logsetup.setup(config.log_level)

    from signage.app import PlayerApp, RunOptions
    from signage.sdl import DisplayError

    try:
        frame_log = (args.frame_log.open("a", encoding="utf-8", buffering=1)
                     if args.frame_log else None)
    except OSError as exc:
        return _fail(f"cannot open the frame log: {exc.strerror}", 1)
    try:
        app = PlayerApp(config, screen, RunOptions(driver=args.driver, frames=args.frames,
                                                   screenshot=args.screenshot,
                                                   frame_log=frame_log))
    except DisplayError as exc:
        return _fail(str(exc), 1)
    except OSError as exc:
        return _fail(f"cannot open the player's state: {exc}", 1)
    try:
        return asyncio.run(app.run())
    finally:
        if frame_log is not None:
            frame_log.close()
