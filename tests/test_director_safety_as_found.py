"""The safety contract on the bus as found (SPEC §8.7), as a property: units that start above
their ceiling, drift up, report with a lag, answer 0 A with their minimum and reply late
(a network bridge), under random API calls and grants.

Invariants, judged by what the test itself knows of the limits:
* no frame on the wire ever carries a current above the unit's ceiling;
* no unit's commanded offer (the limit it applies) stays above its ceiling for more than two
  heartbeats (plus the reply latency) after the director first hears a report showing it;
* no unit's reported offer stays above for longer than that plus its own report lag, except a
  unit told 0 A that reports its minimum while drawing nothing (SPEC §5);
* under rapid increases (06) and decreases (07) with lagging reports and late replies, the
  +2 A steps sent since the last report never let the unit's possible max pass its ceiling:
  every 06 on the wire finds the unit (which really steps by 2 A) at least 2 A below it;
* an increase the director accepted is never refused by its final guard unless something
  changed in between (a grant, a drift): the utility never says "sent" for a refused one.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.director_fakes import CoreBus, FakePeripheral
from tests.test_director_safety import Ceilings
from twcdirector.exceptions import TWCError
from twcdirector.gen2.commands import CommandKind
from twcdirector.gen2.config import DirectorConfig
from twcdirector.gen2.controller import BusController, Transmission
from twcdirector.protocol import (
    ControllerHeartbeat,
    HeartbeatCommand,
    Message,
    PeripheralHeartbeat,
    PeripheralState,
    ProtocolVersion,
)

HEARTBEAT = 1.3
MINIMUM = {ProtocolVersion.V1: 5.0, ProtocolVersion.V2: 6.0}
RESTING = {PeripheralState.READY, PeripheralState.PLUGGED_DO_NOT_CHARGE}
#: TWC_SAFETY_EXAMPLES=5000 for a deep run; the default keeps CI fast.
EXAMPLES = max(int(os.environ.get("TWC_SAFETY_EXAMPLES", "300")) // 10, 10)


@dataclass
class RealUnit(FakePeripheral):
    """A scripted unit that behaves like a real one where real ones surprise controllers."""

    lag: int = 0
    zero_quirk: bool = True
    told_zero: bool = False
    #: The last current a 05/09 from the director carried (drifts do not change it).
    last_sent: float | None = None
    history: list[tuple[int, float]] = field(default_factory=list)

    @property
    def reported_now(self) -> float:
        if self.told_zero and self.allowed == 0 and self.zero_quirk:
            return MINIMUM[self.protocol]
        return self.allowed

    def status(self, controller_id: int) -> PeripheralHeartbeat:
        self.history.append((self.state, self.reported_now))
        state, amps = self.history[max(0, len(self.history) - 1 - self.lag)]
        return PeripheralHeartbeat(
            self.device_id, controller_id, state, amps, self.actual, self.length
        )

    def _apply(self, message: ControllerHeartbeat) -> None:
        super()._apply(message)
        # 06 and 07 really move the limit by 2 A, once per frame (SPEC §3.4).
        if message.command == HeartbeatCommand.INCREASE_CURRENT:
            self.allowed += 2
        elif message.command == HeartbeatCommand.DECREASE_CURRENT:
            self.allowed = max(self.allowed - 2, 0)
        if message.command in AMPS_COMMANDS:
            zero = message.command != HeartbeatCommand.ACK_CHARGE_START and message.amps == 0
            self.told_zero = zero
            if message.command != HeartbeatCommand.ACK_CHARGE_START:
                self.last_sent = message.amps
            if zero and self.zero_quirk:
                self.state = PeripheralState.PLUGGED_DO_NOT_CHARGE
                self.actual = 0.0
            elif self.state == PeripheralState.LIMIT_SET:
                self.state = PeripheralState.CHARGING

    def drift(self, amps: float) -> None:
        """Something else raised (or set) its limit: another controller, a glitch."""
        self.allowed = amps
        self.told_zero = False


AMPS_COMMANDS = {
    HeartbeatCommand.SET_DEFAULT_CURRENT,
    HeartbeatCommand.ACK_CHARGE_START,
    HeartbeatCommand.SET_SESSION_CURRENT,
}

unit_specs = st.lists(
    st.tuples(
        st.sampled_from(list(ProtocolVersion)),
        st.sampled_from([16.0, 32.0, 48.0, 80.0]),  # rating
        st.sampled_from([0.0, 6.0, 16.0, 32.0, 40.0, 80.0]),  # offered before we start
        st.sampled_from(
            [PeripheralState.READY, PeripheralState.CHARGING, PeripheralState.PLUGGED_DO_NOT_CHARGE]
        ),
        st.integers(0, 3),  # report lag, heartbeats
        st.booleans(),  # answers 0 A with its minimum
    ),
    min_size=1,
    max_size=3,
)
operation = st.one_of(
    st.tuples(
        st.just("submit"),
        st.integers(0, 2),
        st.sampled_from(list(CommandKind)),
        st.sampled_from([0, 6, 10, 16, 20, 32, 40]),
    ),
    st.tuples(st.just("advance"), st.floats(0, 4)),
    st.tuples(st.just("drift"), st.integers(0, 2), st.sampled_from([6.0, 20.0, 33.0, 48.0, 80.0])),
    st.tuples(st.just("grant"), st.integers(0, 2), st.none() | st.integers(0, 40)),
    # A key held down: up to 12 increases or decreases in quick succession.
    st.tuples(
        st.just("burst"),
        st.integers(0, 2),
        st.sampled_from([CommandKind.INCREASE_CURRENT, CommandKind.DECREASE_CURRENT]),
        st.integers(1, 12),
        st.sampled_from([0.0, 0.1, 0.3]),
    ),
)


@dataclass
class Watch:
    """Per unit: since when its applied / reported offer has been above the ceiling, counted
    from the first report the director heard showing it (it cannot know before)."""

    ceilings: Ceilings
    units: list[RealUnit]
    slack: float
    applied_since: dict[int, float | None] = field(default_factory=dict)
    reported_since: dict[int, float | None] = field(default_factory=dict)

    def ceiling(self, unit: RealUnit) -> float:
        known = [unit.max_amps, self.ceilings.grants.get(unit.device_id, math.inf)]
        if self.ceilings.max_current is not None:
            known.append(self.ceilings.max_current)
        return min(known)

    def heard(self, now: float, message: Message) -> None:
        if not isinstance(message, PeripheralHeartbeat):
            return
        for unit in self.units:
            if unit.device_id != message.sender:
                continue
            ceiling = self.ceiling(unit)
            if (
                message.max_amps > ceiling + 0.005
                and unit.allowed > ceiling + 0.005
                and not self.looks_like_the_quirk(unit, message)
            ):
                self.applied_since.setdefault(unit.device_id, now)
            if self._reported_above(unit, message):
                self.reported_since.setdefault(unit.device_id, now)

    def looks_like_the_quirk(self, unit: RealUnit, report: PeripheralHeartbeat) -> bool:
        """Told 0 A, it reports its minimum at rest: SPEC §8.7 takes that as the 0 A quirk. A
        unit that really offers its minimum then (something else set it) cannot be told
        apart; it draws nothing at rest, and leaving rest makes the report count again."""
        return (
            unit.last_sent == 0
            and report.state in RESTING
            and report.max_amps <= MINIMUM[unit.protocol]
            and self.ceiling(unit) < MINIMUM[unit.protocol]
        )

    def _reported_above(self, unit: RealUnit, report: PeripheralHeartbeat) -> bool:
        ceiling = self.ceiling(unit)
        if report.max_amps <= ceiling + 0.005:
            return False
        quirk = report.max_amps <= MINIMUM[unit.protocol] and report.state in RESTING
        return not (quirk and ceiling < MINIMUM[unit.protocol])

    def check(self, now: float) -> None:
        for unit in self.units:
            ceiling = self.ceiling(unit)
            if unit.allowed <= ceiling + 0.005:
                self.applied_since[unit.device_id] = None
            since = self.applied_since.get(unit.device_id)
            assert since is None or now - since <= 2 * HEARTBEAT + self.slack, (
                f"{unit.device_id:04X} applies {unit.allowed} A > {ceiling} A since {since}"
            )
            reported = unit.reported_now
            if reported <= ceiling + 0.005 or (
                unit.told_zero and unit.allowed == 0 and ceiling < MINIMUM[unit.protocol]
            ):
                self.reported_since[unit.device_id] = None
            since = self.reported_since.get(unit.device_id)
            bound = (2 + unit.lag) * HEARTBEAT + self.slack
            assert since is None or now - since <= bound, (
                f"{unit.device_id:04X} reports {reported} A > {ceiling} A since {since}"
            )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@example(  # the tester's report: 12 quick increases on a 32 A unit at 20 A, reports lagging
    specs=[(ProtocolVersion.V2, 32.0, 20.0, PeripheralState.CHARGING, 3, True)],
    max_current=32.0,
    reply_delay=1.2,
    operations=[("burst", 0, CommandKind.INCREASE_CURRENT, 12, 0.1)],
)
@given(
    specs=unit_specs,
    max_current=st.sampled_from([None, 6.0, 16.0, 32.0, 40.0]),
    reply_delay=st.sampled_from([0.02, 0.3, 1.2]),
    operations=st.lists(operation, max_size=25),
)
def test_no_unit_stays_above_its_ceiling_and_no_frame_exceeds_it(
    specs: list[tuple[ProtocolVersion, float, float, PeripheralState, int, bool]],
    max_current: float | None,
    reply_delay: float,
    operations: list[tuple[Any, ...]],
) -> None:
    units = [
        RealUnit(
            0x1000 + index,
            max_amps=rating,
            protocol=protocol,
            state=state,
            allowed=offered,
            lag=lag,
            zero_quirk=quirk,
        )
        for index, (protocol, rating, offered, state, lag, quirk) in enumerate(specs)
    ]
    core = BusController(DirectorConfig(max_current=max_current))
    harness = CoreBus(core, list(units), reply_delay=reply_delay)
    ceilings = Ceilings(max_current)
    watch = Watch(ceilings, units, slack=reply_delay + 0.1)
    heard = 0
    #: Units something else raised: the director cannot know their limit before a report.
    drifted: set[int] = set()

    def on_send(now: float, transmission: Transmission) -> None:
        nonlocal heard
        for time, message in harness.heard[heard:]:
            ceilings.heard(message)
            watch.heard(time, message)
        heard = len(harness.heard)
        ceilings.check(transmission.data)  # no frame above the ceiling, ever
        watch.check(now)
        message = transmission.message
        if (
            isinstance(message, ControllerHeartbeat)
            and message.command == HeartbeatCommand.INCREASE_CURRENT
            and message.receiver not in drifted
        ):
            [unit] = [u for u in units if u.device_id == message.receiver]
            assert unit.allowed + 2 <= watch.ceiling(unit) + 0.005, (unit, now)

    harness.on_send = on_send
    harness.run_for(3)
    for op in operations:
        kind = op[0]
        if kind == "advance":
            harness.run_for(op[1])
            continue
        unit = units[op[1] % len(units)]
        if kind == "submit":
            with contextlib.suppress(TWCError):
                core.submit(unit.device_id, op[2], op[3], harness.now)
        elif kind == "burst":
            for _ in range(op[3]):
                with contextlib.suppress(TWCError):
                    core.submit(unit.device_id, op[2], 0, harness.now)
                harness.run_for(op[4])
        elif kind == "drift":
            drifted.add(unit.device_id)
            unit.drift(op[2])
        elif kind == "grant":
            ceilings.grant(core.limits, unit.device_id, op[2])
        harness.run_for(0.05)
    harness.run_for(4 * HEARTBEAT + 5 * reply_delay + 1)
    if not any(op[0] in ("grant", "drift") for op in operations):
        refused = [
            n
            for n in harness.events("TWC_COMMAND_FAILED")
            if n.payload.reason == "refused by the final safety check"
        ]
        assert refused == []
    # In the end every unit that was heard applies no more than its ceiling (or looks, from
    # the bus, just like a unit holding 0 A at its minimum).
    for unit in units:
        if unit.claimed and not watch.looks_like_the_quirk(unit, unit.status(0xF00D)):
            assert unit.allowed <= watch.ceiling(unit) + 0.005, unit
