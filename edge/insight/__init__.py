"""Store insight: product interest and the shopping funnel per window, and sales from the
point of sale (docs/insight.md).

`build` is the part's processor builder (`edge.processing.registry`): the insight processor
(`edge.insight.processor`) when `insight.enabled`. Sales arrive as the `pos.sale` command
(`edge.insight.pos`), which records `omo.pos.sale.recorded` once per receipt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import Config
    from edge.processing.processor import Processor


def build(config: Config) -> list[Processor]:
    """The insight processor, unless `insight.enabled` is false."""
    from edge.insight.processor import from_config

    if not config.insight.enabled:
        return []
    return [from_config(config)]
