"""A writer for the crash test: appends events and prints `seq id` for each acknowledged one.

Usage: python -m tests.crash_writer DB SEED
Single appends and batches are mixed; a line is printed only after `append` returned.
"""

from __future__ import annotations

import random
import sys
import time

from edge.eventlog import EventLog
from edge.events import Event, source_uri
from edge.ids import new_boot_id


def main() -> None:
    db, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    bootid = new_boot_id()
    src = source_uri("crash", "writer")
    log = EventLog(db)
    out = sys.stdout
    n = 0
    while True:
        size = rng.choice([1, 1, 1, 5, 50])
        events = [Event.new("omo.test.sample.created",
                            {"n": n + i, "payload": "p" * rng.randint(0, 2000)},
                            source=src, bootid=bootid, epoch_s=time.time())
                  for i in range(size)]
        n += size
        for ev in log.append_many(events):
            out.write(f"{ev.seq} {ev.id}\n")
        out.flush()


if __name__ == "__main__":
    main()
