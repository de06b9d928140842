"""Which components the daemon runs for a config.

Each part of omo-edge registers one builder here as "module:function"; a builder takes
(config, services) and returns the components that part needs for that config (often none).
Imports are lazy so a part's dependencies load only when it is configured.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.config import Config
    from edge.runtime import Component

BUILDERS: list[str] = [
    "edge.sources:build",
    "edge.sync.component:build",
]


def build_components(config: Config, services: dict[str, Any]) -> list[Component]:
    components: list[Component] = []
    for ref in BUILDERS:
        module_name, _, func_name = ref.partition(":")
        builder = getattr(importlib.import_module(module_name), func_name)
        components.extend(builder(config, services))
    return components
