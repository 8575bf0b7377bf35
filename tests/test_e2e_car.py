"""End to end over a real pty: TWC_CAR_CONNECTED on plug-in and unplug, and units without a VIN."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.e2e_helpers import E2E, fast_units, running
from twcdirector import events
from twcdirector.protocol import (
    Commands,
    Message,
    PeripheralState,
    VinHighReply,
    VinHighRequest,
    VinLowReply,
    VinLowRequest,
    VinMidReply,
    VinMidRequest,
    VinReply,
)
from twcdirector.simulator import Car, make_vin

pytestmark = pytest.mark.timeout(60)

VIN_CODES = (Commands.TWC_VIN_HIGH, Commands.TWC_VIN_MID, Commands.TWC_VIN_LOW)
VIN_REQUESTS = (VinHighRequest, VinMidRequest, VinLowRequest)
VIN_REPLIES = {VinHighReply, VinMidReply, VinLowReply}


def _asked_since(e2e: E2E, index: int, request: type[Message], since: float) -> bool:
    receiver = e2e.sim.unit(index).device_id
    return any(
        t >= since and isinstance(m, request) and m.receiver == receiver
        for t, m in e2e.sim.received
    )


def connected(e2e: E2E, index: int) -> list[tuple[bool, str | None]]:
    return [
        (p.connected, p.vin) for p in e2e.recorder.payloads(events.CAR_CONNECTED, e2e.id_hex(index))
    ]


async def test_car_connected_with_its_vin_on_plug_in_and_again_on_unplug() -> None:
    first, second, third = make_vin(101), make_vin(202), make_vin(303)
    async with running() as e2e:
        sim = e2e.sim
        await e2e.discovered()
        sim.plug_in(1, Car(vin=first))
        sim.plug_in(2, Car(vin=second))
        await e2e.until(lambda: connected(e2e, 1) and connected(e2e, 2))
        assert connected(e2e, 1) == [(True, first)]
        assert connected(e2e, 2) == [(True, second)]
        for index, vin in ((1, first), (2, second)):
            snap = e2e.snap(index)
            assert sim.unit(index).vin == snap.vin == vin
            assert snap.car_connected
            assert snap.vin_fragments == (vin[:7], vin[7:14], vin[14:])
        # Unplugging one car: one event for that unit, none for the other.
        sim.unplug(1)
        await e2e.until(lambda: len(connected(e2e, 1)) == 2)
        assert connected(e2e, 1) == [(True, first), (False, None)]
        await e2e.until(lambda: e2e.snap(1).state == PeripheralState.READY)
        snap = e2e.snap(1)
        assert not snap.car_connected
        assert snap.vin is None
        assert not snap.plugged
        assert sim.unit(1).vin is None
        # Another car in the same unit: its own VIN, not a mix with the first one's.
        sim.plug_in(1, Car(vin=third))
        await e2e.until(lambda: len(connected(e2e, 1)) == 3)
        assert connected(e2e, 1) == [(True, first), (False, None), (True, third)]
        assert e2e.snap(1).vin == third
        assert connected(e2e, 2) == [(True, second)]
        assert e2e.snap(2).vin == second
        # The protocol-1 unit never reported anything.
        assert connected(e2e, 0) == []


async def test_units_that_never_send_a_vin_still_report_the_plug() -> None:
    """Protocol 1 (blank fragments), a v2 unit with VINs off, and old firmware that ignores
    the VIN requests altogether: no TWC_CAR_CONNECTED, but ``plugged`` from the state."""
    units = fast_units(3)
    units[1] = replace(units[1], reports_vin=False)
    units[2] = replace(units[2], unsupported=frozenset(VIN_CODES))
    async with running(units) as e2e:
        sim = e2e.sim
        await e2e.discovered()
        plugged_at = asyncio.get_running_loop().time()
        for index in range(3):
            sim.plug_in(index, Car(vin=make_vin(index + 1)))

        def vin_replies_since_plug_in(index: int) -> list[VinReply]:
            sender = sim.unit(index).device_id
            return [
                m
                for t, direction, _, m in e2e.recorder.frames
                if direction == "rx" and t >= plugged_at and isinstance(m, VinReply)
                if m.sender == sender
            ]

        # Units 0 and 1 answered every VIN request after the plug-in, with nothing in it.
        await e2e.until(
            lambda: all(
                {type(m) for m in vin_replies_since_plug_in(i)} == VIN_REPLIES for i in (0, 1)
            )
        )
        assert all(m.empty for i in (0, 1) for m in vin_replies_since_plug_in(i))
        # Unit 2 was asked for each fragment after the plug-in and never answered.
        await e2e.until(
            lambda: all(_asked_since(e2e, 2, code, plugged_at) for code in VIN_REQUESTS)
        )
        await e2e.until(lambda: all(e2e.snap(i).plugged for i in range(3)))
        assert vin_replies_since_plug_in(2) == []
        for index in range(3):
            snap = e2e.snap(index)
            assert not snap.car_connected
            assert snap.vin is None
            assert snap.online
            assert sim.unit(index).plugged
        assert e2e.snap(0).vin_fragments == ("", "", "")
        assert e2e.snap(1).vin_fragments == ("", "", "")
        # Unanswered requests cost a reply timeout each, never the unit.
        assert e2e.snap(2).vin_fragments == (None, None, None)
        await e2e.until(lambda: e2e.snap(2).timeouts >= 3)
        assert e2e.recorder.payloads(events.CAR_CONNECTED) == []
        assert e2e.recorder.payloads(events.DEVICE_LOST) == []
        # The silent unit still takes commands.
        await e2e.peripheral(2).set_session_current(10)
        assert sim.unit(2).max_amps == 10
        sim.unplug(2)
        await e2e.until(lambda: not e2e.snap(2).plugged)
        assert e2e.recorder.payloads(events.CAR_CONNECTED) == []
