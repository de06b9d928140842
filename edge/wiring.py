"""Which components the daemon runs for a config.

Each part of omo-edge registers one builder here as "module:function"; a builder takes
(config, services) and returns the components that part needs for that config (often none).
Imports are lazy so a part's dependencies load only when it is configured. Processors are
declared in `edge.processing.registry` and each runs in its own `ProcessorHost`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from edge.processing.host import ProcessorHost
from edge.processing.registry import ProcessorFactory, build_processors

if TYPE_CHECKING:
    from edge.config import Config
    from edge.runtime import Component
    from edge.services import Services

BUILDERS: list[str] = [
    "edge.sources:build",
    "edge.recording.tap:build",
    "edge.shelf.control:build",
    "edge.sync.component:build",
    "edge.signage_link.server:build",
    "edge.insight.pos:build",
    "edge.journey.command:build",
]


def build_components(config: Config, services: Services,
                     processors: Sequence[ProcessorFactory] = ()) -> list[Component]:
    components: list[Component] = []
    for ref in BUILDERS:
        module_name, _, func_name = ref.partition(":")
        builder: Callable[[Config, Services], list[Component]] = getattr(
            importlib.import_module(module_name), func_name)
        components.extend(builder(config, services))
    components.extend(ProcessorHost(p) for p in build_processors(config, processors))
    return components
