"""Importing the player prints nothing, so `omo-edge bench signage --json` is pure JSON."""

from __future__ import annotations

import os
import subprocess
import sys


def test_importing_the_player_prints_no_pygame_banner() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYGAME_HIDE_SUPPORT_PROMPT"}
    out = subprocess.run([sys.executable, "-c", "import signage.app, signage.bench"],
                         capture_output=True, text=True, env=env, check=True)
    assert out.stdout == ""
