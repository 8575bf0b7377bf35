"""End-to-end harness: the Director on a real pseudo-terminal, simulated units on the far end.

The director opens the pty path through its DEFAULT link factory (pyserial-asyncio), so every
byte crosses the kernel's tty layer. Nothing waits on a sleep: :func:`until` re-checks a
condition after every bus event (and every 50 ms) within a generous bound, so a busy machine
only makes a test slower, never wrong. :func:`running` checks the safety contract on the way
out: no current above the configured maximum and no frame outside the allow-list ever went
on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from twcdirector import events
from twcdirector.gen2.config import DirectorConfig
from twcdirector.gen2.director import Director, Peripheral
from twcdirector.gen2.snapshot import PeripheralSnapshot
from twcdirector.protocol import (
    ALLOWED_HEARTBEAT_COMMANDS,
    ControllerHeartbeat,
    HeartbeatCommand,
    Message,
    decode_frame,
    encode,
)
from twcdirector.simulator import Scenario, SimulatedBus, UnitConfig, default_units

#: Seconds: only reached when something is broken (or the machine is badly overloaded).
BOUND = 20.0
#: The installation maximum of the fast configuration.
MAX_CURRENT = 32.0

DEVICE_EVENTS = (
    events.CAR_CONNECTED,
    events.DEVICE_LOST,
    events.DEVICE_FOUND,
    events.COMMAND_CONFIRMED,
    events.COMMAND_FAILED,
    events.STATE_CHANGED,
    events.ALLOCATION_CHANGED,
    events.LIMIT_ENFORCED,
    "TWC_STATUS",
)
DIRECTOR_EVENTS = (
    events.NEW_DEVICE,
    events.FRAMING_ERROR,
    events.BUS_ERROR,
    events.LINK_LOST,
    events.LINK_RESTORED,
    events.SHARING_CHANGED,
)


def fast_config(**overrides: Any) -> DirectorConfig:
    """SPEC cadence scaled down so a test sees minutes of behaviour in seconds.

    Six data requests at most one per heartbeat need ``data_request_interval`` >= 6
    heartbeats. A data request only takes the bus when its whole reply window ends before the
    next heartbeat, so with three units the heartbeat interval must leave gaps longer than
    that window (0.75 s / 3 units > 0.15 s + a frame). ``lost_after`` stays several
    heartbeats long so a busy machine is not "lost".
    """
    values: dict[str, Any] = {
        "max_current": MAX_CURRENT,
        "sign": 0x42,
        "startup_e1_count": 2,
        "startup_e1_interval": 0.3,
        "startup_e2_interval": 0.2,
        "heartbeat_interval": 0.75,
        "data_request_interval": 4.5,
        "reply_timeout": 0.15,
        "lost_after": 3.0,
        # A decrease owes its 2 A back this long; the fast units give it back after 1 s.
        "raise_back_window": 2.0,
    }
    values.update(overrides)
    return DirectorConfig(**values)


def fast_units(
    count: int = 3, *, protocols: Sequence[int] = (1, 2), **overrides: Any
) -> list[UnitConfig]:
    """``count`` units (unit 0 protocol 1, the others 2 by default) with short timings."""
    values: dict[str, Any] = {
        "latency": (0.005, 0.015),
        "announce_interval": 0.3,
        "burst_delay": 0.05,
        "negotiate_time": 0.3,
        "start_time": 0.3,
        "raise_period": 1.0,
        "lower_period": 1.0,
        # Longer than two heartbeats: the director sees state 0A at least once.
        "complete_hold": 1.6,
    }
    values.update(overrides)
    return [replace(unit, **values) for unit in default_units(count, protocols=protocols)]


@dataclass
class Recorder:
    """Every director and peripheral event, and every frame written or heard, in order."""

    #: (loop time, device ID or None for the director, event name, payload)
    log: list[tuple[float, str | None, str, Any]] = field(default_factory=list)
    #: (loop time, "tx"/"rx", raw bytes, message or None)
    frames: list[tuple[float, str, bytes, Message | None]] = field(default_factory=list)

    def attach(self, director: Director) -> None:
        for name in DIRECTOR_EVENTS:
            director.on(name, self._handler(None, name))
        director.on_frame(self._frame)

    def payloads(self, name: str, device: str | None = None) -> list[Any]:
        return [p for _, d, n, p in self.log if n == name and (device is None or d == device)]

    def tx(self) -> list[tuple[float, bytes, Message | None]]:
        return [(t, raw, m) for t, d, raw, m in self.frames if d == "tx"]

    def _handler(self, device: str | None, name: str) -> Callable[[Any], None]:
        def handler(payload: Any) -> None:
            self.log.append((asyncio.get_running_loop().time(), device, name, payload))
            if name == events.NEW_DEVICE:
                self._watch(payload.device)

        return handler

    def _watch(self, peripheral: Peripheral) -> None:
        for name in DEVICE_EVENTS:
            peripheral.on(name, self._handler(peripheral.id_hex, name))

    def _frame(self, direction: str, raw: bytes, message: Message | None) -> None:
        self.frames.append((asyncio.get_running_loop().time(), direction, raw, message))


@dataclass
class E2E:
    """One running end-to-end setup."""

    sim: SimulatedBus
    director: Director
    recorder: Recorder

    def snap(self, index: int) -> PeripheralSnapshot:
        """The director's view of simulated unit ``index``."""
        return self.director.peripheral(self.sim.unit(index).device_id).snapshot()

    def peripheral(self, index: int) -> Peripheral:
        """The director's peripheral object for simulated unit ``index``."""
        return self.director.peripheral(self.sim.unit(index).device_id)

    def id_hex(self, index: int) -> str:
        return f"{self.sim.unit(index).device_id:04X}"

    def known(self, index: int) -> bool:
        return self.sim.unit(index).device_id in self.director.peripherals

    async def until(self, predicate: Callable[[], bool], bound: float = BOUND) -> None:
        """Wait until ``predicate()`` holds; TimeoutError after ``bound`` seconds."""
        await until(self.sim, predicate, bound)

    async def discovered(self, bound: float = BOUND) -> None:
        """Every unit was announced to the program and has reported its state."""
        await self.until(
            lambda: all(
                self.known(i) and self.snap(i).state is not None for i in range(len(self.sim.units))
            ),
            bound,
        )


