"""Runs the simulated store: the world, its sensor streams into the real drivers, the same
daemon as in a store, the live view, and the scoring at the end.

The world and its truth are planned first (pure functions of scenario, seed and duration).
Then a tick loop moves a ManualClock - the daemon's clock - through the run, at a given
multiple of real time or as fast as the machine goes ("max"), and on each tick hands the
drivers what the hardware would: adverts to the bleak backend, protocol lines to the ptys.
The camera videos are rendered before the run; the daemon's capture sources play them
against the same clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from drivers.app_beacon import AppKeyRing
from drivers.ble import BleScanner
from drivers.camera import CaptureSource
from drivers.readings import RECORDABLE
from edge import __version__
from edge.app_keys import write_app_keys
from edge.clock import ManualClock
from edge.config import Config, parse
from edge.daemon import Daemon
from edge.eventlog import open_readonly
from edge.events import format_time
from edge.processing.registry import ProcessorFactory
from edge.recording.format import Header, RecordingWriter
from edge.services import CommandHandler, SimHooks
from edge.sync.commands import Command, CommandRejected
from edge.sync.handlers import install_defaults
from sim.ble import BleGenerator, BleHub
from sim.camera import CameraRenderer
from sim.door import DoorGenerator
from sim.lockstep import FrameLockstep
from sim.overrides import Value, apply
from sim.scoring import Truth, score
from sim.screens import SimScreens, playlist_args
from sim.shelf import PtyPort, ShelfGenerator
from sim.world import STAFF_NAMESPACE, STORE_UUID, TICK_S, World, build_world, scenarios

log = logging.getLogger(__name__)


@dataclass
class Options:
    scenario: str = "normal-day"
    seed: int = 1
    duration: float = 900.0
    speed: float | None = None  # None: as fast as possible
    out: Path = Path("sim-output")
    report: Path | None = None
    headless: bool = True
    snapshot_every_s: float = 150.0
    progress: bool = True
    tick_s: float = TICK_S
    processors: tuple[ProcessorFactory, ...] = ()  # run besides the configured ones
    record: Path | None = None  # write the readings the daemon sees here (omo-edge replay)
    shelf_clock: bool = False  # the shelf readers date lines on the controllers' clocks
    overrides: Mapping[str, Value] = field(default_factory=dict)  # sim.overrides.parse_sets
    broker: tuple[str, int] | None = None  # an external broker (host, port) to sync to
    vision: bool = False  # run the vision processor on the cameras (`--vision`)
    screens: bool = True  # play every screen with the real signage player (sim.screens)
    start_epoch: float | None = None  # the simulated clock's start (`--start`); None: World's
    # cloud commands the daemon handles besides (or instead of) its own, by name
    command_handlers: Mapping[str, CommandHandler] = field(default_factory=dict)


@dataclass
class Result:
    world: World
    report: dict[str, Any]
    readings: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    snapshots: list[Path] = field(default_factory=list)


def sim_config(world: World, out: Path, broker_port: int | None,
               broker_host: str = "127.0.0.1", vision: bool = False,
               shelf_clock: bool = False) -> Config:
    """The daemon's config for `world`; `shelf_clock`: the shelf readers date the lines on
    the controllers' clocks (`shelves[].date_on_clock`)."""
    lay = world.layout
    raw: dict[str, Any] = {
        "store": {"id": "sim-store", "device": "sim-edge"},
        "storage": {"path": str(out / "events.db"), "state_dir": str(out / "state"),
                    "min_free_mb": 0},
        "zones": [{"id": z.id, "name": z.name, "kind": z.kind,
                   "area": [z.rect.x0, z.rect.y0, z.rect.x1, z.rect.y1]} for z in lay.zones],
        "shelves": [{"id": s.id, "port": str(out / "dev" / s.id), "zone": s.zone,
                     "date_on_clock": shelf_clock,
                     "plates": [{"id": p.id, "sku": p.sku, "unit_grams": p.unit_grams,
                                 "capacity": p.capacity, "low_stock": 3, "name": p.name,
                                 "stock": p.stock} for p in s.plates]}
                    for s in lay.shelves],
        "door_counters": [{"id": lay.door_counter, "port": str(out / "dev" / lay.door_counter),
                           "zone": lay.door_zone}],
        "cameras": [{"id": c.id, "source": str(out / "video" / f"{c.id}.avi"), "zone": c.zone,
                     "fps": world.params.camera.fps, "width": world.params.camera.width,
                     "height": world.params.camera.height, "screen": c.screen}
                    for c in lay.cameras],
        "ble": {"enabled": True, "app_uuids": [STORE_UUID],
                "exclude": [f"eddystone-uid:{STAFF_NAMESPACE}"],
                "receivers": [{"id": r.id, "zone": r.zone, "position": list(r.pos)}
                              for r in lay.receivers]},
        "screens": [{"id": s.id, "zone": s.zone, "fullscreen": False} for s in lay.screens],
        "vision": {"enabled": vision},
        "insight": {"window_minutes": 5},  # short runs: windows of 5 minutes
    }
    if broker_port is not None:
        raw["broker"] = {"enabled": True, "host": broker_host, "port": broker_port,
                         "keepalive": 5}
    return parse(raw, env={})


