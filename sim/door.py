"""The simulated door counter: two infrared beams across the entrance and the lines its
controller writes (drivers.door_serial's protocol) to a pty, like the shelf controllers.

Every shopper crosses the beams twice: in when their path starts at the door, out when it
ends there (staff never cross). A body of depth w (0.25-0.40 m; a child's 0.10-0.18 m)
walking at the shopper's speed breaks beam A, then B (0.2 m further in) for an arrival,
B then A for a departure. Faults, parameterised in `sim.world.DoorParams`:

- side by side: two shoppers crossing the same way within `pair_window_s` may walk through
  together, one up to `stagger_m` behind the other, so the beams see one long passage;
- a pause: a shopper stops in the beams for `pause_s`;
- a child's body is shorter than the beam gap: A clears before B breaks;
- short breaks of one beam only (a hand, a bag, a child at the door);
- line noise: a flipped bit, noise before a line, a line cut short.

People do not walk through each other: a crossing that would meet another in the beams (and
is not side by side with it) waits until the beams have been clear for `MIN_GAP_S`.
Everything is planned up front from the world and the seed: the same inputs write the same
bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from drivers.door_serial import Beam, encode_edge, encode_heartbeat
from sim.linenoise import garble
from sim.world import World

BEAM_GAP_M = 0.2  # between beam A (street side) and beam B (shop side)
ADULT_DEPTH_M = (0.25, 0.40)
CHILD_DEPTH_M = (0.10, 0.18)
MIN_GAP_S = 0.6  # people crossing one after the other leave the beams clear this long
HEARTBEAT_S = 1.0
BREAK_S = (0.04, 0.25)


@dataclass
class Crossing:
    t: float  # when the world has the shopper at the door
    inward: bool
    speed: float
    depth: float
    start: float = 0.0  # when the first beam breaks
    pause_at: float = -1.0  # how far the body has gone into the beams when it stops, m
    pause_s: float = 0.0


@dataclass(frozen=True)
class DoorLine:
    t: float
    data: bytes


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


class DoorGenerator:
    """The door counter's lines, planned for the whole run, handed out tick by tick."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.counter = world.layout.door_counter
        p = self.p = world.params.door
        rng = self.rng = random.Random(f"omo-sim:{world.seed}:{world.scenario.name}:door")
        self.pairs = self.pauses = self.children = self.short_breaks = 0
        self.crossings = self._plan()
        blocks: dict[Beam, list[tuple[float, float]]] = {Beam.A: [], Beam.B: []}
        for c in self.crossings:
            for beam, interval in self._blocks(c).items():
                blocks[beam].append(interval)
        busy = _merge(blocks[Beam.A] + blocks[Beam.B])
        if p.short_breaks_per_hour > 0:
            t = 0.0
            while True:
                t += rng.expovariate(p.short_breaks_per_hour / 3600.0)
                if t >= world.duration:
                    break
                beam = rng.choice((Beam.A, Beam.B))
                length = rng.uniform(*BREAK_S)
                if any(a - 1.0 < t + length and t < b + 1.0 for a, b in busy):
                    continue  # a hand in the beam while someone walks through: not modelled
                blocks[beam].append((t, t + length))
                self.short_breaks += 1
        self.lines = self._lines({b: _merge(v) for b, v in blocks.items()})
        self._i = 0
        self.sent = 0
        self.garbled = 0
        self.clean = 0  # undamaged lines in the last step

    @property
    def true_in(self) -> int:
        return sum(1 for c in self.crossings if c.inward and c.t <= self.world.duration)

    @property
    def true_out(self) -> int:
        return sum(1 for c in self.crossings if not c.inward)

    def _plan(self) -> list[Crossing]:
        p, rng, w = self.p, self.rng, self.world
        wanted: list[Crossing] = []
        for agent in w.agents:
            if agent.staff:
                continue
            child = rng.random() < p.child_share
            self.children += child
            depth = rng.uniform(*(CHILD_DEPTH_M if child else ADULT_DEPTH_M))
            wanted.append(Crossing(agent.t_start, True, agent.speed, depth))
            if agent.t_end <= w.duration:
                wanted.append(Crossing(agent.t_end, False, agent.speed, depth))
        wanted.sort(key=lambda c: (c.t, not c.inward))
        planned: list[Crossing] = []
        clear_at = -1e9  # when the beams are clear of everyone planned so far
        leader: Crossing | None = None  # the last crossing that walked through alone
        for c in wanted:
            span = (c.depth + BEAM_GAP_M) / c.speed
            if (leader is not None and leader.inward == c.inward
                    and c.t - leader.t <= p.pair_window_s and rng.random() < p.side_by_side):
                c.speed = leader.speed
                c.start = leader.start + rng.uniform(*p.stagger_m) / leader.speed
                span = (c.depth + BEAM_GAP_M) / c.speed
                self.pairs += 1
                leader = None  # pairs, not threes
            else:
                # an arrival breaks the first beam at the door; a departure clears the last
                # beam there
                desired = c.t if c.inward else c.t - span
                c.start = max(desired, clear_at + MIN_GAP_S)
                if rng.random() < p.pause:
                    c.pause_at = rng.uniform(0.0, c.depth + BEAM_GAP_M)
                    c.pause_s = rng.uniform(*p.pause_s)
                    self.pauses += 1
                leader = c
            clear_at = max(clear_at, c.start + span + c.pause_s)
            planned.append(c)
        return planned

    def _blocks(self, c: Crossing) -> dict[Beam, tuple[float, float]]:
        """When each beam is blocked by this body: its front reaches the first beam at
        `start`, the second after the gap; its back clears them `depth` later."""
        def at(distance: float) -> float:
            pause = c.pause_s if 0 <= c.pause_at < distance else 0.0
            return c.start + distance / c.speed + pause

        first, second = (Beam.A, Beam.B) if c.inward else (Beam.B, Beam.A)
        return {first: (at(0.0), at(c.depth)),
                second: (at(BEAM_GAP_M), at(BEAM_GAP_M + c.depth))}

    def _lines(self, blocks: dict[Beam, list[tuple[float, float]]]) -> list[DoorLine]:
        rng, w = self.rng, self.world
        boot_ms = rng.randrange(0, 1 << 31)  # the controller's millis() since it powered up
        events: list[tuple[float, int, Beam | None, bool]] = []
        for beam, intervals in blocks.items():
            for a, b in intervals:
                events += [(a, 1, beam, True), (b, 0, beam, False)]
        k = 1
        while k * HEARTBEAT_S < w.duration + 5:
            events.append((k * HEARTBEAT_S, 2, None, False))
            k += 1
        events.sort(key=lambda e: (e[0], e[1]))
        level = {Beam.A: False, Beam.B: False}
        lines = []
        seq = rng.randrange(0, 65536)
        for t, _, which, blocked in events:
            ms = boot_ms + round(t * 1000)
            if which is None:
                data = encode_heartbeat(self.counter, seq, ms, level[Beam.A], level[Beam.B])
            else:
                level[which] = blocked
                data = encode_edge(self.counter, seq, ms, which, blocked)
            seq += 1
            lines.append(DoorLine(t, data))
        return lines

    def step(self, t0: float, t1: float) -> bytes:
        """The bytes the controller writes in [t0, t1) (`clean` says how many of the lines
        in them are undamaged)."""
        out = []
        self.clean = 0
        while self._i < len(self.lines) and self.lines[self._i].t < t1:
            line = self.lines[self._i].data
            self._i += 1
            if self.rng.random() < self.p.garbled:
                line = garble(line, self.rng)
                self.garbled += 1
            else:
                self.clean += 1
            self.sent += 1
            out.append(line)
        return b"".join(out)
