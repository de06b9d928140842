"""Shared test setup. Part-specific fixtures live in tests/<part>_fixtures.py."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
