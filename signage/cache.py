"""The offline content cache: assets by name under one directory, so the player plays with
no network.

``asset://<name>`` is the file ``<dir>/<name>``; an http(s) URL is cached under the sha256
it must match (``<dir>/sha256-<hex>``). Fetching downloads to a temporary file, checks the
sha256 and renames it into place (a reader never sees half a file); a mismatch, an error
or a body over `max_bytes` leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.request
from enum import StrEnum
from pathlib import Path

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CHUNK = 1 << 16


class Problem(StrEnum):
    """Why an asset cannot be played (a reason code; never the asset's content)."""

    MISSING = "missing"
    CORRUPT = "corrupt"  # sha256 mismatch
    BAD_URI = "bad-uri"
    FETCH_FAILED = "fetch-failed"


class AssetError(Exception):
    def __init__(self, problem: Problem, detail: str = "") -> None:
        super().__init__(f"{problem}: {detail}" if detail else str(problem))
        self.problem = problem


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class AssetCache:
    def __init__(self, root: Path, *, max_bytes: int = 512 << 20, timeout_s: float = 30.0
                 ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self._verified: dict[tuple[Path, int, int], str] = {}

    def path_for(self, uri: str, sha256: str | None = None) -> Path:
        """Where `uri`'s bytes live in the cache. Raises AssetError(BAD_URI)."""
        if uri.startswith("asset://"):
            name = uri.removeprefix("asset://")
            if not NAME_RE.match(name):
                raise AssetError(Problem.BAD_URI, "asset names are letters, digits, . _ -")
            return self.root / name
        if uri.startswith(("https://", "http://")):
            if not sha256 or not re.fullmatch(r"[0-9a-f]{64}", sha256):
                raise AssetError(Problem.BAD_URI, "a URL needs its sha256")
            return self.root / f"sha256-{sha256}"
        raise AssetError(Problem.BAD_URI, "not asset:// or http(s)://")

    def _digest(self, path: Path) -> str:
        st = path.stat()
        key = (path, st.st_size, st.st_mtime_ns)
        if key not in self._verified:
            self._verified[key] = sha256_file(path)
        return self._verified[key]

    def resolve(self, uri: str, sha256: str | None = None) -> Path:
        """The cached file for `uri`, checked against `sha256` when given. Raises AssetError
        (MISSING, CORRUPT, BAD_URI). Never touches the network."""
        path = self.path_for(uri, sha256)
        if not path.is_file():
            raise AssetError(Problem.MISSING)
        if sha256 and self._digest(path) != sha256.lower():
            raise AssetError(Problem.CORRUPT, "sha256 mismatch")
        return path

    def fetch(self, url: str, sha256: str, name: str | None = None) -> Path:
        """Download `url` into the cache (as asset `name`, else by its sha256), checking the
        sha256 before the file appears. Returns the path. Raises AssetError."""
        target = self.path_for(f"asset://{name}") if name else self.path_for(url, sha256)
        if target.is_file() and self._digest(target) == sha256.lower():
            return target
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(prefix=".fetch-", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
                    url, timeout=self.timeout_s) as resp:
                size = 0
                while chunk := resp.read(CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise AssetError(Problem.FETCH_FAILED, "larger than the cache allows")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256.lower():
                raise AssetError(Problem.CORRUPT, "downloaded bytes do not match the sha256")
            os.replace(tmp, target)
        except AssetError:
            Path(tmp).unlink(missing_ok=True)
            raise
        except (OSError, urllib.error.URLError, ValueError) as exc:
            Path(tmp).unlink(missing_ok=True)
            raise AssetError(Problem.FETCH_FAILED, type(exc).__name__) from None
        return target
