"""The car model behind a simulated unit: plug-in, commands 05-09, contactors, energy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twcdirector.exceptions import ConfigurationError
from twcdirector.protocol import (
    CloseContactors,
    ControllerHeartbeat,
    HeartbeatCommand,
    MeterReply,
    MeterRequest,
    OpenContactors,
    PeripheralHeartbeat,
    PeripheralState,
    ProtocolVersion,
    decode_frame,
)
from twcdirector.simulator import Car, SimulatedPeripheral, Transmission, UnitConfig
from twcdirector.simulator.car import ramp

CONTROLLER = 0xF00D
S = PeripheralState
C = HeartbeatCommand


class Session:
    """A controller talking to one unit in virtual time, heartbeating once a second."""

    def __init__(self, config: UnitConfig | None = None) -> None:
        self.unit = SimulatedPeripheral(config or UnitConfig(), now=0.0)
        self.now = 0.0

    def beat(self, command: int = 0, amps: float = 0.0) -> PeripheralHeartbeat:
        """One heartbeat now; return the unit's answer."""
        unit = self.unit
        self._drain()
        unit.receive(ControllerHeartbeat(CONTROLLER, unit.device_id, command, amps), self.now)
        replies = [decode_frame(item.data) for item in self._drain(0.160) if item.reply]
        [reply] = replies
        assert isinstance(reply, PeripheralHeartbeat)
        return reply

    def run(self, seconds: float) -> list[PeripheralHeartbeat]:
        """Heartbeat (command 00) every second for ``seconds``; the answers."""
        answers = []
        end = self.now + seconds
        while self.now + 1.0 <= end + 1e-9:
            self.now += 1.0
            answers.append(self.beat())
        return answers

    def at(self, when: float) -> None:
        self.now = when
        self.unit.advance(when)

    def _drain(self, ahead: float = 0.0) -> list[Transmission]:
        unit, until = self.unit, self.now + ahead
        unit.advance(until)
        out = []
        while (due := unit.peek_due()) is not None and due <= until:
            item = unit.pop(due)
            if item is not None:
                out.append(item)
        return out


def states(answers: list[PeripheralHeartbeat]) -> list[int]:
    """The states in order, repeats collapsed."""
    out: list[int] = []
    for answer in answers:
        if not out or out[-1] != answer.state:
            out.append(answer.state)
    return out


def charging_session(limit: float = 16.0, config: UnitConfig | None = None) -> Session:
    session = Session(config)
    session.beat(C.SET_DEFAULT_CURRENT, limit)
    session.unit.plug_in(session.now, Car(max_amps=32.0))
    session.run(15)
    assert session.unit.state == S.CHARGING
    return session


def test_plug_in_negotiates_starts_and_ramps_to_the_limit() -> None:
    session = Session()
    assert session.beat(C.SET_DEFAULT_CURRENT, 16).max_amps == 16.0
    session.unit.plug_in(0.5, Car(max_amps=32.0, ramp_rate=4.0, start_amps=1.3))
    answers = session.run(10)
    assert states(answers) == [S.PLUGGED_READY, S.STARTING, S.CHARGING]
    # 04 for 1 s, 08 for 2 s (SPEC timings are configurable, these are the defaults).
    assert [a.state for a in answers[:4]] == [S.PLUGGED_READY, S.STARTING, S.STARTING, S.CHARGING]
    assert all(a.max_amps == 16.0 for a in answers)
    assert answers[2].actual_amps == pytest.approx(1.3)  # the car's start draw in 08
    draws = [a.actual_amps for a in answers]
    assert draws == sorted(draws)  # it only rises
    assert draws[-1] == 16.0  # min(limit 16, car 32)


def test_the_car_never_draws_more_than_it_can() -> None:
    session = charging_session(limit=48.0)
    session.run(20)
    assert session.unit.actual_amps == 32.0
    assert session.beat().max_amps == 48.0


def test_zero_default_makes_the_unit_ask_for_an_allocation() -> None:
    session = Session()
    session.beat()
    session.unit.plug_in(0.5)
    answers = session.run(5)
    assert states(answers) == [S.PLUGGED_READY, S.STARTING]
    assert all(a.max_amps == 0 and a.actual_amps == 0 for a in answers)
    # SPEC §3.5: the controller answers a unit in 08 with max 0 by "08 <amps>".
    assert session.beat(C.ACK_CHARGE_START, 20).max_amps == 20.0
    answers = session.run(10)
    assert states(answers) == [S.STARTING, S.CHARGING]
    assert answers[-1].actual_amps == 20.0


def test_05_while_negotiating_sets_the_allocation() -> None:
    session = Session()
    session.beat()
    session.unit.plug_in(0.9)
    assert session.beat(C.SET_DEFAULT_CURRENT, 12).state == S.PLUGGED_READY
    assert session.run(10)[-1].actual_amps == 12.0


