"""The simulated store: layout, parameters, scenarios, shoppers' journeys and ground truth.

Everything here is a pure function of (scenario, seed, duration): the whole run's movements
are planned before any sensor stream starts, and the ground truth is derived from the plan,
never from wall-clock timing. The same inputs give byte-identical truth on any machine.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import zlib
from bisect import bisect_right
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar

from drivers.app_beacon import MAX_MEMBER, AppKey, customer_id
from edge.events import format_time

TICK_S = 0.1  # the world's sampling step for zone and field-of-view truth
FACE_TURN_DEG = 50.0  # a head turned less than this from a camera shows it a face (drawn from
# a frontal photo: further turned, the drawing shows the side of the head)
GAZE_DEG = 20.0  # ... and within this one faces it (and the screen it is mounted on)
HEAD_AWAY_DEG = 40.0  # a head not watching a screen stays at least this far off it
STORE_UUID = "6f6d6f2d-6564-6765-2d61-707000000001"  # the store app's iBeacon proximity UUID
STAFF_NAMESPACE = "6f6d6f65646765737466"  # Eddystone-UID namespace of staff badges

T = TypeVar("T")

# how the simulated cameras draw a person (sim/camera.py draws with these): the camera's
# height, the head's centre height and drawn size, the body's width; metres
CAMERA_HEIGHT_M = 2.0
HEAD_HEIGHT_M = 1.6
HEAD_M = 0.38
BODY_M = 0.45
OCCLUDED_SHARE = 0.5  # a face more than this much covered by nearer people is not visible


Rect4 = tuple[float, float, float, float]


def _drawn(cam: CameraDef, x: float, y: float) -> tuple[float, list[Rect4]]:
    """Where the camera draws a person whose head is at (x, y), in image units of the
    focal length (so for any frame size): their distance, and the rectangles (x0, y0, x1,
    y1) they cover, the face's (the head ellipse's box) first, then the body's."""
    d = math.hypot(x - cam.pos[0], y - cam.pos[1])
    u = math.tan(angle_diff(math.atan2(y - cam.pos[1], x - cam.pos[0]), cam.direction))
    s = 1.0 / max(d, 0.5)
    hy, head = (CAMERA_HEIGHT_M - HEAD_HEIGHT_M) * s, HEAD_M * s
    face = (u - head * 0.4, hy - head / 2, u + head * 0.4, hy + head / 2)  # the ellipse's box
    body = (u - BODY_M * s / 2, hy + head * 0.4, u + BODY_M * s / 2, CAMERA_HEIGHT_M * s)
    return d, [face, body]


def occluded(cam: CameraDef, head: tuple[float, float],
             others: list[tuple[float, float]]) -> bool:
    """Whether people nearer the camera (their heads at `others`) cover more than
    OCCLUDED_SHARE of the face of the person whose head is at `head`, as the camera draws
    them (sim/camera.py: far to near, so nearer people are drawn over)."""
    d, (face, _) = _drawn(cam, *head)
    area = (face[2] - face[0]) * (face[3] - face[1])
    rects: list[Rect4] = []
    overlap = 0.0  # the covers' overlaps with the face, summed: at least their union
    for o in others:
        od, parts = _drawn(cam, *o)
        if od >= d:
            continue
        for r in parts:
            w = min(r[2], face[2]) - max(r[0], face[0])
            h = min(r[3], face[3]) - max(r[1], face[1])
            if w > 0 and h > 0:
                rects.append(r)
                overlap += w * h
    if overlap <= OCCLUDED_SHARE * area:
        return False
    # the covered share on a coarse grid over the face: overlapping covers count once
    n = 12
    xs = [face[0] + (i + 0.5) * (face[2] - face[0]) / n for i in range(n)]
    ys = [face[1] + (j + 0.5) * (face[3] - face[1]) / n for j in range(n)]
    covered = sum(1 for px in xs for py in ys
                  if any(r[0] <= px <= r[2] and r[1] <= py <= r[3] for r in rects))
    return covered > OCCLUDED_SHARE * n * n


# ------------------------------------------------------------------------ layout
@dataclass(frozen=True)
class Rect:
    x0: float
    y0: float
    x1: float
    y1: float

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x < self.x1 and self.y0 <= y < self.y1

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)

    def point(self, rng: random.Random, margin: float = 0.6) -> tuple[float, float]:
        return (rng.uniform(self.x0 + margin, self.x1 - margin),
                rng.uniform(self.y0 + margin, self.y1 - margin))


@dataclass(frozen=True)
class ZoneDef:
    id: str
    name: str
    kind: str
    rect: Rect


@dataclass(frozen=True)
class PlateDef:
    id: str
    number: int
    sku: str
    name: str
    unit_grams: float
    capacity: int
    stock: int
    tare_grams: float


@dataclass(frozen=True)
class ShelfDef:
    id: str
    controller: str
    zone: str
    rect: Rect  # the shelf body, against a wall
    front_y: float  # where shoppers stand
    plates: tuple[PlateDef, ...]

    def plate_x(self, plate: PlateDef) -> float:
        w = (self.rect.x1 - self.rect.x0) / len(self.plates)
        return self.rect.x0 + w * (plate.number - 0.5)


@dataclass(frozen=True)
class ScreenDef:
    id: str
    zone: str
    pos: tuple[float, float]
    facing: float  # radians: the direction the screen shows to


@dataclass(frozen=True)
class CameraDef:
    id: str
    zone: str
    screen: str
    pos: tuple[float, float]
    direction: float  # radians
    fov_deg: float
    range_m: float

    def sees(self, x: float, y: float) -> bool:
        dx, dy = x - self.pos[0], y - self.pos[1]
        d = math.hypot(dx, dy)
        if d > self.range_m or d < 0.3:
            return False
        return abs(angle_diff(math.atan2(dy, dx), self.direction)) <= math.radians(
            self.fov_deg / 2)


@dataclass(frozen=True)
class ReceiverDef:
    id: str
    zone: str
    pos: tuple[float, float]


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    door: tuple[float, float]
    zones: tuple[ZoneDef, ...]
    shelves: tuple[ShelfDef, ...]
    screens: tuple[ScreenDef, ...]
    cameras: tuple[CameraDef, ...]
    receivers: tuple[ReceiverDef, ...]
    door_counter: str = "door-1"  # the door counter's id; its beams span the door
    door_zone: str = "entrance"

    def zone_at(self, x: float, y: float) -> str | None:
        for z in self.zones:
            if z.rect.contains(x, y):
                return z.id
        return None

    def zone(self, zone_id: str) -> ZoneDef:
        return next(z for z in self.zones if z.id == zone_id)

    def shelf(self, shelf_id: str) -> ShelfDef:
        return next(s for s in self.shelves if s.id == shelf_id)

    def screen(self, screen_id: str) -> ScreenDef:
        return next(s for s in self.screens if s.id == screen_id)


def angle_diff(a: float, b: float) -> float:
    return (a - b + math.pi) % (2 * math.pi) - math.pi


