"""End to end over a real pty: every command of the public API, seen from both ends of the wire.

After each command the simulated unit's own state shows it took effect, and the director's
snapshot shows the unit *reported* it (``allowed_amps`` is the max of its ``FD E0``).
"""

from __future__ import annotations

import itertools
import math

import pytest

from tests.e2e_helpers import E2E, running
from twcdirector import events
from twcdirector.exceptions import CurrentLimitError, NotApplicableError
from twcdirector.protocol import (
    CloseContactors,
    ControllerHeartbeat,
    HeartbeatCommand,
    OpenContactors,
    PeripheralState,
)
from twcdirector.simulator import Car

pytestmark = pytest.mark.timeout(60)

#: A car that follows a new limit within one heartbeat.
QUICK_CAR = Car(vin=None, tesla=False, ramp_rate=100.0)


def sent(e2e: E2E, index: int, command: int) -> list[ControllerHeartbeat]:
    """Heartbeats carrying ``command`` the director wrote to unit ``index``."""
    receiver = e2e.sim.unit(index).device_id
    return [
        m
        for _, _, m in e2e.recorder.tx()
        if isinstance(m, ControllerHeartbeat) and m.receiver == receiver and m.command == command
    ]


def reported_states(e2e: E2E, index: int) -> list[int]:
    return [m.state for m in e2e.recorder.payloads("TWC_STATUS", e2e.id_hex(index))]


async def charging(e2e: E2E, index: int, amps: float) -> None:
    """Wait until unit ``index`` charges at ``amps`` and the director has heard so."""
    await e2e.until(
        lambda: (
            e2e.snap(index).state == PeripheralState.CHARGING
            and e2e.snap(index).allowed_amps == amps
            and math.isclose(e2e.snap(index).actual_amps or 0, amps, abs_tol=0.05)
        )
    )


async def test_default_and_session_current_on_both_protocols() -> None:
    async with running() as e2e:
        sim = e2e.sim
        await e2e.discovered()
        v1, v2 = e2e.peripheral(0), e2e.peripheral(1)

        # Default current, no car: a v2 unit takes it as its limit and for the next plug-in.
        await v2.set_default_current(16)
        assert sim.unit(1).default_amps == sim.unit(1).max_amps == 16
        assert e2e.snap(1).allowed_amps == 16
        # (Sets: a reply later than the reply window makes the director send it again.)
        assert {(f.amps, f.length) for f in sent(e2e, 1, 5)} == {(16.0, 16)}
        sim.plug_in(1, QUICK_CAR)
        await charging(e2e, 1, 16)
        assert sim.unit(1).actual_amps == 16

        # Session current: FB E0 09, echoed by state 09, the default untouched.
        await v2.set_session_current(20)
        assert sim.unit(1).max_amps == 20
        assert sim.unit(1).default_amps == 16
        assert PeripheralState.LIMIT_SET in reported_states(e2e, 1)
        assert {(f.amps, f.length) for f in sent(e2e, 1, 9)} == {(20.0, 16)}
        await charging(e2e, 1, 20)
        confirmed = e2e.recorder.payloads(events.COMMAND_CONFIRMED, e2e.id_hex(1))
        assert [(c.command, c.amps) for c in confirmed] == [
            ("set_default_current", 16.0),
            ("set_session_current", 20.0),
        ]

        # 0 A pauses the car (03, no draw); a current again resumes it.
        await v2.set_session_current(0)
        await e2e.until(lambda: e2e.snap(1).state == PeripheralState.PLUGGED_DO_NOT_CHARGE)
        assert e2e.snap(1).actual_amps == 0 == sim.unit(1).actual_amps
        assert e2e.snap(1).plugged
        await v2.set_session_current(10)
        await charging(e2e, 1, 10)
        # Unplugged, the unit falls back to its default, and says so.
        sim.unplug(1)
        await e2e.until(
            lambda: e2e.snap(1).state == PeripheralState.READY and e2e.snap(1).allowed_amps == 16
        )

        # Protocol 1 knows only 05: a session current goes out as 05 in a 14-byte frame.
        await v1.set_session_current(10)
        assert sim.unit(0).max_amps == 10
        assert e2e.snap(0).allowed_amps == 10
        await v1.set_default_current(12)
        assert sim.unit(0).max_amps == 12
        assert e2e.snap(0).allowed_amps == 12
        assert {(f.amps, f.length) for f in sent(e2e, 0, 5)} == {(10.0, 14), (12.0, 14)}
        assert sent(e2e, 0, HeartbeatCommand.SET_SESSION_CURRENT) == []

        # Illegal currents are refused before anything is written.
        before = len(e2e.recorder.tx())
        for peripheral, amps in ((v2, 33), (v2, 5), (v2, 16.5), (v1, 4), (v2, -1)):
            with pytest.raises(CurrentLimitError):
                await peripheral.set_session_current(amps)
        await v1.set_session_current(5)  # the protocol-1 minimum
        assert sim.unit(0).max_amps == 5
        commands = [
            m
            for _, _, m in e2e.recorder.tx()[before:]
            if isinstance(m, ControllerHeartbeat) and m.command != HeartbeatCommand.NO_CHANGE
        ]
        assert [(m.receiver, m.amps) for m in commands] == [(0x1839, 5.0)]