def test_05_on_protocol_2_while_charging_changes_only_the_next_session() -> None:
    session = charging_session(16.0)
    answer = session.beat(C.SET_DEFAULT_CURRENT, 10)
    assert answer.state == S.CHARGING
    assert answer.max_amps == 16.0
    assert session.unit.default_amps == 10.0
    assert session.run(5)[-1].actual_amps == 16.0
    session.unit.unplug(session.now)
    session.unit.plug_in(session.now + 0.5)
    assert session.run(10)[-1].max_amps == 10.0
    assert session.unit.actual_amps == 10.0


def test_05_on_protocol_1_applies_at_once() -> None:
    session = charging_session(16.0, UnitConfig(protocol=ProtocolVersion.V1))
    answer = session.beat(C.SET_DEFAULT_CURRENT, 10)
    assert answer.max_amps == 10.0
    assert answer.length == 14
    assert session.run(2)[-1].actual_amps == 10.0
    assert session.beat(C.SET_DEFAULT_CURRENT, 0).state == S.PLUGGED_DO_NOT_CHARGE


def test_09_is_echoed_once_then_the_new_limit_is_reported() -> None:
    session = charging_session(16.0)
    echo = session.beat(C.SET_SESSION_CURRENT, 10)
    assert echo.state == S.LIMIT_SET
    assert echo.max_amps == 10.0
    answers = session.run(3)
    assert [a.state for a in answers] == [S.CHARGING] * 3
    assert [a.max_amps for a in answers] == [10.0] * 3
    assert answers[0].actual_amps == 10.0  # a lower offer is followed at once


def test_09_zero_stops_the_draw_and_a_new_limit_resumes() -> None:
    session = charging_session(16.0)
    assert session.beat(C.SET_SESSION_CURRENT, 0).state == S.LIMIT_SET
    answers = session.run(3)
    assert [(a.state, a.actual_amps) for a in answers] == [(S.PLUGGED_DO_NOT_CHARGE, 0.0)] * 3
    session.beat(C.SET_SESSION_CURRENT, 8)
    answers = session.run(8)
    assert states(answers) == [S.STARTING, S.CHARGING]
    assert answers[-1].actual_amps == 8.0


def test_09_without_a_car_is_copied_but_not_echoed() -> None:
    session = Session()
    answer = session.beat(C.SET_SESSION_CURRENT, 20)
    assert answer.state == S.READY
    assert answer.max_amps == 20.0


def test_06_raises_by_2_a_then_reports_adjustment_complete_after_44_s() -> None:
    session = charging_session(16.0)
    start = session.now
    answer = session.beat(C.INCREASE_CURRENT)
    assert (answer.state, answer.max_amps) == (S.RAISING, 18.0)
    answers = session.run(50)
    timeline = list(enumerate((a.state for a in answers), start=1))
    raising = [t for t, state in timeline if state == S.RAISING]
    complete = [t for t, state in timeline if state == S.ADJUSTMENT_COMPLETE]
    assert raising == list(range(1, 44))  # until start + 44 s
    assert complete == [44, 45]  # held 2 s
    assert answers[-1].state == S.CHARGING
    assert answers[-1].actual_amps == 18.0
    assert session.now == start + 50


def test_07_lowers_by_2_a_for_10_s_then_gives_them_back() -> None:
    session = charging_session(16.0)
    answer = session.beat(C.DECREASE_CURRENT)
    assert (answer.state, answer.max_amps) == (S.LOWERING, 14.0)
    answers = session.run(13)
    assert [a.state for a in answers[:9]] == [S.LOWERING] * 9
    assert all(a.actual_amps == 14.0 for a in answers[:9])
    assert (answers[9].state, answers[9].max_amps) == (S.ADJUSTMENT_COMPLETE, 16.0)
    assert answers[-1].state == S.CHARGING
    assert answers[-1].actual_amps == 16.0


def test_a_new_limit_cancels_the_raise_back_of_07() -> None:
    session = charging_session(16.0)
    session.beat(C.DECREASE_CURRENT)
    session.beat(C.SET_SESSION_CURRENT, 12)
    answers = session.run(15)
    assert {a.max_amps for a in answers} == {12.0}


@pytest.mark.parametrize("command", [C.INCREASE_CURRENT, C.DECREASE_CURRENT])
def test_06_and_07_need_a_charging_protocol_2_unit(command: HeartbeatCommand) -> None:
    idle = Session()
    assert idle.beat(command).state == S.READY
    assert idle.unit.max_amps == 0.0
    old = charging_session(16.0, UnitConfig(protocol=ProtocolVersion.V1))
    assert old.beat(command) == old.beat()
    assert old.unit.max_amps == 16.0


@given(st.integers(min_value=0, max_value=65535))
def test_the_unit_copies_any_commanded_value(centi: int) -> None:
    """SPEC §3.5: clamping is the controller's job; the simulator must not hide excess."""
    amps = centi / 100
    session = Session()
    session.unit.plug_in(0.0)
    session.at(0.5)
    # 0 A is reported as the minimum by real units (SPEC §5): see the tests below.
    reported = amps if amps else 6.0
    assert session.beat(C.SET_SESSION_CURRENT, amps).max_amps == reported
    assert session.unit.highest_commanded_amps == amps


