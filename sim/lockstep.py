"""The simulator's frame lockstep: every rendered frame is analysed, however slow the model.

The simulator plays its camera videos against its own clock, which runs as fast as the
machine allows (several times real time). A real camera's capture keeps only the newest
frame, so at that speed the vision processor would see a small, load-dependent share of the
frames and the score would measure the machine, not the pipeline. With this gate
(`SimHooks.frame_gate`) each capture waits, before it reads its next frame, until the vision
processor has handled the last one (`SimHooks.reading_handled`); the simulator's drain waits
for the captures to catch up with its clock, so the clock waits for the model too.

A frame that never reaches a processor (one read before the processor subscribed) is given
up on after `timeout_s` real seconds and counted (`timeouts`).
"""

from __future__ import annotations

import threading
import time

from drivers.readings import Frame, Reading


class FrameLockstep:
    def __init__(self, processor: str = "vision", timeout_s: float = 5.0) -> None:
        self.processor = processor
        self.timeout_s = timeout_s
        self.timeouts = 0
        self.handed = 0
        self._cond = threading.Condition()
        self._handled: dict[str, Frame] = {}  # camera -> the frame handled last

    def handled(self, processor: str, reading: Reading) -> None:
        """SimHooks.reading_handled: the processor is done with `reading`."""
        if processor != self.processor or not isinstance(reading, Frame):
            return
        with self._cond:
            self._handled[reading.camera] = reading
            self._cond.notify_all()

    def wait(self, last: Frame, stop: threading.Event) -> None:
        """FrameGate.wait: until `last` was handled (or stop, or the timeout)."""
        deadline = time.monotonic() + self.timeout_s
        with self._cond:
            self.handed += 1
            while self._handled.get(last.camera) is not last:
                left = deadline - time.monotonic()
                if stop.is_set():
                    return
                if left <= 0:
                    self.timeouts += 1
                    return
                self._cond.wait(min(left, 0.05))  # wakes to notice `stop`

    def counters(self) -> dict[str, int]:
        return {"frames_handed": self.handed, "gate_timeouts": self.timeouts}
