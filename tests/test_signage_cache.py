"""The offline asset cache against a real HTTP server on loopback: fetched with a sha256
check and written atomically, played with no network, mismatches and failures leave
nothing behind."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from signage.cache import AssetCache, AssetError, Problem
from signage.content import ContentError, Reason, open_item
from signage.protocol import ContentKind, Item
from tests.signage_fixtures import png

RED = (255, 0, 0)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(root), **kw)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_checks_sha256_then_plays_offline(tmp_path: Path,
                                                server: tuple[str, Path]) -> None:
    base, www = server
    import pygame
    pygame.display.init()
    picture = png(www / "red.png", RED)
    digest = sha(picture)
    cache = AssetCache(tmp_path / "cache")
    url = f"{base}/red.png"
    path = cache.fetch(url, digest)
    assert path.read_bytes() == picture.read_bytes()
    named = cache.fetch(url, digest, name="promo.png")
    assert named == tmp_path / "cache" / "promo.png"
    # the network goes away: both URIs still play from the cache
    picture.unlink()
    for item in (Item(id="a", kind=ContentKind.IMAGE, uri=url, sha256=digest),
                 Item(id="b", kind=ContentKind.IMAGE, uri="asset://promo.png", sha256=digest)):
        frame = open_item(item, (32, 18), cache).frame(0.0)
        assert frame is not None and tuple(frame.get_at((16, 9)))[:3] == RED


def test_bad_fetches_leave_nothing_behind(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, www = server
    (www / "a.bin").write_bytes(b"hello")
    cache = AssetCache(tmp_path / "cache", max_bytes=1 << 20)
    with pytest.raises(AssetError) as info:
        cache.fetch(f"{base}/a.bin", "0" * 64)
    assert info.value.problem is Problem.CORRUPT
    with pytest.raises(AssetError) as info:
        cache.fetch(f"{base}/missing.bin", "0" * 64)
    assert info.value.problem is Problem.FETCH_FAILED
    (www / "big.bin").write_bytes(b"x" * 2048)
    small = AssetCache(tmp_path / "cache", max_bytes=1024)
    with pytest.raises(AssetError):
        small.fetch(f"{base}/big.bin", sha(www / "big.bin"))
    assert list((tmp_path / "cache").iterdir()) == []  # no partial or temporary files


def test_missing_corrupt_and_hostile_uris_are_reasons(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path / "cache")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "x.png").write_bytes(b"abc")
    cases = {"asset://nope.png": Reason.MISSING, "asset://../etc/passwd": Reason.BAD_URI,
             "file:///etc/passwd": Reason.BAD_URI, "https://h/x.png": Reason.BAD_URI}
    for uri, reason in cases.items():
        with pytest.raises(ContentError) as info:
            open_item(Item(id="i", kind=ContentKind.IMAGE, uri=uri), (32, 18), cache)
        assert info.value.reason is reason, uri
    with pytest.raises(ContentError) as info:
        open_item(Item(id="i", kind=ContentKind.IMAGE, uri="asset://x.png", sha256="1" * 64),
                  (32, 18), cache)
    assert info.value.reason is Reason.CORRUPT
