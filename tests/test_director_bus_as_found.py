"""SPEC §8.7 on the pure core, against scripted units (not the project's simulator): limits
enforced on what units report, relative commands judged by the worst case, 0 A as real units
answer it, spaced re-sends, and commands that cannot apply."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from tests.director_fakes import CoreBus, FakePeripheral
from twcdirector import events
from twcdirector.exceptions import CurrentLimitError, NotApplicableError
from twcdirector.gen2.commands import CommandKind
from twcdirector.gen2.config import DirectorConfig
from twcdirector.gen2.controller import BusController
from twcdirector.protocol import (
    ControllerHeartbeat,
    HeartbeatCommand,
    Message,
    PeripheralHeartbeat,
    PeripheralState,
    ProtocolVersion,
)

C = HeartbeatCommand
S = PeripheralState
UNIT = 0x1839


def bus(*peripherals: FakePeripheral, reply_delay: float = 0.03, **config: object) -> CoreBus:
    core = BusController(DirectorConfig(**config))  # type: ignore[arg-type]
    return CoreBus(core, list(peripherals), reply_delay=reply_delay)


def currents(harness: CoreBus, after: float = -1.0) -> list[tuple[int, float]]:
    """(command, amps) of every current-carrying heartbeat to the unit after ``after``."""
    return [
        (int(m.command), m.amps)
        for t, m in harness.sent(ControllerHeartbeat, to=UNIT)
        if isinstance(m, ControllerHeartbeat) and m.command in (5, 8, 9) and t > after
    ]


# --- 1. a unit above its ceiling is lowered at once ------------------------------------------


@pytest.mark.parametrize(
    ("state", "command"),
    [(S.CHARGING, C.SET_SESSION_CURRENT), (S.READY, C.SET_DEFAULT_CURRENT)],
)
def test_a_unit_found_at_40_amps_is_lowered_to_the_maximum_within_two_heartbeats(
    state: PeripheralState, command: HeartbeatCommand
) -> None:
    unit = FakePeripheral(UNIT, max_amps=80.0, state=state, allowed=40.0, actual=39.5)
    harness = bus(unit, max_current=32.0)
    harness.run_for(10)
    first_report = min(t for t, m in harness.replies if isinstance(m, PeripheralHeartbeat))
    lowered = [t for t, m in harness.sent(ControllerHeartbeat, to=UNIT) if m.command == command]
    assert lowered
    assert lowered[0] - first_report <= 2 * 1.3
    assert currents(harness) == [(command, 32.0)]
    assert unit.allowed == 32.0
    [enforced] = harness.events(events.LIMIT_ENFORCED)
    assert enforced.payload == events.LimitEnforced("1839", 40.0, 32.0, 32.0, int(command))


def test_a_unit_drifting_back_up_is_lowered_again() -> None:
    unit = FakePeripheral(UNIT, state=S.CHARGING, allowed=16.0)
    harness = bus(unit, max_current=20.0)
    harness.run_for(5)
    assert currents(harness) == []
    unit.allowed = 24.0  # another controller, a glitch: anything
    harness.run_for(4)
    unit.allowed = 22.0
    harness.run_for(4)
    assert currents(harness) == [(9, 20.0), (9, 20.0)]
    payloads = [n.payload for n in harness.events(events.LIMIT_ENFORCED)]
    assert [(p.reported_amps, p.enforced_amps) for p in payloads] == [(24.0, 20.0), (22.0, 20.0)]


def test_the_ceiling_is_the_lowest_of_maximum_rating_and_grant() -> None:
    unit = FakePeripheral(UNIT, max_amps=32.0, state=S.CHARGING, allowed=30.0)
    harness = bus(unit, max_current=40.0)
    harness.run_for(5)
    assert currents(harness) == []  # 30 A is within the 32 A rating
    harness.core.limits.set_grant(UNIT, 16.0)
    harness.run_for(4)
    assert currents(harness) == [(9, 16.0)]


def test_without_a_configured_maximum_units_within_their_rating_are_left_alone() -> None:
    """Decision: no ``max_current`` means the owner set no limit; only a unit offering more
    than its own rating is lowered, and then to 0 A, the only current that may be sent."""
    within = FakePeripheral(UNIT, max_amps=32.0, state=S.CHARGING, allowed=32.0)
    harness = bus(within)
    harness.run_for(10)
    assert currents(harness) == []
    assert harness.events(events.LIMIT_ENFORCED) == []
    above = FakePeripheral(UNIT, max_amps=32.0, state=S.CHARGING, allowed=40.0)
    harness = bus(above)
    harness.run_for(10)
    assert currents(harness)[0] == (9, 0.0)


def test_a_zero_amp_unit_reporting_its_minimum_is_not_enforced_again() -> None:
    unit = ZeroQuirkPeripheral(UNIT, state=S.CHARGING, allowed=16.0)
    harness = bus(unit, max_current=32.0)
    harness.run_for(3)
    harness.core.limits.set_grant(UNIT, 0.0)  # e.g. capacity sharing has nothing for it
    harness.run_for(10)
    assert currents(harness) == [(9, 0.0)]
    assert (unit.state, unit.allowed) == (S.PLUGGED_DO_NOT_CHARGE, 6.0)


# --- 2. relative commands by the worst case ----------------------------------------------------


def test_an_increase_is_refused_while_reports_lag_a_higher_grant() -> None:
    unit = LaggingPeripheral(UNIT, state=S.CHARGING, allowed=10.0, lag=3)
    harness = bus(unit, max_current=20.0)
    harness.run_for(3)
    harness.core.submit(UNIT, CommandKind.SET_SESSION_CURRENT, 20, harness.now)
    harness.run_for(0.2)
    assert harness.core.record(UNIT).allowed_amps == 10.0  # the report still lags
    with pytest.raises(CurrentLimitError, match=r"20 A granted, reported 10 A"):
        harness.core.submit(UNIT, CommandKind.INCREASE_CURRENT, 0, harness.now)
    harness.run_for(10)
    assert [m.command for _, m in harness.sent(ControllerHeartbeat, to=UNIT)].count(6) == 0


def test_an_increase_is_refused_while_a_higher_current_is_queued() -> None:
    unit = FakePeripheral(UNIT, state=S.CHARGING, allowed=10.0)
    harness = bus(unit, max_current=20.0)
    harness.run_for(3)
    harness.core.submit(UNIT, CommandKind.SET_SESSION_CURRENT, 19, harness.now)
    with pytest.raises(CurrentLimitError):
        harness.core.submit(UNIT, CommandKind.INCREASE_CURRENT, 0, harness.now)


# --- 3. 0 A as real units answer it --------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "minimum"), [(ProtocolVersion.V2, 6.0), (ProtocolVersion.V1, 5.0)]
)
def test_zero_amps_is_confirmed_by_the_minimum_in_a_resting_state(
    protocol: ProtocolVersion, minimum: float
) -> None:
    unit = ZeroQuirkPeripheral(UNIT, protocol=protocol, state=S.CHARGING, allowed=16.0)
    harness = bus(unit, max_current=32.0)
    harness.run_for(3)
    ticket = harness.core.submit(UNIT, CommandKind.SET_SESSION_CURRENT, 0, harness.now)
    harness.run_for(8)
    assert unit.allowed == minimum
    [confirmed] = harness.events(events.COMMAND_CONFIRMED)
    assert confirmed.ticket == ticket
    assert confirmed.payload.attempts == 1
    assert confirmed.payload.reason == "the unit holds at its minimum"
    assert harness.events(events.COMMAND_FAILED) == []


def test_the_minimum_while_still_charging_does_not_confirm_zero() -> None:
    unit = FakePeripheral(UNIT, state=S.CHARGING, allowed=6.0, reflect=False)
    harness = bus(unit, max_current=32.0)
    harness.run_for(3)
    harness.core.submit(UNIT, CommandKind.SET_SESSION_CURRENT, 0, harness.now)
    harness.run_for(10)
    [failed] = harness.events(events.COMMAND_FAILED)
    assert failed.payload.attempts == 4


# --- 4. retries spaced like real controllers -----------------------------------------------------


def test_resends_are_a_heartbeat_apart_and_a_late_report_still_confirms() -> None:
    """A slow network bridge: every reply arrives 1.0 s after the frame, long after the reply
    timeout. The unit applies the first 09; its late report confirms it."""
    unit = FakePeripheral(UNIT, state=S.CHARGING, allowed=10.0)
    harness = bus(unit, max_current=32.0, reply_delay=1.0)
    harness.run_for(6)
    ticket = harness.core.submit(UNIT, CommandKind.SET_SESSION_CURRENT, 16, harness.now)
    harness.run_for(8)
    attempts = [
        t
        for t, m in harness.sent(ControllerHeartbeat, to=UNIT)
        if m.command == C.SET_SESSION_CURRENT
    ]
    assert all(b - a >= 1.3 - 1e-9 for a, b in itertools.pairwise(attempts))
    assert len(attempts) <= 2
    [confirmed] = harness.events(events.COMMAND_CONFIRMED)
    assert confirmed.ticket == ticket
    assert harness.events(events.COMMAND_FAILED) == []


# --- 5. commands that cannot apply ---------------------------------------------------------------


def test_a_default_current_to_a_charging_v2_unit_is_sent_once_and_applies_at_plug_in() -> None:
    unit = FakePeripheral(UNIT, state=S.CHARGING, allowed=16.0, reflect=False)
    harness = bus(unit, max_current=32.0)
    harness.run_for(3)
    ticket = harness.core.submit(UNIT, CommandKind.SET_DEFAULT_CURRENT, 10, harness.now)
    harness.run_for(8)
    assert currents(harness) == [(5, 10.0)]
    [confirmed] = harness.events(events.COMMAND_CONFIRMED)
    assert confirmed.ticket == ticket
    assert "next plug-in" in confirmed.payload.reason
    assert harness.events(events.COMMAND_FAILED) == []


@pytest.mark.parametrize("kind", [CommandKind.INCREASE_CURRENT, CommandKind.DECREASE_CURRENT])
@pytest.mark.parametrize("state", [S.READY, S.PLUGGED_DO_NOT_CHARGE, S.STARTING])
def test_increase_and_decrease_to_a_unit_not_charging_are_refused_before_sending(
    kind: CommandKind, state: PeripheralState
) -> None:
    unit = FakePeripheral(UNIT, state=state, allowed=10.0)
    harness = bus(unit, max_current=32.0)
    harness.run_for(3)
    with pytest.raises(NotApplicableError, match="not charging"):
        harness.core.submit(UNIT, kind, 0, harness.now)
    harness.run_for(5)
    assert {m.command for _, m in harness.sent(ControllerHeartbeat, to=UNIT)} <= {0, 8}


# --- scripted units that behave like real ones ----------------------------------------------------


@dataclass
class ZeroQuirkPeripheral(FakePeripheral):
    """Answers 0 A (05/09) with its minimum in state 03, as real units do (SPEC §5)."""

    def _apply(self, message: ControllerHeartbeat) -> None:
        super()._apply(message)
        if message.command in (C.SET_DEFAULT_CURRENT, C.SET_SESSION_CURRENT) and message.amps == 0:
            self.allowed = 6.0 if self.protocol is ProtocolVersion.V2 else 5.0
            self.state = S.PLUGGED_DO_NOT_CHARGE
            self.actual = 0.0


@dataclass
class LaggingPeripheral(FakePeripheral):
    """Its reports show what it had ``lag`` heartbeats before."""

    lag: int = 2
    history: list[tuple[int, float]] = field(default_factory=list)

    def status(self, controller_id: int) -> PeripheralHeartbeat:
        self.history.append((self.state, self.allowed))
        state, allowed = self.history[max(0, len(self.history) - 1 - self.lag)]
        return PeripheralHeartbeat(
            self.device_id, controller_id, state, allowed, self.actual, self.length
        )

    def handle(self, message: Message) -> list[Message]:
        replies = super().handle(message)
        if self.state == S.LIMIT_SET:
            self.state = S.CHARGING
        return replies
