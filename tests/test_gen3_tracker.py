"""Per-unit Gen 3 state: the events a reading or a failure produces, in order, with `now`."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twcdirector.events import (
    ALERT_CLEARED,
    ALERT_RAISED,
    ALL_COMMANDS,
    CAR_CONNECTED,
    DEVICE_FOUND,
    DEVICE_LOST,
    REBOOT_DETECTED,
    STATE_CHANGED,
    CarConnected,
    DeviceFound,
    DeviceLost,
    StateChanged,
)
from twcdirector.gen3 import (
    GEN3_ERROR,
    GEN3_LIFETIME,
    GEN3_VERSION,
    GEN3_VITALS,
    AlertEvent,
    Endpoint,
    Gen3Config,
    Gen3ErrorEvent,
    Gen3ErrorKind,
    Gen3Tracker,
    Gen3Vitals,
    RebootDetected,
    decode_body,
)

FIXTURES = Path(__file__).resolve().parent / "data" / "gen3"
IDLE = decode_body((FIXTURES / "vitals-21.18.1.json").read_bytes())
CHARGING_NA = decode_body((FIXTURES / "vitals-na-split-phase.json").read_bytes())
VERSION = decode_body((FIXTURES / "version-23.24.3.json").read_bytes())
LIFETIME = decode_body((FIXTURES / "lifetime-nan.json").read_bytes())
ID = "192.168.1.50"


def vitals(**changes: Any) -> dict[str, Any]:
    return IDLE | changes


def tracker(**options: Any) -> Gen3Tracker:
    return Gen3Tracker(ID, Gen3Config(**options), now=0.0)


def names(emissions: Any) -> list[str]:
    return [name for name, _ in emissions]


def test_first_vitals_emit_reading_then_state() -> None:
    unit = tracker()
    outcome = unit.record_body(Endpoint.VITALS, IDLE, now=1.0)
    assert outcome.first is True
    assert outcome.error is None
    assert isinstance(outcome.reading, Gen3Vitals)
    assert names(outcome.emissions) == [GEN3_VITALS, ALL_COMMANDS, STATE_CHANGED]
    assert outcome.emissions[0][1] is outcome.reading
    assert outcome.emissions[1][1] is outcome.reading
    assert outcome.emissions[2][1] == StateChanged(ID, None, 1, "not connected")
    again = unit.record_body(Endpoint.VITALS, IDLE, now=31.0)
    assert again.first is False
    assert names(again.emissions) == [GEN3_VITALS, ALL_COMMANDS]


def test_a_unit_found_charging_announces_its_car_and_alerts() -> None:
    unit = tracker()
    outcome = unit.record_body(Endpoint.VITALS, CHARGING_NA, now=1.0)
    payloads = dict(outcome.emissions)
    assert payloads[CAR_CONNECTED] == CarConnected(ID, True, None)
    assert payloads[STATE_CHANGED] == StateChanged(ID, None, 11, "charging")
    raised = [p for n, p in outcome.emissions if n == ALERT_RAISED]
    assert raised == [AlertEvent(ID, 1, True, (1, 2)), AlertEvent(ID, 2, True, (1, 2))]


def test_plug_charge_unplug_cycle() -> None:
    unit = tracker()
    unit.record_body(Endpoint.VITALS, IDLE, now=0.0)
    plugged = unit.record_body(
        Endpoint.VITALS, vitals(vehicle_connected=True, evse_state=4), now=30.0
    )
    assert names(plugged.emissions) == [GEN3_VITALS, ALL_COMMANDS, STATE_CHANGED, CAR_CONNECTED]
    assert plugged.emissions[3][1] == CarConnected(ID, True, None)
    assert plugged.emissions[2][1] == StateChanged(ID, 1, 4, "ready")
    # A vehicle is connected: vitals now every 5 s.
    assert unit.schedule.due(Endpoint.VITALS) == 35.0
    charging = unit.record_body(
        Endpoint.VITALS,
        vitals(vehicle_connected=True, evse_state=11, contactor_closed=True),
        now=35.0,
    )
    assert names(charging.emissions) == [GEN3_VITALS, ALL_COMMANDS, STATE_CHANGED]
    unplugged = unit.record_body(Endpoint.VITALS, IDLE, now=40.0)
    payloads = dict(unplugged.emissions)
    assert payloads[CAR_CONNECTED] == CarConnected(ID, False, None)
    assert payloads[STATE_CHANGED] == StateChanged(ID, 11, 1, "not connected")
    assert unit.schedule.due(Endpoint.VITALS) == 70.0


def test_alerts_raised_and_cleared() -> None:
    unit = tracker()
    unit.record_body(Endpoint.VITALS, vitals(current_alerts=[27]), now=0.0)
    outcome = unit.record_body(Endpoint.VITALS, vitals(current_alerts=[27, 3]), now=30.0)
    assert [p for n, p in outcome.emissions if n == ALERT_RAISED] == [
        AlertEvent(ID, 3, True, (27, 3))
    ]
    outcome = unit.record_body(Endpoint.VITALS, vitals(current_alerts=[]), now=60.0)
    assert [p for n, p in outcome.emissions if n == ALERT_CLEARED] == [
        AlertEvent(ID, 27, False, ()),
        AlertEvent(ID, 3, False, ()),
    ]


def test_reboot_is_detected_when_uptime_goes_backwards() -> None:
    unit = tracker()
    unit.record_body(Endpoint.VERSION, VERSION, now=0.0)
    unit.record_body(Endpoint.VITALS, vitals(uptime_s=5000), now=0.0)
    assert unit.schedule.due(Endpoint.VERSION) == 6 * 3600
    same = unit.record_body(Endpoint.VITALS, vitals(uptime_s=5030), now=30.0)
    assert REBOOT_DETECTED not in names(same.emissions)
    rebooted = unit.record_body(Endpoint.VITALS, vitals(uptime_s=12), now=60.0)
    assert dict(rebooted.emissions)[REBOOT_DETECTED] == RebootDetected(ID, 5030, 12)
    # Firmware may have changed on the way: version is asked again at once.
    assert unit.schedule.due(Endpoint.VERSION) == 60.0


def test_lost_after_three_unanswered_requests_then_found() -> None:
    unit = tracker()
    unit.record_body(Endpoint.VERSION, VERSION, now=0.0)
    unit.record_body(Endpoint.VITALS, IDLE, now=0.0)
    first = unit.record_failure(Endpoint.VITALS, Gen3ErrorKind.TIMEOUT, "no answer", now=30.0)
    assert names(first) == [GEN3_ERROR]
    error = first[0][1]
    assert isinstance(error, Gen3ErrorEvent)
    assert (error.kind, error.endpoint, error.consecutive_failures) == (
        Gen3ErrorKind.TIMEOUT,
        "vitals",
        1,
    )
    assert unit.reachable is True
    second = unit.record_failure(Endpoint.VITALS, Gen3ErrorKind.CONNECTION, "refused", now=35.0)
    assert names(second) == [GEN3_ERROR]
    third = unit.record_failure(Endpoint.VITALS, Gen3ErrorKind.CONNECTION, "refused", now=45.0)
    assert names(third) == [GEN3_ERROR, DEVICE_LOST]
    assert third[1][1] == DeviceLost(ID, 45.0, "refused")
    assert unit.reachable is False
    fourth = unit.record_failure(Endpoint.VITALS, Gen3ErrorKind.TIMEOUT, "no answer", now=65.0)
    assert names(fourth) == [GEN3_ERROR]  # lost once, not again
    back = unit.record_body(Endpoint.VITALS, IDLE, now=105.0)
    assert names(back.emissions) == [DEVICE_FOUND, GEN3_VITALS, ALL_COMMANDS]
    assert back.emissions[0][1] == DeviceFound(ID)
    assert back.first is False
    assert unit.reachable is True
    # Back from the dead: who is it now?
    assert unit.schedule.due(Endpoint.VERSION) == 105.0


def test_a_unit_never_reached_is_lost_too() -> None:
    unit = tracker(lost_after_failures=2)
    unit.record_failure(Endpoint.VERSION, Gen3ErrorKind.CONNECTION, "refused", now=1.0)
    emissions = unit.record_failure(Endpoint.VERSION, Gen3ErrorKind.CONNECTION, "refused", now=6.0)
    assert dict(emissions)[DEVICE_LOST] == DeviceLost(ID, 6.0, "refused")
    outcome = unit.record_body(Endpoint.VERSION, VERSION, now=20.0)
    assert outcome.first is True
    assert names(outcome.emissions)[0] == DEVICE_FOUND


@pytest.mark.parametrize(
    "kind", [Gen3ErrorKind.HTTP_STATUS, Gen3ErrorKind.BAD_BODY, Gen3ErrorKind.REFUSED]
)
def test_a_unit_that_answers_badly_is_not_lost(kind: Gen3ErrorKind) -> None:
    unit = tracker()
    unit.record_body(Endpoint.VITALS, IDLE, now=0.0)
    for attempt in range(10):
        emissions = unit.record_failure(Endpoint.VITALS, kind, "bad", now=30.0 + attempt)
        assert names(emissions) == [GEN3_ERROR]
    assert unit.reachable is True
    assert unit.errors == 10


def test_a_bad_answer_brings_a_lost_unit_back() -> None:
    unit = tracker(lost_after_failures=1)
    unit.record_body(Endpoint.VITALS, IDLE, now=0.0)
    unit.record_failure(Endpoint.VITALS, Gen3ErrorKind.TIMEOUT, "no answer", now=30.0)
    emissions = unit.record_failure(Endpoint.VITALS, Gen3ErrorKind.HTTP_STATUS, "500", now=40.0)
    assert names(emissions) == [DEVICE_FOUND, GEN3_ERROR]


def test_a_body_of_the_wrong_shape_is_an_error_and_keeps_the_last_good_values() -> None:
    unit = tracker()
    unit.record_body(Endpoint.VITALS, IDLE, now=0.0)
    outcome = unit.record_body(Endpoint.VITALS, {"evse_state": 1}, now=30.0)
    assert outcome.reading is None
    assert outcome.error is not None
    assert names(outcome.emissions) == [GEN3_ERROR]
    event = outcome.emissions[0][1]
    assert isinstance(event, Gen3ErrorEvent)
    assert event.kind is Gen3ErrorKind.BAD_SHAPE
    assert "vehicle_connected" in event.message
    for body in ([1, 2], None, "text"):
        assert unit.record_body(Endpoint.LIFETIME, body, now=31.0).error is not None
    snapshot = unit.snapshot(now=42.0)
    assert snapshot.vitals is not None
    assert snapshot.state == 1
    assert snapshot.vitals_age == 42.0
    assert snapshot.errors == 4
    assert snapshot.last_error is not None
    assert snapshot.last_error.endpoint == "lifetime"


def test_snapshot_gathers_every_endpoint_with_its_age() -> None:
    unit = tracker()
    empty = unit.snapshot(now=0.0)
    assert empty.reachable is False
    assert empty.vitals is None
    assert empty.vitals_age is None
    assert empty.generation == 3
    unit.record_body(Endpoint.VERSION, VERSION, now=1.0)
    unit.record_body(Endpoint.VITALS, CHARGING_NA, now=2.0)
    unit.record_body(Endpoint.LIFETIME, LIFETIME, now=3.0)
    unit.record_body(
        Endpoint.WIFI_STATUS, {"wifi_ssid": "VGVzdE5ldHdvcms=", "wifi_rssi": -70}, now=4.0
    )
    snap = unit.snapshot(now=10.0)
    assert snap.reachable is True
    assert snap.serial_number == "PGT123456789"
    assert snap.firmware_version == "23.24.3+gba52398ee0bc71"
    assert snap.state == 11
    assert snap.state_label == "charging"
    assert snap.vehicle_connected is True
    assert snap.split_phase is True
    assert snap.power_w == pytest.approx(960.0)
    assert snap.session_energy_wh == 408.5
    assert snap.lifetime_energy_wh == 125000
    assert snap.alerts == (1, 2)
    assert snap.wifi_ssid == "TestNetwork"
    assert snap.wifi_rssi == -70
    assert (snap.version_age, snap.vitals_age, snap.lifetime_age, snap.wifi_status_age) == (
        9.0,
        8.0,
        7.0,
        6.0,
    )
    assert snap.age(Endpoint.LIFETIME) == 7.0
    assert snap.errors == 0


def test_split_phase_once_seen_stays_for_idle_readings() -> None:
    unit = tracker()
    unit.record_body(Endpoint.VITALS, IDLE, now=0.0)
    assert unit.split_phase is False
    unit.record_body(Endpoint.VITALS, CHARGING_NA, now=5.0)
    idle = unit.record_body(Endpoint.VITALS, IDLE, now=10.0).reading
    assert isinstance(idle, Gen3Vitals)
    assert idle.split_phase is True
    assert idle.power_w == pytest.approx(232.0 * 0.4)


def test_split_phase_override() -> None:
    unit = Gen3Tracker(ID, Gen3Config(), now=0.0, split_phase=False)
    reading = unit.record_body(Endpoint.VITALS, CHARGING_NA, now=1.0).reading
    assert isinstance(reading, Gen3Vitals)
    assert reading.split_phase is False
    assert unit.snapshot(1.0).split_phase is False


def test_a_changed_serial_is_kept_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    unit = tracker()
    unit.record_body(Endpoint.VERSION, VERSION, now=0.0)
    outcome = unit.record_body(Endpoint.VERSION, VERSION | {"serial_number": "OTHER"}, now=1.0)
    assert names(outcome.emissions) == [GEN3_VERSION, ALL_COMMANDS]
    assert unit.serial_number == "OTHER"
    assert "changed serial number" in caplog.text


def test_lifetime_reading_is_emitted() -> None:
    outcome = tracker().record_body(Endpoint.LIFETIME, LIFETIME, now=0.0)
    assert names(outcome.emissions) == [GEN3_LIFETIME, ALL_COMMANDS]


_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("ok"), st.booleans(), st.sampled_from([1, 4, 9, 11])),
        st.tuples(st.just("fail"), st.sampled_from(list(Gen3ErrorKind)), st.just(0)),
    ),
    max_size=40,
)


@given(_STEPS)
def test_lost_and_found_alternate_and_car_events_follow_the_flag(steps: list[Any]) -> None:
    """Over any history: LOST and FOUND alternate, starting with LOST; CAR_CONNECTED payloads
    alternate too and always match the latest vehicle_connected."""
    unit = tracker(lost_after_failures=2)
    lifecycle: list[str] = []
    car: list[bool] = []
    unanswered = 0
    for now, (step, value, state) in enumerate(steps):
        if step == "ok":
            body = vitals(vehicle_connected=value, evse_state=state)
            emissions = unit.record_body(Endpoint.VITALS, body, now=float(now)).emissions
            unanswered = 0
        else:
            emissions = unit.record_failure(Endpoint.VITALS, value, "x", now=float(now))
            unanswered = unanswered + 1 if value.transport else 0
        lifecycle += [n for n, _ in emissions if n in (DEVICE_LOST, DEVICE_FOUND)]
        car += [p.connected for n, p in emissions if n == CAR_CONNECTED]
        assert unit.lost == (bool(lifecycle) and lifecycle[-1] == DEVICE_LOST)
        if unit.lost:
            assert unanswered >= 2
        vitals_now = unit.vitals
        if car:
            assert vitals_now is not None
            assert car[-1] == vitals_now.vehicle_connected
    assert all(a != b for a, b in itertools.pairwise(lifecycle))
    assert not lifecycle or lifecycle[0] == DEVICE_LOST
    assert all(a != b for a, b in itertools.pairwise(car))
    assert not car or car[0] is True