async def until(sim: SimulatedBus, predicate: Callable[[], bool], bound: float = BOUND) -> None:
    """Wait until ``predicate()`` holds, re-checked after every bus event."""
    async with asyncio.timeout(bound):
        await sim.wait_for(predicate)


@contextlib.asynccontextmanager
async def running(
    units: Sequence[UnitConfig] | None = None,
    config: DirectorConfig | None = None,
    *,
    scenario: Scenario | str | None = None,
) -> AsyncIterator[E2E]:
    """Simulated units on a new pty and a Director on its far end; safety checked at the end."""
    units = list(units) if units is not None else fast_units()
    config = config if config is not None else fast_config()
    async with SimulatedBus.on_pty(units, scenario=scenario) as sim:
        director = Director(sim.port, config)  # the default link: pyserial-asyncio
        recorder = Recorder()
        recorder.attach(director)
        async with director:
            yield E2E(sim, director, recorder)
        assert_safe(sim, recorder, config)


def assert_safe(sim: SimulatedBus, recorder: Recorder, config: DirectorConfig) -> None:
    """The safety contract, seen from both ends of the wire."""
    ceiling = config.max_current if config.max_current is not None else 0.0
    for unit in sim.units:
        assert unit.highest_commanded_amps <= min(ceiling, unit.config.max_amps), unit
        # Its limit now, whatever got it there (06 and 07 move it without carrying amps);
        # what it applies, not the minimum it reports after 0 A (SPEC §5).
        assert unit.limit_amps <= ceiling, unit
        assert unit.commands[HeartbeatCommand.ERROR] == 0, unit
    # Everything we wrote reached the units intact: the pty passes bytes unchanged.
    assert sim.core.decoder.error_count == 0, sim.core.decoder.errors
    for _, raw, message in recorder.tx():
        assert message is not None
        # encode() refuses anything outside SPEC §8.4's allow-list, so a frame it rebuilds
        # byte for byte from the decoded message was on the list.
        assert encode(decode_frame(raw)) == raw
        if isinstance(message, ControllerHeartbeat):
            assert message.command in ALLOWED_HEARTBEAT_COMMANDS
            assert 0 <= message.amps <= ceiling
            assert math.isfinite(message.amps)
