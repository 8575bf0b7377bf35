"""Simulated units behave like real ones where real ones surprise controllers (SPEC §5, §8.7):
0 A reported as the minimum, a limit kept from an earlier controller, lagging reports, slow
replies, no contactor acknowledgements on older firmware, a tail byte that varies."""

from __future__ import annotations

import pytest

from tests.test_simulator_car import CONTROLLER, C, S, Session, charging_session
from twcdirector.exceptions import ConfigurationError
from twcdirector.protocol import ControllerHeartbeat, OpenContactors, ProtocolVersion, decode_frame
from twcdirector.simulator import Car, UnitConfig, VirtualLink
from twcdirector.simulator.__main__ import _parser, units_from_args
from twcdirector.simulator.scenario import ActionKind, Scenario


@pytest.mark.parametrize(
    ("protocol", "minimum"), [(ProtocolVersion.V2, 6.0), (ProtocolVersion.V1, 5.0)]
)
def test_zero_amps_is_reported_as_the_minimum_in_state_03(
    protocol: ProtocolVersion, minimum: float
) -> None:
    session = charging_session(16.0, UnitConfig(protocol=protocol))
    command = C.SET_SESSION_CURRENT if protocol is ProtocolVersion.V2 else C.SET_DEFAULT_CURRENT
    session.beat(command, 0.0)
    answers = session.run(3)
    assert {(a.state, a.max_amps, a.actual_amps) for a in answers} == {
        (S.PLUGGED_DO_NOT_CHARGE, minimum, 0.0)
    }
    assert session.unit.limit_amps == 0.0
    # A new limit resumes the session.
    session.beat(command, 10.0)
    assert session.run(6)[-1].actual_amps == 10.0


def test_zero_amps_reported_as_zero_on_request() -> None:
    session = charging_session(16.0, UnitConfig(zero_reports_minimum=False))
    session.beat(C.SET_SESSION_CURRENT, 0.0)
    assert {(a.state, a.max_amps) for a in session.run(2)} == {(S.PLUGGED_DO_NOT_CHARGE, 0.0)}


def test_an_idle_unit_told_zero_reports_its_minimum_in_state_00() -> None:
    session = Session()
    assert session.beat(C.SET_DEFAULT_CURRENT, 0.0).max_amps == 6.0
    assert session.beat().state == S.READY


def test_a_unit_offering_40_amps_charges_before_any_controller_speaks() -> None:
    session = Session(UnitConfig(offered_amps=40.0))
    session.unit.plug_in(0.0, Car(max_amps=48.0, ramp_rate=100.0))
    session.at(10.0)
    assert (session.unit.state, session.unit.actual_amps) == (S.CHARGING, 40.0)
    assert session.beat().max_amps == 40.0


def test_reports_lag_the_grant_by_n_heartbeats() -> None:
    session = Session(UnitConfig(report_lag=2))
    session.unit.plug_in(0.0)
    session.at(5.0)
    first = session.beat()
    assert (first.state, first.max_amps) == (S.STARTING, 0.0)
    granted = session.beat(C.ACK_CHARGE_START, 20.0)
    assert granted.max_amps == 0.0  # two reports behind
    assert session.beat().max_amps == 0.0
    assert session.beat().max_amps == 20.0


def test_protocol_1_unit_without_contactor_support_ignores_and_never_acks() -> None:
    session = charging_session(16.0, UnitConfig(protocol=ProtocolVersion.V1, contactor_acks=False))
    unit = session.unit
    unit.receive(OpenContactors(CONTROLLER, unit.device_id, 14), session.now)
    assert unit.peek_due() is None
    assert session.run(2)[-1].actual_amps == 16.0


def test_tail_bytes_vary_frame_to_frame() -> None:
    tails = (0xFE, 0xFC, 0xF8, 0xFF)
    link = VirtualLink([UnitConfig(tails=tails, announce_interval=0.5)])
    chunks = link.advance(3.1)
    assert [chunk.data[-1] for chunk in chunks][:6] == [*tails, *tails[:2]]
    for chunk in chunks:
        assert decode_frame(chunk.data) == chunk.message


def test_slow_bridge_latency_up_to_1_2_s() -> None:
    session = Session(UnitConfig(latency=(1.2, 1.2)))
    unit = session.unit
    unit.receive(ControllerHeartbeat(CONTROLLER, unit.device_id, 0, 0.0), 0.0)
    assert unit.peek_due() == pytest.approx(1.2)


def test_scenario_offer_and_options() -> None:
    scenario = Scenario.parse("0 offer 0 amps=40; +0 plug 0")
    assert scenario.actions[0].kind is ActionKind.OFFER
    assert scenario.actions[0].amps == 40.0
    with pytest.raises(ConfigurationError):
        Scenario.parse("0 offer 0 amps=-1")
    args = _parser().parse_args(
        [
            "--offer",
            "40",
            "--lag",
            "2",
            "--zero-reports-zero",
            "--no-contactor-acks",
            "--tail",
            "FE,FC,F8,FF",
            "--latency",
            "0-1200",
        ]
    )
    [unit] = units_from_args(args)
    assert (unit.offered_amps, unit.report_lag, unit.zero_reports_minimum) == (40.0, 2, False)
    assert (unit.contactor_acks, unit.tails, unit.latency) == (
        False,
        (0xFE, 0xFC, 0xF8, 0xFF),
        (0.0, 1.2),
    )
