"""Store insight: product interest and the shopping funnel per window, and sales from the
point of sale (docs/insight.md).

`build` is the part's processor builder (`edge.processing.registry`): the insight processor
(`edge.insight.processor`) when `insight.enabled` and the store has zones or shelves. Sales
arrive as the `pos.sale` command (`edge.insight.pos`), which records `omo.pos.sale.recorded`
once per receipt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import Config
    from edge.processing.processor import Processor


def build(config: Config) -> list[Processor]:
    """The insight processor, unless `insight.enabled` is false or the store has neither
    zones nor shelves (nothing to report on)."""
    from edge.insight.processor import from_config

    if not config.insight.enabled or not (config.zones or config.shelves):
        return []
    return [from_config(config)]