def test_open_contactors_faults_a_tesla_until_replugged() -> None:
    session = charging_session(16.0)
    unit = session.unit
    unit.receive(OpenContactors(CONTROLLER, unit.device_id), session.now)
    answers = session.run(3)
    assert [(a.state, a.actual_amps) for a in answers] == [(S.PLUGGED_DO_NOT_CHARGE, 0.0)] * 3
    unit.receive(CloseContactors(CONTROLLER, unit.device_id), session.now)
    assert session.run(10)[-1].actual_amps == 0.0  # the car stays faulted
    unit.unplug(session.now)
    unit.plug_in(session.now + 0.1)
    assert session.run(10)[-1].actual_amps == 16.0


def test_close_contactors_resumes_a_non_tesla() -> None:
    session = Session()
    session.beat(C.SET_DEFAULT_CURRENT, 16)
    session.unit.plug_in(0.5, Car(vin=None, tesla=False))
    session.run(12)
    unit = session.unit
    unit.receive(OpenContactors(CONTROLLER, unit.device_id), session.now)
    assert session.run(2)[-1].actual_amps == 0.0
    unit.receive(CloseContactors(CONTROLLER, unit.device_id), session.now)
    answers = session.run(10)
    assert states(answers) == [S.STARTING, S.CHARGING]
    assert answers[-1].actual_amps == 16.0


def test_plugging_in_with_open_contactors_does_not_charge() -> None:
    session = Session()
    session.beat(C.SET_DEFAULT_CURRENT, 16)
    session.unit.receive(OpenContactors(CONTROLLER, session.unit.device_id), 0.2)
    session.unit.plug_in(0.5)
    answers = session.run(6)
    assert states(answers) == [S.PLUGGED_READY, S.PLUGGED_DO_NOT_CHARGE]
    assert all(a.actual_amps == 0 for a in answers)


def test_unplug_returns_to_ready() -> None:
    session = charging_session(16.0)
    session.unit.unplug(session.now)
    answer = session.beat()
    assert (answer.state, answer.actual_amps) == (S.READY, 0.25)


@pytest.mark.parametrize(
    ("voltages", "amps", "kwh_per_hour"),
    [((240, 0, 0), 32.0, 7.68), ((230, 230, 230), 16.0, 11.04)],
)
def test_lifetime_energy_grows_with_amps_volts_and_time(
    voltages: tuple[int, int, int], amps: float, kwh_per_hour: float
) -> None:
    session = charging_session(amps, UnitConfig(voltages=voltages, lifetime_kwh=100))
    session.run(10)
    assert session.unit.actual_amps == min(amps, 32.0)
    before = session.unit.lifetime_kwh
    hour = session.run(3600)  # an hour of heartbeats, in virtual time
    assert all(a.state == S.CHARGING for a in hour)
    assert session.unit.lifetime_kwh - before == pytest.approx(kwh_per_hour)
    session.unit.receive(MeterRequest(CONTROLLER, session.unit.device_id), session.now)
    meter = [decode_frame(i.data) for i in session._drain(0.2)]
    assert isinstance(meter[-1], MeterReply)
    assert meter[-1].lifetime_kwh == int(session.unit.lifetime_kwh)
    assert meter[-1].lifetime_kwh >= 100 + int(kwh_per_hour)


def test_no_energy_is_counted_while_idle() -> None:
    session = Session(UnitConfig(lifetime_kwh=5))
    session.run(600)
    assert session.unit.lifetime_kwh == 5.0


def test_car_validation() -> None:
    with pytest.raises(ConfigurationError):
        Car(vin="TOO-SHORT")
    with pytest.raises(ConfigurationError):
        Car(vin="5YJ3E1EA0LF00000I")  # I is not a VIN character
    with pytest.raises(ConfigurationError):
        Car(ramp_rate=0)
    with pytest.raises(ConfigurationError):
        Car(max_amps=float("nan"))


finite = st.floats(min_value=0, max_value=100, allow_nan=False)


@given(finite, finite, st.floats(min_value=0.1, max_value=50), finite, finite)
def test_ramp_energy_is_additive_and_bounded(
    actual: float, target: float, rate: float, first: float, second: float
) -> None:
    """Integrating in two steps gives what one step gives; the draw stays in range."""
    middle, part1 = ramp(actual, target, rate, first)
    end_split, part2 = ramp(middle, target, rate, second)
    end_whole, whole = ramp(actual, target, rate, first + second)
    assert end_split == pytest.approx(end_whole, abs=1e-6)
    assert part1 + part2 == pytest.approx(whole, rel=1e-9, abs=1e-6)
    low, high = min(actual, target), max(actual, target)
    assert low - 1e-9 <= end_whole <= high + 1e-9
    assert whole <= high * (first + second) + 1e-6
    if target <= actual and first + second > 0:
        assert end_whole == target  # a lower offer applies at once