def _plates(specs: list[tuple[str, str, float]], start_stock: int = 18) -> tuple[PlateDef, ...]:
    return tuple(PlateDef(id=f"p{i}", number=i, sku=sku, name=name, unit_grams=g, capacity=24,
                          stock=start_stock, tare_grams=round(310.0 + 7.5 * i, 1))
                 for i, (sku, name, g) in enumerate(specs, start=1))


def default_layout() -> Layout:
    """A 24 m x 14 m convenience store: entrance on the left, three shelf zones, a promo
    screen in the middle and a checkout with its own screen on the right."""
    zones = (
        ZoneDef("entrance", "Entrance", "entrance", Rect(0, 0, 4, 14)),
        ZoneDef("drinks", "Drinks", "shelf", Rect(4, 0, 12, 5)),
        ZoneDef("snacks", "Snacks", "shelf", Rect(12, 0, 24, 5)),
        ZoneDef("promo", "Promotion", "screen", Rect(4, 5, 14, 9.5)),
        ZoneDef("care", "Personal care", "shelf", Rect(4, 9.5, 14, 14)),
        ZoneDef("checkout", "Checkout", "checkout", Rect(14, 5, 24, 14)),
    )
    shelves = (
        ShelfDef("shelf-1", "C1", "drinks", Rect(5, 0, 11, 0.8), 1.6, _plates([
            ("DRK-COLA-500", "コーラ 500ml", 538.0), ("DRK-WATER-500", "天然水 500ml", 521.0),
            ("DRK-TEA-350", "緑茶 350ml", 372.0), ("DRK-COFFEE-250", "アイスコーヒー", 268.0),
        ])),
        ShelfDef("shelf-2", "C2", "snacks", Rect(13, 0, 23, 0.8), 1.6, _plates([
            ("SNK-CHIPS-60", "ポテトチップス 60g", 66.0), ("SNK-CHOC-45", "板チョコ", 48.5),
            ("SNK-NUTS-100", "ミックスナッツ", 108.0), ("SNK-GUM-14", "ガム", 15.2),
        ])),
        ShelfDef("shelf-3", "C3", "care", Rect(5, 13.2, 13, 14), 12.4, _plates([
            ("CARE-SOAP-90", "固形石けん", 96.0), ("CARE-TOOTH-75", "歯みがき粉", 112.0),
            ("CARE-SHAMPOO-200", "シャンプー 200ml", 231.0),
        ])),
    )
    screens = (
        ScreenDef("screen-1", "promo", (9.0, 5.1), math.pi / 2),
        ScreenDef("screen-2", "checkout", (23.9, 9.5), math.pi),
    )
    cameras = (
        CameraDef("cam-1", "promo", "screen-1", (9.0, 5.15), math.pi / 2, 80.0, 6.0),
        CameraDef("cam-2", "checkout", "screen-2", (23.85, 9.5), math.pi, 80.0, 7.0),
    )
    receivers = (
        ReceiverDef("rx-1", "entrance", (2.0, 7.0)),
        ReceiverDef("rx-2", "drinks", (8.0, 2.5)),
        ReceiverDef("rx-3", "snacks", (18.0, 2.5)),
        ReceiverDef("rx-4", "promo", (9.0, 7.5)),
        ReceiverDef("rx-5", "care", (9.0, 12.0)),
        ReceiverDef("rx-6", "checkout", (19.0, 9.5)),
    )
    return Layout(24.0, 14.0, (0.3, 7.0), zones, shelves, screens, cameras, receivers)


# -------------------------------------------------------------------- parameters
# Every parameter is declared once, with its default, the values it allows and what it
# means; `omo-edge sim --set section.key=value` validates against this and docs/sim.md
# lists it (sim.overrides.parameter_table; a test keeps the two equal).
Bounds = tuple[float, float] | tuple[tuple[float, float], ...]


def param(default: T, bounds: Bounds, help: str, *, ordered: bool = False) -> T:
    """A parameter field: `bounds` is (min, max) for a number or for every item of a tuple,
    or one (min, max) per item; `ordered`: a tuple's first two items must not decrease."""
    return field(default=default, metadata={"bounds": bounds, "help": help,
                                            "ordered": ordered})


@dataclass(frozen=True)
class BleParams:
    interval_s: float = param(1.0, (0.02, 60.0),
                              "advertising interval of the app and staff beacons, s")
    phone_interval_s: float = param(2.0, (0.02, 60.0),
                                    "other phones' advertising interval (no beacon payload), s")
    phone_share: float = param(0.5, (0.0, 1.0),
                               "share of non-app shoppers whose phone advertises")
    tx_power_1m: int = param(-59, (-100, 20), "beacons' received power at 1 m, dBm")
    path_loss_n: float = param(2.3, (1.0, 6.0), "path-loss exponent")
    noise_db: float = param(2.5, (0.0, 30.0), "per-packet RSSI noise (sigma), dB")
    shadow_db: float = param(3.5, (0.0, 30.0),
                             "slow per beacon-receiver shadowing (body, shelves; sigma), dB")
    miss: float = param(0.12, (0.0, 1.0), "share of packets a receiver misses")
    floor_dbm: float = param(-96.0, (-130.0, -30.0),
                             "receiver sensitivity: weaker packets are lost, dBm")
    garbled: float = param(0.002, (0.0, 1.0), "share of beacon adverts that arrive truncated")


@dataclass(frozen=True)
class ShelfParams:
    rate_hz: float = param(4.0, (0.1, 50.0), "reports per plate per second")
    noise_g: float = param(1.2, (0.0, 1000.0), "weight noise (sigma), g")
    drift_g_per_min: float = param(0.8, (0.0, 1000.0), "slow random-walk drift, g/min")
    bumps_per_hour: float = param(8.0, (0.0, 3600.0),
                                  "per shelf: knocks that are not picks, per hour")
    garbled: float = param(0.002, (0.0, 1.0), "share of lines with line noise")
    touch_prob: float = param(0.15, (0.0, 1.0),
                              "share of shoppers' shelf stops in which a hand touches an item "
                              "without taking it: presses on it or lifts it partly, for a "
                              "moment, through a beam lane (a touch, not a pick)")
    touch_units: tuple[float, float] = param((0.05, 0.7), (0.0, 10.0),
                                             "how far a touch moves the load (range), in "
                                             "units of the plate's product", ordered=True)
    touch_hold_s: tuple[float, float] = param((0.5, 3.0), (0.0, 60.0),
                                              "how long a touch holds (range), s",
                                              ordered=True)
    beam_pitch_m: float = param(0.25, (0.0, 10.0),
                                "IR beams across each plate's front, one every this many "
                                "metres (at most 9 a plate); a hand breaks one of them "
                                "(0: no beams, like a commercial scale)")


