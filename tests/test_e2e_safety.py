"""End to end over a real pty: the current ceilings as the units experience them.

``running`` checks the wire after every test; these tests look at what a unit ends up
allowing its car, including through commands 06/07 that move the limit without carrying amps.
"""

from __future__ import annotations

import pytest

from tests.e2e_helpers import E2E, fast_config, running
from twcdirector import events
from twcdirector.exceptions import CurrentLimitError
from twcdirector.protocol import ControllerHeartbeat, HeartbeatCommand, Message, PeripheralState
from twcdirector.simulator import Car

pytestmark = pytest.mark.timeout(60)

QUICK_CAR = Car(vin=None, tesla=False, ramp_rate=100.0)


async def charging_at(e2e: E2E, index: int, amps: float) -> None:
    await e2e.until(
        lambda: (
            e2e.snap(index).state == PeripheralState.CHARGING
            and e2e.snap(index).allowed_amps == amps
        )
    )


async def test_without_a_maximum_a_car_asking_for_current_gets_zero() -> None:
    async with running(config=fast_config(max_current=None)) as e2e:
        sim = e2e.sim
        await e2e.discovered()
        sim.plug_in(1, QUICK_CAR)
        # State 08 with max 0 asks for an allocation; the answer is 08 with 0 A.
        await e2e.until(lambda: sim.unit(1).commands[HeartbeatCommand.ACK_CHARGE_START] >= 2)
        assert e2e.snap(1).state == PeripheralState.STARTING
        assert e2e.snap(1).allowed_amps == 0
        assert sim.unit(1).actual_amps == 0
        with pytest.raises(CurrentLimitError):
            await e2e.peripheral(1).set_session_current(6)
        assert sim.unit(1).highest_commanded_amps == 0


async def test_an_allocation_request_gets_the_lowest_ceiling() -> None:
    async with running(config=fast_config(max_current=20.0)) as e2e:
        sim, director = e2e.sim, e2e.director
        await e2e.discovered()
        sim.plug_in(1, QUICK_CAR)
        await charging_at(e2e, 1, 20)  # the installation maximum, below the unit's 32 A
        director.limits.set_grant(sim.unit(2).device_id, 10.0)  # capacity sharing's hook
        sim.plug_in(2, QUICK_CAR)
        await charging_at(e2e, 2, 10)
        with pytest.raises(CurrentLimitError):
            await e2e.peripheral(2).set_session_current(12)
        assert sim.unit(2).highest_commanded_amps == 10
        assert sim.unit(1).highest_commanded_amps == 20


async def test_fail_safe_leaves_every_unit_at_zero_on_close() -> None:
    async with running(config=fast_config(fail_safe=True)) as e2e:
        sim = e2e.sim
        await e2e.discovered()
        for index in (1, 2):
            sim.plug_in(index, QUICK_CAR)
            await e2e.peripheral(index).set_session_current(16)
        await charging_at(e2e, 1, 16)
        await charging_at(e2e, 2, 16)
        await e2e.director.close()
        assert [unit.limit_amps for unit in sim.units] == [0, 0, 0]
        assert [unit.actual_amps for unit in sim.units[1:]] == [0, 0]
        assert sim.unit(1).state == PeripheralState.PLUGGED_DO_NOT_CHARGE
        # Real units report their minimum after 0 A (SPEC §5): confirmed, and said so.
        assert [unit.max_amps for unit in sim.units] == [5, 6, 6]
        outcomes = e2e.recorder.payloads(events.COMMAND_CONFIRMED)[-3:]
        assert {(o.command, o.amps) for o in outcomes} == {("set_session_current", 0.0)}
        assert e2e.recorder.payloads(events.COMMAND_FAILED) == []
        assert any("minimum" in o.reason for o in outcomes)


async def test_a_lost_reply_to_an_increase_never_raises_past_the_limit() -> None:
    """The unit took the 06 but its answer was lost: the director must not send it blind
    again (found by this test: 30 A ended at 34 A)."""
    async with running() as e2e:
        sim = e2e.sim
        await e2e.discovered()
        sim.plug_in(1, QUICK_CAR)
        await e2e.peripheral(1).set_session_current(30)
        await charging_at(e2e, 1, 30)

        def lose_the_reply(direction: str, raw: bytes, message: Message | None) -> None:
            if (
                direction == "tx"
                and isinstance(message, ControllerHeartbeat)
                and message.command == HeartbeatCommand.INCREASE_CURRENT
                and sim.unit(1).commands[HeartbeatCommand.INCREASE_CURRENT] == 0
            ):
                sim.drop_replies(1, 1)

        e2e.director.on_frame(lose_the_reply)
        await e2e.peripheral(1).increase_current()  # 30 + 2 = 32 A: allowed once
        # The next report (state 06) confirmed it; the 06 itself went out once.
        assert sim.unit(1).commands[HeartbeatCommand.INCREASE_CURRENT] == 1
        assert sim.unit(1).max_amps == 32
        await e2e.until(lambda: e2e.snap(1).allowed_amps == 32)
        with pytest.raises(CurrentLimitError):
            await e2e.peripheral(1).increase_current()


async def test_an_increase_during_a_temporary_decrease_is_refused_at_the_ceiling() -> None:
    """A 07 gives its 2 A back by itself (SPEC §3.4), so an 06 on the lowered limit could end
    above the ceiling (found by this test: 07, 06, 07 at 32 A ended at 34 A)."""
    async with running() as e2e:
        sim = e2e.sim
        await e2e.discovered()
        v2 = e2e.peripheral(1)
        sim.plug_in(1, QUICK_CAR)
        await v2.set_session_current(32)
        await charging_at(e2e, 1, 32)
        await v2.decrease_current()  # 30 A for a while, then the 2 A come back
        await e2e.until(lambda: e2e.snap(1).allowed_amps == 30)
        with pytest.raises(CurrentLimitError):
            await v2.increase_current()
        with pytest.raises(CurrentLimitError):
            await v2.set_session_current(32)  # 32 + the 2 A owed
        await v2.decrease_current()
        await e2e.until(lambda: sim.unit(1).state == PeripheralState.CHARGING)
        assert sim.unit(1).max_amps == 32
        assert sim.unit(1).commands[HeartbeatCommand.INCREASE_CURRENT] == 0
