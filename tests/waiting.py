"""Waiting for a condition with a deadline (polling, never a fixed sleep as synchronisation)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

POLL_S = 0.02


class _Deadline:
    def __init__(self, timeout: float, what: str) -> None:
        self.at = time.monotonic() + timeout
        self.timeout = timeout
        self.what = what

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise AssertionError(f"timed out after {self.timeout} s waiting for {self.what}")


def wait_until(cond: Callable[[], Any], timeout: float = 20.0, what: str = "condition",
               every: float = POLL_S) -> Any:
    """Poll `cond` until it returns something truthy (and return it); fail after `timeout`."""
    deadline = _Deadline(timeout, what)
    while not (value := cond()):
        deadline.check()
        time.sleep(every)
    return value


async def await_until(cond: Callable[[], Any], timeout: float = 20.0,
                      what: str = "condition") -> Any:
    """The same, yielding to the event loop between polls."""
    deadline = _Deadline(timeout, what)
    while not (value := cond()):
        deadline.check()
        await asyncio.sleep(POLL_S)
    return value
