"""`omo-edge shelf tare PLATE` and `omo-edge shelf calibrate PLATE --grams W`: calibrate a
plate of the running daemon from the store's own machine.

The request goes over the daemon's local shelf control socket (`edge.shelf.control`) and
takes the cloud command's path from there: the shelf processor carries it out on the plate's
next stable weight and emits `omo.shelf.plate.calibrated`; the daemon keeps the result in its
state folder, so it survives a restart. PLATE is `SHELF/PLATE` (`shelf-1/p2`) or a plate id
that only one shelf has.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

HELP = "tare or calibrate a shelf plate of the running daemon"
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="PATH", help="store config (TOML)")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    tare = sub.add_parser("tare", help="the plate holds COUNT items now (default 0): zero it")
    cal = sub.add_parser("calibrate", help="a known weight of GRAMS sits on the plate now, "
                         "with COUNT items: set its scale")
    for p in (tare, cal):
        p.add_argument("plate", metavar="PLATE", help="SHELF/PLATE, or a plate id")
        p.add_argument("--count", type=int, default=0, help="items on the plate now")
    cal.add_argument("--grams", type=float, required=True, help="the known weight, g")


def _resolve(config: Any, name: str) -> tuple[str, str] | str:
    """(shelf, plate), or why not."""
    shelf_id, _, plate_id = name.rpartition("/")
    found = [(s.id, p.id) for s in config.shelves for p in s.plates
             if p.id == plate_id and (not shelf_id or s.id == shelf_id)]
    if len(found) == 1:
        return found[0]
    known = ", ".join(f"{s.id}/{p.id}" for s in config.shelves for p in s.plates) or "none"
    if found:
        return f"plate {name!r} is on several shelves; say which: SHELF/PLATE ({known})"
    return f"no plate {name!r} in the config; plates: {known}"


async def send(socket: str, line: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
    """One request to the control socket and its answer. Raises OSError when nobody listens,
    TimeoutError, or ValueError for an answer that is not JSON."""
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(socket), timeout_s)
    try:
        writer.write((json.dumps(line) + "\n").encode())
        await writer.drain()
        answer = json.loads(await asyncio.wait_for(reader.readline(), timeout_s))
    finally:
        writer.close()
    if not isinstance(answer, dict):
        raise ValueError("not an answer")
    return answer


def main(args: argparse.Namespace) -> int:
    from edge.cli import load_config_or_exit
    from edge.shelf.control import socket_path

    config = load_config_or_exit(args, require_secrets=False)
    where = _resolve(config, args.plate)
    if isinstance(where, str):
        print(f"omo-edge shelf: {where}", file=sys.stderr)
        return EXIT_USAGE
    shelf, plate = where
    cmd: dict[str, Any] = {"shelf": shelf, "plate": plate, "count": args.count}
    if args.action == "calibrate":
        cmd["grams"] = args.grams
    path = socket_path(config.storage.state_dir)
    try:
        answer = asyncio.run(send(str(path), {"command": f"shelf.{args.action}",
                                              "args": cmd}))
    except (OSError, TimeoutError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "no answer"
        print(f"omo-edge shelf: the daemon does not answer on {path} ({why}); is "
              "`omo-edge run` running with this config?", file=sys.stderr)
        return EXIT_FAIL
    except ValueError:
        print("omo-edge shelf: the daemon's answer was not understood", file=sys.stderr)
        return EXIT_FAIL
    if answer.get("outcome") != "ok":
        print(f"omo-edge shelf: rejected: {answer.get('error', 'no reason given')}",
              file=sys.stderr)
        return EXIT_FAIL
    print(f"{args.action} of {shelf}/{plate} requested: the daemon carries it out on the "
          "plate's next stable weight (see `omo-edge events -t omo.shelf.plate.calibrated`)")
    return EXIT_OK
