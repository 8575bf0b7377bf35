"""Fail-safe on every way out (SPEC §8.7), end to end over a real pty: ``close()`` in process,
and the headless command as a real process stopped by real signals, with and without capacity
sharing. The simulated units answer 0 A as real ones do (their minimum, state 03)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

import pytest

from tests.e2e_helpers import fast_config, fast_units, running
from twcdirector import events
from twcdirector.protocol import HeartbeatCommand, PeripheralState
from twcdirector.simulator import Car, SimulatedBus

pytestmark = pytest.mark.timeout(120)

QUICK_CAR = Car(vin=None, tesla=False, ramp_rate=100.0)
BOUND = 30.0


async def test_close_with_sharing_sends_zero_and_reports_truthfully() -> None:
    """Before issue 11 the events said "confirmed after 0 attempts" and nothing was sent."""
    config = fast_config(max_current=32, shared_max=40, sharing_min_interval=0.5, fail_safe=True)
    async with running(fast_units(2, protocols=(2,)), config) as e2e:
        sim = e2e.sim
        await e2e.discovered()
        for index in (0, 1):
            sim.plug_in(index, QUICK_CAR)
        await e2e.until(lambda: [unit.limit_amps for unit in sim.units] == [20, 20])
        await e2e.until(lambda: all(unit.actual_amps == 20 for unit in sim.units))
        await e2e.director.close()
        assert [unit.limit_amps for unit in sim.units] == [0, 0]
        assert [unit.actual_amps for unit in sim.units] == [0, 0]
        assert {unit.state for unit in sim.units} == {PeripheralState.PLUGGED_DO_NOT_CHARGE}
        zero = [
            outcome
            for outcome in e2e.recorder.payloads(events.COMMAND_CONFIRMED)
            if outcome.amps == 0 and outcome.command == "set_session_current"
        ]
        assert {outcome.device_id for outcome in zero} == {e2e.id_hex(0), e2e.id_hex(1)}
        assert all(outcome.attempts >= 1 for outcome in zero)
        assert all(unit.commands[HeartbeatCommand.SET_SESSION_CURRENT] for unit in sim.units)


async def _headless(port: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "twcdirector",
        "--port",
        port,
        "--max-current",
        "32",
        "--fail-safe",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _lines(out: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


@pytest.mark.parametrize("sharing", [False, True], ids=["plain", "sharing"])
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT])
async def test_a_signal_to_the_headless_command_leaves_every_unit_at_zero(
    signum: signal.Signals, sharing: bool
) -> None:
    """Before issue 11 SIGHUP killed it (exit 129) with nothing sent, and under sharing the
    fail-safe was a cap that never reached the wire."""
    units = fast_units(2, protocols=(1, 2), offered_amps=16.0)
    async with SimulatedBus.on_pty(units, scenario="0 plug 0; 0 plug 1") as sim:
        args = ("--shared-max", "40") if sharing else ()
        process = await _headless(sim.port, *args)
        try:
            async with asyncio.timeout(BOUND):
                await sim.wait_for(lambda: all(unit.claimed for unit in sim.units))
                await sim.wait_for(lambda: all(unit.actual_amps > 0 for unit in sim.units))
                # Two heartbeats each: the director knows both units when the signal comes.
                counts = [sum(unit.commands.values()) for unit in sim.units]
                await sim.wait_for(
                    lambda: all(
                        sum(unit.commands.values()) >= count + 2
                        for unit, count in zip(sim.units, counts, strict=True)
                    )
                )
            process.send_signal(signum)
            out, err = await asyncio.wait_for(process.communicate(), BOUND)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, err.decode()
        assert [unit.limit_amps for unit in sim.units] == [0, 0]
        assert [unit.actual_amps for unit in sim.units] == [0, 0]
        outcomes = [
            line["data"]
            for line in _lines(out)
            if line["event"] in (events.COMMAND_CONFIRMED, events.COMMAND_FAILED)
            and line["data"]["amps"] == 0
        ]
        assert {o["device_id"] for o in outcomes} == {f"{u.device_id:04X}" for u in sim.units}
        assert all(o["confirmed"] and o["attempts"] >= 1 for o in outcomes), outcomes
        # Real units report their minimum after 0 A, and the outcome says so.
        assert all(o["reason"] == "the unit holds at its minimum" for o in outcomes), outcomes
