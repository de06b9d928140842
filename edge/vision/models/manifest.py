"""The model manifest (`models/manifest.json`): every model file with its sha256, size,
licence, source, input/output spec and, for downloadable ones, the upstream address; and
the detectors built from them. Loading a file checks its sha256 first.

`python -m edge.vision.models.manifest --update` rewrites the shipped files' sha256 and
sizes after `models/build_mtcnn.py` (downloadable files keep their pinned values).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from edge.vision.detection import DetectionKind
from edge.vision.models.errors import ChecksumMismatch, ModelError, ModelMissing, UnknownModel

SHIPPED_DIR = Path(__file__).resolve().parents[3] / "models"
"""The `models` package folder: the shipped files and the manifest."""
MANIFEST = SHIPPED_DIR / "manifest.json"
DEFAULT_STATE_DIR = Path("/var/lib/omo-edge")
MODELS_DIR_ENV = "OMO_EDGE_MODELS_DIR"


def default_models_dir(state_dir: Path | None = None) -> Path:
    """Where fetched models live: $OMO_EDGE_MODELS_DIR, else `<state_dir>/models`."""
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        return Path(env)
    return (state_dir or DEFAULT_STATE_DIR) / "models"


class Format(StrEnum):
    """Which decoder a detector's files need."""

    MTCNN = "mtcnn"
    YUNET = "yunet"
    FASTESTDET = "fastestdet"
    YOLO = "yolo"
    SSD = "ssd"


@dataclass(frozen=True)
class ModelFile:
    name: str
    file: str
    sha256: str
    size: int
    licence: str
    source: str
    url: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]

    @property
    def shipped(self) -> bool:
        return self.url is None


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    kind: DetectionKind
    format: Format
    version: str
    licence: str
    files: dict[str, str]  # role -> file name
    options: dict[str, Any]


class Status(StrEnum):
    SHIPPED = "shipped"
    FETCHED = "fetched"
    MISSING = "missing"
    DAMAGED = "damaged"


@dataclass(frozen=True)
class Manifest:
    files: dict[str, ModelFile]
    detectors: dict[str, DetectorSpec]

    def detector(self, name: str) -> DetectorSpec:
        try:
            return self.detectors[name]
        except KeyError:
            raise UnknownModel(f"no model named {name!r}; known: "
                               f"{', '.join(sorted(self.detectors))}") from None

    def path(self, mf: ModelFile, models_dir: Path | None) -> Path:
        """Where `mf` lives: the package folder when shipped, else the models dir."""
        return SHIPPED_DIR / mf.file if mf.shipped else (
            models_dir or default_models_dir()) / mf.file

    def read(self, file: str, models_dir: Path | None) -> bytes:
        """The file's bytes, after checking them against the manifest's sha256."""
        mf = self.files[file]
        path = self.path(mf, models_dir)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            hint = ("reinstall omo-edge or rebuild with models/build_mtcnn.py" if mf.shipped
                    else f"run `omo-edge models fetch` for it (into {path.parent})")
            raise ModelMissing(f"model file {path} is missing: {hint}") from None
        except OSError as exc:
            raise ModelMissing(f"model file {path} cannot be read: {exc.strerror}") from None
        check_bytes(data, mf, str(path))
        return data

    def status(self, mf: ModelFile, models_dir: Path | None) -> Status:
        path = self.path(mf, models_dir)
        if not path.is_file():
            return Status.MISSING
        try:
            if sha256_file(path) != mf.sha256:
                return Status.DAMAGED
        except OSError:
            return Status.DAMAGED
        return Status.SHIPPED if mf.shipped else Status.FETCHED


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def check_bytes(data: bytes, mf: ModelFile, where: str) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != mf.sha256:
        raise ChecksumMismatch(
            f"{where}: sha256 {digest[:16]}... ({len(data)} bytes) does not match the "
            f"manifest's {mf.sha256[:16]}... ({mf.size} bytes): the file is damaged or was "
            f"replaced; " + ("reinstall omo-edge" if mf.shipped
                             else "fetch it again with `omo-edge models fetch`"))


def _parse(doc: Any) -> Manifest:
    files: dict[str, ModelFile] = {}
    for e in doc["models"]:
        files[e["file"]] = ModelFile(
            name=str(e["name"]), file=str(e["file"]), sha256=str(e["sha256"]).lower(),
            size=int(e["bytes"]), licence=str(e["licence"]), source=str(e["source"]),
            url=e.get("url"), inputs=dict(e.get("inputs", {})), outputs=dict(e.get("outputs", {})))
    detectors: dict[str, DetectorSpec] = {}
    for d in doc["detectors"]:
        spec = DetectorSpec(
            name=str(d["name"]), kind=DetectionKind(d["kind"]), format=Format(d["format"]),
            version=str(d["version"]), licence=str(d["licence"]), files=dict(d["files"]),
            options=dict(d.get("options", {})))
        unknown = [f for f in spec.files.values() if f not in files]
        if unknown:
            raise ValueError(f"detector {spec.name} names unlisted files {unknown}")
        detectors[spec.name] = spec
    return Manifest(files, detectors)


def load_manifest(path: Path = MANIFEST) -> Manifest:
    try:
        return _parse(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"the model manifest {path} is unreadable ({type(exc).__name__}: "
                         f"{exc}): reinstall omo-edge") from None


def update_shipped(path: Path = MANIFEST) -> None:
    """Refresh sha256 and size of the shipped (url-less) files from the files beside it."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    for e in doc["models"]:
        if e.get("url") is None:
            f = path.parent / e["file"]
            e["sha256"], e["bytes"] = sha256_file(f), f.stat().st_size
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="refresh the shipped models' sha256 and sizes")
    ap.add_argument("--update", action="store_true", required=True)
    ap.parse_args()
    update_shipped()
    print(f"updated {MANIFEST}")