@dataclass(frozen=True)
class DoorParams:
    side_by_side: float = param(0.3, (0.0, 1.0),
                                "two shoppers crossing the door the same way within "
                                "`door.pair_window_s` walk through side by side")
    pair_window_s: float = param(2.5, (0.0, 30.0),
                                 "how close in time two crossings are to walk side by side, s")
    stagger_m: tuple[float, float] = param((0.0, 0.6), (0.0, 3.0),
                                           "how far one of a side-by-side pair walks behind "
                                           "the other (range), m", ordered=True)
    pause: float = param(0.03, (0.0, 1.0), "share of crossings that stop in the beams")
    pause_s: tuple[float, float] = param((0.8, 6.0), (0.0, 600.0),
                                         "how long a stop in the beams lasts (range), s",
                                         ordered=True)
    child_share: float = param(0.08, (0.0, 1.0),
                               "share of shoppers with a child's small body (breaks one beam "
                               "after the other, never both at once)")
    short_breaks_per_hour: float = param(30.0, (0.0, 3600.0),
                                         "brief breaks of one beam only (a hand, a bag, a "
                                         "child at the door), per hour")
    garbled: float = param(0.002, (0.0, 1.0), "share of lines with line noise")


@dataclass(frozen=True)
class CameraParams:
    fps: float = param(2.0, (0.1, 30.0), "frames per second")
    width: int = param(320, (64, 1920), "frame width, px")
    height: int = param(240, (64, 1080), "frame height, px")


@dataclass(frozen=True)
class Params:
    arrivals_per_hour: float = param(220.0, (0.0, 5000.0),
                                     "shoppers' arrival rate (before the day curve)")
    rush: tuple[float, float, float] = param(
        (0.0, 0.0, 1.0), ((0.0, 1.0), (0.0, 1.0), (0.0, 20.0)),
        "from, to (fractions of the run), factor: arrivals times factor in between",
        ordered=True)
    app_share: float = param(0.3, (0.0, 1.0), "share of shoppers carrying the store app")
    staff: int = param(2, (0, 50), "staff members (Eddystone badges) on shift all run")
    restock_below: int = param(15, (0, 10_000),
                               "a staff member at a shelf fills a plate holding fewer items "
                               "than this back to its capacity")
    walk_speed: tuple[float, float] = param((0.8, 1.4), (0.1, 5.0),
                                            "walking speed range, m/s", ordered=True)
    stops: tuple[int, int] = param((1, 3), (0, 3),
                                   "products a shopper comes for (range), drawn by popularity; "
                                   "one shelf stop each", ordered=True)
    popularity_skew: float = param(1.0, (0.0, 4.0),
                                   "product popularity: in a random order per seed, the "
                                   "product ranked r is wanted with weight 1 / r^skew "
                                   "(Zipf-like; 0: all alike)")
    browse_plate: float = param(0.15, (0.0, 1.0),
                                "a stop for a product looks at a plate of the shelf drawn "
                                "uniformly instead (browsing)")
    browse_shelf: float = param(0.25, (0.0, 1.0),
                                "a shopper also stops at a shelf they did not come for, at a "
                                "plate drawn uniformly")
    shelf_dwell_s: tuple[float, float] = param((6.0, 35.0), (0.0, 3600.0),
                                               "time looking at a shelf (range), s",
                                               ordered=True)
    pick_prob: float = param(0.75, (0.0, 1.0),
                             "a stop at a product the shopper came for picks it")
    browse_pick_prob: float = param(0.2, (0.0, 1.0),
                                    "a stop at a product the shopper did not come for picks it")
    double_pick_prob: float = param(0.12, (0.0, 1.0),
                                    "a pick takes from two neighbouring plates at once")
    qty2_prob: float = param(0.15, (0.0, 1.0), "a pick takes two units")
    return_prob: float = param(0.2, (0.0, 1.0), "a picked item is put back")
    screen_stop_prob: float = param(0.35, (0.0, 1.0),
                                    "a shopper stops to watch the promo screen")
    watch_s: tuple[float, float] = param((2.0, 14.0), (0.0, 3600.0),
                                         "time watching a screen (range), s", ordered=True)
    checkout_prob: float = param(0.8, (0.0, 1.0), "a shopper queues at the checkout")
    checkout_s: tuple[float, float] = param((15.0, 50.0), (0.0, 3600.0),
                                            "time at the checkout (range), s", ordered=True)
    checkout_watch_prob: float = param(0.4, (0.0, 1.0),
                                       "a shopper at the checkout watches its screen")
    buy_share: float = param(0.9, (0.0, 1.0),
                             "a shopper at the checkout buys each item they picked and did "
                             "not put back with this probability (the checkout sends it as "
                             "`pos.sale`)")
    online_share: float = param(0.5, (0.0, 1.0),
                                "share of app users who browsed products online first: the "
                                "simulated cloud pushes their interest list "
                                "(`journey.interests`) before they arrive")
    online_items: tuple[int, int] = param((1, 3), (1, 11),
                                          "products on such an interest list (range), drawn "
                                          "by popularity", ordered=True)
    online_visit_prob: float = param(0.7, (0.0, 1.0),
                                     "a product on a shopper's interest list (not expired) "
                                     "joins the products they come for")
    online_stale: float = param(0.1, (0.0, 1.0),
                                "an interest-list product whose expiry has already passed "
                                "when the list is pushed (never a true offer opportunity)")
    interest_lead_s: tuple[float, float] = param((30.0, 600.0), (0.0, 86_400.0),
                                                 "how long before a shopper arrives the cloud "
                                                 "pushes their list (range), s", ordered=True)
    ble: BleParams = field(default_factory=BleParams)
    shelf: ShelfParams = field(default_factory=ShelfParams)
    camera: CameraParams = field(default_factory=CameraParams)
    door: DoorParams = field(default_factory=DoorParams)


@dataclass(frozen=True)
class Outage:
    kind: str  # shelf | camera | broker
    target: str
    start_frac: float
    end_frac: float


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    params: Params
    outages: tuple[Outage, ...] = ()
    broker: bool = False


def scenarios() -> dict[str, Scenario]:
    base = Params()
    return {s.name: s for s in (
        Scenario("normal-day", "an ordinary trading period with the default parameters", base),
        Scenario("rush-hour", "three times the arrivals in the middle half, shorter dwell",
                 replace(base, rush=(0.25, 0.75, 3.0), shelf_dwell_s=(4.0, 20.0),
                         checkout_s=(25.0, 80.0))),
        Scenario("broker-outage", "a normal day; the MQTT broker stops for a third of the run",
                 base, (Outage("broker", "mosquitto", 0.3, 0.6),), broker=True),
        Scenario("sensor-unplug", "a shelf controller and a camera vanish and come back",
                 base, (Outage("shelf", "shelf-2", 0.35, 0.55),
                        Outage("camera", "cam-1", 0.45, 0.65))),
        Scenario("noisy-ble", "heavy RF noise: deeper shadowing, more misses, garbled adverts",
                 replace(base, ble=replace(base.ble, noise_db=7.0, shadow_db=8.0, miss=0.45,
                                           garbled=0.03, phone_share=0.9))),
    )}


# ---------------------------------------------------------------------- planning
@dataclass
class Waypoint:
    t: float
    x: float
    y: float
    heading: float
    activity: str  # walk | look:<target> | watch:<screen> | queue


