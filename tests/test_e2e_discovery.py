"""End to end over a real pty: the Director discovers three peripherals, protocols 1 and 2 mixed.

One test keeps every SPEC §8 default (start-up burst, 1.3 s heartbeats, 11.8 s data requests),
so discovery is checked at the real cadence at least once.
"""

from __future__ import annotations

import pytest

from tests.e2e_helpers import fast_config, fast_units, running
from twcdirector import events
from twcdirector.gen2.config import DirectorConfig
from twcdirector.gen2.director import Peripheral
from twcdirector.protocol import (
    ControllerHeartbeat,
    ControllerLinkReady1,
    ControllerLinkReady2,
    ProtocolVersion,
)
from twcdirector.simulator import default_units

pytestmark = pytest.mark.timeout(60)


async def test_discovery_of_a_mixed_bus_on_spec_defaults() -> None:
    units = default_units(3, protocols=(1, 2))  # every timing as SPEC.md has it
    config = DirectorConfig(max_current=32.0)
    async with running(units, config) as e2e:
        sim, director, recorder = e2e.sim, e2e.director, e2e.recorder
        await e2e.discovered()
        ids = {f"{unit.device_id:04X}" for unit in sim.units}
        new = recorder.payloads(events.NEW_DEVICE)
        assert {payload.device_id for payload in new} == ids == {"1839", "2019", "2433"}
        assert len(new) == 3  # each unit once
        for payload in new:
            assert payload.generation == 2
            assert isinstance(payload.device, Peripheral)
            assert payload.device.id_hex == payload.device_id
        for index, unit in enumerate(sim.units):
            snap = e2e.snap(index)
            # The director learned each version from the unit's own frame lengths.
            assert snap.protocol is unit.protocol
            assert snap.advertised_max == 32.0
            assert snap.online
            assert unit.controller == config.controller_id
        assert [e2e.snap(i).protocol for i in range(3)] == [
            ProtocolVersion.V1,
            ProtocolVersion.V2,
            ProtocolVersion.V2,
        ]
        # The first data requests (meter, firmware, serial) come one heartbeat apart.
        await e2e.until(
            lambda: all(e2e.snap(i).serial == sim.unit(i).config.serial_number for i in range(3))
        )
        for index, unit in enumerate(sim.units):
            snap = e2e.snap(index)
            assert snap.firmware == ".".join(map(str, unit.config.firmware_version))
            assert snap.lifetime_kwh == int(unit.lifetime_kwh)
            assert snap.voltages == unit.config.voltages
        # The whole start-up burst went out: FC E1 x4, then FB E2 x3.
        await e2e.until(
            lambda: sum(isinstance(m, ControllerLinkReady2) for _, m in sim.received) == 3
        )
        burst = [
            type(m).__name__
            for _, m in sim.received
            if isinstance(m, ControllerLinkReady1 | ControllerLinkReady2)
        ]
        assert burst == ["ControllerLinkReady1"] * 4 + ["ControllerLinkReady2"] * 3
        # Each unit is heartbeaten at its own protocol's length (v1: 14-byte body).
        lengths = {
            m.receiver: m.length for _, m in sim.received if isinstance(m, ControllerHeartbeat)
        }
        assert lengths == {0x1839: 14, 0x2019: 16, 0x2433: 16}
        assert sum(director.snapshot().framing_errors.values()) == 0
        assert recorder.payloads(events.DEVICE_LOST) == []
        assert recorder.payloads(events.BUS_ERROR) == []


async def test_a_unit_over_max_peripherals_is_reported_and_left_alone() -> None:
    """A fourth unit beyond ``max_peripherals`` is reported and never claimed."""
    units = fast_units(4, protocols=(2, 1, 2, 2))
    async with running(units, fast_config(max_peripherals=3)) as e2e:
        sim, recorder = e2e.sim, e2e.recorder
        await e2e.until(lambda: len(e2e.director.peripherals) == 3)
        await e2e.until(lambda: len(recorder.payloads(events.BUS_ERROR)) >= 1)
        errors = recorder.payloads(events.BUS_ERROR)
        assert {error.kind for error in errors} == {"too_many_peripherals"}
        ignored = [unit for unit in sim.units if unit.device_id not in e2e.director.peripherals]
        assert len(ignored) == 1
        assert errors[0].device_id == f"{ignored[0].device_id:04X}"
        claimed = [unit for unit in sim.units if unit.claimed]
        assert len(claimed) == 3
        assert not ignored[0].claimed

        # While the others are heartbeaten, nothing is ever addressed to the ignored unit.
        def heartbeats(device_id: int) -> int:
            return sum(getattr(m, "receiver", None) == device_id for _, m in sim.received)

        await e2e.until(lambda: all(heartbeats(unit.device_id) >= 4 for unit in claimed))
        assert all(getattr(m, "receiver", None) != ignored[0].device_id for _, m in sim.received)
