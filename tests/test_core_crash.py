"""Crash test: a real writer process is SIGKILLed mid-stream, many times.

Every event whose append returned must be in the log afterwards, seq has no gap, and
SQLite's integrity check passes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from edge.eventlog import EventLog

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("OMO_CRASH_RUNS", "25"))


def run_and_kill(db: Path, seed: int, acks_before_kill: int) -> list[tuple[int, str]]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.crash_writer", str(db), str(seed)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdout is not None
    acked: list[tuple[int, str]] = []
    for line in proc.stdout:
        seq, event_id = line.split()
        acked.append((int(seq), event_id))
        if len(acked) >= acks_before_kill:
            break
    proc.send_signal(signal.SIGKILL)  # mid-stream: the writer is still appending
    proc.wait()
    # Lines already written to the pipe before the kill are acknowledgements too.
    for line in proc.stdout:
        parts = line.split()
        if len(parts) == 2:
            acked.append((int(parts[0]), parts[1]))
    proc.stdout.close()
    return acked


def test_acknowledged_events_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    rng = random.Random(20261123)
    acked: list[tuple[int, str]] = []
    for run in range(RUNS):
        acked += run_and_kill(db, seed=run, acks_before_kill=rng.randint(20, 400))
    with EventLog(db) as log:
        stored = {s.event.id: s.event.seq for s in log.query()}
        assert log.integrity_check() == "ok"
    missing = [i for _, i in acked if i not in stored]
    assert not missing, f"{len(missing)} acknowledged events lost"
    assert all(stored[i] == seq for seq, i in acked)
    seqs = sorted(stored.values())
    assert seqs == list(range(1, len(seqs) + 1)), "seq has a gap"
    print(f"\ncrash test: {RUNS} SIGKILLs, {len(acked)} acknowledged events, "
          f"{len(stored)} stored, 0 lost, seq 1..{seqs[-1]} without gaps, integrity ok")
