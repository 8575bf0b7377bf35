"""The MQTT bridge's pure parts: topic contract, options, payloads, discovery, outbox, and the
available-current input's hysteresis and fallback (time is a parameter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from twcdirector import ConfigurationError, InvalidValueError, PeripheralSnapshot, ProtocolVersion
from twcdirector.__main__ import build_parser, main
from twcdirector.mqtt import (
    AvailableCurrent,
    Command,
    Outbox,
    Source,
    Topics,
    UnitInfo,
    format_value,
    gen2_values,
    gen3_unit,
    iec_status,
    parse_amps,
    parse_broker_url,
    settings_from,
    site_configs,
    unit_configs,
)
from twcdirector.mqtt.discovery import GEN3_KEYS
from twcdirector.mqtt.values import charging_minimum, total_current
from twcdirector.sharing import InstallationLimits

TOPICS = Topics.for_controller(0xF00D)


def snapshot(**changes: object) -> PeripheralSnapshot:
    values: dict[str, object] = {
        "id": 0x1839,
        "sign": 0x42,
        "protocol": ProtocolVersion.V2,
        "advertised_max": 32.0,
        "state": 1,
        "state_name": "CHARGING",
        "allowed_amps": 16.0,
        "actual_amps": 15.5,
        "lifetime_kwh": 1234,
        "voltages": (240, 0, 0),
        "firmware": "4.5.3.2",
        "serial": "A19F0018391",
        "vin_fragments": ("5YJ3E1E", "A7KF000", "001"),
        "vin": "5YJ3E1EA7KF000001",
        "car_connected": True,
        "plugged": True,
        "last_heard": 0.0,
        "online": True,
        "frames": 10,
        "timeouts": 0,
        "errors": 0,
    }
    values.update(changes)
    return PeripheralSnapshot(**values)  # type: ignore[arg-type]


# --- topics ----------------------------------------------------------------------------------


def test_the_base_is_the_controller_id_in_lower_case_hex_unless_overridden() -> None:
    assert TOPICS.availability == "twcdirector/f00d/availability"
    assert TOPICS.unit("1839", "status") == "twcdirector/f00d/1839/status"
    assert TOPICS.site("total_current") == "twcdirector/f00d/total_current"
    assert Topics.for_controller(0xF00D, "home/twc").availability == "home/twc/availability"
    assert TOPICS.discovery("sensor", "1839", "status") == (
        "homeassistant/sensor/twcdirector_f00d_1839/status/config"
    )


@pytest.mark.parametrize("prefix", ["", "/a", "a/", "a//b", "a/+/b", "a/#"])
def test_a_prefix_with_wildcards_or_empty_levels_is_refused(prefix: str) -> None:
    with pytest.raises(ConfigurationError):
        Topics(prefix)


def test_command_topics_are_taken_apart_and_others_ignored() -> None:
    parse = TOPICS.parse_command
    assert parse("twcdirector/f00d/1839/session_current/set") == Command("1839", "session_current")
    assert parse("twcdirector/f00d/available_current/set") == Command(None, "available_current")
    assert parse("twcdirector/f00d/1839/contactors/set") == Command("1839", "contactors")
    assert parse("twcdirector/f00d/1839/status") is None
    assert parse("twcdirector/f00d/1839/firmware/set") is None
    assert parse("twcdirector/beef/1839/session_current/set") is None


def test_our_discovery_topics_are_recognised_by_their_node() -> None:
    owns = TOPICS.owns_discovery
    assert owns("homeassistant/sensor/twcdirector_f00d_1839/status/config") == "1839"
    assert owns("homeassistant/sensor/twcdirector_f00d/total_current/config") == ""
    assert owns("homeassistant/sensor/twcdirector_beef_1839/status/config") is None
    assert owns("homeassistant/sensor/zigbee2mqtt/x/config") is None


def test_a_gen3_unit_is_keyed_by_its_serial_number() -> None:
    assert gen3_unit("PGT-22091 2345") == "pgt220912345"
    assert gen3_unit("") is None


# --- options -----------------------------------------------------------------------------------


def test_broker_urls() -> None:
    assert parse_broker_url("mqtt://127.0.0.1") == ("127.0.0.1", 1883, False)
    assert parse_broker_url("mqtts://broker.lan:8884") == ("broker.lan", 8884, True)
    assert parse_broker_url("mqtt://[::1]:1884/") == ("::1", 1884, False)


def test_the_password_comes_from_the_environment_only() -> None:
    args = build_parser().parse_args(
        ["--port", "x", "--mqtt", "mqtt://h", "--mqtt-user", "twc", "--mqtt-discovery", "off"]
    )
    settings = settings_from(args, {"TWCDIRECTOR_MQTT_PASSWORD": "s3cret"})
    assert settings is not None
    assert (settings.username, settings.password, settings.discovery) == ("twc", "s3cret", False)
    assert "s3cret" not in repr(settings)
    assert settings_from(build_parser().parse_args(["--port", "x"]), {}) is None


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--mqtt", "mqtt://twc:secret@broker"], "TWCDIRECTOR_MQTT_PASSWORD"),
        (["--mqtt", "mqtt://twc@broker"], "--mqtt-user"),
        (["--mqtt", "http://broker"], "mqtt://"),
        (["--mqtt", "mqtt://"], "no host"),
        (["--mqtt", "mqtt://broker:99999"], "--mqtt"),
        (["--mqtt", "mqtt://broker/topic"], "only mqtt"),
        (["--mqtt", "mqtt://b", "--mqtt-prefix", "a/#"], "prefix"),
        (["--mqtt", "mqtt://b", "--available-timeout", "0"], "--available-timeout"),
        (["--mqtt", "mqtt://b", "--available-fallback", "6.5"], "--available-fallback"),
        (
            [
                "--mqtt",
                "mqtt://b",
                "--max-current",
                "32",
                "--shared-max",
                "40",
                "--available-fallback",
                "48",
            ],
            "exceeds",
        ),
        (["--mqtt", "mqtt://b", "--mqtt-prefix", "$SYS/twc"], "'$'"),
        (["--mqtt", "mqtt://b", "--mqtt-prefix", "$twc"], "'$'"),
        (["--mqtt", "mqtt://b", "--mqtt-discovery-prefix", "$ha"], "'$'"),
        (["--mqtt", "mqtt://a", "--mqtt", "mqtt://b"], "given twice"),
        (["--mqtt-user", "twc"], "needs --mqtt"),
        (["--mqtt-allow-contactors"], "needs --mqtt"),
    ],
)
def test_mqtt_option_mistakes_are_one_line_and_exit_2(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--port", "loop://", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "error:" in err
    assert says in err
    assert "secret" not in err


# --- payloads --------------------------------------------------------------------------------


def test_values_are_plain_decimals_and_booleans() -> None:
    assert [format_value(v) for v in (16.0, 15.5, 15.25, 0.0, 7, True, False, "x", None)] == [
        "16",
        "15.5",
        "15.25",
        "0",
        "7",
        "true",
        "false",
        "x",
        "None",
    ]
    # Not "": a retained empty payload deletes the retained value.
    assert format_value(float("nan")) == "None"


def test_a_gen2_unit_publishes_every_key_of_the_contract() -> None:
    values = gen2_values(snapshot())
    assert values == {
        "state": "CHARGING",
        "status": "C",
        "actual_current": "15.5",
        "allowed_current": "16",
        "car_connected": "true",
        "vin": "5YJ3E1EA7KF000001",
        "lifetime_energy": "1234",
        "voltage_a": "240",
        "voltage_b": "0",
        "voltage_c": "0",
        "firmware": "4.5.3.2",
        "serial": "A19F0018391",
        "online": "true",
    }
    # No car, no VIN: "None" (unknown in Home Assistant), never "", which would delete it.
    assert gen2_values(snapshot(vin=None, car_connected=False))["vin"] == "None"
    # Not reported yet: left out, not guessed.
    early = gen2_values(snapshot(state=None, state_name=None, firmware=None, voltages=None))
    assert {"state", "status", "firmware", "voltage_a"}.isdisjoint(early)


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        (
            {"state": 0, "vin": None, "car_connected": False, "plugged": False, "actual_amps": 0},
            "A",
        ),
        ({"state": 4, "actual_amps": 0.0}, "B"),
        ({"state": 3, "vin": None, "car_connected": False, "actual_amps": 0.0}, "B"),
        ({"state": 1}, "C"),
        ({"state": 9}, "C"),
        ({"state": 2, "actual_amps": 0.0}, "F"),
    ],
)
def test_the_iec_61851_status_letter(changes: dict[str, object], status: str) -> None:
    assert gen2_values(snapshot(**changes))["status"] == status


def test_iec_status_and_site_sums() -> None:
    assert iec_status(connected=False, charging=False) == "A"
    units = [snapshot(), snapshot(id=0x2019, actual_amps=6.25), snapshot(id=1, online=False)]
    assert total_current(units) == 15.5 + 6.25
    assert charging_minimum(units) == 12
    assert charging_minimum([snapshot(protocol=ProtocolVersion.V1)]) == 5


@pytest.mark.parametrize("payload", [b"", b"  ", b"abc", b"nan", b"inf", b"16A", "\u00e9".encode()])
def test_a_payload_that_is_not_a_number_is_refused(payload: bytes) -> None:
    with pytest.raises(InvalidValueError):
        parse_amps(payload)


def test_numbers_are_left_for_the_library_to_judge() -> None:
    # -5, 1e9 and 16.5 parse; the library's own limits refuse them (tested end to end).
    assert [parse_amps(p) for p in (b"16", b" 16.0\n", b"-5", b"1e9", "16.5")] == [
        16.0,
        16.0,
        -5.0,
        1e9,
        16.5,
    ]


# --- discovery -------------------------------------------------------------------------------


def test_unit_discovery_configs_carry_the_home_assistant_fields() -> None:
    info = UnitInfo("1839", 2, "Gen 2 Wall Connector", "4.5.3.2", "A19F0018391", 6, 32)
    configs = {t: json.loads(p) for t, p in unit_configs(TOPICS, info, "0.1.0").items()}
    assert all(topic.startswith("homeassistant/") for topic in configs)
    unique = [c["unique_id"] for c in configs.values()]
    assert len(unique) == len(set(unique))
    for config in configs.values():
        device = config["device"]
        assert device["identifiers"] == ["twcdirector_f00d_1839"]
        assert device["via_device"] == "twcdirector_f00d"
        assert (device["model"], device["sw_version"]) == ("Gen 2 Wall Connector", "4.5.3.2")
        assert config["origin"]["name"] == "twcdirector"
        assert config["availability"][0]["topic"] == "twcdirector/f00d/availability"
    energy = configs["homeassistant/sensor/twcdirector_f00d_1839/lifetime_energy/config"]
    assert (energy["device_class"], energy["state_class"], energy["unit_of_measurement"]) == (
        "energy",
        "total_increasing",
        "kWh",
    )
    number = configs["homeassistant/number/twcdirector_f00d_1839/session_current/config"]
    assert number["command_topic"] == "twcdirector/f00d/1839/session_current/set"
    assert (number["min"], number["max"], number["step"]) == (6, 32, 1)
    plug = configs["homeassistant/binary_sensor/twcdirector_f00d_1839/car_connected/config"]
    assert (plug["payload_on"], plug["payload_off"]) == ("true", "false")
    firmware = configs["homeassistant/sensor/twcdirector_f00d_1839/firmware/config"]
    assert firmware["entity_category"] == "diagnostic"
    assert not any("button" in topic for topic in configs)
    with_contactors = unit_configs(TOPICS, info, "0.1.0", contactors=True)
    assert "homeassistant/button/twcdirector_f00d_1839/open_contactors/config" in with_contactors


def test_a_gen3_unit_is_read_only_and_sharing_adds_the_available_current_number() -> None:
    gen3 = unit_configs(TOPICS, UnitInfo("pgt220912345", 3, "Gen 3 Wall Connector"), "0.1.0")
    keys = {topic.split("/")[-2] for topic in gen3}
    assert keys == GEN3_KEYS
    assert site_configs(TOPICS, 0xF00D, "0.1.0", shared_max=None).keys() == {
        "homeassistant/sensor/twcdirector_f00d/total_current/config"
    }
    shared = site_configs(TOPICS, 0xF00D, "0.1.0", shared_max=40)
    number = json.loads(shared["homeassistant/number/twcdirector_f00d/available_current/config"])
    assert (number["min"], number["max"], number["command_topic"]) == (
        0,
        40,
        "twcdirector/f00d/available_current/set",
    )


# --- outbox ----------------------------------------------------------------------------------


def test_a_topic_goes_out_on_change_at_most_once_a_second() -> None:
    box = Outbox()
    box.put("a", "1")
    assert [m.payload for m in box.due(0.0)] == ["1"]
    box.put("a", "1")
    assert box.due(0.1) == []  # unchanged
    box.put("a", "2")
    box.put("a", "3")
    assert box.due(0.5) == []  # too soon
    assert box.next_due() == 1.0
    assert [m.payload for m in box.due(1.0)] == ["3"]  # the latest value only
    box.put("a", "2")
    box.put("a", "3")
    assert box.due(3.0) == []  # back to what was sent: nothing new


def test_everything_is_refreshed_every_five_minutes_and_after_a_reconnect() -> None:
    box = Outbox()
    box.put("state", "x")
    box.put("config", "{}", refresh=False)
    assert len(box.due(0.0)) == 2
    assert box.due(299.0) == []
    assert [m.topic for m in box.due(300.0)] == ["state"]
    box.reconnected(301.0)
    assert {m.topic for m in box.due(301.0)} == {"state", "config"}


def test_notices_are_bounded_and_never_rate_limited() -> None:
    box = Outbox(notice_limit=3)
    for index in range(10):
        box.notify("err", str(index))
    assert box.next_due() == float("-inf")
    assert [(m.payload, m.retain) for m in box.due(0.0)] == [
        ("7", False),
        ("8", False),
        ("9", False),
    ]


# --- available current -----------------------------------------------------------------------

CEILING = InstallationLimits(total_max=40, unit_max=32)


def test_values_are_validated_as_the_library_does() -> None:
    available = AvailableCurrent(CEILING, timeout=120)
    for bad in (-5, 1e9, 16.5, 41):
        with pytest.raises(ConfigurationError):
            available.receive(bad, 0.0)
    assert available.poll(0.0, 0) is None  # nothing valid arrived: the configured total stays
    assert available.source is Source.CONFIGURED


def test_decreases_apply_at_once_raises_wait_5_s_and_small_changes_none() -> None:
    available = AvailableCurrent(CEILING, timeout=120)
    available.receive(20, 0.0)
    change = available.poll(0.0, 0)
    assert change is not None
    assert (change.total_max, change.source) == (20, Source.MQTT)
    available.receive(12, 1.0)
    change = available.poll(1.0, 0)
    assert change is not None
    assert change.total_max == 12
    available.receive(30, 2.0)
    assert available.poll(2.0, 0) is None  # higher, 1 s after the last change: waits
    assert available.next_deadline() == 6.0
    change = available.poll(6.0, 0)
    assert change is not None
    assert change.total_max == 30
    available.receive(30, 20.0)
    assert available.poll(20.0, 0) is None  # no change
    small = AvailableCurrent(CEILING, timeout=120, hysteresis=2.0)
    small.receive(20, 0.0)
    small.poll(0.0, 0)
    small.receive(21, 10.0)
    assert small.poll(10.0, 0) is None
    assert small.applied == 20


def test_silence_falls_back_to_the_charging_minimum_and_says_so() -> None:
    available = AvailableCurrent(CEILING, timeout=120)
    available.receive(30, 0.0)
    available.poll(0.0, 12)
    assert available.next_deadline() == 120.0
    assert available.poll(119.0, 12) is None
    change = available.poll(120.0, 12)
    assert change is not None
    assert (change.total_max, change.source) == (12, Source.FALLBACK)
    assert change.note is not None
    assert "falling back to 12 A" in change.note
    # A unit stops charging: the fallback follows.
    change = available.poll(121.0, 6)
    assert change is not None
    assert change.total_max == 6
    assert change.note is None
    available.receive(25, 130.0)
    change = available.poll(130.0, 6)
    assert change is not None
    assert change.source is Source.MQTT
    assert change.note is not None
    assert change.total_max == 25  # a raise more than 5 s after the last change


def test_a_configured_fallback_never_passes_the_ceiling() -> None:
    available = AvailableCurrent(CEILING, timeout=10, fallback=16)
    available.receive(30, 0.0)
    available.poll(0.0, 0)
    change = available.poll(10.0, 0)
    assert change is not None
    assert change.total_max == 16


def test_a_user_without_a_password_is_warned_once_at_start() -> None:
    # A port that cannot be opened ends the run at once; the warning comes before.
    result = subprocess.run(
        [
            *(sys.executable, "-m", "twcdirector", "--port", "/dev/no-such-port"),
            *("--mqtt", "mqtt://127.0.0.1:1", "--mqtt-user", "twc"),
        ],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "TWCDIRECTOR_MQTT_PASSWORD"},
        timeout=60,
        check=False,
    )
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "python3 -m twcdirector: warning: no password: TWCDIRECTOR_MQTT_PASSWORD is not set"
    )
    assert result.stderr.count("no password") == 1
    assert result.returncode == 2