def _names_toml(world: World, out: Path) -> str:
    """The zones and shelves (with product names) of the store, as config TOML."""
    q = json.dumps  # a JSON string is a TOML basic string
    lines: list[str] = []
    for z in world.layout.zones:
        lines += ["", "[[zones]]", f"id = {q(z.id)}", f"name = {q(z.name, ensure_ascii=False)}"]
    for s in world.layout.shelves:
        lines += ["", "[[shelves]]", f"id = {q(s.id)}", f"port = {q(str(out / 'dev' / s.id))}",
                  f"zone = {q(s.zone)}"]
        for p in s.plates:
            lines += ["[[shelves.plates]]", f"id = {q(p.id)}", f"sku = {q(p.sku)}",
                      f"unit_grams = {p.unit_grams}",
                      f"name = {q(p.name, ensure_ascii=False)}"]
    return "\n".join(lines) + "\n"


class Simulation:
    def __init__(self, opts: Options) -> None:
        if opts.scenario not in scenarios():
            raise ValueError(f"no scenario {opts.scenario!r}; scenarios: "
                             + ", ".join(scenarios()))
        scenario = scenarios()[opts.scenario]
        if opts.broker is not None and scenario.broker:
            raise ValueError(f"scenario {opts.scenario!r} stops and restarts its own broker, "
                             "so it cannot sync to an external one (--broker)")
        if opts.overrides:
            scenario = replace(scenario, params=apply(scenario.params, opts.overrides))
        self.opts = opts
        self.out = opts.out
        self.world = build_world(scenario, opts.seed, opts.duration,
                                 start_epoch=opts.start_epoch)
        self.hub = BleHub()
        self.ble = BleGenerator(self.world)
        self.shelf = ShelfGenerator(self.world)
        self.door = DoorGenerator(self.world)
        self.ports: dict[str, PtyPort] = {}
        self.door_port: PtyPort | None = None
        self.broker: Any = None
        self.view: Any = None
        self.snapshots: list[Path] = []
        self.offline: set[str] = set()
        # per shelf: the readings its reader had handed over when its port was last plugged
        self.read_base: dict[str, int] = {}
        self.door_base = 0  # the same for the door counter's reader (its valid lines)
        self.reconnecting: set[str] = set()  # shelves seen offline, not yet back
        self.frames_rendered: dict[str, int] = {}
        self.stock = {(s.id, p.number): p.stock for s in self.world.layout.shelves
                      for p in s.plates}
        self._stock_changes = sorted(
            (c.t_end, c.shelf, c.plate, round(c.grams / next(
                p.unit_grams for p in self.world.layout.shelf(c.shelf).plates
                if p.number == c.plate)))
            for c in self.world.weight_changes)
        self._stock_i = 0
        self.lagging = 0  # ticks on which a reader could not keep up
        self.sales = [r for r in self.world.truth if r["type"] == "sale"]
        self._sale_i = 0
        self.sales_sent: dict[str, int] = {}  # outcome -> receipts the checkout sent
        self.interests = [r for r in self.world.truth if r["type"] == "interests"]
        self._interest_i = 0
        self.interests_sent: dict[str, int] = {}  # outcome -> lists the cloud pushed
        self.captures: dict[str, CaptureSource] = {}
        self.scanners: dict[str, tuple[BleScanner, int]] = {}  # receiver -> scanner, base
        self.daemon: Daemon | None = None
        # with the vision processor on, every frame is analysed before the clock moves on
        self.lockstep = FrameLockstep() if self.opts.vision else None
        self.screens: SimScreens | None = None
        self.unacked_plays = 0  # proof of play the daemon had not acknowledged at the end
        self.screen_counters: dict[str, dict[str, int]] = {}

    def _ble_scanner_made(self, receiver: str, scanner: BleScanner) -> None:
        """SimHooks.ble_scanner_made: keep the scanner to wait for its source in `_drain`,
        counting what the source hands on from here."""
        handed = 0 if self.daemon is None else self._handed(self.daemon, f"ble:{receiver}")
        self.scanners[receiver] = (scanner, handed)

    def _ble_behind(self, daemon: Daemon) -> bool:
        """Some BLE source has not yet handed on every advert its scanner took. The adverts of
        a tick reach the scanners at once, but each source reads its own on its own task; one
        that lags would let the presence tracker tick before adverts stamped earlier."""
        return any(self._handed(daemon, f"ble:{rx}") - base < scanner.taken
                   for rx, (scanner, base) in self.scanners.items())

    def _capture_opened(self, camera: str, capture: CaptureSource) -> None:
        """SimHooks.capture_opened: keep the capture to wait for it in `_drain`."""
        self.captures[camera] = capture

    # ------------------------------------------------------------------ setup
    def prepare(self) -> None:
        out = self.out
        out.mkdir(parents=True, exist_ok=True)
        for stale in ("events.db", "events.db-wal", "events.db-shm"):
            with contextlib.suppress(FileNotFoundError):
                (out / stale).unlink()
        for d in ("dev", "video", "snapshots", "state"):
            shutil.rmtree(out / d, ignore_errors=True)
            (out / d).mkdir(parents=True)
        (out / "truth.jsonl").write_bytes(self.world.truth_jsonl())
        # the app beacon key, as the cloud would have sent it (presence.app_keys)
        write_app_keys(out / "state", AppKeyRing([self.ble.app_key], self.ble.rotation_s))
        # enough config for `omo-edge status -c <out>/status.toml` during and after the run
        # and for `omo-edge report -c <out>/status.toml` (zone and product names)
        (out / "status.toml").write_text(
            '[store]\nid = "sim-store"\ndevice = "sim-edge"\n\n[storage]\n'
            f'path = "{(out / "events.db").resolve()}"\n'
            f'state_dir = "{(out / "state").resolve()}"\nmin_free_mb = 0\n'
            + _names_toml(self.world, out), encoding="utf-8")
        self._render_videos()
        for s in self.world.layout.shelves:
            port = PtyPort(out / "dev" / s.id)
            port.plug()
            self.ports[s.id] = port
        door = self.world.layout.door_counter
        self.door_port = PtyPort(out / "dev" / door)
        self.door_port.plug()

    def _render_videos(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        jobs = []
        for cam in self.world.layout.cameras:
            r = CameraRenderer(self.world, cam)
            outage = [o for o in self.world.outages("camera") if o[0] == cam.id]
            path = self.out / "video" / f"{cam.id}.avi"
            if outage:
                _, t_off, t_on = outage[0]
                jobs.append((cam.id, r, path, 0.0, t_off))
                jobs.append((cam.id, r, path.with_name(f"{cam.id}.resume.avi"), t_on,
                             self.world.duration + 5))
            else:
                jobs.append((cam.id, r, path, 0.0, self.world.duration + 5))
        with ThreadPoolExecutor(max_workers=2) as pool:
            counts = list(pool.map(lambda j: (j[0], j[1].write(j[2], j[3], j[4])), jobs))
        for cam_id, n in counts:
            self.frames_rendered[cam_id] = self.frames_rendered.get(cam_id, 0) + n

    def close(self) -> None:
        for port in self.ports.values():
            port.unplug()
        if self.door_port is not None:
            self.door_port.unplug()
        if self.broker is not None:
            self.broker.close()
        if self.view is not None:
            self.view.close()

    # ---------------------------------------------------------------- outages
    async def _apply_outages(self, daemon: Daemon, t0: float, t1: float) -> None:
        w = self.world
        for target, off, on in w.outages("shelf"):
            if t0 <= off < t1:
                self.ports[target].unplug()
                self.offline.add(target)
            if t0 <= on < t1:
                self.ports[target].plug()
                self.read_base[target] = self._handed_over(daemon, target)
                self.offline.discard(target)
        for target, off, on in w.outages("camera"):
            video = self.out / "video" / f"{target}.avi"
            if t0 <= off < t1:
                with contextlib.suppress(FileNotFoundError):
                    video.unlink()
                self.offline.add(target)
            if t0 <= on < t1:
                video.with_name(f"{target}.resume.avi").replace(video)
                self.offline.discard(target)
        loop = asyncio.get_running_loop()
        for _, off, on in w.outages("broker"):
            if self.broker is not None and t0 <= off < t1:
                await loop.run_in_executor(None, self.broker.stop)
                self.offline.add("broker")
            if self.broker is not None and t0 <= on < t1:
                await loop.run_in_executor(None, self.broker.start)
                self.offline.discard("broker")

    # -------------------------------------------------------------------- run
    async def run(self) -> Result:
        opts, w = self.opts, self.world
        broker_host, broker_port = "127.0.0.1", None
        if opts.broker is not None:
            broker_host, broker_port = opts.broker
        elif w.scenario.broker:
            from edge.mosquitto import Mosquitto

            self.broker = Mosquitto(workdir=self.out / "mosquitto")
            await asyncio.get_running_loop().run_in_executor(None, self.broker.start)
            broker_port = self.broker.port
        config = sim_config(w, self.out, broker_port, broker_host, vision=self.opts.vision,
                            shelf_clock=self.opts.shelf_clock)
        clock = ManualClock(w.start_epoch)
        lockstep = self.lockstep
        hooks = SimHooks(ble_backend=self.hub.factory, ble_scanner_made=self._ble_scanner_made,
                         capture_opened=self._capture_opened,
                         frame_gate=lockstep,
                         reading_handled=lockstep.handled if lockstep is not None else None)
        daemon = Daemon(config, clock=clock, hooks=hooks, processors=opts.processors,
                        command_handlers=dict(opts.command_handlers), status_every_s=1.0)
        self.daemon = daemon
        stop = asyncio.Event()
        abort = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, abort.set)
            loop.add_signal_handler(signal.SIGTERM, abort.set)
        daemon_task = asyncio.create_task(daemon.run(stop, handle_signals=False))
        await self._wait_ready(daemon, daemon_task)
        recorder = self._start_recording(daemon, clock.now()) if opts.record else None
        wall0 = time.monotonic()
        if self.view is None:
            from sim.view import StoreView, display_available

            self.view = StoreView(w, window=not opts.headless and display_available())
        # without a broker the sync component, which installs the default command handlers
        # (`signage.playlist`, ...), does not run: install them as it would
        install_defaults(config, daemon.services, daemon.services.emitter.bootid)
        if opts.screens and config.screens:
            self.screens = SimScreens(config, w.seed)
            await self.screens.start(clock.now())
            await self._command(daemon, "signage.playlist", "sim-playlist",
                                playlist_args([s.id for s in config.screens]))
        ticks = round(w.duration / opts.tick_s)
        next_snapshot = 0.0
        next_progress = time.monotonic()
        next_frame = time.monotonic()
        t_sim = 0.0
        try:
            for k in range(ticks):
                if abort.is_set() or daemon_task.done() or self.view.closed:
                    break
                t0, t1 = k * opts.tick_s, (k + 1) * opts.tick_s
                await self._apply_outages(daemon, t0, t1)
                for rx, address, adv in self.ble.step(t0, t1):
                    self.hub.deliver(rx, address, adv)
                if self.door_port is not None:
                    self.door_port.write(self.door.step(t0, t1), self.door.clean)
                self._advance_stock(t1)
                clock.set(w.start_epoch + t1)
                # the controllers' lines of [t0, t1) once the clock is at t1: a line is
                # never read before it was written (their clocks date them, from arrival)
                for shelf_id, data in self.shelf.step(t0, t1).items():
                    self.ports[shelf_id].write(data, self.shelf.clean[shelf_id])
                t_sim = t1
                await self._push_interests(daemon, t1)
                await self._sell(daemon, t1)
                await self._drain(daemon, clock.now())
                if self.screens is not None:
                    self.screens.tick(clock.now())
                if opts.speed is not None:
                    delay = wall0 + t1 / opts.speed - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                now = time.monotonic()
                if self.view.window is not None and now >= next_frame:
                    self.view.render(t1, self._counters(daemon, t1, now - wall0), self.stock,
                                     self.offline)
                    next_frame = now + 1 / 20
                if t1 >= next_snapshot:
                    self._snapshot(daemon, t1, now - wall0)
                    next_snapshot += opts.snapshot_every_s
                if opts.progress and now >= next_progress:
                    self._progress(daemon, t1, now - wall0)
                    next_progress = now + 2.0
            if self.screens is not None:
                self.unacked_plays = await self.screens.close(clock.now())
                self.screen_counters = self.screens.counters()
                self.screens = None
            self._snapshot(daemon, t_sim, time.monotonic() - wall0)
            wall = time.monotonic() - wall0
            if opts.broker is not None and not abort.is_set():
                await self._deliver(daemon, daemon_task)
        finally:
            if self.screens is not None:  # aborted mid-run: stop the players' clients
                with contextlib.suppress(Exception):
                    await self.screens.close(clock.now())
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(daemon_task, timeout=15)
            if recorder is not None:
                recorder.close(w.start_epoch + t_sim)
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
                loop.remove_signal_handler(signal.SIGTERM)
        readings = self._readings(daemon)
        report = self._report(daemon, readings, t_sim, wall, aborted=abort.is_set())
        if opts.report is not None:
            opts.report.parent.mkdir(parents=True, exist_ok=True)
            opts.report.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        return Result(w, report, readings, wall, self.snapshots)

    def _start_recording(self, daemon: Daemon, now: float) -> RecordingWriter:
        """What `omo-edge record` would write: every reading the daemon's bus carries."""
        assert self.opts.record is not None
        cfg = daemon.config
        rec = RecordingWriter(self.opts.record, Header(cfg.store, cfg.device, now, __version__))
        bus = daemon.services.readings
        for kind in RECORDABLE:
            bus.subscribe_callback(kind, rec.write)
        return rec

    async def _wait_ready(self, daemon: Daemon, daemon_task: asyncio.Task[int]) -> None:
        """Wait until the daemon runs and every sensor source is connected (real seconds)."""
        deadline = time.monotonic() + 20
        receivers = [r.id for r in self.world.layout.receivers]
        sensors = [f"shelf:{s.id}" for s in self.world.layout.shelves] + [
            f"door:{self.world.layout.door_counter}"] + [
            f"camera:{c.id}" for c in self.world.layout.cameras]
        while time.monotonic() < deadline:
            if daemon_task.done():
                daemon_task.result()
                raise RuntimeError("the daemon stopped before the simulation began")
            links = daemon.services.sensors
            if daemon.ready.is_set() and self.hub.attached(receivers) and all(
                    links.online(s) for s in sensors):
                return
            await asyncio.sleep(0.01)
        raise TimeoutError("the daemon's sources did not connect to the simulator within 20 s")

    async def _drain(self, daemon: Daemon, now: float) -> None:
        """Lockstep: before the clock moves on, let every connected reader take what is due
        (the shelf readers every byte written, the cameras every frame due by `now`), so the
        readings do not depend on the machine's speed. Bounded: a reader that lags more than
        a real second is left behind and counted."""
        await asyncio.sleep(0)
        sensors = daemon.services.sensors
        # a camera in lockstep waits for the model: give it as long as the gate waits
        deadline = time.monotonic() + (
            1.0 if self.lockstep is None else self.lockstep.timeout_s)
        while True:
            ok = True
            for shelf_id, port in self.ports.items():
                flushed = port.flush()
                online = sensors.online(f"shelf:{shelf_id}")
                if online and shelf_id in self.reconnecting:
                    # back online: what was written before the reader reopened the port
                    # may never reach it; count from here
                    self.reconnecting.discard(shelf_id)
                    self._rebase(daemon, shelf_id, port)
                if online and (
                        not flushed or port.unread() or self._behind(daemon, shelf_id, port)):
                    ok = False
                elif not online:
                    self.reconnecting.add(shelf_id)
            door = self.door_port
            if door is not None:
                flushed = door.flush()
                online = sensors.online(self._door)
                if online and self._door in self.reconnecting:
                    self.reconnecting.discard(self._door)
                    self._rebase_door(daemon, door)
                if online and (not flushed or door.unread() or self._door_behind(daemon, door)):
                    ok = False
                elif not online:
                    self.reconnecting.add(self._door)
            for cam_id, capture in self.captures.items():
                if sensors.online(f"camera:{cam_id}") and not capture.caught_up(now):
                    ok = False
            if self._ble_behind(daemon):
                ok = False
            if ok:
                return
            if time.monotonic() > deadline:
                self.lagging += 1
                for shelf_id, port in self.ports.items():  # what is lost is not waited for
                    self._rebase(daemon, shelf_id, port)
                if door is not None:
                    self._rebase_door(daemon, door)
                return
            await asyncio.sleep(0.0005)

    @staticmethod
    def _handed(daemon: Daemon, source: str) -> int:
        """The readings a source (`kind:sensor`) has handed to the daemon so far."""
        state = daemon.supervisor.states.get(source)
        return 0 if state is None else state.readings.get(source, 0)

    def _handed_over(self, daemon: Daemon, shelf_id: str) -> int:
        """The readings the shelf's reader has stamped and handed to the daemon so far."""
        return self._handed(daemon, f"shelf:{shelf_id}")

    def _rebase(self, daemon: Daemon, shelf_id: str, port: PtyPort) -> None:
        """Count the shelf's reader as caught up with its port as of now."""
        self.read_base[shelf_id] = self._handed_over(daemon, shelf_id) - port.reports

    def _behind(self, daemon: Daemon, shelf_id: str, port: PtyPort) -> bool:
        """The shelf's reader has not yet stamped and handed over every clean report written
        since its port was plugged. An empty pty is not enough: a pty passes what the master
        writes on to the slave on a kernel worker, and the reader's thread may hold lines it
        has read but not stamped; on a loaded machine either lets the clock run ahead of the
        reader, and samples get late, bunched times (gaps of seconds at 90x real time)."""
        return self._handed_over(daemon, shelf_id) - self.read_base.get(shelf_id, 0) \
            < port.reports

    @property
    def _door(self) -> str:
        return f"door:{self.world.layout.door_counter}"

    def _door_taken(self, daemon: Daemon) -> int:
        """The valid lines the door counter's reader has taken and handed over so far (its
        crossings are stamped by then): the `lines` counter its source publishes after
        each batch it handed to the daemon."""
        state = daemon.supervisor.states.get(self._door)
        return 0 if state is None else state.counters.get("lines", 0)

    def _rebase_door(self, daemon: Daemon, port: PtyPort) -> None:
        """Count the door counter's reader as caught up with its port as of now."""
        self.door_base = self._door_taken(daemon) - port.reports

    def _door_behind(self, daemon: Daemon, port: PtyPort) -> bool:
        """The door counter's reader has not yet taken and handed over every clean line
        written since its port was plugged: as for the shelves (`_behind`), an empty pty is
        not enough, or the clock runs ahead of the reader and crossings get late times."""
        return self._door_taken(daemon) - self.door_base < port.reports

    async def _deliver(self, daemon: Daemon, daemon_task: asyncio.Task[int],
                       timeout_s: float = 10.0) -> None:
        """With an external broker: before the daemon stops, give its outbox up to
        `timeout_s` real seconds to deliver what the run logged (at max speed a run can
        end before the broker has taken the last events)."""
        deadline = time.monotonic() + timeout_s
        queued = daemon.event_log.stats().queued
        if queued and self.opts.progress:
            print(f"[sim] waiting up to {timeout_s:.0f} s for the broker to take {queued} "
                  "queued events", file=sys.stderr, flush=True)
        while queued and time.monotonic() < deadline and not daemon_task.done():
            await asyncio.sleep(0.05)
            queued = daemon.event_log.stats().queued

    @staticmethod
    async def _command(daemon: Daemon, name: str, command_id: str,
                       args: dict[str, Any]) -> str:
        """Hand a cloud command to the daemon's own handler, as the command layer would after
        its envelope checks: the outcome "ok", "rejected", or "unknown_command" when the
        daemon has no handler of that name (a part not built yet)."""
        handler = daemon.services.command_handlers.get(name)
        if handler is None:
            return "unknown_command"
        try:
            await handler(Command(name, command_id, args, daemon.clock.now()))
        except CommandRejected:
            return "rejected"
        return "ok"

    async def _sell(self, daemon: Daemon, t: float) -> None:
        """The checkout: each sale due by `t` goes to the daemon as the `pos.sale` command
        the cloud would relay, through the daemon's own handler (the same validation and
        receipt bookkeeping; the MQTT path is tested in tests/test_insight_pos.py)."""
        while self._sale_i < len(self.sales) and self.sales[self._sale_i]["t"] <= t:
            sale = self.sales[self._sale_i]
            self._sale_i += 1
            args = {"receipt": sale["receipt"], "lines": sale["lines"],
                    "time": format_time(self.world.start_epoch + sale["t"])}
            outcome = await self._command(daemon, "pos.sale", f"sim-{sale['receipt']}", args)
            self.sales_sent[outcome] = self.sales_sent.get(outcome, 0) + 1

    async def _push_interests(self, daemon: Daemon, t: float) -> None:
        """The simulated cloud: each interest list due by `t` (before its shopper arrives)
        goes to the daemon as `journey.interests` {customer, products: [{sku, expires}]},
        the customer id as `omo.presence.app_user.arrived` carries it, through the same
        path as `pos.sale`."""
        while self._interest_i < len(self.interests) \
                and self.interests[self._interest_i]["t"] <= t:
            push = self.interests[self._interest_i]
            self._interest_i += 1
            args = {"customer": push["customer"],
                    "products": [{"sku": p["sku"], "expires": p["expires"]}
                                 for p in push["products"]]}
            outcome = await self._command(daemon, "journey.interests",
                                          f"sim-interests-{push['visitor']}", args)
            self.interests_sent[outcome] = self.interests_sent.get(outcome, 0) + 1

    def _advance_stock(self, t: float) -> None:
        ch = self._stock_changes
        while self._stock_i < len(ch) and ch[self._stock_i][0] <= t:
            _, shelf, plate, units = ch[self._stock_i]
            self.stock[(shelf, plate)] += units
            self._stock_i += 1

    # ---------------------------------------------------------------- reports
    def _readings(self, daemon: Daemon) -> dict[str, int]:
        totals: dict[str, int] = {}
        for state in daemon.supervisor.states.values():
            for source, n in state.readings.items():
                totals[source] = totals.get(source, 0) + n
        return dict(sorted(totals.items()))

    def _counters(self, daemon: Daemon, t: float, wall: float) -> dict[str, Any]:
        w = self.world
        in_store = sum(1 for a in w.agents if not a.staff and a.state(t) is not None)
        visits = sum(1 for a in w.agents if not a.staff and a.t_start <= t)
        truth_picks = sum(1 for r in w.truth if r["type"] == "pick" and r["t"] <= t)
        readings = self._readings(daemon)
        by_kind: dict[str, int] = {}
        for source, n in readings.items():
            kind = source.split(":")[0]
            by_kind[kind] = by_kind.get(kind, 0) + n
        c: dict[str, Any] = {"shoppers in store": in_store, "visits so far": visits,
                             "picks so far": truth_picks}
        for kind in ("ble", "shelf", "camera"):
            c[f"{kind} readings/s"] = f"{by_kind.get(kind, 0) / max(t, 1e-9):.1f}"
        c["speed"] = f"x{t / max(wall, 1e-9):.1f} real time"
        c["offline"] = ", ".join(sorted(self.offline)) or "-"
        return c

    def _snapshot(self, daemon: Daemon, t: float, wall: float) -> None:
        self.view.render(t, self._counters(daemon, t, wall), self.stock, self.offline)
        if self.view.window is None:
            path = self.out / "snapshots" / f"live-{int(t):05d}s.png"
            self.view.save(path)
            self.snapshots.append(path)

    def _progress(self, daemon: Daemon, t: float, wall: float) -> None:
        c = self._counters(daemon, t, wall)
        print(f"[sim] t={t:5.0f}/{self.world.duration:.0f}s {c['speed']} | in store "
              f"{c['shoppers in store']}, visits {c['visits so far']}, picks "
              f"{c['picks so far']} | readings/s (sim) ble {c['ble readings/s']} shelf "
              f"{c['shelf readings/s']} camera {c['camera readings/s']} | offline "
              f"{c['offline']}", file=sys.stderr, flush=True)

    def _report(self, daemon: Daemon, readings: dict[str, int], t_sim: float, wall: float,
                aborted: bool) -> dict[str, Any]:
        el = open_readonly(self.out / "events.db")
        try:
            events = [s.event.to_dict() for s in el.query()]
        finally:
            el.close()
        truth = Truth(self.world.truth)
        metrics = score(truth, events, switched_off={} if self.opts.vision else {
            "vision": "run with --vision to analyse the simulated cameras"})
        by_type: dict[str, int] = {}
        for e in events:
            by_type[e["type"]] = by_type.get(e["type"], 0) + 1
        return {
            "scenario": self.world.scenario.name, "seed": self.world.seed,
            "duration_s": self.world.duration, "truth_sha256": self.world.truth_sha256(),
            "overrides": dict(sorted(self.opts.overrides.items())),
            "metrics": metrics,
            "scored": sorted(n for n, m in metrics.items() if m["scored"]),
            "not_scored": sorted(n for n, m in metrics.items() if not m["scored"]),
            "run": {
                "simulated_s": round(t_sim, 1), "wall_s": round(wall, 2),
                "speed_x_real_time": round(t_sim / wall, 2) if wall else None,
                "aborted": aborted, "ticks_readers_lagged": self.lagging,
                "readings": readings,
                "readings_per_sim_s": {k: round(v / t_sim, 2) if t_sim else 0.0
                                       for k, v in readings.items()},
                "sent": {
                    "ble_adverts": self.ble.sent, "ble_adverts_garbled": self.ble.garbled,
                    "ble_delivered": dict(sorted(self.hub.delivered.items())),
                    "shelf_lines": self.shelf.sent, "shelf_lines_garbled": self.shelf.garbled,
                    "shelf_beam_lines_garbled": self.shelf.garbled_beams,
                    "camera_frames_rendered": self.frames_rendered,
                    "camera_lockstep": None if self.lockstep is None
                    else self.lockstep.counters(),
                    "pos_sales": dict(sorted(self.sales_sent.items())),
                    "journey_interests": dict(sorted(self.interests_sent.items())),
                    "screens": self.screen_counters,
                    "screen_plays_unacked": self.unacked_plays,
                    "door_lines": self.door.sent, "door_lines_garbled": self.door.garbled,
                    "door_crossings": {"in": self.door.true_in, "out": self.door.true_out,
                                       "side_by_side": self.door.pairs,
                                       "pauses": self.door.pauses,
                                       "short_breaks": self.door.short_breaks},
                },
                "events_by_type": dict(sorted(by_type.items())),
                "components": {n: {"health": str(s.health), "restarts": s.restarts,
                                   "counters": dict(s.counters)}
                               for n, s in sorted(daemon.supervisor.states.items())},
                "snapshots": [str(p) for p in self.snapshots],
            },
        }


async def simulate(opts: Options) -> Result:
    sim = Simulation(opts)
    try:
        sim.prepare()
        return await sim.run()
    finally:
        sim.close()
