"""Power-cycling a Bluetooth adapter through BlueZ: stage 2 of the BLE scanner's recovery.

`AdapterControl` is what the scanner needs; `BluezAdapterControl` implements it over D-Bus
with dbus-fast (which bleak already depends on): it sets `org.bluez.Adapter1.Powered` on
`/org/bluez/<adapter>` to false, waits a moment, sets it to true and reads it back. The
service user needs BlueZ's D-Bus policy for that (on Debian and Raspberry Pi OS: membership
of the `bluetooth` group, which systemd/install.sh gives it). Tests pass a fake, or point
`bus_address` at a private bus with a stand-in BlueZ.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

BLUEZ_SERVICE = "org.bluez"
ADAPTER_INTERFACE = "org.bluez.Adapter1"
PROPERTIES_INTERFACE = "org.freedesktop.DBus.Properties"


class AdapterError(Exception):
    """The adapter could not be power-cycled (no D-Bus, no BlueZ, no such adapter, denied);
    the message names the D-Bus error."""


class AdapterControl(Protocol):
    """What the scanner's recovery does to the adapter itself."""

    async def power_cycle(self) -> None:
        """Power the adapter off and on again; raises AdapterError if that fails."""


class BluezAdapterControl:
    """Power-cycles `adapter` (hci0, ...) through BlueZ's `Adapter1.Powered` property.

    `bus_address` None is the system bus. `settle_s` is the pause between off and on."""

    def __init__(self, adapter: str, *, bus_address: str | None = None, settle_s: float = 2.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 timeout_s: float = 10.0) -> None:
        self.adapter = adapter
        self.path = f"/org/bluez/{adapter}"
        self.bus_address = bus_address
        self.settle_s = settle_s
        self.sleep = sleep
        self.timeout_s = timeout_s

    async def power_cycle(self) -> None:
        try:
            bus = await asyncio.wait_for(self._connect(), self.timeout_s)
        except Exception as exc:  # no socket, refused, timed out, dbus-fast's AuthError
            raise AdapterError(f"cannot reach D-Bus: {type(exc).__name__}: {exc}") from exc
        try:
            await self._set_powered(bus, False)
            await self.sleep(self.settle_s)
            await self._set_powered(bus, True)
            if not await self._powered(bus):
                raise AdapterError(f"{self.adapter} did not power on again")
        finally:
            bus.disconnect()

    async def _connect(self) -> MessageBus:
        if self.bus_address is None:
            return await MessageBus(bus_type=BusType.SYSTEM).connect()
        return await MessageBus(bus_address=self.bus_address).connect()

    async def _call(self, bus: MessageBus, member: str, signature: str,
                    body: list[object]) -> Message:
        try:
            reply = await asyncio.wait_for(bus.call(Message(
                destination=BLUEZ_SERVICE, path=self.path, interface=PROPERTIES_INTERFACE,
                member=member, signature=signature, body=body)), self.timeout_s)
        except (OSError, TimeoutError, EOFError) as exc:
            raise AdapterError(f"{member} on {self.adapter}: {type(exc).__name__}") from exc
        if reply is None or reply.message_type == MessageType.ERROR:
            name = None if reply is None else reply.error_name
            raise AdapterError(f"{member} on {self.adapter}: {name}")
        return reply

    async def _set_powered(self, bus: MessageBus, on: bool) -> None:
        await self._call(bus, "Set", "ssv", [ADAPTER_INTERFACE, "Powered", Variant("b", on)])

    async def _powered(self, bus: MessageBus) -> bool:
        reply = await self._call(bus, "Get", "ss", [ADAPTER_INTERFACE, "Powered"])
        value = reply.body[0].value if reply.body else None
        return value is True