@dataclass
class Agent:
    id: str
    staff: bool
    opted_in: bool
    beacon: dict[str, Any] | None  # what the agent's device advertises
    phone: str | None  # a non-beacon phone's address seed
    color: tuple[int, int, int]
    face: int  # which face image the renderer uses
    speed: float
    path: list[Waypoint] = field(default_factory=list)

    @property
    def carries(self) -> str:
        """What the agent's device advertises: "app" (the store app's beacon), "badge" (a
        staff badge), "phone" (a phone without a beacon payload) or "none"."""
        if self.beacon is not None:
            return "badge" if self.staff else "app"
        return "phone" if self.phone is not None else "none"

    @property
    def t_start(self) -> float:
        return self.path[0].t

    @property
    def t_end(self) -> float:
        return self.path[-1].t

    def state(self, t: float) -> tuple[float, float, float, str] | None:
        """(x, y, heading, activity) at time t, or None if not in the store."""
        p = self.path
        if t < p[0].t or t > p[-1].t:
            return None
        i = bisect_right(self._times(), t)
        if i >= len(p):
            w = p[-1]
            return w.x, w.y, w.heading, w.activity
        a, b = p[i - 1], p[i]
        f = 0.0 if b.t <= a.t else (t - a.t) / (b.t - a.t)
        return a.x + (b.x - a.x) * f, a.y + (b.y - a.y) * f, b.heading, b.activity

    def head(self, t: float, screens: tuple[ScreenDef, ...]) -> tuple[float, float, float] | None:
        """(x, y, head heading) at time t, or None if not in the store. A person watching a
        screen turns their head to it; otherwise the head is turned 30-60 degrees off the
        body's heading (to the side, the floor ahead, the shelves: one side per stretch of
        the path), and never within HEAD_AWAY_DEG of a screen nearby: looking at a screen is
        what the `look` truth records, nothing else."""
        st = self.state(t)
        if st is None:
            return None
        x, y, heading, activity = st
        i = min(bisect_right(self._times(), t), len(self.path) - 1)
        h = zlib.crc32(f"{self.id}/{i}".encode())
        if activity.startswith("watch:"):
            return x, y, heading + math.radians((h % 9) - 4.0)
        side = 1.0 if h & 1 else -1.0
        head = heading + side * math.radians(30.0 + (h >> 1) % 31)
        for s in screens:
            to_s = math.atan2(s.pos[1] - y, s.pos[0] - x)
            off = angle_diff(head, to_s)
            if abs(off) < math.radians(HEAD_AWAY_DEG) and math.hypot(
                    s.pos[0] - x, s.pos[1] - y) < 8.0:
                head = to_s + math.copysign(math.radians(HEAD_AWAY_DEG), off or side)
        return x, y, head

    def _times(self) -> list[float]:
        cached: list[float] | None = getattr(self, "_tcache", None)
        if cached is None or len(cached) != len(self.path):
            cached = [w.t for w in self.path]
            self._tcache = cached
        return cached


@dataclass(frozen=True)
class WeightChange:
    shelf: str
    plate: int
    t: float
    t_end: float
    grams: float  # signed change of the plate's load


@dataclass(frozen=True)
class Touch:
    """A hand that touches an item without taking it (presses on it, or lifts it partly):
    the load moves by `grams` (signed) over `rise_s`, holds until `t_end - rise_s`, and
    comes back by `t_end`; the hand is in the shelf, breaking a beam lane, meanwhile."""

    shelf: str
    plate: int
    t: float
    t_end: float
    grams: float
    rise_s: float


@dataclass
class World:
    scenario: Scenario
    seed: int
    duration: float
    layout: Layout
    agents: list[Agent]
    truth: list[dict[str, Any]]
    weight_changes: list[WeightChange]
    bumps: list[tuple[str, int, float, float, float]]  # shelf, plate, t, grams, length_s
    start_epoch: float = 1_767_258_000.0  # 2026-01-01T09:00:00Z
    touches: list[Touch] = field(default_factory=list)  # hands that took nothing

    @property
    def params(self) -> Params:
        return self.scenario.params

    def truth_jsonl(self) -> bytes:
        return b"".join(json.dumps(r, sort_keys=True, separators=(",", ":")).encode() + b"\n"
                        for r in self.truth)

    def truth_sha256(self) -> str:
        return hashlib.sha256(self.truth_jsonl()).hexdigest()

    def outages(self, kind: str) -> list[tuple[str, float, float]]:
        return [(o.target, o.start_frac * self.duration, o.end_frac * self.duration)
                for o in self.scenario.outages if o.kind == kind]


def _r(x: float) -> float:
    return round(x, 3)


