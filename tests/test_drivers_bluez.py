"""Power-cycling an adapter through BlueZ's D-Bus API: a real dbus-daemon on a private socket,
with a stand-in for bluetoothd that owns org.bluez and exports /org/bluez/hci0 with
org.bluez.Adapter1's Powered property (this machine has no BlueZ)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool
from dbus_fast.service import ServiceInterface, dbus_property

from drivers.bluez_adapter import AdapterError, BluezAdapterControl
from tests.waiting import wait_until

DBUS_DAEMON = shutil.which("dbus-daemon")
pytestmark = pytest.mark.skipif(DBUS_DAEMON is None, reason="needs dbus-daemon")

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class Adapter1(ServiceInterface):
    """The part of bluetoothd's org.bluez.Adapter1 that the recovery uses."""

    def __init__(self, stay_off: bool = False) -> None:
        super().__init__("org.bluez.Adapter1")
        self.powered = True
        self.stay_off = stay_off
        self.writes: list[bool] = []

    @dbus_property()
    def Powered(self) -> DBusBool:
        return self.powered

    @Powered.setter
    def Powered(self, value: DBusBool) -> None:
        self.writes.append(value)
        self.powered = value and not self.stay_off


@pytest.fixture
def bus_address(tmp_path: Path) -> Iterator[str]:
    socket = tmp_path / "bus"
    config = tmp_path / "bus.conf"
    config.write_text(BUS_CONFIG.format(socket=socket))
    assert DBUS_DAEMON is not None
    proc = subprocess.Popen([DBUS_DAEMON, f"--config-file={config}", "--nofork"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: socket.exists() or proc.poll() is not None, timeout=10,
                   what="dbus-daemon's socket")
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        yield f"unix:path={socket}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def fake_bluez(address: str, adapter: Adapter1, name: str = "hci0") -> MessageBus:
    bus = await MessageBus(bus_address=address).connect()
    bus.export(f"/org/bluez/{name}", adapter)
    await bus.request_name("org.bluez")
    return bus


def test_power_cycle_sets_powered_off_then_on_over_d_bus(bus_address: str) -> None:
    adapter, sleeps = Adapter1(), Sleeps()

    async def go() -> None:
        bluez = await fake_bluez(bus_address, adapter)
        try:
            control = BluezAdapterControl("hci0", bus_address=bus_address, settle_s=2.0,
                                          sleep=sleeps)
            await control.power_cycle()
            await control.power_cycle()
        finally:
            bluez.disconnect()

    asyncio.run(go())
    assert adapter.writes == [False, True, False, True] and adapter.powered
    assert sleeps.delays == [2.0, 2.0]


def test_an_adapter_that_stays_off_is_an_adapter_error(bus_address: str) -> None:
    adapter = Adapter1(stay_off=True)

    async def go() -> None:
        bluez = await fake_bluez(bus_address, adapter)
        try:
            with pytest.raises(AdapterError, match="did not power on"):
                await BluezAdapterControl("hci0", bus_address=bus_address,
                                          sleep=Sleeps()).power_cycle()
        finally:
            bluez.disconnect()

    asyncio.run(go())


def test_no_such_adapter_or_no_bluez_is_an_adapter_error(bus_address: str) -> None:
    async def go() -> None:
        with pytest.raises(AdapterError, match=r"org\.freedesktop\.DBus\.Error"):
            # nobody owns org.bluez: bluetoothd is not running
            await BluezAdapterControl("hci0", bus_address=bus_address,
                                      sleep=Sleeps()).power_cycle()
        bluez = await fake_bluez(bus_address, Adapter1())
        try:
            with pytest.raises(AdapterError, match="hci7"):
                await BluezAdapterControl("hci7", bus_address=bus_address,
                                          sleep=Sleeps()).power_cycle()
        finally:
            bluez.disconnect()

    asyncio.run(go())


def test_no_d_bus_at_all_is_an_adapter_error(tmp_path: Path) -> None:
    control = BluezAdapterControl("hci0", bus_address=f"unix:path={tmp_path}/none",
                                  sleep=Sleeps(), timeout_s=5)
    with pytest.raises(AdapterError, match="cannot reach D-Bus"):
        asyncio.run(control.power_cycle())
