"""Store configuration: one TOML file, fully validated before anything starts.

Every problem is reported with the key, the bad value and what is allowed; all problems
are collected, not just the first. Secrets (broker password, pseudonym key) come from the
environment, named by ``*_env`` keys. Every key is declared once, in `edge.config.model`
(its docstring says how to add one).
"""

from edge.config.errors import ConfigError
from edge.config.loading import defaults, load, parse
from edge.config.model import (
    DEFAULT_PATH,
    DEVICE_ID_RE,
    ID_RE,
    TOPIC_PREFIX_RE,
    Ble,
    BleMqtt,
    BleMqttNode,
    BleReceiver,
    Broker,
    Camera,
    Config,
    DoorCounter,
    Listener,
    Plate,
    Privacy,
    Screen,
    Shelf,
    Storage,
    Tls,
    Vision,
    Zone,
)

__all__ = [
    "DEFAULT_PATH", "DEVICE_ID_RE", "ID_RE", "TOPIC_PREFIX_RE", "Ble", "BleMqtt", "BleMqttNode",
    "BleReceiver", "Broker", "Camera", "Config", "ConfigError", "DoorCounter", "Listener", "Plate",
    "Privacy", "Screen", "Shelf", "Storage", "Tls", "Vision", "Zone", "defaults", "load",
    "parse",
]