class _Planner:
    def __init__(self, layout: Layout, params: Params, rng: random.Random) -> None:
        self.layout = layout
        self.params = params
        self.rng = rng
        self.events: list[dict[str, Any]] = []
        self.changes: list[WeightChange] = []
        self.staff_visits: list[tuple[float, ShelfDef]] = []

    def restock_due(self, until: float) -> None:
        """Staff restock at their shelf visits up to `until`, in time order. Shoppers are
        planned in order of arrival and call this with their arrival time first, so a
        restock sees every pick before it (nobody who arrives later picks earlier)."""
        due = sorted((v for v in self.staff_visits if v[0] <= until),
                     key=lambda v: (v[0], v[1].id))
        self.staff_visits = [v for v in self.staff_visits if v[0] > until]
        for t, shelf in due:
            self._restock(shelf, t)

    def available(self, shelf: ShelfDef, plate: PlateDef, t: float) -> int:
        """Units a pick at `t` may take: the plate's lowest count from `t` on, given every
        change planned so far (a pick planned later in time must still find its units)."""
        changes = sorted((c for c in self.changes
                          if c.shelf == shelf.id and c.plate == plate.number),
                         key=lambda c: c.t_end)
        count = plate.stock
        low: int | None = None
        for c in changes:
            if c.t_end > t and low is None:
                low = count
            count += round(c.grams / plate.unit_grams)
            if low is not None:
                low = min(low, count)
        return count if low is None else low

    def walk(self, agent: Agent, x: float, y: float) -> None:
        last = agent.path[-1]
        d = math.hypot(x - last.x, y - last.y)
        if d < 1e-6:
            return
        heading = math.atan2(y - last.y, x - last.x)
        agent.path.append(Waypoint(last.t + d / agent.speed, x, y, heading, "walk"))

    def stay(self, agent: Agent, seconds: float, heading: float, activity: str) -> None:
        last = agent.path[-1]
        agent.path.append(Waypoint(last.t + seconds, last.x, last.y, heading, activity))

    def shelf_stop(self, agent: Agent, shelf: ShelfDef, want: PlateDef | None = None,
                   intent: frozenset[str] = frozenset()) -> None:
        """A stop at `shelf`: at the plate of `want` (the product the shopper came for), or,
        browsing (`browse_plate`) or without one, at a plate drawn uniformly. A product in
        `intent` is picked with `pick_prob`, any other with `browse_pick_prob`."""
        p, rng = self.params, self.rng
        if want is not None and rng.random() >= p.browse_plate:
            plate = want
        else:
            plate = rng.choice(shelf.plates)
        pick_prob = p.pick_prob if plate.sku in intent else p.browse_pick_prob
        x = min(max(shelf.plate_x(plate) + rng.uniform(-0.4, 0.4), shelf.rect.x0 + 0.3),
                shelf.rect.x1 - 0.3)
        self.walk(agent, x, shelf.front_y + rng.uniform(-0.2, 0.3))
        t0 = agent.path[-1].t
        dwell = rng.uniform(*p.shelf_dwell_s)
        heading = -math.pi / 2 if shelf.front_y < self.layout.height / 2 else math.pi / 2
        self.stay(agent, dwell, heading, f"look:{shelf.id}")
        looked = [plate]
        if not agent.staff and rng.random() < pick_prob and dwell > 3.0:
            picks = [plate]
            if rng.random() < p.double_pick_prob:
                other = [q for q in shelf.plates if abs(q.number - plate.number) == 1]
                if other:
                    picks.append(rng.choice(other))
                    looked.append(picks[-1])
            t_pick = t0 + rng.uniform(1.0, max(1.1, dwell * 0.6))
            ramp = rng.uniform(0.4, 2.5)
            for q in picks:
                qty = 2 if rng.random() < p.qty2_prob else 1
                qty = min(qty, self.available(shelf, q, t_pick))
                if qty <= 0:
                    continue
                self._change(agent, "pick", shelf, q, qty, t_pick, ramp)
                left = t0 + dwell - (t_pick + ramp)
                if rng.random() < p.return_prob and left > 2.0:
                    t_ret = t_pick + ramp + rng.uniform(1.0, left - 1.0)
                    back = 1 if qty == 2 and rng.random() < 0.5 else qty
                    self._change(agent, "return", shelf, q, back, t_ret, rng.uniform(0.5, 2.0))
        if agent.staff:
            self.staff_visits.append((t0 + 1.0, shelf))
        if not agent.staff:
            self.events.append({
                "type": "look", "visitor": agent.id, "target_kind": "shelf",
                "target": shelf.id, "zone": shelf.zone, "t": _r(t0), "t_end": _r(t0 + dwell),
                "duration_s": _r(dwell), "skus": sorted(q.sku for q in looked),
            })

    def stock_at(self, shelf: ShelfDef, plate: PlateDef, t: float) -> int:
        """The plate's count at t from the changes planned so far (shoppers are planned
        before staff, so a staff member sees every shopper's pick before t)."""
        count = plate.stock
        for c in self.changes:
            if c.shelf == shelf.id and c.plate == plate.number and c.t_end <= t:
                count += round(c.grams / plate.unit_grams)
        return count

    def _restock(self, shelf: ShelfDef, t: float) -> None:
        """Fill the emptiest plate of the shelf to capacity if it is below `restock_below`:
        units go on one after the other (0.7 s each, one steady ramp on the scale)."""
        plate = min(shelf.plates, key=lambda q: (self.stock_at(shelf, q, t), q.number))
        count = self.stock_at(shelf, plate, t)
        if count >= self.params.restock_below or count >= plate.capacity:
            return
        busy = any(c.shelf == shelf.id and c.plate == plate.number
                   and c.t - 3.0 < t + 0.7 * (plate.capacity - count) and t - 3.0 < c.t_end
                   for c in self.changes)
        if busy:  # a shopper's hand is on the plate: come back later
            return
        qty = plate.capacity - count
        ramp = 0.7 * qty
        self.changes.append(WeightChange(shelf.id, plate.number, t, t + ramp,
                                         qty * plate.unit_grams))
        self.events.append({
            "type": "restock", "shelf": shelf.id, "plate": plate.id, "sku": plate.sku,
            "zone": shelf.zone, "quantity": qty, "t": _r(t), "t_end": _r(t + ramp),
            "grams": _r(qty * plate.unit_grams)})

    def _change(self, agent: Agent, kind: str, shelf: ShelfDef, plate: PlateDef, qty: int,
                t: float, ramp: float) -> None:
        sign = -1 if kind == "pick" else 1
        self.changes.append(WeightChange(shelf.id, plate.number, t, t + ramp,
                                         sign * qty * plate.unit_grams))
        self.events.append({
            "type": kind, "visitor": agent.id, "shelf": shelf.id, "plate": plate.id,
            "sku": plate.sku, "zone": shelf.zone, "quantity": qty, "t": _r(t),
            "t_end": _r(t + ramp), "grams": _r(qty * plate.unit_grams), "slow": ramp > 1.5,
        })

    def watch(self, agent: Agent, screen: ScreenDef, seconds: float, activity: str) -> None:
        last = agent.path[-1]
        t0 = last.t
        heading = math.atan2(screen.pos[1] - last.y, screen.pos[0] - last.x)
        self.stay(agent, seconds, heading, activity)
        self.events.append({
            "type": "look", "visitor": agent.id, "target_kind": "screen", "target": screen.id,
            "zone": screen.zone, "t": _r(t0), "t_end": _r(t0 + seconds),
            "duration_s": _r(seconds), "skus": [],
        })


def _arrivals(params: Params, duration: float, rng: random.Random) -> list[float]:
    """Arrival times: a Poisson process with a gentle day curve, and the rush factor."""
    base = params.arrivals_per_hour / 3600.0
    r0, r1, factor = params.rush
    peak = base * max(1.0, factor) * 1.2
    times: list[float] = []
    if peak <= 0:
        return times
    t = 0.0
    end = duration * 0.85  # leave time for the last shoppers to finish
    while True:
        t += rng.expovariate(peak)
        if t >= end:
            return times
        frac = t / duration
        rate = base * (0.8 + 0.4 * math.sin(math.pi * frac))
        if r0 <= frac < r1:
            rate *= factor
        if rng.random() < rate / peak:
            times.append(t)


def _color(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(40, 230), rng.randrange(40, 230), rng.randrange(40, 230))


