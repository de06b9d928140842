"""The OMO journey of opted-in app users: the cloud's interest lists, offers at the shelf,
picks attributed to a shopper, and a summary per visit (docs/journey.md).

`build` is the part's processor builder (`edge.processing.registry`): the journey processor
(`edge.journey.processor`) when `journey.enabled` and the store has zones, starting from the
interest lists kept in the state folder (`edge.journey.interests`). The lists arrive as the
`journey.interests` command (`edge.journey.command`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import Config
    from edge.processing.processor import Processor


def build(config: Config) -> list[Processor]:
    """The journey processor, unless `journey.enabled` is false or the store has no zones."""
    from edge.journey.interests import load
    from edge.journey.processor import from_config

    if not config.journey.enabled or not config.zones:
        return []
    kept = load(config.storage.state_dir, config.journey.max_customers)
    return [from_config(config, kept)]
