"""Capacity sharing end to end: three simulated units on one 40 A supply, over a real pty.

After every frame the units hear, the sum of what they are allowed is checked against the
supply; the units' own reports must converge to the expected shares.
"""

from __future__ import annotations

import pytest

from tests.e2e_helpers import E2E, Recorder, assert_safe, fast_config, fast_units, running, until
from twcdirector.events import ALLOCATION_CHANGED
from twcdirector.gen2.director import Director
from twcdirector.protocol import PeripheralState
from twcdirector.simulator import Car, SimulatedBus

pytestmark = pytest.mark.timeout(90)

SUPPLY = 40
QUICK_CAR = Car(vin=None, tesla=False, ramp_rate=100.0)


def reported(e2e: E2E) -> list[float]:
    return sorted(e2e.snap(i).allowed_amps or 0 for i in range(3))


async def test_plugging_in_one_two_three_cars_converges_to_fair_shares() -> None:
    config = fast_config(max_current=32, shared_max=SUPPLY, sharing_min_interval=0.5)
    # Units that report 0 A as 0 A keep the arithmetic plain; real units: the next test.
    units = fast_units(3, protocols=(2,), zero_reports_minimum=False)
    async with running(units, config) as e2e:
        sim = e2e.sim
        await e2e.discovered()
        highest = [0.0]

        def watch_total(_chunk: object) -> None:
            # Called for every frame the units send: each answers just after applying a command.
            total = sum(unit.max_amps for unit in sim.units)
            highest[0] = max(highest[0], total)

        sim.observe(watch_total)

        def limits() -> list[float]:
            return [unit.max_amps for unit in sim.units]

        sim.plug_in(0, QUICK_CAR)
        await e2e.until(lambda: limits() == [32, 0, 0])  # the unit's maximum, not the supply
        sim.plug_in(1, QUICK_CAR)
        await e2e.until(lambda: limits() == [20, 20, 0])
        sim.plug_in(2, QUICK_CAR)
        await e2e.until(lambda: sorted(limits()) == [13, 13, 14])
        # The director's view agrees with the units' own reports.
        await e2e.until(lambda: reported(e2e) == [13, 13, 14])
        sharing = e2e.director.snapshot().sharing
        assert sharing is not None
        assert sharing.total_max == SUPPLY
        assert sharing.used <= SUPPLY
        sim.unplug(0)
        await e2e.until(lambda: limits()[1:] == [20, 20])

        # Never more than the supply allowed together, the unplug included: a unit falls back
        # to its default current then, so the default follows the share too.
        assert highest[0] <= SUPPLY
        changes = e2e.recorder.payloads(ALLOCATION_CHANGED)
        assert {change.device_id for change in changes} == {e2e.id_hex(i) for i in range(3)}


async def test_reported_minimums_are_counted_before_any_unit_is_raised() -> None:
    """The tester's run: 20 A shared by three real-like units (0 A is reported as 6 A), the
    director started once the first car asks for current (08) and the second is plugged in.

    After every frame the units send, each unit's worst case — the larger of what it applies
    (what it was last commanded) and what it reports offering — is summed: once a unit told
    0 A reports its minimum, no unit may be given (by 05, 09 or the 08 answer) more than the
    supply left beside it. Before the fix, 1839 was answered ``08 20`` from a grant made
    before 2433 reported its 6 A: 26 A on a 20 A supply.
    """
    supply = 20
    config = fast_config(max_current=32, shared_max=supply, sharing_min_interval=0.5)
    units = fast_units(3, protocols=(2,))  # real units: 0 A reported as the 6 A minimum
    async with SimulatedBus.on_pty(units, scenario="1 plug 0; 4 plug 1; 8 plug 2") as sim:
        await until(sim, lambda: sim.unit(1).snapshot().plugged)
        assert sim.unit(0).state == PeripheralState.STARTING  # asking for current
        frames: list[list[float]] = []

        def worst_cases(_chunk: object) -> None:
            frames.append([max(unit.limit_amps, unit.max_amps) for unit in sim.units])

        sim.observe(worst_cases)
        recorder = Recorder()
        director = Director(sim.port, config)
        recorder.attach(director)
        async with director:
            # Every car charging at its share: 20 A shared as 7/7/6.
            await until(
                sim,
                lambda: (
                    all(unit.actual_amps >= 6 for unit in sim.units)
                    and sorted(unit.max_amps for unit in sim.units) == [6, 7, 7]
                ),
                bound=30,
            )
        assert_safe(sim, recorder, config)
    over = [each for each in frames if sum(each) > supply]
    assert not over, f"{len(over)} of {len(frames)} frames over {supply} A: {over[:3]}"
    assert len(frames) > 50  # the whole run was watched
