"""End to end over a real pty: a silent unit lost and found again; noise and corruption survived."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from tests.e2e_helpers import E2E, fast_units, running
from twcdirector import events
from twcdirector.exceptions import CommandFailedError, NotApplicableError
from twcdirector.protocol import ControllerHeartbeat, HeartbeatCommand, Message, PeripheralState
from twcdirector.simulator import Car

pytestmark = pytest.mark.timeout(60)


def heartbeats_to(e2e: E2E, index: int, start: float, end: float) -> list[ControllerHeartbeat]:
    receiver = e2e.sim.unit(index).device_id
    return [
        m
        for t, _, m in e2e.recorder.tx()
        if start <= t <= end and isinstance(m, ControllerHeartbeat) and m.receiver == receiver
    ]


def event_time(e2e: E2E, name: str, device: str) -> float:
    return next(t for t, d, n, _ in e2e.recorder.log if n == name and d == device)


async def test_a_silent_unit_is_lost_and_found_again() -> None:
    units = fast_units(3)
    # Once no longer heartbeaten, it gives up on the controller soon and announces again.
    units[2] = replace(units[2], controller_timeout=1.5)
    async with running(units) as e2e:
        sim, recorder, config = e2e.sim, e2e.recorder, e2e.director.config
        await e2e.discovered()
        silent = e2e.id_hex(2)
        sim.go_silent(2, 4.0)
        # A command to the silent unit is re-sent, then reported failed: never lost silently.
        with pytest.raises(CommandFailedError):
            await e2e.peripheral(2).set_session_current(8)
        [failed] = recorder.payloads(events.COMMAND_FAILED, silent)
        assert failed.attempts == config.command_retries + 1
        assert sim.unit(2).max_amps == 8  # it heard every attempt; its answers were muted

        await e2e.until(lambda: bool(recorder.payloads(events.DEVICE_LOST, silent)))
        [lost] = recorder.payloads(events.DEVICE_LOST, silent)
        assert lost.silent_for >= config.lost_after
        assert not e2e.snap(2).online
        with pytest.raises(NotApplicableError):
            await e2e.peripheral(2).set_session_current(10)

        await e2e.until(lambda: bool(recorder.payloads(events.DEVICE_FOUND, silent)))
        assert recorder.payloads(events.DEVICE_FOUND, silent) == [events.DeviceFound(silent)]
        lost_at = event_time(e2e, events.DEVICE_LOST, silent)
        found_at = event_time(e2e, events.DEVICE_FOUND, silent)
        # While lost, the director left it alone; it came back by announcing (FD E2).
        assert heartbeats_to(e2e, 2, lost_at, found_at) == []

        def states_since_found() -> list[int]:
            return [
                m.state
                for t, d, n, m in recorder.log
                if n == "TWC_STATUS" and d == silent and t > found_at
            ]

        # Its first answer reports the controller timeout it went through, then it is ready.
        await e2e.until(lambda: PeripheralState.READY in states_since_found())
        assert states_since_found()[0] == PeripheralState.ERROR
        assert sim.unit(2).claimed
        assert e2e.snap(2).online
        await e2e.peripheral(2).set_session_current(10)
        assert sim.unit(2).max_amps == 10
        # The other units never missed a beat.
        others = {e2e.id_hex(0), e2e.id_hex(1)}
        assert not [p for p in recorder.payloads(events.DEVICE_LOST) if p.device_id in others]
        assert all(e2e.snap(i).online for i in (0, 1))
        assert len(recorder.payloads(events.NEW_DEVICE)) == 3  # found, not new


async def test_noise_and_corrupt_frames_are_survived() -> None:
    async with running() as e2e:
        sim, recorder, director = e2e.sim, e2e.recorder, e2e.director
        await e2e.discovered()
        sim.plug_in(1, Car(vin=None, tesla=False, ramp_rate=100.0))
        # A C0-delimited runt right after a good frame: a frame too short (a length error).
        sim.inject_noise(1, data=b"\xc0\x01\x02\x03\xc0")
        await e2e.until(lambda: director.snapshot().framing_errors.get("length", 0) >= 1)
        # Garbage between frames (ignored), a long run of random bytes with C0s in it.
        rng = random.Random(4)
        sim.inject_noise(0, count=40)
        sim.inject_noise(2, data=bytes(rng.randrange(256) for _ in range(300)))
        sim.corrupt_replies(0, 3)
        sim.corrupt_replies(2, 2)
        sim.delay_replies(2, 0.4)  # answers after the reply window closed
        sim.drop_replies(0, 2)
        await e2e.until(lambda: director.snapshot().framing_errors.get("checksum", 0) >= 5)

        # A command whose reply is corrupted on the wire is re-sent and confirmed.
        def corrupt_the_reply(direction: str, raw: bytes, message: Message | None) -> None:
            if (
                direction == "tx"
                and isinstance(message, ControllerHeartbeat)
                and message.command == HeartbeatCommand.SET_SESSION_CURRENT
                and sim.unit(1).commands[HeartbeatCommand.SET_SESSION_CURRENT] == 0
            ):
                sim.corrupt_replies(1, 1)

        director.on_frame(corrupt_the_reply)
        await e2e.peripheral(1).set_session_current(12)
        [outcome] = recorder.payloads(events.COMMAND_CONFIRMED, e2e.id_hex(1))
        assert outcome.attempts >= 2
        assert sim.unit(1).max_amps == 12
        await e2e.until(lambda: e2e.snap(1).state == PeripheralState.CHARGING)

        errors = recorder.payloads(events.FRAMING_ERROR)
        counted = director.snapshot().framing_errors
        assert counted["checksum"] >= 6
        assert counted["length"] >= 1
        assert sum(counted.values()) == len(errors)
        # Every rejected frame reached on_frame too, as raw bytes without a message.
        rejected = [raw for _, d, raw, m in recorder.frames if d == "rx" and m is None]
        assert len(rejected) == len(errors)
        # Nothing was lost, and every unit is still heard after the storm.
        assert recorder.payloads(events.DEVICE_LOST) == []
        before = {i: e2e.snap(i).frames for i in range(3)}
        await e2e.until(lambda: all(e2e.snap(i).frames > before[i] + 2 for i in range(3)))
        assert all(e2e.snap(i).online for i in range(3))
        assert recorder.payloads(events.BUS_ERROR) == []
