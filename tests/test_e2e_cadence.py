"""End to end over a real pty: commands go out in the next free slot, on the SPEC cadence.

SPEC §8.3/§8.4: heartbeats every 1.3 s; a command goes out in the next free bus slot, not at
the next heartbeat tick. Times are compared with margins of half a heartbeat interval, far
above any scheduling jitter, so a busy machine cannot flip an outcome.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e_helpers import E2E, fast_units, running
from twcdirector.gen2.config import DirectorConfig
from twcdirector.protocol import ControllerHeartbeat, HeartbeatCommand, Message

pytestmark = pytest.mark.timeout(60)


async def command_after_a_heartbeat(e2e: E2E, index: int) -> tuple[float, float]:
    """Call ``set_session_current(10)`` right after a plain heartbeat to unit ``index``.

    Returns the loop times of that heartbeat and of the call.
    """
    receiver = e2e.sim.unit(index).device_id
    loop = asyncio.get_running_loop()
    called: asyncio.Future[tuple[float, float]] = loop.create_future()
    tasks: list[asyncio.Task[None]] = []

    def trigger(direction: str, raw: bytes, message: Message | None) -> None:
        if (
            not called.done()
            and direction == "tx"
            and isinstance(message, ControllerHeartbeat)
            and message.receiver == receiver
            and message.command == HeartbeatCommand.NO_CHANGE
        ):
            beat = loop.time()
            tasks.append(loop.create_task(e2e.peripheral(index).set_session_current(10)))
            called.set_result((beat, loop.time()))

    unsubscribe = e2e.director.on_frame(trigger)
    try:
        async with asyncio.timeout(20):
            times = await called
            await asyncio.gather(*tasks)
    finally:
        unsubscribe()
    return times


def heartbeats_to(e2e: E2E, index: int) -> list[tuple[float, ControllerHeartbeat]]:
    receiver = e2e.sim.unit(index).device_id
    return [
        (t, m)
        for t, _, m in e2e.recorder.tx()
        if isinstance(m, ControllerHeartbeat) and m.receiver == receiver
    ]


async def test_a_command_goes_out_in_the_next_free_slot() -> None:
    config = DirectorConfig(max_current=32.0)  # the SPEC cadence: 1.3 s heartbeats
    async with running(fast_units(3), config) as e2e:
        await e2e.discovered()
        _, call = await command_after_a_heartbeat(e2e, 1)
        sent_at, command = next(
            (t, m)
            for t, m in heartbeats_to(e2e, 1)
            if m.command == HeartbeatCommand.SET_SESSION_CURRENT
        )
        assert command.amps == 10
        assert e2e.sim.unit(1).max_amps == 10
        # Well before the next heartbeat tick (beat + 1.3 s), not at it.
        assert sent_at - call < config.heartbeat_interval / 2


async def test_a_command_does_not_cost_the_unit_its_next_heartbeat() -> None:
    config = DirectorConfig(max_current=32.0)
    async with running(fast_units(3), config) as e2e:
        await e2e.discovered()
        beat, _ = await command_after_a_heartbeat(e2e, 1)
        await e2e.until(lambda: len([t for t, _ in heartbeats_to(e2e, 1) if t > beat]) >= 3)
        after = [(t, m.command) for t, m in heartbeats_to(e2e, 1) if t > beat]
        assert after[0][1] == HeartbeatCommand.SET_SESSION_CURRENT
        # The regular heartbeat still comes one interval after the last one (1.3 s, not 2.6).
        assert after[1][0] - beat < 1.5 * config.heartbeat_interval
