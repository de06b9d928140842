"""omo-edge signage: the store screen player, a process of its own (`omo-edge signage`).

protocol (the channel's messages), channel (the player's client), app (the process loop),
player (what plays now, prepared ahead, fallbacks), content (opening items), draw (cards,
splash, board, ticker), fonts (CJK through fontconfig), layout (regions, rotation), schedule
(slots and screen hours), cache (offline assets), store (proof of play until acked), power
(HDMI-CEC), sdl (drivers, display), bench, screenshots. See docs/signage.md.
"""

import os

# pygame prints a banner on stdout when imported; `--json` output must stay pure JSON.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