async def test_increase_and_decrease_current() -> None:
    async with running() as e2e:
        sim = e2e.sim
        await e2e.discovered()
        v2 = e2e.peripheral(1)
        sim.plug_in(1, QUICK_CAR)
        await v2.set_session_current(20)
        await charging(e2e, 1, 20)

        await v2.increase_current()  # confirmed by the echo: state 06
        assert sim.unit(1).max_amps == 22
        assert sim.unit(1).state == PeripheralState.RAISING
        await e2e.until(lambda: e2e.snap(1).allowed_amps == 22)
        # Raising, then adjustment complete, then charging again at the new limit.
        await charging(e2e, 1, 22)
        states = reported_states(e2e, 1)
        raising = states.index(PeripheralState.RAISING)
        assert PeripheralState.ADJUSTMENT_COMPLETE in states[raising:]

        await v2.decrease_current()  # state 07; the 2 A come back after a while (SPEC §3.4)
        assert sim.unit(1).max_amps == 20
        await e2e.until(lambda: e2e.snap(1).state == PeripheralState.LOWERING)
        assert e2e.snap(1).allowed_amps == 20
        await charging(e2e, 1, 22)

        # An increase past the limit is refused and nothing is written.
        await v2.set_session_current(30)
        await v2.increase_current()
        await e2e.until(lambda: e2e.snap(1).allowed_amps == 32)
        written = len(sent(e2e, 1, HeartbeatCommand.INCREASE_CURRENT))
        with pytest.raises(CurrentLimitError):
            await v2.increase_current()
        assert len(sent(e2e, 1, HeartbeatCommand.INCREASE_CURRENT)) == written
        assert sim.unit(1).max_amps == 32

        # Protocol 1 has neither command.
        for command in (e2e.peripheral(0).increase_current, e2e.peripheral(0).decrease_current):
            with pytest.raises(NotApplicableError):
                await command()
        assert sent(e2e, 0, 6) == sent(e2e, 0, 7) == []

        # A unit that is not charging ignores 06/07 (SPEC §8.7): refused with the reason before
        # anything is sent (it used to be sent four times and reported failed).
        for command in (e2e.peripheral(2).increase_current, e2e.peripheral(2).decrease_current):
            with pytest.raises(NotApplicableError, match="not charging"):
                await command()
        assert sent(e2e, 2, 6) == sent(e2e, 2, 7) == []
        assert e2e.recorder.payloads(events.COMMAND_FAILED, e2e.id_hex(2)) == []


async def test_open_and_close_contactors() -> None:
    async with running() as e2e:
        sim = e2e.sim
        await e2e.discovered()
        other, tesla = e2e.peripheral(1), e2e.peripheral(2)
        sim.plug_in(1, QUICK_CAR)
        sim.plug_in(2, Car(ramp_rate=100.0))
        await other.set_session_current(16)
        await tesla.set_session_current(16)
        await charging(e2e, 1, 16)
        await charging(e2e, 2, 16)

        await other.open_contactors()  # confirmed by FD B2
        assert not sim.unit(1).contactors_closed
        await e2e.until(lambda: e2e.snap(1).state == PeripheralState.PLUGGED_DO_NOT_CHARGE)
        assert e2e.snap(1).actual_amps == 0
        await other.close_contactors()  # confirmed by FD B1; a non-Tesla car resumes
        assert sim.unit(1).contactors_closed
        await charging(e2e, 1, 16)

        # A Tesla that was drawing faults on FC B2 and only charges again once re-plugged.
        await tesla.open_contactors()
        await tesla.close_contactors()
        assert sim.unit(2).contactors_closed
        await e2e.until(lambda: e2e.snap(2).state == PeripheralState.PLUGGED_DO_NOT_CHARGE)
        sim.unplug(2)
        sim.plug_in(2, Car(ramp_rate=100.0))
        await charging(e2e, 2, 16)

        # Protocol 1 too, in its own frame length.
        await e2e.peripheral(0).open_contactors()
        assert not sim.unit(0).contactors_closed
        await e2e.peripheral(0).close_contactors()
        assert sim.unit(0).contactors_closed

        contactor_frames = [
            (type(m).__name__, m.receiver, m.length)
            for _, _, m in e2e.recorder.tx()
            if isinstance(m, OpenContactors | CloseContactors)
        ]
        # (Consecutive repeats merged: a late reply makes the director send a frame again.)
        assert [frame for frame, _ in itertools.groupby(contactor_frames)] == [
            ("OpenContactors", 0x2019, 16),
            ("CloseContactors", 0x2019, 16),
            ("OpenContactors", 0x2433, 16),
            ("CloseContactors", 0x2433, 16),
            ("OpenContactors", 0x1839, 14),
            ("CloseContactors", 0x1839, 14),
        ]
        confirmed = e2e.recorder.payloads(events.COMMAND_CONFIRMED)
        assert [c.command for c in confirmed].count("open_contactors") == 3
        assert [c.command for c in confirmed].count("close_contactors") == 3
