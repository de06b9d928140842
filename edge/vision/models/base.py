"""What every ONNX-backed detector shares: the info, the frame check, and a traced
`session.run` so `omo-edge bench vision` can time the bare inference on the very inputs the
detector built."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from edge.vision.detection import BgrImage, Detection, ModelInfo
from edge.vision.models.frames import check_frame

Feeds = dict[str, npt.NDArray[Any]]
Call = tuple[ort.InferenceSession, Feeds]


class OnnxDetector(ABC):
    """A detector over one or more onnxruntime sessions (thread-confined, like its sessions'
    use here: one detector per thread)."""

    def __init__(self, info: ModelInfo) -> None:
        self._info = info
        self._trace: list[Call] | None = None

    @property
    def info(self) -> ModelInfo:
        return self._info

    def detect(self, frame: BgrImage) -> list[Detection]:
        """Faces or people in `frame` (H x W x 3 uint8 BGR); ValueError for any other array."""
        return self._detect(check_frame(frame))

    def trace(self, frame: BgrImage) -> tuple[list[Detection], list[Call]]:
        """`detect`, also returning every (session, inputs) it ran, for timing bare inference."""
        self._trace = []
        try:
            found = self.detect(frame)
            return found, self._trace
        finally:
            self._trace = None

    def _run(self, session: ort.InferenceSession, feeds: Feeds) -> Sequence[Any]:
        if self._trace is not None:
            self._trace.append((session, feeds))
        out: Sequence[Any] = session.run(None, feeds)
        return out

    @abstractmethod
    def _detect(self, frame: BgrImage) -> list[Detection]: ...


def input_size(session: ort.InferenceSession) -> tuple[int | None, int | None]:
    """(width, height) of the first input when fixed, None for a dynamic dimension."""
    shape = session.get_inputs()[0].shape
    h, w = shape[2], shape[3]
    return (w if isinstance(w, int) else None, h if isinstance(h, int) else None)


def as_float(x: Any) -> npt.NDArray[np.float32]:
    return np.asarray(x, dtype=np.float32)
