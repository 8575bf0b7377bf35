"""SPEC §8.7 end to end over a real pty, against simulated units that behave like real ones:
a unit found above its ceiling, reports that lag the grant, 0 A answered with the minimum,
and a default current that only applies at the next plug-in."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.e2e_helpers import E2E, fast_config, fast_units, running
from twcdirector import events
from twcdirector.exceptions import CurrentLimitError, NotApplicableError, TWCError
from twcdirector.protocol import ControllerHeartbeat, HeartbeatCommand, PeripheralHeartbeat
from twcdirector.protocol import PeripheralState as S
from twcdirector.simulator import Car

pytestmark = pytest.mark.timeout(90)

QUICK_CAR = Car(vin=None, tesla=False, max_amps=48.0, ramp_rate=100.0)
HEARTBEAT = 0.75  # fast_config's heartbeat interval


def lowering_frames(e2e: E2E, index: int, amps: float) -> list[float]:
    """When frames carrying ``amps`` with 05 or 09 went to unit ``index``."""
    device_id = e2e.sim.unit(index).device_id
    return [
        time
        for time, raw, message in e2e.recorder.tx()
        if isinstance(message, ControllerHeartbeat)
        and message.receiver == device_id
        and message.command in (HeartbeatCommand.SET_DEFAULT_CURRENT, 9)
        and message.amps == amps
    ]


def first_report_above(e2e: E2E, index: int, amps: float) -> float:
    device_id = e2e.sim.unit(index).device_id
    return min(
        time
        for time, direction, _, message in e2e.recorder.frames
        if direction == "rx"
        and isinstance(message, PeripheralHeartbeat)
        and message.sender == device_id
        and message.max_amps > amps
    )


async def test_a_unit_found_charging_at_40_amps_is_lowered_within_two_heartbeats() -> None:
    """Before issue 11 it got plain heartbeats and stayed at 40 A."""
    units = fast_units(3, offered_amps=40.0)
    async with running(units, fast_config(), scenario="0 plug 1 amps=48 rate=100") as e2e:
        sim = e2e.sim
        await e2e.discovered()
        await e2e.until(lambda: all(unit.limit_amps <= 32 for unit in sim.units))
        for index in range(3):
            lowered = lowering_frames(e2e, index, 32.0)
            assert lowered, index
            assert lowered[0] - first_report_above(e2e, index, 32.0) <= 2 * HEARTBEAT
        enforced = e2e.recorder.payloads(events.LIMIT_ENFORCED)
        assert {(p.device_id, p.reported_amps, p.enforced_amps) for p in enforced} == {
            (e2e.id_hex(i), 40.0, 32.0) for i in range(3)
        }
        # The charging unit got 09 (session), the idle ones 05 (default).
        assert {p.command for p in enforced if p.device_id == e2e.id_hex(1)} == {9}
        assert {p.command for p in enforced if p.device_id != e2e.id_hex(1)} == {5}
        await e2e.until(lambda: sim.unit(1).actual_amps == 32)

        # Something raises it again: lowered again.
        sim.offer(1, 36.0)
        await e2e.until(lambda: sim.unit(1).limit_amps == 32)
        assert [p.reported_amps for p in e2e.recorder.payloads(events.LIMIT_ENFORCED)][-1] == 36


async def test_increases_are_refused_while_reports_lag_the_grant() -> None:
    """Before issue 11 six increases went through on a unit lagging at 0 A granted 20 A."""
    units = fast_units(3, report_lag=3)
    async with running(units, fast_config(max_current=20.0)) as e2e:
        sim = e2e.sim
        await e2e.discovered()
        sim.plug_in(1, QUICK_CAR)
        await e2e.until(lambda: sim.unit(1).limit_amps == 20)  # 08 answered with 20 A
        for _ in range(6):
            with pytest.raises((CurrentLimitError, NotApplicableError)):
                await e2e.peripheral(1).increase_current()
        await e2e.until(lambda: e2e.snap(1).state == S.CHARGING)
        for _ in range(6):
            with pytest.raises(CurrentLimitError):
                await e2e.peripheral(1).increase_current()
        # Lowered by us to 16 A, the reports still show 20 for three heartbeats: the grant
        # counts, and the worst case (20 + 2) stays refused until the report catches up.
        lowering = asyncio.ensure_future(e2e.peripheral(1).set_session_current(16))
        with pytest.raises(CurrentLimitError):
            await e2e.peripheral(1).increase_current()
        with contextlib.suppress(TWCError):  # a lagging unit may not confirm in time
            await lowering
        assert sim.unit(1).commands[HeartbeatCommand.INCREASE_CURRENT] == 0
        assert sim.unit(1).limit_amps <= 20


@pytest.mark.parametrize(("index", "minimum"), [(0, 5.0), (1, 6.0)], ids=["v1", "v2"])
async def test_zero_amps_is_confirmed_by_the_minimum_the_unit_reports(
    index: int, minimum: float
) -> None:
    """Before issue 11 set_session_current(0) raised after 4 attempts on such a unit."""
    async with running() as e2e:
        sim = e2e.sim
        await e2e.discovered()
        sim.plug_in(index, QUICK_CAR)
        await e2e.peripheral(index).set_session_current(16)
        await e2e.until(lambda: sim.unit(index).actual_amps == 16)
        await e2e.peripheral(index).set_session_current(0)
        [outcome] = [
            o
            for o in e2e.recorder.payloads(events.COMMAND_CONFIRMED, e2e.id_hex(index))
            if o.amps == 0
        ]
        assert outcome.reason == "the unit holds at its minimum"
        assert outcome.attempts == 1
        assert (sim.unit(index).limit_amps, sim.unit(index).max_amps) == (0, minimum)
        await e2e.until(lambda: e2e.snap(index).state == S.PLUGGED_DO_NOT_CHARGE)
        assert e2e.snap(index).allowed_amps == minimum
        assert sim.unit(index).actual_amps == 0
        # Nothing keeps re-sending it.
        sent = sim.unit(index).commands.copy()
        await asyncio.sleep(4 * HEARTBEAT)
        changed = sim.unit(index).commands - sent
        assert set(changed) <= {HeartbeatCommand.NO_CHANGE}


async def test_a_default_current_to_a_charging_v2_unit_is_sent_once() -> None:
    """Before issue 11 it went out four times and was reported failed."""
    async with running() as e2e:
        sim = e2e.sim
        await e2e.discovered()
        sim.plug_in(1, QUICK_CAR)
        await e2e.peripheral(1).set_session_current(16)
        await e2e.until(lambda: sim.unit(1).actual_amps == 16)
        await e2e.peripheral(1).set_default_current(10)
        assert sim.unit(1).commands[HeartbeatCommand.SET_DEFAULT_CURRENT] == 1
        [outcome] = [o for o in e2e.recorder.payloads(events.COMMAND_CONFIRMED) if o.amps == 10]
        assert "next plug-in" in outcome.reason
        assert (sim.unit(1).limit_amps, sim.unit(1).default_amps) == (16, 10)
