"""Screen on/off hours: HDMI-CEC through `cec-client` when it exists, else the player blanks
the screen (draws black) during off hours."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading

log = logging.getLogger("omo.signage")


class ScreenPower:
    def __init__(self, cec_client: str | None = None) -> None:
        self.cec = cec_client if cec_client is not None else shutil.which("cec-client")
        self.state: bool | None = None

    def set(self, on: bool) -> None:
        """Switch the panel when the state changes (in a thread: cec-client takes seconds)."""
        if on == self.state:
            return
        self.state = on
        if self.cec:
            command = "on 0" if on else "standby 0"
            threading.Thread(target=self._cec, args=(command,), daemon=True).start()

    def _cec(self, command: str) -> None:
        assert self.cec
        try:
            subprocess.run([self.cec, "-s", "-d", "1"], input=command + "\n", text=True,
                           capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("signage: cec-client failed: %s", type(exc).__name__)
