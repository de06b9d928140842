"""`omo-edge models list | fetch | verify` against a real HTTP server on loopback serving the
shared model files, and `omo-edge bench vision`."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from edge.vision.models.errors import ChecksumMismatch, FetchError
from edge.vision.models.fetch import BASE_URL_ENV, fetch
from edge.vision.models.manifest import MODELS_DIR_ENV, load_manifest
from tests.vision_fixtures import SHARED_MODELS, needs_shared

pytestmark = needs_shared


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on a free loopback port serving a folder (the shared files, copied so a
    test may damage them); yields (base URL, folder)."""
    root = tmp_path / "served"
    root.mkdir()
    for f in SHARED_MODELS.glob("*.onnx"):
        (root / f.name).write_bytes(f.read_bytes())
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=root))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in (BASE_URL_ENV, MODELS_DIR_ENV)}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "edge", "models", *args], capture_output=True,
                          text=True, timeout=60, env=full)


def test_fetch_list_and_verify_through_a_loopback_server(server: tuple[str, Path],
                                                         tmp_path: Path) -> None:
    base, _ = server
    mdir = tmp_path / "models"
    r = _cli("list", "--json", "--models-dir", str(mdir))
    rows = {row["name"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 0
    assert {n: row["status"] for n, row in rows.items()} == {
        "mtcnn": "shipped", "yunet": "missing", "fastestdet": "missing"}
    assert rows["fastestdet"]["licence"] == "BSD-3-Clause" and rows["yunet"]["kind"] == "face"

    r = _cli("fetch", "yunet", "--models-dir", str(mdir), "--base-url", base)
    assert r.returncode == 0, r.stderr
    assert "sha256 ok" in r.stdout and "Traceback" not in r.stderr
    assert (mdir / "face_detection_yunet_2023mar.onnx").read_bytes() == \
        (SHARED_MODELS / "face_detection_yunet_2023mar.onnx").read_bytes()
    assert [p.name for p in mdir.iterdir()] == ["face_detection_yunet_2023mar.onnx"]

    # the base URL from the environment, as documented
    r = _cli("fetch", "fastestdet", "--models-dir", str(mdir), env={BASE_URL_ENV: base})
    assert r.returncode == 0, r.stderr

    r = _cli("list", "--models-dir", str(mdir))
    assert r.returncode == 0 and "fetched" in r.stdout and "missing" not in r.stdout
    r = _cli("verify", "--models-dir", str(mdir))
    assert r.returncode == 0 and r.stdout.count("ok   ") == 5, r.stdout

    # damage a fetched file: verify fails and names it; loading refuses it
    path = mdir / "FastestDet.onnx"
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))
    r = _cli("verify", "--models-dir", str(mdir))
    assert r.returncode == 1 and "FAIL fastestdet" in r.stdout
    assert _cli("list", "--models-dir", str(mdir)).stdout.count("damaged") == 1


def test_a_corrupted_download_is_refused_and_nothing_is_written(server: tuple[str, Path],
                                                                 tmp_path: Path) -> None:
    base, root = server
    served = root / "face_detection_yunet_2023mar.onnx"
    data = bytearray(served.read_bytes())
    data[len(data) // 2] ^= 0x55
    served.write_bytes(bytes(data))
    mdir = tmp_path / "models"
    r = _cli("fetch", "yunet", "--models-dir", str(mdir), "--base-url", base)
    assert r.returncode == 1
    assert "sha256" in r.stderr and "nothing was written" in r.stderr
    assert "Traceback" not in r.stderr
    assert list(mdir.iterdir()) == []  # no partial file left behind

    # a longer file than pinned is cut off at the pinned size
    served.write_bytes((SHARED_MODELS / served.name).read_bytes() + b"extra")
    with pytest.raises(ChecksumMismatch, match="more than"):
        fetch(load_manifest().files[served.name], mdir, base_url=base)
    assert list(mdir.iterdir()) == []


def test_a_404_and_an_unreachable_server_are_clear_errors(server: tuple[str, Path],
                                                          tmp_path: Path) -> None:
    base, root = server
    (root / "FastestDet.onnx").unlink()
    r = _cli("fetch", "fastestdet", "--models-dir", str(tmp_path), "--base-url", base)
    assert r.returncode == 1 and "HTTP 404" in r.stderr and "Traceback" not in r.stderr

    # a port nobody listens on: the closed server's
    closed = http.server.HTTPServer(("127.0.0.1", 0), _Quiet)
    port = closed.server_address[1]
    closed.server_close()
    r = _cli("fetch", "fastestdet", "--models-dir", str(tmp_path), "--base-url",
             f"http://127.0.0.1:{port}")
    assert r.returncode == 1 and "cannot connect" in r.stderr and "Traceback" not in r.stderr
    r = _cli("fetch", "nosuch", "--models-dir", str(tmp_path), "--base-url", base)
    assert r.returncode == 1 and "no model named 'nosuch'" in r.stderr
    r = _cli("fetch", "mtcnn", "--models-dir", str(tmp_path))
    assert r.returncode == 0 and "ships with omo-edge" in r.stdout
    with pytest.raises(FetchError, match="only http"):
        fetch(load_manifest().files["FastestDet.onnx"], tmp_path, base_url="file:///etc")
    assert list(tmp_path.glob("*.part")) == []


class _CutShort(http.server.BaseHTTPRequestHandler):
    """Promises the whole file, sends a third of it, hangs up."""

    def do_GET(self) -> None:
        data = (SHARED_MODELS / "FastestDet.onnx").read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 3])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_download_cut_short_or_a_bad_address_is_a_clear_error(tmp_path: Path) -> None:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CutShort)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        r = _cli("fetch", "fastestdet", "--models-dir", str(tmp_path), "--base-url",
                 f"http://127.0.0.1:{httpd.server_address[1]}")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
    assert r.returncode == 1 and "broke off" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []
    r = _cli("fetch", "fastestdet", "--models-dir", str(tmp_path), "--base-url", "http://[::1")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "failed" not in r.stderr


def test_a_models_dir_that_cannot_be_written_is_a_clear_error(server: tuple[str, Path],
                                                              tmp_path: Path) -> None:
    base, _ = server
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = _cli("fetch", "yunet", "--models-dir", str(blocker / "models"), "--base-url", base)
    assert r.returncode == 1 and "cannot write into" in r.stderr and "Traceback" not in r.stderr


def test_the_models_dir_comes_from_the_environment(tmp_path: Path) -> None:
    r = _cli("list", "--json", env={MODELS_DIR_ENV: str(SHARED_MODELS)})
    rows = {row["name"]: row["status"] for row in map(json.loads, r.stdout.splitlines())}
    assert rows == {"mtcnn": "shipped", "yunet": "fetched", "fastestdet": "fetched"}


def test_bench_vision_reports_each_model_beside_its_ceiling() -> None:
    r = subprocess.run([sys.executable, "-m", "edge", "bench", "vision", "--json", "--frames",
                        "3", "--models-dir", str(SHARED_MODELS)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.splitlines()[-1])
    assert set(result["models"]) == {"mtcnn", "yunet", "fastestdet"}
    for row in result["models"].values():
        assert row["ceiling_ms_per_frame"] > 0 and row["ms_per_frame"] > 0
        assert row["ratio"] == pytest.approx(row["ceiling_ms_per_frame"] / row["ms_per_frame"],
                                             abs=0.01)
    assert result["models"]["mtcnn"]["runs_per_frame"] >= 3  # the pyramid, R-net and O-net
    assert result["machine"]["cores"] >= 1 and result["frame"] == "640x480"
