"""MQTT topic names, in one place.

    <prefix>/<store>/<device>/events/<type>      events (QoS 1), one CloudEvent per message
    <prefix>/<store>/<device>/status             retained birth / Last Will
    <prefix>/<store>/<device>/status/heartbeat   periodic counters (QoS 0)
    <prefix>/<store>/<device>/cmd/<name>         commands to this device
    <prefix>/<store>/all/cmd/<name>              commands to every device of the store
    <prefix>/<store>/<device>/cmd/<name>/result  the answer to each command
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMAND_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
MAX_COMMAND_NAME = 64


@dataclass(frozen=True)
class Topics:
    prefix: str
    store: str
    device: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.store}/{self.device}"

    def event(self, event_type: str) -> str:
        return f"{self.base}/events/{event_type}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def heartbeat(self) -> str:
        return f"{self.base}/status/heartbeat"

    def command_filters(self) -> list[str]:
        """Subscriptions for commands to this device and to all devices of the store."""
        return [f"{self.base}/cmd/+", f"{self.prefix}/{self.store}/all/cmd/+"]

    def command_name(self, topic: str) -> str | None:
        """The raw command name from a command topic, or None if the topic is not one."""
        for head in (f"{self.base}/cmd/", f"{self.prefix}/{self.store}/all/cmd/"):
            if topic.startswith(head):
                name = topic[len(head):]
                return name if name and "/" not in name else None
        return None

    def result(self, name: str) -> str:
        """Where the answer to command `name` goes (names that are not valid command names
        are answered on `cmd/_invalid/result`)."""
        safe = name if is_command_name(name) else "_invalid"
        return f"{self.base}/cmd/{safe}/result"


def is_command_name(name: str) -> bool:
    return len(name) <= MAX_COMMAND_NAME and bool(COMMAND_NAME_RE.fullmatch(name))
