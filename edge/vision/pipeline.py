"""The vision processor: frames in, anonymous audience events out.

Per camera, for each frame the seam hands over (newest only; the handlers run on the
processor's own thread, so inference never blocks the event loop):

1. frame-rate cap (`camera.fps`) and compute budget (`edge.vision.budget`): frames that come
   too soon are skipped and counted, so a slow model lowers the analysed rate;
2. motion gate (`edge.vision.motion`): on a static scene the model is not run and the last
   detections are reused, so tracks and attention go on;
3. the detector (loaded once, by name, on this thread: `edge.vision.detectors`), run again
   on an enlarged band of the frame where far people's small faces are
   (`edge.vision.zoom`), and on each small face's own enlarged crop for finer landmarks
   (`edge.vision.refine`);
4. tracking (`edge.vision.tracking`; a persistent weak face a second look confirms may
   start a track: `edge.vision.birth`) and attention with hysteresis per track
   (`edge.vision.attention`);
5. audience windows per camera and content item, k-anonymous (`edge.vision.audience`).

Emits `omo.vision.person.left` when a track ends and `omo.vision.audience.window` when a
window is over. Never an image, an embedding or a box; the ids are per-run counters.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from drivers.readings import Frame, Reading
from edge.events import Event, parse_time
from edge.processing.processor import BaseProcessor, Output, Subscriptions
from edge.vision.appearance import Histogram, describe
from edge.vision.attention import Gaze, GazeParams, width_ratio, yaw_ratio
from edge.vision.audience import Audience, Slice
from edge.vision.birth import BirthParams, Births, second_look
from edge.vision.budget import ComputeBudget
from edge.vision.detection import Box, Detection, DetectionKind, Detector, ModelInfo
from edge.vision.detectors import DetectorSpec, DetectorUnavailable, load
from edge.vision.motion import MotionGate
from edge.vision.refine import RefineParams, RefiningDetector
from edge.vision.tracking import Track, Tracker, TrackParams
from edge.vision.zoom import ZoomedDetector, ZoomParams

log = logging.getLogger(__name__)

PERSON_LEFT = "omo.vision.person.left"
AUDIENCE_WINDOW = "omo.vision.audience.window"
AUDIENCE_ITEMS = "omo.vision.audience.items"
ITEM_PLAYED = "omo.signage.item.played"
RETRY_LOAD_S = 60.0

FrameSink = Callable[[str, int, np.ndarray, list[Box]], None]
"""Debug output (edge.vision.blur.DebugFrames): camera, frame index, image, face boxes."""


@dataclass(frozen=True)
class CameraSpec:
    camera: str
    zone: str
    screen: str | None = None
    fps: float = 10.0


@dataclass(frozen=True)
class VisionSettings:
    window_s: float = 60.0
    k: int = 3
    grace_s: float = 30.0
    item_window_s: float = 900.0
    min_hits: int = 3
    min_score: float = 0.6
    keep_score: float = 0.0  # a face scored below min_score but this may only continue a track
    keep_counts: int = 0  # ... and with this many strong frames, its frames count (0: off)
    keep_turned: bool = False  # ... and such a weak face is not looking (False: unknown yaw)
    motion_threshold: float = 8.0
    motion_max_skip_s: float = 2.0
    max_cpu_share: float = 0.8
    gaze: GazeParams = field(default_factory=GazeParams)
    track: TrackParams = field(default_factory=TrackParams)
    zoom: ZoomParams = field(default_factory=ZoomParams)  # small far faces (edge.vision.zoom)
    refine: RefineParams = field(default_factory=RefineParams)  # their landmarks (.refine)
    birth: BirthParams = field(default_factory=BirthParams)  # weak births (edge.vision.birth)


@dataclass
class _Camera:
    spec: CameraSpec
    tracker: Tracker
    gate: MotionGate
    audience: Audience
    births: Births
    last_t: float | None = None
    last_faces: list[Detection] = field(default_factory=list)


class VisionProcessor(BaseProcessor):
    name = "vision"

    def __init__(self, cameras: list[CameraSpec], detector: DetectorSpec,
                 settings: VisionSettings | None = None, *,
                 loader: Callable[[DetectorSpec], Detector] = load,
                 debug: FrameSink | None = None,
                 cost_clock: Callable[[], float] = time.thread_time) -> None:
        self.settings = s = settings or VisionSettings()
        self.subscriptions = Subscriptions(readings=(Frame,), events=(ITEM_PLAYED,),
                                           tick_s=1.0, own_thread=True)
        self.detector_spec = detector
        self.loader, self.debug, self.cost_clock = loader, debug, cost_clock
        self.detector: Detector | None = None
        self.info: ModelInfo | None = None
        self._load_failed_at: float | None = None
        self.counts: Counter[str] = Counter()
        # one thread runs every camera's model: one budget for all of them
        self.budget = ComputeBudget(s.max_cpu_share)
        self.cams = {c.camera: _Camera(
            c, Tracker(s.track), MotionGate(s.motion_threshold, s.motion_max_skip_s),
            Audience(c.camera, c.screen, window_s=s.window_s, k=s.k, grace_s=s.grace_s,
                     item_window_s=s.item_window_s), Births(s.birth))
            for c in cameras}
        self._crops: Detector | None = None  # the raw model, for the weak births' looks

    # -- inputs --------------------------------------------------------------------------

    def on_reading(self, reading: Reading, out: Output) -> None:
        if not isinstance(reading, Frame):
            return
        cam = self.cams.get(reading.camera)
        if cam is None:
            self.counts["unknown_camera"] += 1
            return
        image, t = reading.image, reading.t
        self.counts["frames"] += 1
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8
                and image.ndim == 3 and image.shape[2] == 3 and image.size):
            self.counts["bad_frames"] += 1
            return
        if cam.last_t is not None and t - cam.last_t < 0.95 / cam.spec.fps:
            self.counts["rate_skipped"] += 1
            return
        if not self.budget.allows(t):
            self.counts["budget_skipped"] += 1
            return
        if cam.gate.should_analyse(image, t):
            faces = self._detect(image, t)
            if faces is None:
                return
            cam.last_faces = faces
            if self.debug is not None:
                self.debug(cam.spec.camera, reading.index, image, [d.box for d in faces])
        else:
            self.counts["motion_skipped"] += 1
        cam.last_t = t
        self._observe(cam, cam.last_faces, t, out, image)
        self._windows(cam, t, out)

    def on_event(self, event: Event, out: Output) -> None:
        if event.type != ITEM_PLAYED:
            return
        d = event.data
        try:  # the player's own start and end when it gives them, else the event's time
            end = parse_time(str(d["end"])) if "end" in d else parse_time(event.time)
            start = parse_time(str(d["start"])) if "start" in d \
                else end - float(d["duration_s"])
            screen, item = str(d["screen"]), str(d["item"])
        except (KeyError, TypeError, ValueError):
            self.counts["bad_plays"] += 1
            return
        for cam in self.cams.values():
            cam.audience.played(screen, item, start, end)

    def on_tick(self, now: float, out: Output) -> None:
        for cam in self.cams.values():
            for tr in cam.tracker.expire(now):
                self._left(cam, tr, out)
            self._windows(cam, now, out)

    # -- steps ---------------------------------------------------------------------------

    def _detect(self, image: np.ndarray, t: float) -> list[Detection] | None:
        if self.detector is None:
            if self._load_failed_at is not None and t - self._load_failed_at < RETRY_LOAD_S:
                self.counts["no_model"] += 1
                return None
            try:
                loaded = self.loader(self.detector_spec)
                self._crops = loaded
                det: Detector = ZoomedDetector(loaded, self.settings.zoom) \
                    if self.settings.zoom.enabled else loaded
                if self.settings.refine.enabled:
                    det = RefiningDetector(det, loaded, self.settings.refine)
                self.detector = det
            except DetectorUnavailable as exc:
                if self._load_failed_at is None:
                    log.warning("vision: cannot load the detector: %s", exc)
                self._load_failed_at = t
                self.counts["model_load_failed"] += 1
                return None
            self.info = self.detector.info
        start = self.cost_clock()
        try:
            found = self.detector.detect(image)
        except ValueError:
            self.counts["bad_frames"] += 1
            return None
        cost = self.cost_clock() - start
        self.budget.spent(t, cost)
        self.counts["analysed"] += 1
        return [d for d in found if d.kind is DetectionKind.FACE
                and d.score >= self._lowest_score()]

    def _lowest_score(self) -> float:
        """The lowest score a face is kept at: `keep_score` or the weak births' score when
        on (0: off), else `min_score`."""
        s = self.settings
        low = [x for x in (s.keep_score, s.birth.score if s.birth.enabled else 0.0) if x > 0]
        return min([s.min_score, *low])

    def _observe(self, cam: _Camera, faces: list[Detection], t: float, out: Output,
                 image: np.ndarray | None = None) -> None:
        s = self.settings
        strong = [d for d in faces if d.score >= s.min_score]
        below = [d for d in faces if d.score < s.min_score]
        # weak faces continue any track (keep_score on) or only weakly-born ones
        only_born = s.keep_score <= 0
        floor = s.keep_score if not only_born else s.birth.score if s.birth.enabled else 1.0
        weak = [d for d in below if d.score >= floor]
        looks: list[Histogram | None] | None = None
        weak_looks: list[Histogram | None] | None = None
        if image is not None and s.track.uses_appearance:
            looks = [describe(image, d.box) for d in strong]
            weak_looks = [describe(image, d.box) for d in weak] if weak else None
        seen, ended = cam.tracker.update(strong, t, looks, weak, weak_looks,
                                         weak_only_born=only_born)
        for tr in ended:
            self._left(cam, tr, out)
        if s.birth.enabled and image is not None:
            used = cam.tracker.weak_used
            left = [d for i, d in enumerate(weak) if i not in used]
            if not only_born:  # faces under keep_score were not in `weak`
                left += [d for d in below if d.score < floor]
            seen += self._births(cam, left, t, image)
        for tr in seen:
            gaze = tr.extra.get("gaze")
            if not isinstance(gaze, Gaze):
                gaze = Gaze(self.settings.gaze)
                tr.extra["gaze"] = gaze
            prev = tr.extra.get("t")
            dt = t - prev if isinstance(prev, float) else 0.0
            tr.extra["t"] = t
            det = tr.detection
            lm = det.landmarks if det is not None else None
            gp = self.settings.gaze
            known = det is None or (det.score >= max(gp.min_score, self.settings.min_score)
                                    and max(det.box.width, det.box.height) >= gp.min_face_px)
            ratio = yaw_ratio(lm) if lm is not None else None
            if self.settings.keep_turned and det is not None \
                    and det.score < self.settings.min_score and not tr.born_weak:
                # a weak face continuing a track: turned away (a frontal face scores higher)
                known, ratio, lm = True, None, None
            att = gaze.update(ratio, t, known=known,
                              width=width_ratio(lm) if lm is not None else None)
            pending = tr.extra.setdefault("pending", [])
            assert isinstance(pending, list)
            pending.append(Slice(tr.id, t, dt, att))
            if self._counts(tr):
                for s in pending:
                    cam.audience.add(s)
                pending.clear()

    def _counts(self, tr: Track) -> bool:
        """Whether `tr` counts as a person: `min_hits` strong frames, or with `keep_counts`
        (and `keep_score`) on, `min_hits` frames of any score of which `keep_counts` strong
        (a face turned 40 degrees hovers about `min_score`: strong in a few frames, weak in
        the ones between, which continue its track)."""
        s = self.settings
        if tr.hits >= s.min_hits:
            return True
        return s.keep_counts > 0 and s.keep_score > 0 and tr.hits >= s.keep_counts \
            and tr.frames >= s.min_hits

    def _births(self, cam: _Camera, weak: list[Detection], t: float,
                image: np.ndarray) -> list[Track]:
        """Second looks at the candidates due one (`edge.vision.birth`); the tracks the
        confirmed ones start."""
        s = self.settings
        live = cam.tracker.tracks
        due = cam.births.update(weak, [tr.box for tr in live.values() if tr.last_t == t], t,
                                {i: tr.box for i, tr in live.items() if tr.last_t != t})
        born: list[Track] = []
        for c in due:
            if self._crops is None:
                break
            start = self.cost_clock()
            score = second_look(self._crops, image, c.box, s.birth)
            self.budget.spent(t, self.cost_clock() - start)
            self.counts["birth_looks"] += 1
            if not cam.births.looked(c, score, s.min_score):
                continue
            old = live.get(c.adopt) if c.adopt is not None else None
            if old is not None:  # the track at its place goes on, weak faces continue it
                self.counts["weak_adoptions"] += 1
                old.born_weak = True
                old.moved(c.detection.box, t, s.track, hit=False)
                old.detection = c.detection
                born.append(old)
                continue
            self.counts["weak_births"] += 1
            # its clothes unknown (no appearance check) until a strong face continues it
            tr = cam.tracker.birth(c.detection, t, c.first_t, s.min_hits)
            # it was there since its candidate began (within the grace, so no window that
            # was already reported gets it): its first slice is back-dated there
            since = max(c.first_t, t - s.grace_s / 2)
            cam.audience.add(Slice(tr.id, since, 0.0, 0.0))
            tr.extra["t"] = since
            born.append(tr)
        return born

    def _left(self, cam: _Camera, tr: Track, out: Output) -> None:
        gaze = tr.extra.get("gaze")
        if not self._counts(tr) or not isinstance(gaze, Gaze):
            self.counts["short_tracks"] += 1
            return
        att = gaze.stop(tr.last_t)
        if att:
            cam.audience.add(Slice(tr.id, tr.last_t, 0.0, att))
        self.counts["people_left"] += 1
        data: dict[str, object] = {
            "camera": cam.spec.camera, "zone": cam.spec.zone, "track": tr.id,
            "dwell_s": round(tr.last_t - tr.first_t, 2),
            "attention_s": round(gaze.attention_s, 2), "looked": gaze.looked}
        if cam.spec.screen:
            data["screen"] = cam.spec.screen
        out.emit(PERSON_LEFT, data, at=tr.last_t)

    def _windows(self, cam: _Camera, now: float, out: Output) -> None:
        for t_end, summary in cam.audience.due(now):
            data = {"camera": cam.spec.camera, "zone": cam.spec.zone,
                    "window_s": self.settings.window_s, **summary}
            if cam.spec.screen:
                data["screen"] = cam.spec.screen
            if self.info is not None:
                data["model"] = {"name": self.info.name, "version": self.info.version}
            self.counts["windows"] += 1
            out.emit(AUDIENCE_WINDOW, data, at=t_end)
        for t_end, summary in cam.audience.due_items(now):
            items: dict[str, object] = {"camera": cam.spec.camera, "zone": cam.spec.zone,
                                        "screen": cam.spec.screen, **summary}
            if self.info is not None:
                items["model"] = {"name": self.info.name, "version": self.info.version}
            self.counts["item_windows"] += 1
            out.emit(AUDIENCE_ITEMS, items, at=t_end)

    def counters(self) -> dict[str, int]:
        c = dict(self.counts)
        c["suppressed_windows"] = sum(x.audience.suppressed_windows for x in self.cams.values())
        c["suppressed_items"] = sum(x.audience.suppressed_items for x in self.cams.values())
        c["live_tracks"] = sum(len(x.tracker.tracks) for x in self.cams.values())
        return c
