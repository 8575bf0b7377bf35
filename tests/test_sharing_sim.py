"""A tiny pure bus for capacity sharing, its safety checks, and proof that the checks bite.

:class:`SimBus` drives a :class:`ShareSequencer` the way the director will: each tick it
delivers the frames that are due (per unit in order, possibly delayed, possibly lost and
retried, a newer change replacing an older one, nothing sent later than the pending timeout),
lets every answering unit report the last value it received, and queues what ``step`` returns.

After every delivery and every step it checks the safety contract over *potential* values —
for each unit the larger of what it holds and anything still queued to it — so an unsafe
emission is caught when it is made, whatever order the frames then arrive in:

* the sum never exceeds the total; after a run-time lowering it never grows until it is back;
* no unit above min(unit max, advertised max, user cap), with the same ratchet for lowerings;
* no value strictly between 0 and the unit's minimum.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

import pytest

from twcdirector.events import AllocationChanged
from twcdirector.protocol import PeripheralState, ProtocolVersion
from twcdirector.sharing import (
    InstallationLimits,
    Observation,
    ShareSequencer,
    WireChange,
    allocate,
)

#: The director's retry spacing (one heartbeat) and how many times it retries a command.
RETRY_GAP = 1.3
RETRIES = 3


class SafetyViolation(AssertionError):
    """The sharing contract was broken."""


@dataclass
class SimUnit:
    """A simulated Gen 2 peripheral with a car."""

    unit_id: str
    protocol: ProtocolVersion = ProtocolVersion.V2
    advertised: float = 32.0
    quirk: bool = False  #: reports its minimum when told 0 A with a car plugged in
    value: int = 0  #: the last current it received: what it allows
    car: bool = False
    wants: bool = True  #: the car draws when allowed (False: finished, asleep)
    online: bool = True
    present: bool = True  #: False once lost
    reported: int | None = None
    report_time: float | None = None
    observed_car: bool = False  #: what the sequencer last saw

    def actual(self, minimum: int) -> float:
        """What the car draws: a little under its allowance, or the idle offset."""
        if self.car and self.wants and self.value >= minimum:
            return self.value - 0.4
        return 0.25


@dataclass
class Frame:
    """A change on its way to a unit."""

    amps: int
    emitted_at: float
    due: float
    tries: int = 0


@dataclass
class SimBus:
    """Drive a sequencer over simulated units, checking the safety contract at every instant."""

    sequencer: ShareSequencer
    units: dict[str, SimUnit]
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    loss: float = 0.0  #: probability that a frame is lost
    max_delay: float = 0.3  #: frames arrive 0..max_delay s after they are due
    pending_timeout: float = 30.0
    now: float = 0.0
    queues: dict[str, deque[Frame]] = field(default_factory=dict)
    user_caps: dict[str, int] = field(default_factory=dict)
    changes: list[WireChange] = field(default_factory=list)
    events: list[AllocationChanged] = field(default_factory=list)
    lost_pending: set[str] = field(default_factory=set)
    bound_total: int = 0
    bound_unit: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bound_total = self.limits.total_max
        for unit_id in self.units:
            self.queues.setdefault(unit_id, deque())
            self.bound_unit[unit_id] = self.cap(unit_id)

    # --- what the test does ----------------------------------------------------------------

    @property
    def limits(self) -> InstallationLimits:
        return self.sequencer.limits

    def minimum(self, unit_id: str) -> int:
        return self.limits.minimum(self.units[unit_id].protocol)

    def cap(self, unit_id: str) -> int:
        unit = self.units[unit_id]
        return self.limits.unit_cap(unit.advertised, self.user_caps.get(unit_id))

    def plug(self, unit_id: str, *, wants: bool = True) -> None:
        self.units[unit_id].car, self.units[unit_id].wants = True, wants

    def unplug(self, unit_id: str) -> None:
        self.units[unit_id].car = False

    def set_limits(self, total_max: int, unit_max: int) -> None:
        self.sequencer.set_limits(total_max=total_max, unit_max=unit_max)
        self.check()

    def set_user_cap(self, unit_id: str, amps: int | None) -> None:
        self.sequencer.set_user_cap(unit_id, amps)
        if amps is None:
            self.user_caps.pop(unit_id, None)
        else:
            self.user_caps[unit_id] = amps
        self.check()

    def lose(self, unit_id: str) -> None:
        """The director declares the unit lost; it has stopped by then."""
        unit = self.units[unit_id]
        unit.present, unit.online, unit.value = False, False, 0
        unit.reported = unit.report_time = None
        self.queues[unit_id].clear()
        self.lost_pending.add(unit_id)

    def reappear(self, unit_id: str) -> None:
        unit = self.units[unit_id]
        unit.present, unit.online = True, True
        self.lost_pending.discard(unit_id)

    def run(self, seconds: float, dt: float = 1.0) -> None:
        end = self.now + seconds
        while self.now + dt <= end + 1e-9:
            self.tick(dt)

    def tick(self, dt: float = 1.0) -> list[WireChange]:
        """Advance, deliver what is due, let units report, step the sequencer, queue its changes."""
        self.now += dt
        self._deliver()
        observations = [self._observe(unit) for unit in self.units.values()]
        observations = [obs for obs in observations if obs is not None]
        self.lost_pending.clear()
        changes = self.sequencer.step(self.now, observations)
        self.events.extend(self.sequencer.take_events())
        for share in self.sequencer.snapshot().units:
            assert share.cap == self.cap(share.unit_id), (share, self.user_caps)
        for change in changes:
            self._queue(change)
        self.changes.extend(changes)
        self.check()
        return changes

    # --- the contract ----------------------------------------------------------------------

    def potential(self, unit_id: str) -> int:
        unit = self.units[unit_id]
        return max([unit.value, *(frame.amps for frame in self.queues[unit_id])])

    def wire_sum(self) -> int:
        return sum(unit.value for unit in self.units.values())

    def check(self) -> None:
        potential = {unit_id: self.potential(unit_id) for unit_id in self.units}
        total = sum(potential.values())
        if total > self.bound_total:
            raise SafetyViolation(
                f"t={self.now}: potential sum {total} A > {self.bound_total} A: {potential}"
            )
        self.bound_total = max(self.limits.total_max, min(self.bound_total, total))
        for unit_id, unit in self.units.items():
            amps = [unit.value, *(frame.amps for frame in self.queues[unit_id])]
            if any(0 < value < self.minimum(unit_id) for value in amps):
                raise SafetyViolation(f"t={self.now}: {unit_id} below its minimum: {amps}")
            if potential[unit_id] > self.bound_unit[unit_id]:
                raise SafetyViolation(
                    f"t={self.now}: {unit_id} allowed {potential[unit_id]} A"
                    f" > its cap {self.bound_unit[unit_id]} A"
                )
            self.bound_unit[unit_id] = max(
                self.cap(unit_id), min(self.bound_unit[unit_id], potential[unit_id])
            )

    def targets(self) -> dict[str, int]:
        return {share.unit_id: share.target for share in self.sequencer.snapshot().units}

    # --- private ---------------------------------------------------------------------------

    def _end_session(self, unit_id: str) -> None:
        if self.user_caps.pop(unit_id, None) is not None:
            self.check()

    def _queue(self, change: WireChange) -> None:
        queue = self.queues[change.unit_id]
        # Adversarial: at once, somewhere in between, or as late as allowed.
        due = self.now + self.rng.choice(
            [0.0, self.rng.uniform(0.0, self.max_delay), self.max_delay]
        )
        if queue:
            due = max(due, queue[-1].due)  # in order behind what is already queued
        queue.append(Frame(change.amps, self.now, due))

    def _deliver(self) -> None:
        for unit_id, queue in self.queues.items():
            unit = self.units[unit_id]
            while queue and queue[0].due <= self.now:
                frame = queue.popleft()
                if self.now - frame.emitted_at > self.pending_timeout:
                    continue  # the director never sends a change this old
                lost = not unit.online or self.rng.random() < self.loss
                if not lost:
                    unit.value = frame.amps
                    self.check()
                elif frame.tries < RETRIES and not queue:
                    # Retried only while no newer change replaced it.
                    frame.tries += 1
                    frame.due = self.now + RETRY_GAP
                    queue.appendleft(frame)
                    break

    def _observe(self, unit: SimUnit) -> Observation | None:
        # A session cap ends when the sequencer sees the car leave or the unit lost.
        if not unit.present:
            if unit.unit_id not in self.lost_pending:
                return None
            self._end_session(unit.unit_id)
            unit.observed_car = False
            return Observation(unit.unit_id, lost=True)
        if unit.observed_car and not unit.car:
            self._end_session(unit.unit_id)
        unit.observed_car = unit.car
        minimum = self.minimum(unit.unit_id)
        if unit.online:
            unit.reported = minimum if unit.quirk and unit.car and unit.value == 0 else unit.value
            unit.report_time = self.now
        actual = unit.actual(minimum)
        state = PeripheralState.READY
        if unit.car:
            state = (
                PeripheralState.CHARGING if actual >= 1 else PeripheralState.PLUGGED_DO_NOT_CHARGE
            )
        return Observation(
            unit.unit_id,
            protocol=unit.protocol,
            advertised_max=unit.advertised,
            reported_max=None if unit.reported is None else float(unit.reported),
            report_time=unit.report_time,
            actual_amps=actual,
            state=state,
            car_connected=unit.car,
            online=unit.online,
        )


def make_bus(total: int = 40, unit_max: int = 32, count: int = 3, **kwargs: object) -> SimBus:
    units = {f"U{index}": SimUnit(f"U{index}") for index in range(1, count + 1)}
    sequencer = ShareSequencer(InstallationLimits(total_max=total, unit_max=unit_max))
    return SimBus(sequencer, units, **kwargs)  # type: ignore[arg-type]


def values(bus: SimBus) -> dict[str, int]:
    return {unit_id: unit.value for unit_id, unit in bus.units.items()}


# --- the harness itself ---------------------------------------------------------------------


def test_one_two_three_cars_converge_to_the_expected_shares() -> None:
    bus = make_bus(total=40, unit_max=32, max_delay=1.0)
    bus.run(10)
    assert values(bus) == {"U1": 0, "U2": 0, "U3": 0}
    bus.plug("U1")
    bus.run(30)
    assert values(bus) == {"U1": 32, "U2": 0, "U3": 0}
    bus.plug("U2")
    bus.run(30)
    assert values(bus) == {"U1": 20, "U2": 20, "U3": 0}
    bus.plug("U3")
    bus.run(30)
    # 40 / 3 rounded down, the odd amp to the earliest car.
    assert values(bus) == {"U1": 14, "U2": 13, "U3": 13}
    bus.unplug("U1")
    bus.run(30)
    assert values(bus) == {"U1": 0, "U2": 20, "U3": 20}


def test_events_describe_every_change_on_the_wire() -> None:
    bus = make_bus()
    bus.plug("U1")
    bus.run(20)
    bus.plug("U2")
    bus.run(20)
    moves = [(e.device_id, e.old_amps, e.new_amps) for e in bus.events]
    # U2 and U3 are told 0 A in the same step: until they answer, each may report its 6 A
    # minimum (SPEC §8.7), so U1 first gets the 28 A left beside them, then its 32 A.
    assert moves == [("U1", 0.0, 28.0), ("U1", 28.0, 32.0), ("U1", 32.0, 20.0), ("U2", 0.0, 20.0)]
    assert bus.events[2].reason == "car connected at U2"
    assert bus.events[3].reason == "car connected"


class NaiveSequencer(ShareSequencer):
    """What the sharing layer must not do: send every target at once, raises included."""

    def _awaits_decrease(self, unit: object, now: float) -> bool:
        return False

    def _exposure(self, unit: object) -> int:
        return 0  # trusts its own intentions instead of what the units may still hold


def test_the_checks_catch_a_raise_before_the_lowering_is_confirmed() -> None:
    units = {name: SimUnit(name) for name in ("U1", "U2")}
    bus = SimBus(NaiveSequencer(InstallationLimits(total_max=40, unit_max=32)), units)
    bus.plug("U1")
    bus.run(20)
    bus.plug("U2")
    with pytest.raises(SafetyViolation, match="potential sum"):
        bus.run(20)


def test_the_checks_catch_a_value_below_the_minimum() -> None:
    bus = make_bus()
    bus.queues["U1"].append(Frame(3, 0.0, 1.0))
    with pytest.raises(SafetyViolation, match="below its minimum"):
        bus.check()


def test_the_checks_catch_a_unit_above_its_cap() -> None:
    bus = make_bus(total=80, unit_max=32)
    bus.queues["U1"].append(Frame(33, 0.0, 1.0))
    with pytest.raises(SafetyViolation, match="cap"):
        bus.check()


def test_a_lowered_total_is_reached_without_anything_rising_meanwhile() -> None:
    bus = make_bus(total=40, unit_max=32)
    for unit_id in ("U1", "U2"):
        bus.plug(unit_id)
    bus.run(30)
    assert values(bus) == {"U1": 20, "U2": 20, "U3": 0}
    bus.set_limits(total_max=24, unit_max=32)
    bus.run(2)  # the over-limit decreases go out at once, rate limit or not
    assert bus.wire_sum() <= 24
    bus.run(30)
    assert values(bus) == {"U1": 12, "U2": 12, "U3": 0}
    assert bus.targets() == allocate_targets(bus)


def allocate_targets(bus: SimBus) -> dict[str, int]:
    """What the pure allocator gives the bus's units (all online, charging)."""
    from twcdirector.sharing import Demand, UnitDemand

    demands = [
        UnitDemand(
            unit.unit_id,
            unit.protocol,
            Demand.CHARGING if unit.car else Demand.NONE,
            unit.advertised,
            bus.user_caps.get(unit.unit_id),
            since=float(index),
        )
        for index, unit in enumerate(bus.units.values())
    ]
    return allocate(demands, bus.limits)


def test_losing_frames_and_delays_still_converge() -> None:
    bus = make_bus(total=40, unit_max=32, loss=0.3, max_delay=2.0, rng=random.Random(7))
    for unit_id in ("U1", "U2", "U3"):
        bus.plug(unit_id)
        bus.run(15)
    bus.loss = 0.0
    bus.run(60)
    assert values(bus) == {"U1": 14, "U2": 13, "U3": 13}
    assert bus.wire_sum() == 40
