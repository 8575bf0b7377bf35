"""The normalised model against every real body, and its tolerance of odd ones."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twcdirector.exceptions import ConfigurationError, Gen3ResponseError
from twcdirector.gen3 import (
    ALLOWED_PATHS,
    Endpoint,
    Gen3Config,
    Gen3Vitals,
    Phases,
    decode_body,
    decode_ssid,
    detect_split_phase,
    evse_state_label,
    normalize_host,
    parse_lifetime,
    parse_reading,
    parse_version,
    parse_vitals,
    parse_wifi_status,
)

FIXTURES = Path(__file__).resolve().parent / "data" / "gen3"


def fixture(name: str) -> dict[str, Any]:
    return decode_body((FIXTURES / name).read_bytes())


# --- vitals ------------------------------------------------------------------------------------


def test_vitals_21_18_1_idle() -> None:
    vitals = parse_vitals(fixture("vitals-21.18.1.json"))
    assert vitals.evse_state == 1
    assert vitals.state_label == "not connected"
    assert vitals.vehicle_connected is False
    assert vitals.contactor_closed is False
    assert vitals.session_s == 0
    assert vitals.session_energy_wh == 0.0
    assert vitals.grid_v == 232.0
    assert vitals.grid_hz == pytest.approx(50.02)
    assert vitals.vehicle_current_a == 0.4
    assert vitals.currents == Phases(0.2, 0.4, 0.2)
    assert vitals.current_n_a == 0.3
    assert vitals.voltages == Phases(0.0, 4.9, 0.0)
    assert vitals.relay_coil_v == 12.0
    assert vitals.relay_k1_v is None
    assert vitals.relay_v == 12.0
    assert (vitals.pcba_temp_c, vitals.handle_temp_c, vitals.mcu_temp_c) == (29.0, 22.1, 34.9)
    assert vitals.uptime_s == 190
    assert vitals.input_thermopile_uv == -204
    assert vitals.prox_v == 0.0
    assert (vitals.pilot_high_v, vitals.pilot_low_v) == (11.9, 11.9)
    assert vitals.config_status == 5
    assert vitals.alerts == ()
    assert vitals.not_ready_reasons is None  # this firmware does not report them
    assert vitals.split_phase is False
    assert vitals.power_w == pytest.approx(4.9 * 0.4, abs=0.05)
    assert vitals.missing == ()
    assert vitals.invalid == ()
    assert vitals.raw["grid_hz"] == pytest.approx(50.02)
    assert vitals.command_name == "GEN3_VITALS"


def test_vitals_north_american_split_phase() -> None:
    vitals = parse_vitals(fixture("vitals-na-split-phase.json"))
    assert vitals.evse_state == 11
    assert vitals.state_label == "charging"
    assert vitals.vehicle_connected is True
    assert vitals.contactor_closed is True
    assert vitals.session_s == 19173
    assert vitals.session_energy_wh == 408.5
    assert vitals.grid_hz == 59.87
    assert vitals.voltages == Phases(244.4, 244.3, 120.1)
    assert vitals.alerts == (1, 2)
    assert vitals.split_phase is True
    # One current between the two hot legs at grid voltage, not a sum over three "phases".
    assert vitals.power_w == pytest.approx(240.0 * 4.0)
    assert vitals.relay_coil_v == 6.1


def test_split_phase_override_wins_over_detection() -> None:
    body = fixture("vitals-na-split-phase.json")
    three = parse_vitals(body, split_phase=False)
    assert three.split_phase is False
    assert three.power_w == pytest.approx(244.4 * 1.2 + 244.3 * 1.3 + 120.1 * 1.3, abs=0.1)
    idle = parse_vitals(fixture("vitals-21.18.1.json"), split_phase=True)
    assert idle.split_phase is True
    assert idle.power_w == pytest.approx(232.0 * 0.4)


@pytest.mark.parametrize(
    ("grid", "a", "c", "split"),
    [
        (240.0, 244.4, 120.1, True),  # evcc#7599 sample
        (240.0, 240.0, 108.5, True),  # within 10 % of grid / 2
        (240.0, 240.0, 100.0, False),
        (232.0, 232.0, 231.0, False),  # European three phase
        (232.0, 0.0, 0.0, False),  # idle: contactor open
        (232.0, 232.0, 0.0, False),  # single phase
        (60.0, 60.0, 30.0, False),  # too low to tell
    ],
)
def test_split_phase_detection(grid: float, a: float, c: float, split: bool) -> None:
    assert detect_split_phase({"grid_v": grid, "voltageA_v": a, "voltageC_v": c}) is split


def test_split_phase_detection_needs_the_voltages() -> None:
    assert detect_split_phase({}) is False
    assert detect_split_phase({"grid_v": 240.0, "voltageA_v": None, "voltageC_v": 120.0}) is False
    assert detect_split_phase({"grid_v": "240", "voltageA_v": 240.0, "voltageC_v": 120.0}) is False


def test_newer_firmware_relay_and_not_ready_fields() -> None:
    body = fixture("vitals-21.18.1.json")
    del body["relay_coil_v"]
    body.update(relay_k1_v=11.9, relay_k2_v=0.0, evse_not_ready_reasons=[4, 8])
    vitals = parse_vitals(body)
    assert vitals.relay_coil_v is None
    assert (vitals.relay_k1_v, vitals.relay_k2_v) == (11.9, 0.0)
    assert vitals.relay_v == 11.9
    assert vitals.not_ready_reasons == (4, 8)
    assert vitals.missing == ()  # firmware-dependent fields are never "missing"


def test_255_degrees_means_no_reading() -> None:
    body = fixture("vitals-21.18.1.json")
    body.update(pcba_temp_c=255.0, handle_temp_c=255, mcu_temp_c=-3.5)
    vitals = parse_vitals(body)
    assert vitals.pcba_temp_c is None
    assert vitals.handle_temp_c is None
    assert vitals.mcu_temp_c == -3.5


def test_nan_current_and_negative_zero_pilot() -> None:
    text = (FIXTURES / "vitals-21.18.1.json").read_text(encoding="utf-8")
    text = text.replace('"currentN_a":0.3', '"currentN_a":nan')
    text = text.replace('"pilot_low_v":11.9', '"pilot_low_v":-0')
    vitals = parse_vitals(decode_body(text))
    assert vitals.current_n_a is None
    assert vitals.pilot_low_v == 0.0
    assert vitals.invalid == ()


def test_string_alerts_of_synthetic_bodies_are_kept() -> None:
    body = fixture("vitals-21.18.1.json")
    body["current_alerts"] = ["alert1", 27]
    assert parse_vitals(body).alerts == ("alert1", 27)


def test_missing_and_ill_typed_fields_are_listed_not_fatal() -> None:
    body = fixture("vitals-21.18.1.json")
    del body["grid_hz"], body["session_s"]
    body.update(grid_v="232", uptime_s=1.5, current_alerts="none", contactor_closed=1)
    vitals = parse_vitals(body)
    assert vitals.missing == ("session_s", "grid_hz")
    assert set(vitals.invalid) == {"grid_v", "uptime_s", "current_alerts", "contactor_closed"}
    assert vitals.grid_v is None
    assert vitals.grid_hz is None
    assert vitals.uptime_s is None
    assert vitals.alerts == ()
    assert vitals.contactor_closed is None


@pytest.mark.parametrize("field", ["evse_state", "vehicle_connected"])
def test_vitals_without_state_or_vehicle_flag_are_refused(field: str) -> None:
    body = fixture("vitals-21.18.1.json")
    del body[field]
    with pytest.raises(Gen3ResponseError, match=f"without a usable {field}"):
        parse_vitals(body)
    body[field] = "yes"
    with pytest.raises(Gen3ResponseError):
        parse_vitals(body)


@pytest.mark.parametrize("endpoint", list(Endpoint))
def test_a_body_with_none_of_its_fields_is_refused(endpoint: Endpoint) -> None:
    with pytest.raises(Gen3ResponseError, match="none of its fields"):
        parse_reading(endpoint, {"error": "busy"})
    with pytest.raises(Gen3ResponseError):
        parse_reading(endpoint, {})


def test_a_body_from_another_endpoint_is_refused() -> None:
    with pytest.raises(Gen3ResponseError):
        parse_version(fixture("lifetime-nan.json"))


def test_evse_state_labels_are_advisory() -> None:
    assert evse_state_label(4) == "ready"
    assert evse_state_label(9) == "waiting for car"
    assert evse_state_label(3) == "unknown (3)"
    body = fixture("vitals-21.18.1.json")
    body["evse_state"] = 12
    vitals = parse_vitals(body)
    assert vitals.evse_state == 12
    assert vitals.state_label == "unknown (12)"


def test_readings_are_frozen_and_raw_is_read_only() -> None:
    vitals = parse_vitals(fixture("vitals-21.18.1.json"))
    with pytest.raises(AttributeError):
        vitals.evse_state = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        vitals.raw["evse_state"] = 2  # type: ignore[index]
    assert isinstance(hash(vitals), int)


# --- lifetime, version, wifi ---------------------------------------------------------------


def test_lifetime_with_nan() -> None:
    lifetime = parse_lifetime(fixture("lifetime-nan.json"))
    assert lifetime.contactor_cycles == 32
    assert lifetime.contactor_cycles_loaded == 28
    assert lifetime.alert_count == 125
    assert lifetime.thermal_foldbacks == 0
    assert lifetime.avg_startup_temp is None
    assert lifetime.charge_starts == 42
    assert lifetime.energy_wh == 125000
    assert lifetime.connector_cycles == 16
    assert lifetime.uptime_s == 110125
    assert lifetime.charging_time_s == 13802
    assert lifetime.missing == ()
    assert lifetime.invalid == ()
    assert lifetime.command_name == "GEN3_LIFETIME"


def test_lifetime_with_nan_counters() -> None:
    lifetime = parse_lifetime(
        decode_body('{"contactor_cycles_loaded": nan, "alert_count": nan, "energy_wh": 1}')
    )
    assert lifetime.contactor_cycles_loaded is None
    assert lifetime.alert_count is None
    assert lifetime.energy_wh == 1
    assert "contactor_cycles" in lifetime.missing


def test_version_23_24_3() -> None:
    version = parse_version(fixture("version-23.24.3.json"))
    assert version.firmware_version == "23.24.3+gba52398ee0bc71"
    assert version.firmware_base == "23.24.3"
    assert version.part_number == "1234567-00-A"
    assert version.serial_number == "PGT123456789"
    assert version.git_branch is None
    assert version.web_service is None
    assert version.missing == ()


def test_version_of_newer_firmware() -> None:
    body = fixture("version-23.24.3.json") | {
        "git_branch": "HEAD",
        "web_service": "h3-hermes-prd.sn.tesla.services",
    }
    version = parse_version(body)
    assert version.git_branch == "HEAD"
    assert version.web_service == "h3-hermes-prd.sn.tesla.services"


def test_wifi_status_21_18_1() -> None:
    wifi = parse_wifi_status(fixture("wifi_status-21.18.1.json"))
    # "redacted" is valid base64 by accident but decodes to no text: kept as is.
    assert wifi.ssid == "redacted"
    assert wifi.ssid_was_base64 is False
    assert (wifi.signal_strength, wifi.rssi, wifi.snr) == (36, -72, 22)
    assert wifi.connected is True
    assert wifi.internet is True
    assert wifi.infra_ip == "192.168.xxx.xx"
    assert wifi.mac == "xx:xx:xx:xx:xx:xx"


def test_wifi_status_plain_ssid() -> None:
    wifi = parse_wifi_status(fixture("wifi_status-plain.json"))
    assert wifi.ssid == "home-wifi"
    assert wifi.ssid_raw == "home-wifi"
    assert wifi.ssid_was_base64 is False
    assert (wifi.signal_strength, wifi.rssi, wifi.snr) == (54, -63, 34)
    assert wifi.infra_ip == "192.168.1.102"


def test_wifi_status_base64_ssid() -> None:
    body = fixture("wifi_status-plain.json") | {"wifi_ssid": "VGVzdE5ldHdvcms="}
    wifi = parse_wifi_status(body)
    assert wifi.ssid == "TestNetwork"
    assert wifi.ssid_raw == "VGVzdE5ldHdvcms="
    assert wifi.ssid_was_base64 is True


@pytest.mark.parametrize("plain", ["home", "abcd", "redacted", "home-wifi", "", "ab=c"])
def test_plain_ssids_are_not_decoded(plain: str) -> None:
    assert decode_ssid(plain) is None


@given(st.text(st.characters(categories=("L", "N", "P", "Zs")), min_size=1, max_size=32))
def test_any_printable_ssid_survives_base64(ssid: str) -> None:
    encoded = base64.b64encode(ssid.encode("utf-8")).decode("ascii")
    assert parse_wifi_status({"wifi_ssid": encoded}).ssid == (
        ssid if ssid.isprintable() else encoded
    )


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda path: path.name)
def test_every_fixture_parses_for_its_endpoint(path: Path) -> None:
    endpoint = Endpoint(path.name.split("-")[0])
    reading = parse_reading(endpoint, decode_body(path.read_bytes()))
    assert reading.endpoint is endpoint
    assert reading.missing == ()
    assert reading.invalid == ()
    assert dict(reading.raw) == decode_body(path.read_bytes())


# --- endpoints, config, hosts --------------------------------------------------------------


def test_only_four_paths_exist() -> None:
    assert {
        "/api/1/vitals",
        "/api/1/lifetime",
        "/api/1/version",
        "/api/1/wifi_status",
    } == ALLOWED_PATHS
    assert {endpoint.event_name for endpoint in Endpoint} == {
        "GEN3_VITALS",
        "GEN3_LIFETIME",
        "GEN3_VERSION",
        "GEN3_WIFI_STATUS",
    }


@pytest.mark.parametrize(
    ("given_host", "expected"),
    [
        ("192.168.1.50", "192.168.1.50"),
        (" 192.168.1.50:8080 ", "192.168.1.50:8080"),
        ("http://wall.local/", "wall.local"),
        ("[fe80::1]:80", "[fe80::1]:80"),
    ],
)
def test_hosts_are_normalised(given_host: str, expected: str) -> None:
    assert normalize_host(given_host) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "  ",
        "192.168.1.50/update",
        "http://192.168.1.50/api/1/vitals",
        "host?x=1",
        "user@host",
        "host:99999",
        "host:abc",
        "https://host",
        "a b",
    ],
)
def test_bad_hosts_are_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        normalize_host(bad)


def test_config_defaults_follow_the_issue() -> None:
    config = Gen3Config()
    assert config.vitals_interval_connected == 5
    assert config.vitals_interval_idle == 30
    assert config.lifetime_interval == 60
    assert config.wifi_status_interval == 60
    assert config.version_interval == 6 * 3600


@pytest.mark.parametrize(
    "options",
    [
        {"vitals_interval_idle": 0},
        {"lifetime_interval": -1},
        {"request_timeout": float("nan")},
        {"connect_timeout": float("inf")},
        {"backoff_initial": 10, "backoff_max": 5},
        {"lost_after_failures": 0},
        {"lost_after_failures": 2.5},
        {"request_gap": True},
        {"version_interval": "6h"},
    ],
)
def test_bad_config_is_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Gen3Config(**options)


def test_backoff_doubles_up_to_its_cap() -> None:
    config = Gen3Config(backoff_initial=5, backoff_max=60)
    assert [config.backoff(n) for n in range(7)] == [0, 5, 10, 20, 40, 60, 60]
    assert config.backoff(10_000) == 60


def test_vitals_payload_is_a_gen3_vitals() -> None:
    assert isinstance(parse_reading(Endpoint.VITALS, fixture("vitals-21.18.1.json")), Gen3Vitals)
    assert json.loads(json.dumps(dict(parse_vitals(fixture("vitals-21.18.1.json")).raw)))
