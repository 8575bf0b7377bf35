"""Issue 13 over real loopback HTTP: cut bodies, bounded reads, a closed API, new firmware.

Every test talks to a simulated Gen 3 unit (``twcdirector.simulator.gen3``) through the
monitor's real session and tesla-wall-connector's real request code.
"""

from __future__ import annotations

import ast
import asyncio
import datetime
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import tesla_wall_connector
from tesla_wall_connector import WallConnector

from tests import test_gen3_monitor
from tests.test_gen3_monitor import FAST, FakeClock, Recorder, read_fails
from twcdirector.events import DEVICE_LOST, NEW_DEVICE, STATE_CHANGED
from twcdirector.exceptions import Gen3ResponseError
from twcdirector.gen3 import (
    GEN3_ERROR,
    GEN3_FIRMWARE_CHANGED,
    Endpoint,
    FirmwareChanged,
    Gen3Config,
    Gen3ErrorKind,
    Gen3Lifetime,
    Gen3Monitor,
    Gen3Unit,
    Gen3Vitals,
)
from twcdirector.gen3.monitor import _StrictAPI
from twcdirector.simulator.gen3 import Quirk, SimulatedGen3Unit

pytestmark = pytest.mark.timeout(60)

CUT = Path(__file__).resolve().parent / "data" / "gen3" / "cut"
EVENTS = (GEN3_ERROR, GEN3_FIRMWARE_CHANGED, STATE_CHANGED, "GEN3_VITALS", "GEN3_LIFETIME")
#: One simulated unit (new firmware) per test; it must have been asked for nothing else.
sim = test_gen3_monitor.sim


@pytest.fixture
async def watched(
    sim: SimulatedGen3Unit,
) -> AsyncIterator[tuple[Gen3Unit, Recorder, FakeClock]]:
    clock = FakeClock()
    monitor = Gen3Monitor([sim.host_port], config=FAST, clock=clock)
    unit = monitor.unit(sim.host_port)
    yield unit, Recorder(unit, *EVENTS), clock
    await monitor.stop()


# --- the library boundary ------------------------------------------------------------------


def test_the_library_has_what_the_monitor_calls() -> None:
    """Pins tesla-wall-connector >= 1.2: 1.1 lacks async_get_wifi_status, and the strict
    reader replaces ``API.decode_response``, the one hook ``async_request`` reads through."""
    assert callable(WallConnector.async_get_wifi_status)
    client = WallConnector("127.0.0.1", session=object())  # type: ignore[arg-type]
    assert isinstance(client.api, tesla_wall_connector.api.API)
    assert _StrictAPI.decode_response is not tesla_wall_connector.api.API.decode_response


def test_setup_declares_the_gen3_dependency_floors() -> None:
    setup = ast.parse((Path(__file__).resolve().parents[1] / "setup.py").read_text())
    call = next(
        node
        for node in ast.walk(setup)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup"
    )
    [requires] = [kw.value for kw in call.keywords if kw.arg == "install_requires"]
    assert isinstance(requires, ast.List)
    names = {ast.literal_eval(item) for item in requires.elts}
    assert "tesla-wall-connector>=1.2" in names
    assert any(name.startswith("aiohttp>=") for name in names)


async def test_each_client_reads_through_the_strict_hook(watched: Any) -> None:
    unit, _, _ = watched
    await unit.fetch(Endpoint.VERSION)
    assert isinstance(unit._wall_connector.api, _StrictAPI)


# --- 2. cut bodies are refused, not guessed --------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "endpoint"),
    [
        ("vitals-cut-in-evse-state.json", Endpoint.VITALS),
        ("lifetime-cut-in-charging-time.json", Endpoint.LIFETIME),
    ],
)
async def test_a_body_cut_in_its_last_number_is_bad_body_and_the_last_good_reading_stays(
    watched: Any, sim: SimulatedGen3Unit, fixture: str, endpoint: Endpoint
) -> None:
    unit, recorder, clock = watched
    sim.start_charging(32)
    good = await unit.fetch(endpoint)
    sim.set_quirk(Quirk.RAW, endpoint=endpoint.value, body=(CUT / fixture).read_text(), times=1)
    clock.now += 30
    error = await read_fails(unit, recorder, endpoint)
    assert error.kind is Gen3ErrorKind.BAD_BODY
    assert "may be cut: it ends in a number" in error.message
    snap = unit.snapshot()
    assert snap.age(endpoint) == 30
    if endpoint is Endpoint.VITALS:
        assert snap.vitals == good
        assert snap.state == 11  # still charging: no 11 -> 1 -> 11 flapping
        assert [(e.old_state, e.new_state) for e in recorder.payloads(STATE_CHANGED)] == [
            (None, 11)
        ]
    else:
        assert isinstance(good, Gen3Lifetime)
        assert snap.lifetime == good
        assert snap.lifetime is not None
        assert snap.lifetime.charging_time_s == int(sim.state.charging_time_s)