def build_world(scenario: Scenario, seed: int, duration: float,
                layout: Layout | None = None, start_epoch: float | None = None) -> World:
    """The world of `seed`; `start_epoch` (default 2026-01-01T09:00Z) only dates it."""
    layout = layout or default_layout()
    p = scenario.params
    rng = random.Random(f"omo-sim:{seed}:{scenario.name}:world")
    planner = _Planner(layout, p, rng)
    agents: list[Agent] = []
    # This draw used to number the app beacons (their minor); it stays so the worlds keep
    # the draws they were measured with. Member numbers come from their own rng.
    rng.sample(range(1, 65535), 4000)
    members = _members(seed, scenario.name, 4000)
    shelves = list(layout.shelves)
    promo = layout.screen("screen-1")
    checkout_screen = layout.screen("screen-2")
    checkout = layout.zone("checkout").rect
    popularity = _popularity(layout, p.popularity_skew, seed, scenario.name)
    where = {pl.sku: (sh, pl) for sh in shelves for pl in sh.plates}
    intent_rng = random.Random(f"omo-sim:{seed}:{scenario.name}:intent")
    wishes: list[dict[str, Any]] = []  # truth: intent and interest lists

    # Staff first: their rounds do not depend on the shoppers, and the restocks at their
    # shelf visits are decided as the shoppers' planning passes each visit's time.
    crew: list[Agent] = []
    for j in range(1, p.staff + 1):
        staff = Agent(id=f"s{j:02d}", staff=True, opted_in=False,
                      beacon={"kind": "eddystone", "namespace": STAFF_NAMESPACE,
                              "instance": f"{j:012x}", "address": _address(rng)},
                      phone=None, color=(30, 30, 30), face=100 + j, speed=1.0)
        staff.path.append(Waypoint(0.0, *checkout.center, math.pi, "queue"))
        while staff.path[-1].t < duration:
            if rng.random() < 0.4:
                planner.shelf_stop(staff, rng.choice(shelves))
            else:
                planner.walk(staff, rng.uniform(4.5, 23.0), rng.uniform(1.8, 12.2))
                planner.stay(staff, rng.uniform(5.0, 40.0), rng.uniform(-math.pi, math.pi),
                             "walk")
        crew.append(staff)

    for i, t_arrive in enumerate(_arrivals(p, duration, rng), start=1):
        planner.restock_due(t_arrive)
        opted = rng.random() < p.app_share
        agent = Agent(
            id=f"v{i:04d}", staff=False, opted_in=opted,
            beacon={"kind": "app", "uuid": STORE_UUID, "member": members[i],
                    "address": _address(rng)} if opted else None,
            phone=_address(rng) if not opted and rng.random() < p.ble.phone_share else None,
            color=_color(rng), face=rng.randrange(0, 100), speed=rng.uniform(*p.walk_speed))
        agent.path.append(Waypoint(t_arrive, *layout.door, 0.0, "walk"))
        planner.walk(agent, *layout.zone("entrance").rect.point(rng, 1.0))
        want = _draw(popularity, intent_rng.randint(*p.stops), intent_rng)
        online: list[str] = []
        if opted and intent_rng.random() < p.online_share:
            listed = _interest_list(agent, p, popularity, t_arrive, intent_rng)
            wishes.append(listed)
            for item in listed["products"]:
                if item["expires_t"] > t_arrive and intent_rng.random() < p.online_visit_prob:
                    online.append(item["sku"])
                    if item["sku"] not in want:
                        want.append(item["sku"])
        wishes.append({"type": "intent", "visitor": agent.id, "t": _r(t_arrive),
                       "skus": sorted(want), "online": sorted(online)})
        intent = frozenset(want)
        intent_rng.shuffle(want)
        order = {sh.id: k for k, sh in enumerate(dict.fromkeys(where[w][0] for w in want))}
        targets: list[Any] = sorted((where[w] for w in want), key=lambda sp: order[sp[0].id])
        if rng.random() < p.browse_shelf:
            targets.insert(rng.randrange(len(targets) + 1), (rng.choice(shelves), None))
        if rng.random() < p.screen_stop_prob:
            targets.insert(rng.randrange(len(targets) + 1), promo)
        for target in targets:
            if isinstance(target, tuple):
                planner.shelf_stop(agent, target[0], target[1], intent)
            else:
                ang = rng.uniform(math.pi / 2 - 0.5, math.pi / 2 + 0.5)
                dist = rng.uniform(1.8, 3.6)
                planner.walk(agent, promo.pos[0] + dist * math.cos(ang),
                             promo.pos[1] + dist * math.sin(ang))
                planner.watch(agent, promo, rng.uniform(*p.watch_s), "watch:screen-1")
        if rng.random() < p.checkout_prob:
            planner.walk(agent, rng.uniform(18.5, 22.0), rng.uniform(7.5, 11.5))
            total = rng.uniform(*p.checkout_s)
            if rng.random() < p.checkout_watch_prob:
                w = min(total * 0.6, rng.uniform(*p.watch_s))
                planner.stay(agent, (total - w) / 2, 0.0, "queue")
                planner.watch(agent, checkout_screen, w, "watch:screen-2")
                planner.stay(agent, (total - w) / 2, 0.0, "queue")
            else:
                planner.stay(agent, total, 0.0, "queue")
        else:
            planner.walk(agent, *layout.zone("promo").rect.point(rng, 1.0))
        planner.walk(agent, 2.0, rng.uniform(5.5, 8.5))
        planner.walk(agent, *layout.door)
        agents.append(agent)

    agents.extend(crew)
    planner.restock_due(math.inf)
    planner.events.extend(_sales(agents, planner.events, p.buy_share,
                                 random.Random(f"omo-sim:{seed}:{scenario.name}:sales")))
    # bumps: knocks on a shelf that move the load for a moment but are not picks
    bumps: list[tuple[str, int, float, float, float]] = []
    for shelf in shelves if p.shelf.bumps_per_hour > 0 else ():
        t = 0.0
        while True:
            t += rng.expovariate(p.shelf.bumps_per_hour / 3600.0)
            if t >= duration:
                break
            plate = rng.choice(shelf.plates)
            grams = rng.choice((-1, 1)) * rng.uniform(40.0, 400.0)
            bumps.append((shelf.id, plate.number, t, grams, rng.uniform(0.15, 0.6)))
            planner.events.append({"type": "bump", "shelf": shelf.id, "plate": plate.id,
                                   "t": _r(t), "grams": _r(grams)})

    touches = _touches(layout, p.shelf, planner.events, duration,
                       random.Random(f"omo-sim:{seed}:{scenario.name}:touches"))
    planner.events.extend(w for w in wishes if w["t"] <= duration)
    truth = _derive_truth(layout, agents, planner.events, scenario, duration)
    truth.extend(_opportunities(layout, wishes, truth))
    truth.sort(key=_truth_order)
    world = World(scenario, seed, duration, layout, agents, [], sorted(
        planner.changes, key=lambda c: (c.shelf, c.plate, c.t)), sorted(bumps),
        touches=touches)
    if start_epoch is not None:
        world.start_epoch = start_epoch
        for rec in truth:  # the pushed expiry times are dated from the run's own start
            if rec["type"] == "interests":
                for item in rec["products"]:
                    item["expires"] = format_time(start_epoch + item["expires_t"])
    header = {
        "type": "run", "t": 0.0, "seed": seed, "scenario": scenario.name,
        "duration_s": duration, "start_epoch": world.start_epoch, "tick_s": TICK_S,
        "params": asdict(p),
        "layout": {
            "zones": [z.id for z in layout.zones],
            "shelves": {s.id: {p.id: p.sku for p in s.plates} for s in layout.shelves},
            "cameras": {c.id: c.screen for c in layout.cameras},
            "receivers": [r.id for r in layout.receivers],
        },
        "popularity": {sku: round(v, 6) for sku, v in sorted(popularity.items())},
    }
    world.truth = [header, *truth]
    return world


