"""The simulated Gen 3 unit: bodies shaped exactly like the real ones, scripting, quirks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from twcdirector.exceptions import ConfigurationError
from twcdirector.gen3 import decode_body, detect_split_phase, parse_vitals
from twcdirector.simulator.gen3 import (
    Firmware,
    Quirk,
    SimulatedGen3Unit,
    Supply,
    start_gen3_units,
)

FIXTURES = Path(__file__).resolve().parent / "data" / "gen3"


def fixture(name: str) -> dict[str, Any]:
    return decode_body((FIXTURES / name).read_bytes())


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def json_type(value: object) -> str:
    return type(value).__name__


def shape(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(key, json_type(value)) for key, value in body.items()]


# --- bodies (no network) -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["vitals-21.18.1.json", "vitals-na-split-phase.json"])
@pytest.mark.parametrize("supply", list(Supply))
def test_old_firmware_vitals_have_the_captured_fields_order_and_types(
    name: str, supply: Supply
) -> None:
    unit = SimulatedGen3Unit(supply=supply, clock=FakeClock())
    real = fixture(name)
    for script in (lambda: None, unit.plug_in, unit.start_charging, unit.stop_charging):
        script()
        simulated = json.loads(unit.body("vitals"))
        assert shape(simulated) == shape(real)


def test_new_firmware_vitals_swap_the_relay_field_and_add_not_ready_reasons() -> None:
    unit = SimulatedGen3Unit(firmware=Firmware.NEW, clock=FakeClock())
    keys = list(json.loads(unit.body("vitals")))
    real = list(fixture("vitals-21.18.1.json"))
    at = real.index("relay_coil_v")
    assert keys == [
        *real[:at],
        "relay_k1_v",
        "relay_k2_v",
        *real[at + 1 :],
        "evse_not_ready_reasons",
    ]
    body = json.loads(unit.body("vitals"))
    assert body["evse_not_ready_reasons"] == [4, 8]
    unit.plug_in()
    assert json.loads(unit.body("vitals"))["evse_not_ready_reasons"] == [1]
    unit.start_charging(16)
    assert json.loads(unit.body("vitals"))["evse_not_ready_reasons"] == []


def test_lifetime_version_and_wifi_have_the_captured_shapes() -> None:
    old = SimulatedGen3Unit(clock=FakeClock())
    lifetime = json.loads(old.body("lifetime"))
    real = fixture("lifetime-nan.json")
    assert list(lifetime) == list(real)
    for key, value in real.items():
        expected = "float" if value is None else json_type(value)  # nan was a float
        assert json_type(lifetime[key]) == expected, key
    assert shape(json.loads(old.body("version"))) == shape(fixture("version-23.24.3.json"))
    for name in ("wifi_status-21.18.1.json", "wifi_status-plain.json"):
        assert shape(json.loads(old.body("wifi_status"))) == shape(fixture(name))
    new_version = json.loads(SimulatedGen3Unit(firmware="new", clock=FakeClock()).body("version"))
    assert list(new_version) == [*fixture("version-23.24.3.json"), "git_branch", "web_service"]


def test_bodies_are_compact_like_the_firmware() -> None:
    text = SimulatedGen3Unit(clock=FakeClock()).body("vitals")
    assert text.startswith('{"contactor_closed":false,"vehicle_connected":false,"session_s":0,')
    assert '"grid_hz":50.020,' in text
    assert '"session_energy_wh":0.000,' in text
    assert '"current_alerts":[]}' in text


def test_scripted_session() -> None:
    clock = FakeClock()
    unit = SimulatedGen3Unit(clock=clock, uptime_s=100)

    def vitals() -> dict[str, Any]:
        return json.loads(unit.body("vitals"))

    assert (vitals()["evse_state"], vitals()["vehicle_connected"]) == (1, False)
    unit.plug_in()
    clock.now += 10
    assert (vitals()["evse_state"], vitals()["vehicle_connected"], vitals()["session_s"]) == (
        4,
        True,
        10,
    )
    unit.start_charging(16)
    body = vitals()
    assert (body["evse_state"], body["contactor_closed"], body["vehicle_current_a"]) == (
        11,
        True,
        16.0,
    )
    assert (body["currentA_a"], body["currentB_a"], body["currentC_a"]) == (16.0, 16.0, 16.0)
    clock.now += 3600
    energy = vitals()["session_energy_wh"]
    power = parse_vitals(vitals()).power_w
    assert power is not None
    assert energy == pytest.approx(power, rel=0.01)  # one hour at that power
    unit.stop_charging()
    assert (vitals()["evse_state"], vitals()["contactor_closed"]) == (9, False)
    unit.raise_alert(27)
    unit.raise_alert(3)
    assert vitals()["current_alerts"] == [27, 3]
    unit.clear_alerts()
    assert vitals()["current_alerts"] == []
    assert vitals()["uptime_s"] == 100 + 3610
    unit.reboot()
    clock.now += 2
    assert vitals()["uptime_s"] == 2
    unit.unplug()
    body = vitals()
    assert (body["evse_state"], body["vehicle_connected"], body["session_energy_wh"]) == (
        1,
        False,
        0.0,
    )
    lifetime = json.loads(unit.body("lifetime"))
    assert lifetime["charge_starts"] == 176
    assert lifetime["connector_cycles"] == 24
    assert lifetime["alert_count"] == 14
    assert lifetime["energy_wh"] == pytest.approx(386204 + energy, abs=1)


def test_split_phase_unit_looks_split_phase_when_charging() -> None:
    unit = SimulatedGen3Unit(supply="split_phase", clock=FakeClock())
    assert detect_split_phase(json.loads(unit.body("vitals"))) is False  # contactor open
    unit.start_charging(40)
    body = json.loads(unit.body("vitals"))
    assert detect_split_phase(body) is True
    assert body["grid_hz"] == pytest.approx(60, abs=0.1)
    assert parse_vitals(body).power_w == pytest.approx(240 * 40)


def test_base64_ssid_option() -> None:
    assert json.loads(SimulatedGen3Unit(ssid="Home", clock=FakeClock()).body("wifi_status"))[
        "wifi_ssid"
    ] == ("SG9tZQ==")
    plain = SimulatedGen3Unit(ssid="Home", ssid_base64=False, clock=FakeClock())
    assert json.loads(plain.body("wifi_status"))["wifi_ssid"] == "Home"


@pytest.mark.parametrize("options", [{"firmware": "ancient"}, {"supply": "four_phase"}])
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        SimulatedGen3Unit(**options)


def test_bad_script_calls_are_refused() -> None:
    unit = SimulatedGen3Unit(clock=FakeClock())
    for amps in (0, -1, 81):
        with pytest.raises(ConfigurationError):
            unit.start_charging(amps)
    with pytest.raises(ConfigurationError):
        unit.set_quirk("sneeze")
    with pytest.raises(ConfigurationError):
        unit.set_quirk(Quirk.NAN, endpoint="update")
    with pytest.raises(ConfigurationError):
        unit.set_quirk(Quirk.NAN, times=0)
    with pytest.raises(ConfigurationError):
        unit.body("update")


# --- over loopback HTTP ------------------------------------------------------------------


@pytest.fixture
async def unit() -> AsyncIterator[SimulatedGen3Unit]:
    [started] = await start_gen3_units(1)
    yield started
    await started.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(
    http: aiohttp.ClientSession, unit: SimulatedGen3Unit, path: str, limit: float = 5.0
) -> tuple[int, str, aiohttp.ClientResponse]:
    async with http.get(
        unit.url + path, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=limit)
    ) as response:
        return response.status, await response.text(), response


async def test_serves_the_four_endpoints_and_logs_every_request(
    unit: SimulatedGen3Unit, http: aiohttp.ClientSession
) -> None:
    for endpoint in ("vitals", "lifetime", "version", "wifi_status"):
        status, text, response = await get(http, unit, f"/api/1/{endpoint}")
        assert status == 200
        assert response.content_type == "application/json"
        assert json.loads(text) == json.loads(unit.body(endpoint)) or endpoint == "vitals"
    for path in ("/update", "/api/1/update", "/api/1/vitals?x=1", "/"):
        status, _, _ = await get(http, unit, path)
        assert status == 404
    assert unit.requested_paths() == [
        "/api/1/vitals",
        "/api/1/lifetime",
        "/api/1/version",
        "/api/1/wifi_status",
        "/update",
        "/api/1/update",
        "/api/1/vitals?x=1",
        "/",
    ]


async def test_several_units_on_their_own_ports() -> None:
    units = await start_gen3_units(3, firmware="new")
    try:
        assert len({u.port for u in units}) == 3
        assert len({u.state.serial_number for u in units}) == 3
        assert len({u.state.mac for u in units}) == 3
        for u in units:
            assert u.url == f"http://127.0.0.1:{u.port}"
            assert u.host_port == f"127.0.0.1:{u.port}"
            assert u.running
    finally:
        for u in units:
            await u.stop()
    assert not any(u.running for u in units)
    assert await start_gen3_units(0) == []


async def test_a_stopped_unit_refuses_then_comes_back_on_its_port(
    unit: SimulatedGen3Unit, http: aiohttp.ClientSession
) -> None:
    port = unit.port
    await unit.stop()
    with pytest.raises(aiohttp.ClientConnectorError):
        await get(http, unit, "/api/1/vitals")
    await unit.start()
    assert unit.port == port
    status, _, _ = await get(http, unit, "/api/1/vitals")
    assert status == 200


async def test_quirk_nan(unit: SimulatedGen3Unit, http: aiohttp.ClientSession) -> None:
    unit.set_quirk(Quirk.NAN)
    _, vitals, _ = await get(http, unit, "/api/1/vitals")
    _, lifetime, _ = await get(http, unit, "/api/1/lifetime")
    assert '"currentN_a":nan,' in vitals
    assert '"avg_startup_temp":nan,' in lifetime
    with pytest.raises(json.JSONDecodeError):
        json.loads(lifetime)
    assert decode_body(lifetime)["alert_count"] is None


async def test_quirk_truncated_for_a_number_of_requests(
    unit: SimulatedGen3Unit, http: aiohttp.ClientSession
) -> None:
    unit.set_quirk(Quirk.TRUNCATED, endpoint="version", times=2)
    _, vitals, _ = await get(http, unit, "/api/1/vitals")
    assert vitals.endswith("}")
    for _ in range(2):
        _, text, _ = await get(http, unit, "/api/1/version")
        assert not text.rstrip().endswith("}")
        assert decode_body(text)["serial_number"] == unit.state.serial_number
    _, text, _ = await get(http, unit, "/api/1/version")
    assert text.endswith("}")


async def test_quirk_http_500_not_json_missing_and_redirect(
    unit: SimulatedGen3Unit, http: aiohttp.ClientSession
) -> None:
    unit.set_quirk(Quirk.HTTP_500, endpoint="vitals", times=1)
    unit.set_quirk(Quirk.NOT_JSON, endpoint="lifetime", times=1)
    unit.set_quirk(Quirk.MISSING_FIELDS, endpoint="wifi_status", times=1, fields=("wifi_rssi",))
    unit.set_quirk(Quirk.REDIRECT, endpoint="version", times=1)
    assert (await get(http, unit, "/api/1/vitals"))[0] == 500
    status, text, response = await get(http, unit, "/api/1/lifetime")
    assert (status, response.content_type) == (200, "text/html")
    assert text.startswith("<html>")
    status, text, _ = await get(http, unit, "/api/1/wifi_status")
    assert "wifi_rssi" not in json.loads(text)
    assert "wifi_snr" in json.loads(text)
    status, _, response = await get(http, unit, "/api/1/version")
    assert (status, response.headers["Location"]) == (302, "/update")
    assert "/update" not in unit.requested_paths()  # nobody followed it
    unit.set_quirk(Quirk.MISSING_FIELDS, endpoint="vitals", times=1)
    assert "evse_state" not in json.loads((await get(http, unit, "/api/1/vitals"))[1])


async def test_quirk_hang_until_cleared(
    unit: SimulatedGen3Unit, http: aiohttp.ClientSession
) -> None:
    unit.set_quirk(Quirk.HANG)
    with pytest.raises(asyncio.TimeoutError):
        await get(http, unit, "/api/1/vitals", limit=0.2)
    unit.clear_quirks()
    assert (await get(http, unit, "/api/1/vitals"))[0] == 200


async def test_quirk_slow_first_byte(unit: SimulatedGen3Unit, http: aiohttp.ClientSession) -> None:
    unit.set_quirk(Quirk.SLOW, delay=0.3, times=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, _, _ = await get(http, unit, "/api/1/vitals")
    assert status == 200
    assert loop.time() - started >= 0.25  # a lower bound only: a delay cannot be shorter


async def test_quirk_drop_closes_without_an_answer(unit: SimulatedGen3Unit) -> None:
    unit.set_quirk(Quirk.DROP, times=1)
    async with aiohttp.ClientSession() as session:
        session._retry_connection = False  # see what one request does
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await get(session, unit, "/api/1/vitals")
    assert unit.requested_paths() == ["/api/1/vitals"]


async def test_stop_releases_hung_requests(unit: SimulatedGen3Unit) -> None:
    unit.set_quirk(Quirk.HANG)
    async with aiohttp.ClientSession() as session:
        pending = asyncio.ensure_future(get(session, unit, "/api/1/vitals", limit=30))
        await unit.wait_for_requests(1)
        await unit.stop()
        [result] = await asyncio.gather(pending, return_exceptions=True)
    assert isinstance(result, aiohttp.ClientError) or result[0] == 503
