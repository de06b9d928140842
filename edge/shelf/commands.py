"""The calibration commands, `shelf.tare` and `shelf.calibrate`, and their request event.

The handler checks the shelf and plate exist, records the request in
``<state_dir>/shelf/calibration.json`` (the latest request per plate, for the record) and
emits `omo.shelf.calibration.requested`. The shelf processor takes the request from the log's
live tail and carries it out on the plate's next stable weight, because only it knows that
weight; it then emits `omo.shelf.plate.calibrated` with the new tare and scale.

- `shelf.tare {shelf, plate, count=0}`: the plate holds `count` items now; its reading minus
  their weight becomes its zero.
- `shelf.calibrate {shelf, plate, grams, count=0}`: a known weight of `grams` sits on the plate
  with `count` items; the scale factor becomes what makes the reading say so.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from edge.config import Config
from edge.files import read_json_object, write_json_atomic

REQUESTED = "omo.shelf.calibration.requested"
CALIBRATED = "omo.shelf.plate.calibrated"
STATE_FILE = Path("shelf") / "calibration.json"


class Action(StrEnum):
    TARE = "tare"
    CALIBRATE = "calibrate"


class UnknownPlate(ValueError):
    """The command names a shelf or plate the config does not have."""


def request(config: Config, action: Action, args: dict[str, Any], at: str) -> dict[str, Any]:
    """The request event's data for a command's args; records it under the state folder.
    Raises UnknownPlate if the shelf or plate is not configured."""
    shelf = next((s for s in config.shelves if s.id == args["shelf"]), None)
    if shelf is None:
        raise UnknownPlate("unknown shelf: not one of the configured shelves ("
                           + ", ".join(sorted(s.id for s in config.shelves)) + ")")
    if args["plate"] not in {p.id for p in shelf.plates}:
        raise UnknownPlate(f"unknown plate: shelf {shelf.id} has "
                           + ", ".join(p.id for p in shelf.plates))
    data: dict[str, Any] = {"shelf": shelf.id, "plate": args["plate"], "action": str(action),
                            "count": int(args.get("count", 0))}
    if action is Action.CALIBRATE:
        data["grams"] = float(args["grams"])
    path = config.storage.state_dir / STATE_FILE
    held = read_json_object(path)
    held[f"{shelf.id}/{args['plate']}"] = {**data, "requested_at": at}
    write_json_atomic(path, held)
    return data
