"""Increase (06) pressed quickly on a unit whose reports lag and whose replies come late, end
to end over a real pty: relative commands are never re-sent and are judged by the worst case
(SPEC §8.7), so no 06 beyond the ceiling ever goes on the wire."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e_helpers import E2E, fast_config, fast_units, running
from twcdirector.exceptions import CurrentLimitError, TWCError
from twcdirector.protocol import ControllerHeartbeat, HeartbeatCommand, PeripheralHeartbeat
from twcdirector.simulator import Car

pytestmark = pytest.mark.timeout(120)

QUICK_CAR = Car(vin=None, tesla=False, max_amps=48.0, ramp_rate=100.0)


def increases_sent(e2e: E2E) -> int:
    device_id = e2e.sim.unit(0).device_id
    return sum(
        1
        for _, _, message in e2e.recorder.tx()
        if isinstance(message, ControllerHeartbeat)
        and message.receiver == device_id
        and message.command == HeartbeatCommand.INCREASE_CURRENT
    )


def highest_report(e2e: E2E) -> float:
    return max(
        message.max_amps
        for _, direction, _, message in e2e.recorder.frames
        if direction == "rx" and isinstance(message, PeripheralHeartbeat)
    )


@pytest.mark.parametrize("latency", [(0.005, 0.015), (0.0, 1.2)], ids=["prompt", "late"])
async def test_twelve_quick_increases_never_pass_the_ceiling(
    latency: tuple[float, float],
) -> None:
    """Before the fix: 9 (10 with late replies) 06 frames went out and the unit reported up
    to 38 A (40 A) on a 32 A installation."""
    units = fast_units(1, protocols=(2,), report_lag=3, latency=latency)
    async with running(units, fast_config()) as e2e:
        sim = e2e.sim
        await e2e.discovered()
        sim.plug_in(0, QUICK_CAR)
        await e2e.until(lambda: sim.unit(0).actual_amps > 0)
        await e2e.peripheral(0).set_session_current(20)
        await e2e.until(lambda: e2e.snap(0).allowed_amps == 20)
        highest = [sim.unit(0).limit_amps]
        presses: list[asyncio.Future[None]] = []
        refused = 0
        for _ in range(12):
            press = asyncio.ensure_future(e2e.peripheral(0).increase_current())
            await asyncio.sleep(0.1)
            highest.append(sim.unit(0).limit_amps)
            if press.done() and isinstance(press.exception(), CurrentLimitError):
                refused += 1
            else:
                presses.append(press)
        outcomes = await asyncio.gather(*presses, return_exceptions=True)
        for outcome in outcomes:
            assert outcome is None or isinstance(outcome, TWCError), outcome
        await e2e.until(lambda: e2e.snap(0).allowed_amps >= 32)
        for _ in range(8):  # reports lag: let every frame sent show up
            await asyncio.sleep(0.75)
            highest.append(sim.unit(0).limit_amps)
        assert (increases_sent(e2e), max(highest), highest_report(e2e)) == (6, 32, 32)
        # A press past the ceiling is refused when the key is pressed: nothing queued.
        assert (refused, len(presses)) == (6, 6)
        assert max(highest) <= 32
        assert highest_report(e2e) <= 32
        assert sim.unit(0).limit_amps == 32
