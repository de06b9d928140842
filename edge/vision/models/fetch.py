"""Download a listed model file from its upstream address (or a mirror), check its pinned
sha256 and size, and write it atomically into the models dir.

The address is the manifest's `url`, unless a base URL is given (`--base-url` or
$OMO_EDGE_MODELS_URL): then `<base>/<file name>` (a mirror, or a loopback server in tests).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from edge.vision.models.errors import ChecksumMismatch, FetchError
from edge.vision.models.manifest import ModelFile

BASE_URL_ENV = "OMO_EDGE_MODELS_URL"
CHUNK = 64 * 1024
TIMEOUT_S = 30.0

Progress = Callable[[int, int], None]
"""Called with (bytes so far, expected bytes) as the download goes."""


def url_for(mf: ModelFile, base_url: str | None = None) -> str:
    base = base_url or os.environ.get(BASE_URL_ENV)
    if base:
        return f"{base.rstrip('/')}/{mf.file}"
    if mf.url is None:
        raise FetchError(f"{mf.file} ships with omo-edge and has no download address")
    return mf.url


def fetch(mf: ModelFile, dest_dir: Path, *, base_url: str | None = None,
          progress: Progress | None = None, timeout: float = TIMEOUT_S) -> Path:
    """Download `mf` into `dest_dir`; the file appears only when complete and correct.
    Raises FetchError (ChecksumMismatch for the wrong bytes)."""
    url = url_for(mf, base_url)
    if not url.startswith(("https://", "http://")):
        raise FetchError(f"{url}: only http and https addresses are fetched")
    dest = dest_dir / mf.file
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{mf.file}-", suffix=".part", dir=dest_dir)
    except OSError as exc:
        raise FetchError(f"cannot write into {dest_dir}: {exc.strerror}") from None
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        got = 0
        req = urllib.request.Request(url, headers={"User-Agent": "omo-edge-models"})
        with os.fdopen(fd, "wb") as fh, urllib.request.urlopen(req, timeout=timeout) as resp:
            while chunk := resp.read(CHUNK):
                got += len(chunk)
                if got > mf.size:
                    raise ChecksumMismatch(f"{url}: more than the expected {mf.size} bytes: "
                                           "not the pinned file")
                digest.update(chunk)
                fh.write(chunk)
                if progress is not None:
                    progress(got, mf.size)
            fh.flush()
            os.fsync(fh.fileno())
        if got < mf.size:
            raise FetchError(f"{url}: the download broke off after {got} of {mf.size} bytes: "
                             "nothing was written; try again")
        if digest.hexdigest() != mf.sha256:
            raise ChecksumMismatch(
                f"{url}: sha256 {digest.hexdigest()[:16]}... ({got} bytes) is not the pinned "
                f"{mf.sha256[:16]}... ({mf.size} bytes): nothing was written")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
        return dest
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"{url}: cannot connect ({exc.reason}); is this device online?") \
            from None
    except http.client.HTTPException as exc:  # such as a connection cut mid-file
        raise FetchError(f"{url}: the download broke off ({type(exc).__name__})") from None
    except ValueError as exc:  # a malformed address
        raise FetchError(f"{url}: {exc}") from None
    except TimeoutError:
        raise FetchError(f"{url}: no answer within {timeout:g} s") from None
    except OSError as exc:
        raise FetchError(f"{url}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
