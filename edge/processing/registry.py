"""Which processors run for a config.

Each processor part registers one builder here as "module:function"; a builder takes the
config and returns the processors that part needs for it (often none). Builders do no I/O:
a processor is pure logic, so the daemon, the simulator and `omo-edge replay` build the same
processors from the same config. Imports are lazy so a part loads only when configured.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import Config
    from edge.processing.processor import Processor

ProcessorFactory = Callable[["Config"], "Processor"]
"""Makes one fresh processor for a config (tests and the simulator pass extra ones)."""

BUILDERS: list[str] = [
    "edge.presence:build",
    "edge.presence.footfall:build",
    "edge.shelf:build",
    "edge.signage_link.triggers:build",
    "edge.vision:build",
    "edge.insight:build",
    "edge.journey:build",
]


def build_processors(config: Config, extra: Sequence[ProcessorFactory] = ()) -> list[Processor]:
    """The configured processors, then one from each extra factory."""
    processors: list[Processor] = []
    for ref in BUILDERS:
        module_name, _, func_name = ref.partition(":")
        builder: Callable[[Config], list[Processor]] = getattr(
            importlib.import_module(module_name), func_name)
        processors.extend(builder(config))
    processors.extend(factory(config) for factory in extra)
    names = [p.name for p in processors]
    if len(set(names)) != len(names):
        raise ValueError(f"two processors share a name: {sorted(names)}")
    return processors
