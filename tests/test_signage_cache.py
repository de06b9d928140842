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


def test_a_fetch_that_fails_is_retried_with_back_off(tmp_path: Path) -> None:
    """The asset server fails the first request (503); the player retries after its back-off
    and the asset lands in the cache, checked against its sha256."""
    import asyncio

    from edge.backoff import Backoff
    from signage.app import PlayerApp, RunOptions
    from signage.protocol import Playlist
    from tests.core_fixtures import minimal_config
    from tests.waiting import await_until

    www = tmp_path / "www"
    picture = png(www / "red.png", RED)
    requests: list[int] = []

    class FailsFirst(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(www), **kw)  # type: ignore[arg-type]

        def do_GET(self) -> None:
            requests.append(1)
            if len(requests) == 1:
                self.send_error(503)
                return
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FailsFirst)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/red.png"
    cfg = minimal_config(tmp_path, zones=[{"id": "z", "kind": "screen"}],
                         screens=[{"id": "scr", "zone": "z", "width": 320, "height": 180,
                                   "fullscreen": False}])

    async def scenario() -> PlayerApp:
        app = PlayerApp(cfg, cfg.screens[0], RunOptions(driver="offscreen"))
        app.fetch_retry = Backoff(initial_s=0.01, max_s=0.02)
        item = Item(id="promo", kind=ContentKind.IMAGE, uri=url, sha256=sha(picture))
        app._message(Playlist("default", (item,)))
        await await_until(lambda: not app._fetching, 10, "the fetch finished")
        return app

    try:
        app = asyncio.run(asyncio.wait_for(scenario(), 30))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert len(requests) == 2 and app.fetch_failures == 1
    assert app.cache.resolve(url, sha(picture)).read_bytes() == picture.read_bytes()
    app.store.close()


def bomb_png(path: Path, width: int, height: int) -> Path:
    """A PNG header claiming width x height (with a tiny, truncated body): decoding it
    would ask for width * height * 4 bytes."""
    import struct
    import zlib
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
                     + struct.pack(">I", zlib.crc32(chunk)) + b"\x00" * 64)
    return path


def bomb_jpeg(path: Path, width: int, height: int) -> Path:
    import struct
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00" * 3
    path.write_bytes(b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
                     + b"\xff\xc0" + struct.pack(">H", 2 + len(sof)) + sof + b"\x00" * 64)
    return path


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    import pygame

    from signage import imagesize
    from signage.protocol import Product
    pygame.display.init()
    cache = AssetCache(tmp_path / "cache")
    bomb_png(tmp_path / "cache" / "bomb.png", 60_000, 60_000)  # 3.6 gigapixels
    bomb_jpeg(tmp_path / "cache" / "bomb.jpg", 65_000, 65_000)
    png(tmp_path / "cache" / "ok.png", RED)
    assert imagesize.dimensions(tmp_path / "cache" / "bomb.jpg") == (65_000, 65_000)
    for name in ("bomb.png", "bomb.jpg"):
        with pytest.raises(ContentError) as err:
            open_item(Item(id="b", kind=ContentKind.IMAGE, uri=f"asset://{name}"), (32, 18),
                      cache)
        assert err.value.reason is Reason.TOO_LARGE
    # an image within the limit still plays, and a card with a bomb for its picture is
    # drawn without the picture
    frame = open_item(Item(id="i", kind=ContentKind.IMAGE, uri="asset://ok.png"), (32, 18),
                      cache).frame(0.0)
    assert frame is not None and tuple(frame.get_at((16, 9)))[:3] == RED
    card = open_item(Item(id="c", kind=ContentKind.PRODUCT, product=Product(
        sku="1", name="x", image="asset://bomb.png")), (320, 180), cache).frame(0.0)
    assert card is not None