def _sales(agents: list[Agent], events: list[dict[str, Any]], share: float,
           rng: random.Random) -> list[dict[str, Any]]:
    """What shoppers buy: at the end of their checkout stay, each unit they picked and did
    not put back, with probability `share` (its own rng, so every other draw of the world is
    unchanged). One receipt per shopper who buys anything."""
    net: dict[str, dict[str, int]] = {}
    for e in events:
        if e["type"] in ("pick", "return"):
            basket = net.setdefault(e["visitor"], {})
            basket[e["sku"]] = basket.get(e["sku"], 0) + (
                e["quantity"] if e["type"] == "pick" else -e["quantity"])
    sales = []
    for agent in agents:
        queue = [w.t for w in agent.path if w.activity == "queue"]
        if agent.staff or not queue or agent.id not in net:
            continue
        lines = []
        for sku, qty in sorted(net[agent.id].items()):
            bought = sum(1 for _ in range(max(0, qty)) if rng.random() < share)
            if bought:
                lines.append({"sku": sku, "quantity": bought})
        if lines:
            sales.append({"type": "sale", "visitor": agent.id, "receipt": f"r-{agent.id}",
                          "t": _r(max(queue)), "lines": lines})
    return sales


def _members(seed: int, scenario: str, count: int) -> list[int]:
    """Unique random member numbers for the app users (drivers/app_beacon.py), one per
    arrival, from their own seeded rng."""
    rng = random.Random(f"omo-sim:{seed}:{scenario}:members")
    return rng.sample(range(1, MAX_MEMBER + 1), count)


def sim_app_key(world: World) -> AppKey:
    """The app beacon key of a simulated run: secret from the seed, valid a day either side
    of the run. The runner writes it where the daemon reads keys; the BLE generator uses it
    to make the app users' tokens."""
    secret = hashlib.sha256(f"omo-sim:{world.seed}:{world.scenario.name}:app-key".encode())
    return AppKey("sim-1", secret.digest(), world.start_epoch - 86400.0,
                  world.start_epoch + world.duration + 86400.0)


def _address(rng: random.Random) -> str:
    b = [rng.randrange(256) for _ in range(6)]
    b[0] |= 0xC0  # a random static address
    return ":".join(f"{x:02X}" for x in b)


def _touches(layout: Layout, p: ShelfParams, events: list[dict[str, Any]], duration: float,
             rng: random.Random) -> list[Touch]:
    """Hands that touch an item without taking it, at `p.touch_prob` of the shoppers' shelf
    stops: on a plate the shopper looked at, during the stop, pressing on the items (the
    load goes up) or lifting one partly (down) by `p.touch_units` of a unit, held for
    `p.touch_hold_s`, never while the same shopper's own pick or return on that plate moves
    (one hand does one thing at a time); other shoppers' changes may overlap. Each is added
    to `events` as a `touch` record (a non-event: a pick or return reported for it is
    false). Drawn from their own rng, after everything else, so the rest of the world is
    the same with or without them."""
    out: list[Touch] = []
    if p.touch_prob <= 0:
        return out
    plates = {pl.sku: (sh, pl) for sh in layout.shelves for pl in sh.plates}
    looks = [e for e in events if e["type"] == "look" and e["target_kind"] == "shelf"]
    for look in looks:
        if rng.random() >= p.touch_prob:
            continue
        shelf, plate = plates[rng.choice(look["skus"])]
        hold = rng.uniform(*p.touch_hold_s)
        rise = rng.uniform(0.2, 0.6)
        length = hold + 2 * rise
        t0, t1 = float(look["t"]) + 0.5, float(look["t_end"]) - 0.5 - length
        if t1 <= t0:
            continue
        t = rng.uniform(t0, t1)
        units = rng.uniform(*p.touch_units)
        grams = rng.choice((-1.0, 1.0)) * units * plate.unit_grams
        own = [e for e in events if e.get("visitor") == look["visitor"]
               and e["type"] in ("pick", "return") and e["shelf"] == shelf.id
               and e["plate"] == plate.id]
        if t + length > duration or any(
                float(e["t"]) - 0.5 < t + length and t < float(e["t_end"]) + 0.5 for e in own):
            continue
        out.append(Touch(shelf.id, plate.number, t, t + length, grams, rise))
        events.append({"type": "touch", "visitor": look["visitor"], "shelf": shelf.id,
                       "plate": plate.id, "sku": plate.sku, "t": _r(t), "t_end": _r(t + length),
                       "grams": _r(grams)})
    return sorted(out, key=lambda c: (c.shelf, c.plate, c.t))


def _derive_truth(layout: Layout, agents: list[Agent], events: list[dict[str, Any]],
                  scenario: Scenario, duration: float) -> list[dict[str, Any]]:
    out = [e for e in events if e["t"] <= duration]
    _stock_counts(layout, events)
    for agent in agents:
        _agent_truth(layout, agent, duration, out, [e for e in events
                                                    if e.get("visitor") == agent.id],
                     [a for a in agents if a is not agent
                      and a.t_start < agent.t_end and a.t_end > agent.t_start])
    for o in scenario.outages:
        t0, t1 = o.start_frac * duration, o.end_frac * duration
        out.append({"type": f"{o.kind}.offline", "target": o.target, "t": _r(t0)})
        out.append({"type": f"{o.kind}.online", "target": o.target, "t": _r(t1)})
    out.sort(key=_truth_order)
    return out


_ORDER = {"run": 0, "visit.started": 1, "zone.exited": 2, "zone.entered": 3}


def _truth_order(r: dict[str, Any]) -> tuple[float, int, str, str, str]:
    return (r["t"], _ORDER.get(r["type"], 5), r["type"],
            r.get("visitor", r.get("camera", r.get("shelf", ""))), str(r.get("sku", "")))


# ------------------------------------------------------------- intent and the cloud
OFFER_MIN_STAY_S = 2.0  # a shorter stay in a zone clips its corner: no offer opportunity
CLOUD_EXPIRY_S = (2 * 3600.0, 72 * 3600.0)  # an interest list item's life after the push


def _popularity(layout: Layout, skew: float, seed: int, scenario: str) -> dict[str, float]:
    """Each product's share of what shoppers come for: the shelves' products in a random
    order (per seed), the r-th weighted 1 / r^skew, normalised to sum to 1."""
    skus = [pl.sku for sh in layout.shelves for pl in sh.plates]
    random.Random(f"omo-sim:{seed}:{scenario}:popularity").shuffle(skus)
    weights = [1.0 / (r ** skew) for r in range(1, len(skus) + 1)]
    total = sum(weights)
    return {sku: w / total for sku, w in zip(skus, weights, strict=True)}


def _draw(popularity: dict[str, float], k: int, rng: random.Random) -> list[str]:
    """`k` distinct products drawn by popularity (without replacement)."""
    left = dict(popularity)
    out: list[str] = []
    for _ in range(min(k, len(left))):
        sku = rng.choices(list(left), weights=list(left.values()))[0]
        out.append(sku)
        del left[sku]
    return out


def _interest_list(agent: Agent, p: Params, popularity: dict[str, float], t_arrive: float,
                   rng: random.Random) -> dict[str, Any]:
    """What the simulated cloud pushes for an app user who browsed online first: products
    browsed and not bought, each with an expiry (`online_stale` of them already past)."""
    assert agent.beacon is not None
    t_push = max(0.0, t_arrive - rng.uniform(*p.interest_lead_s))
    products = []
    for sku in sorted(_draw(popularity, rng.randint(*p.online_items), rng)):
        if rng.random() < p.online_stale:
            expires = t_push - rng.uniform(60.0, CLOUD_EXPIRY_S[1])
        else:
            expires = t_push + rng.uniform(*CLOUD_EXPIRY_S)
        expires = float(round(expires))  # whole seconds, as the pushed ISO time says
        products.append({"sku": sku, "expires_t": expires,  # dated again by `--start`
                         "expires": format_time(World.start_epoch + expires)})
    return {"type": "interests", "visitor": agent.id,
            "customer": customer_id(agent.beacon["member"]), "t": _r(t_push),
            "products": products}


