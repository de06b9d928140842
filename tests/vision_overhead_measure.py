"""What the pipeline costs beside the model: the same 640x480 frames with real faces through
the detector alone, then through the whole vision processor (motion gate off, no budget).

    .venv/bin/python -m tests.vision_overhead_measure
"""

from __future__ import annotations

import time

import cv2

from drivers.readings import Frame
from edge.processing.processor import Output
from edge.vision.detectors import DetectorSpec
from edge.vision.pipeline import CameraSpec, VisionProcessor, VisionSettings
from tests.vision_pipe_fixtures import CvYuNet, scene, yunet_path


def main() -> None:
    cv2.setNumThreads(1)
    det = CvYuNet(yunet_path())
    frames = [scene((640, 480), ((40 + 3 * k, 60, 80), (300 - 2 * k, 200, 60),
                                 (450, 100 + k, 100)), seed=k) for k in range(100)]
    for f in frames[:5]:
        det.detect(f)
    bares, wholes = [], []
    for rnd in range(3):  # alternate, keep the best of each: less noise on a shared machine
        t = time.perf_counter()
        for f in frames:
            det.detect(f)
        bares.append((time.perf_counter() - t) / len(frames))
        p = VisionProcessor([CameraSpec("cam-1", "z", "s", fps=1000)], DetectorSpec("x"),
                            VisionSettings(motion_threshold=0, max_cpu_share=0, window_s=10,
                                           k=1), loader=lambda spec: det)
        t = time.perf_counter()
        for k, f in enumerate(frames):
            at = 1000.0 * rnd + k / 10
            p.on_reading(Frame("cam-1", at, k, f), Output(at))
        wholes.append((time.perf_counter() - t) / len(frames))
    bare, whole = min(bares), min(wholes)
    print(f"detector alone {bare * 1000:.2f} ms/frame ({1 / bare:.0f} frames/s); "
          f"whole processor {whole * 1000:.2f} ms/frame ({1 / whole:.0f} frames/s); "
          f"ratio {bare / whole:.3f}; analysed {p.counters()['analysed']}")


if __name__ == "__main__":
    main()
