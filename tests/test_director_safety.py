"""The safety contract, as properties: over random API calls and peripheral behaviour, no
frame on the wire carries a current above the limits or a command outside the allow-list."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.director_fakes import CoreBus, FakePeripheral, MemoryBus, run_virtual
from twcdirector.exceptions import TWCError
from twcdirector.gen2.commands import CommandKind
from twcdirector.gen2.config import DirectorConfig
from twcdirector.gen2.controller import BusController, Transmission
from twcdirector.gen2.director import Director
from twcdirector.gen2.limits import CurrentLimits
from twcdirector.protocol import (
    ALLOWED_HEARTBEAT_COMMANDS,
    CONTROLLER_ALLOW_LIST,
    ControllerHeartbeat,
    HeartbeatCommand,
    Message,
    PeripheralLinkReady,
    PeripheralState,
    ProtocolVersion,
    decode_frame,
)

AMPS_COMMANDS = {
    HeartbeatCommand.SET_DEFAULT_CURRENT,
    HeartbeatCommand.ACK_CHARGE_START,
    HeartbeatCommand.SET_SESSION_CURRENT,
}
MINIMUM = {ProtocolVersion.V1: 5, ProtocolVersion.V2: 6}
#: TWC_SAFETY_EXAMPLES=5000 for a deep run; the default keeps the suite fast.
EXAMPLES = int(os.environ.get("TWC_SAFETY_EXAMPLES", "300"))

amps_values = st.one_of(
    st.integers(-10, 700),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 5, 6, 6.5, 16, 31.999, 32, 32.0001, 40, 80, 655.35, 655.36]),
)
operation = st.one_of(
    st.tuples(
        st.just("submit"), st.integers(0, 2), st.sampled_from(list(CommandKind)), amps_values
    ),
    st.tuples(st.just("advance"), st.floats(0, 4)),
    st.tuples(
        st.just("state"),
        st.integers(0, 2),
        st.sampled_from([*PeripheralState, 0x0B, 0xFF]),
        st.sampled_from([0.0, 6.0, 32.0, 80.0, 655.35]),
    ),
    st.tuples(st.just("grant"), st.integers(0, 2), st.none() | st.integers(0, 100)),
    st.tuples(st.just("announce"), st.integers(0, 2), st.sampled_from([6.0, 16.0, 32.0, 80.0])),
    st.tuples(st.just("silence"), st.integers(0, 2), st.booleans()),
    st.tuples(st.just("noise"), st.binary(max_size=40)),
)
units = st.lists(
    st.tuples(st.sampled_from(list(ProtocolVersion)), st.sampled_from([16.0, 32.0, 48.0, 80.0])),
    min_size=1,
    max_size=3,
)
max_currents = st.sampled_from([None, 0.0, 6.0, 16.0, 31.5, 40.0, 80.0, 200.0])


@dataclass
class Ceilings:
    """What the test itself knows the limits are, independent of the code under test."""

    max_current: float | None
    advertised: dict[int, float] = field(default_factory=dict)
    protocol: dict[int, ProtocolVersion] = field(default_factory=dict)
    grants: dict[int, float] = field(default_factory=dict)

    def check(self, data: bytes) -> None:
        message = decode_frame(data)
        assert type(message) in CONTROLLER_ALLOW_LIST, message
        if not isinstance(message, ControllerHeartbeat):
            return
        assert message.command in ALLOWED_HEARTBEAT_COMMANDS, message
        if message.command not in AMPS_COMMANDS:
            assert message.amps == 0, message
            return
        amps = message.amps
        if amps == 0:
            return
        assert self.max_current is not None, message
        assert amps == int(amps), message
        unit = message.receiver
        ceiling = min(
            self.max_current,
            self.advertised.get(unit, math.inf),
            self.grants.get(unit, math.inf),
        )
        assert amps <= ceiling, (message, ceiling)
        assert amps >= MINIMUM[self.protocol[unit]], message

    def grant(self, limits: CurrentLimits, device_id: int, amps: float | None) -> None:
        """Set a capacity-sharing grant in the code under test and in what the test knows."""
        limits.set_grant(device_id, amps)
        if amps is None:
            self.grants.pop(device_id, None)
        else:
            self.grants[device_id] = amps

    def heard(self, message: Message) -> None:
        if isinstance(message, PeripheralLinkReady):
            self.advertised[message.sender] = message.max_amps
            self.protocol[message.sender] = message.protocol


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(units=units, max_current=max_currents, operations=st.lists(operation, max_size=40))
def test_core_never_puts_an_illegal_current_or_command_on_the_wire(
    units: list[tuple[ProtocolVersion, float]],
    max_current: float | None,
    operations: list[tuple[Any, ...]],
) -> None:
    peripherals = [
        FakePeripheral(0x1000 + index, max_amps=max_amps, protocol=protocol)
        for index, (protocol, max_amps) in enumerate(units)
    ]
    core = BusController(DirectorConfig(max_current=max_current))
    harness = CoreBus(core, peripherals)
    ceilings = Ceilings(max_current)
    checked: list[Transmission] = []

    def on_send(_: float, transmission: Transmission) -> None:
        for _, heard in harness.heard:
            ceilings.heard(heard)
        ceilings.check(transmission.data)
        checked.append(transmission)

    harness.on_send = on_send
    harness.run_for(3)
    for op in operations:
        kind = op[0]
        if kind == "advance":
            harness.run_for(op[1])
            continue
        if kind == "noise":
            harness.inject(PeripheralLinkReady(0, 0, 0), raw=op[1])
            continue
        unit = peripherals[op[1] % len(peripherals)]
        if kind == "submit":
            with contextlib.suppress(TWCError):
                core.submit(unit.device_id, op[2], op[3], harness.now)
        elif kind == "state":
            unit.state, unit.allowed = op[2], op[3]
        elif kind == "grant":
            ceilings.grant(core.limits, unit.device_id, op[2])
        elif kind == "announce":
            unit.max_amps = op[2]
            harness.inject(unit.link_ready())
        elif kind == "silence":
            unit.silent = op[2]
        harness.run_for(0.05)
    harness.run_for(5)
    assert len(checked) == len(harness.wire)


@settings(
    max_examples=max(EXAMPLES // 6, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(units=units, max_current=max_currents, operations=st.lists(operation, max_size=25))
def test_director_api_never_puts_an_illegal_current_or_command_on_the_wire(
    units: list[tuple[ProtocolVersion, float]],
    max_current: float | None,
    operations: list[tuple[Any, ...]],
) -> None:
    async def main() -> int:
        peripherals = [
            FakePeripheral(0x1000 + index, max_amps=max_amps, protocol=protocol)
            for index, (protocol, max_amps) in enumerate(units)
        ]
        bus = MemoryBus(peripherals)
        ceilings = Ceilings(max_current)
        for unit in peripherals:
            ceilings.advertised[unit.device_id] = unit.max_amps
            ceilings.protocol[unit.device_id] = unit.protocol
        bus.on_write = ceilings.check
        director = Director(
            "mem://", DirectorConfig(max_current=max_current), link_factory=bus.factory
        )
        calls: list[asyncio.Future[Any]] = []
        async with director:
            await asyncio.sleep(3)
            for op in operations:
                kind = op[0]
                if kind == "advance":
                    await asyncio.sleep(op[1])
                    continue
                if kind == "noise":
                    bus.inject(op[1])
                    continue
                unit = peripherals[op[1] % len(peripherals)]
                if kind == "submit":
                    peripheral = director.peripherals.get(unit.device_id)
                    if peripheral is not None:
                        method = getattr(peripheral, op[2].value)
                        args = (op[3],) if op[2].carries_amps else ()
                        calls.append(asyncio.ensure_future(method(*args)))
                elif kind == "state":
                    unit.state, unit.allowed = op[2], op[3]
                elif kind == "grant":
                    ceilings.grant(director.limits, unit.device_id, op[2])
                elif kind == "silence":
                    unit.silent = op[2]
                elif kind == "announce":
                    pass  # keeps the test's ceilings exact: advertised maxima stay fixed here
                await asyncio.sleep(0.05)
            await asyncio.sleep(3)
        await asyncio.sleep(0)  # callers whose command close() failed resume
        for call in calls:
            # Every call ended: confirmed, or with one of our errors (never left hanging).
            assert call.done()
            error = call.exception()
            assert error is None or isinstance(error, TWCError), error
        bus.close()
        return len(bus.wire)

    assert run_virtual(main) > 0