async def test_a_body_cut_after_a_whole_value_lacks_its_generations_fields(
    watched: Any, sim: SimulatedGen3Unit
) -> None:
    """New firmware ends vitals with evse_not_ready_reasons; cut just before it, the body
    ends in a complete list, and only the missing field gives the cut away."""
    unit, recorder, _ = watched
    body = sim.body("vitals")
    tail = body[body.index(',"evse_not_ready_reasons"') :]
    sim.set_quirk(Quirk.CUT, endpoint="vitals", cut=len(tail), times=1)
    error = await read_fails(unit, recorder, Endpoint.VITALS)
    assert error.kind is Gen3ErrorKind.BAD_BODY
    assert "no evse_not_ready_reasons" in error.message
    # Only the brace missing: completed.
    sim.set_quirk(Quirk.CUT, endpoint="vitals", cut=1, times=1)
    assert isinstance(await unit.fetch(Endpoint.VITALS), Gen3Vitals)


# --- 3. bounded reads ----------------------------------------------------------------------


async def test_a_streamed_200_mb_body_is_refused_after_the_cap(
    watched: Any, sim: SimulatedGen3Unit
) -> None:
    unit, recorder, _ = watched
    sim.set_quirk(Quirk.STREAM, endpoint="vitals", size=200 * 1024 * 1024, times=1)
    tracemalloc.start()
    try:
        error = await read_fails(unit, recorder, Endpoint.VITALS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.kind is Gen3ErrorKind.BAD_BODY
    assert f"longer than {FAST.max_body_bytes} bytes" in error.message
    # Neither side held the body: the client hung up after the cap, the server stopped.
    assert peak < 16 * 1024 * 1024
    await asyncio.wait_for(sim.stream_ended.wait(), 20)
    assert sim.streamed_bytes < 32 * 1024 * 1024
    assert isinstance(await unit.fetch(Endpoint.VITALS), Gen3Vitals)


async def test_a_declared_length_over_the_cap_is_refused_unread(sim: SimulatedGen3Unit) -> None:
    config = Gen3Config(max_body_bytes=1024, request_gap=0.0)
    unit = Gen3Unit(sim.host_port, config=config)
    recorder = Recorder(unit, GEN3_ERROR)
    sim.set_quirk(Quirk.RAW, endpoint="version", body='{"pad":"' + "x" * 2000 + '"}')
    try:
        with pytest.raises(Gen3ResponseError):
            await unit.fetch(Endpoint.VERSION)
        # Within the cap, the same unit reads fine.
        assert isinstance(await unit.fetch(Endpoint.VITALS), Gen3Vitals)
    finally:
        await unit.close()
    [error] = recorder.payloads(GEN3_ERROR)
    assert error.kind is Gen3ErrorKind.BAD_BODY
    assert "2010 bytes refused (the limit is 1024)" in error.message


@pytest.mark.parametrize(
    "body",
    [
        '{"evse_state":1,"vehicle_connected":false,"x":' + "[" * 20_000 + "]" * 20_000 + "}",
        '{"evse_state":1,"vehicle_connected":false,"x":' + "9" * 5000 + "}",
        '{"evse_state":1,"vehicle_connected":false,"grid_v":1e999}',
    ],
    ids=["nested", "huge-int", "huge-float"],
)
async def test_deep_nesting_and_huge_numbers_are_bad_body_not_internal_errors(
    watched: Any, sim: SimulatedGen3Unit, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    unit, recorder, _ = watched
    sim.set_quirk(Quirk.RAW, endpoint="vitals", body=body, times=1)
    await unit._poll(Endpoint.VITALS)  # the monitor's own path: nothing may escape
    [error] = recorder.payloads(GEN3_ERROR)
    assert error.kind is Gen3ErrorKind.BAD_BODY
    assert "internal error" not in error.message
    assert "Traceback" not in caplog.text


# --- 4. honest errors for a changed firmware -----------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_a_closed_api_is_reported_once_per_endpoint(
    watched: Any, sim: SimulatedGen3Unit, status: int
) -> None:
    unit, recorder, clock = watched
    sim.set_quirk(Quirk.HTTP_STATUS, endpoint="vitals", status=status)
    for _ in range(4):
        clock.now += 400
        with pytest.raises(Gen3ResponseError):
            await unit.fetch(Endpoint.VITALS)
    with pytest.raises(Gen3ResponseError):
        await unit.fetch(Endpoint.VITALS)
    await unit.fetch(Endpoint.LIFETIME)  # another endpoint still answers
    [error] = recorder.payloads(GEN3_ERROR)
    assert error.kind is Gen3ErrorKind.API_UNAVAILABLE
    assert f"HTTP {status}" in error.message
    assert "firmware may have closed or moved its local API" in error.message
    snap = unit.snapshot()
    assert snap.errors == 5  # counted every time, said once
    assert snap.consecutive_failures == 0  # lifetime answered
    assert unit.reachable is True  # the unit answers: it is not lost
    # Once the endpoint answers again, a new closure is news again.
    sim.clear_quirks()
    await unit.fetch(Endpoint.VITALS)
    sim.set_quirk(Quirk.HTTP_STATUS, endpoint="vitals", status=status, times=1)
    with pytest.raises(Gen3ResponseError):
        await unit.fetch(Endpoint.VITALS)
    assert len(recorder.payloads(GEN3_ERROR)) == 2


async def test_a_firmware_update_fires_gen3_firmware_changed_once(
    watched: Any, sim: SimulatedGen3Unit
) -> None:
    unit, recorder, _ = watched
    old = sim.state.firmware_version
    await unit.fetch(Endpoint.VERSION)
    await unit.fetch(Endpoint.VERSION)
    assert recorder.payloads(GEN3_FIRMWARE_CHANGED) == []
    sim.update_firmware("24.36.2+gabcdef0123456")
    await unit.fetch(Endpoint.VERSION)
    await unit.fetch(Endpoint.VERSION)
    assert recorder.payloads(GEN3_FIRMWARE_CHANGED) == [
        FirmwareChanged(unit.device_id, old, "24.36.2+gabcdef0123456")
    ]


# --- 1. a host that never answered is heard of at once ---------------------------------------


async def test_the_monitor_reports_a_unit_that_never_answered(sim: SimulatedGen3Unit) -> None:
    await sim.stop()  # nothing listens on its port: connection refused
    config = Gen3Config(connect_timeout=0.2, request_timeout=0.5, backoff_initial=0.05)
    monitor = Gen3Monitor([sim.host_port], config=config)
    recorder = Recorder(monitor, GEN3_ERROR, DEVICE_LOST, NEW_DEVICE)
    try:
        await monitor.start()
        first = await recorder.wait_for(GEN3_ERROR)
        assert first.device_id == sim.host_port
        assert first.kind is Gen3ErrorKind.CONNECTION
        await recorder.wait_for(DEVICE_LOST)
        # Once it answers and is announced, its errors are its own again.
        await sim.start()
        await recorder.wait_for(NEW_DEVICE)
        errors = len(recorder.payloads(GEN3_ERROR))
        unit = monitor.unit(sim.host_port)
        sim.set_quirk(Quirk.HTTP_500, times=1)
        with pytest.raises(Gen3ResponseError):
            await unit.fetch(Endpoint.VITALS)
        assert len(recorder.payloads(GEN3_ERROR)) == errors
    finally:
        await monitor.stop()


# --- 6. one snapshot of both generations -----------------------------------------------------


async def test_overview_gives_wall_clock_last_heard(sim: SimulatedGen3Unit) -> None:
    clock = FakeClock()
    monitor = Gen3Monitor([sim.host_port, "127.0.0.1:9"], config=FAST, clock=clock)
    try:
        await monitor.unit(sim.host_port).fetch(Endpoint.VITALS)
        clock.now += 42
        before = datetime.datetime.now(datetime.UTC)
        view = monitor.overview()
    finally:
        await monitor.stop()
    heard, never = view.units
    assert (heard.device_id, heard.generation, heard.online) == (sim.host_port, 3, True)
    assert (heard.state, heard.car_connected, heard.vin) == ("not connected", False, None)
    assert heard.last_heard is not None
    assert heard.last_heard.tzinfo is datetime.UTC
    assert 41 <= (before - heard.last_heard).total_seconds() <= 43
    assert (never.device_id, never.online, never.last_heard) == ("127.0.0.1:9", False, None)
    assert view.gen2 is None
    assert view.time >= before