def _opportunities(layout: Layout, wishes: list[dict[str, Any]],
                   truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """True offer opportunities: a shopper with an interest list reaching the zone of a
    product on it (a stay of OFFER_MIN_STAY_S or more, before the product's expiry), once
    per product per visit, at the moment they enter the zone."""
    zone_of = {pl.sku: sh.zone for sh in layout.shelves for pl in sh.plates}
    stays: dict[str, list[tuple[float, str]]] = {}
    for r in truth:
        if r["type"] == "zone.exited" and r["dwell_s"] >= OFFER_MIN_STAY_S:
            stays.setdefault(r["visitor"], []).append((r["t"] - r["dwell_s"], r["zone"]))
    out = []
    for w in wishes:
        if w["type"] != "interests":
            continue
        for item in w["products"]:
            first = next((t for t, z in sorted(stays.get(w["visitor"], ()))
                          if z == zone_of[item["sku"]] and t < item["expires_t"]), None)
            if first is not None:
                out.append({"type": "offer.opportunity", "visitor": w["visitor"],
                            "customer": w["customer"], "sku": item["sku"],
                            "zone": zone_of[item["sku"]], "t": _r(first)})
    return out


def _stock_counts(layout: Layout, events: list[dict[str, Any]]) -> None:
    """Give every pick, return and restock the plate's true count once it is done
    (`stock`), in the order the changes end."""
    count = {(s.id, p.id): p.stock for s in layout.shelves for p in s.plates}
    changes = [e for e in events if e["type"] in ("pick", "return", "restock")]
    for e in sorted(changes, key=lambda e: (e["t_end"], e["shelf"], e["plate"])):
        key = (e["shelf"], e["plate"])
        count[key] += -e["quantity"] if e["type"] == "pick" else e["quantity"]
        e["stock"] = count[key]


def _agent_truth(layout: Layout, agent: Agent, duration: float, out: list[dict[str, Any]],
                 own: list[dict[str, Any]], others: list[Agent]) -> None:
    """The agent's zone, field-of-view and face truth. `others`: the people in the store
    at the same time, whose bodies may hide the agent's face from a camera."""
    t0, t1 = agent.t_start, min(agent.t_end, duration)
    n = math.floor((t1 - t0) / TICK_S) + 1
    zone: str | None = None
    zone_since = t0
    zones_seen: list[str] = []
    in_fov: dict[str, float] = {}
    faces: dict[str, list[list[float]]] = {}  # per camera: intervals with the face visible
    gazes: dict[str, list[list[float]]] = {}  # per camera: intervals facing it
    passes: list[dict[str, Any]] = []
    looks = [e for e in own if e["type"] == "look" and e["target_kind"] == "screen"]
    if not agent.staff:
        out.append({"type": "visit.started", "visitor": agent.id, "t": _r(t0),
                    "opted_in": agent.opted_in, "carries": agent.carries,
                    "app_user": agent.beacon["member"] if agent.beacon else None})
    for k in range(n + 1):
        t = t0 + k * TICK_S if k < n else t1
        if t > t1:
            t = t1
        st = agent.state(t)
        if st is None:
            continue
        x, y = st[0], st[1]
        z = layout.zone_at(x, y) if k < n else None
        if k == n and agent.t_end > duration:
            z = zone  # still in the store when the run ends: no exit
        if z != zone and not agent.staff:
            if zone is not None:
                out.append({"type": "zone.exited", "visitor": agent.id, "zone": zone,
                            "t": _r(t), "dwell_s": _r(t - zone_since)})
            if z is not None:
                out.append({"type": "zone.entered", "visitor": agent.id, "zone": z, "t": _r(t)})
                if z not in zones_seen:
                    zones_seen.append(z)
            zone, zone_since = z, t
        for cam in layout.cameras:
            sees = k < n and cam.sees(x, y)
            if sees and cam.id not in in_fov:
                in_fov[cam.id] = t
                faces[cam.id], gazes[cam.id] = [], []
            elif not sees and cam.id in in_fov:
                start = in_fov.pop(cam.id)
                att = sum(max(0.0, min(t, lk["t_end"]) - max(start, lk["t"]))
                          for lk in looks if lk["target"] == cam.screen)
                shown = [[_r(a), _r(b)] for a, b in faces.pop(cam.id)]
                faced = [[_r(a), _r(b)] for a, b in gazes.pop(cam.id)]
                passes.append({"type": "camera.pass", "camera": cam.id, "person": agent.id,
                               "staff": agent.staff, "t": _r(start), "t_end": _r(t),
                               "watched": att > 0, "attention_s": _r(float(att)),
                               "face_s": _r(sum(b - a for a, b in shown)), "faces": shown,
                               "gaze_s": _r(sum(b - a for a, b in faced)), "gazes": faced})
            if sees:
                to_cam = math.atan2(cam.pos[1] - y, cam.pos[0] - x)
                hd = agent.head(t, layout.screens)
                turn = abs(angle_diff(hd[2] if hd is not None else st[2], to_cam))
                visible = turn < math.radians(FACE_TURN_DEG)
                if visible:  # ... and not hidden behind nearer people
                    d = math.hypot(x - cam.pos[0], y - cam.pos[1])
                    near = [(o_st[0], o_st[1]) for o in others
                            if (o_st := o.state(t)) is not None
                            and math.hypot(o_st[0] - cam.pos[0], o_st[1] - cam.pos[1]) < d
                            and cam.sees(o_st[0], o_st[1])]
                    visible = not near or not occluded(cam, (x, y), near)
                for spans, on in ((faces[cam.id], visible),
                                  (gazes[cam.id], visible and turn < math.radians(GAZE_DEG))):
                    if on and spans and spans[-1][1] >= t - TICK_S * 1.5:
                        spans[-1][1] = t
                    elif on:
                        spans.append([t, t])
    out.extend(passes)
    if agent.staff:
        out.append({"type": "staff.shift", "staff": agent.id, "t": _r(t0), "t_end": _r(t1)})
    elif agent.t_end <= duration:
        net: dict[str, int] = {}
        for e in own:
            if e["type"] in ("pick", "return"):
                net[e["sku"]] = net.get(e["sku"], 0) + (
                    e["quantity"] if e["type"] == "pick" else -e["quantity"])
        out.append({"type": "visit.ended", "visitor": agent.id, "t": _r(agent.t_end),
                    "duration_s": _r(agent.t_end - t0), "opted_in": agent.opted_in,
                    "zones": zones_seen,
                    "picked": sorted(s for s, q in net.items() for _ in range(max(0, q)))})
