"""The daemon's local Unix-socket servers (the signage channel, shelf control, the
recording tap) share how a socket is set up and taken down here.

A socket file left by a daemon that was killed is replaced; anything else at that path is
refused, never removed. The socket's mode is set before the server is announced.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

MAX_SOCKET_PATH = 107
"""The longest socket path in bytes: sun_path holds 108, less its terminating NUL."""

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class NotASocket(RuntimeError):
    """Something other than a socket is at the socket's path; it is left alone."""


def fits(path: Path) -> bool:
    """True if `path` is short enough to bind a Unix socket to."""
    return len(os.fsencode(path)) <= MAX_SOCKET_PATH


def replace_stale(path: Path) -> None:
    """Make the folder, and remove a socket a previous run left at `path`.
    Raises NotASocket if something else is there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise NotASocket(f"{path} exists and is not a socket; not replacing it")
        path.unlink()


async def listen(path: Path, handler: Handler, *, mode: int,
                 limit: int = 2 ** 16) -> asyncio.Server:
    """A Unix stream server on `path` (a stale socket replaced) with file mode `mode`.
    Raises NotASocket, or OSError if the socket cannot be made."""
    replace_stale(path)
    server = await asyncio.start_unix_server(handler, path=str(path), limit=limit)
    os.chmod(path, mode)
    return server


async def close(server: asyncio.Server, path: Path, timeout_s: float = 1.0) -> None:
    """Stop accepting, wait up to `timeout_s` for the server to close, remove the socket."""
    server.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), timeout_s)
    with contextlib.suppress(OSError):
        path.unlink()
