"""Gen3Monitor and Gen3Unit against simulated units over real loopback HTTP: every quirk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from twcdirector.events import (
    ALERT_CLEARED,
    ALERT_RAISED,
    ALL_COMMANDS,
    CAR_CONNECTED,
    DEVICE_FOUND,
    DEVICE_LOST,
    NEW_DEVICE,
    REBOOT_DETECTED,
    STATE_CHANGED,
    CarConnected,
    NewDevice,
)
from twcdirector.exceptions import (
    ConfigurationError,
    DeviceNotFoundError,
    Gen3ConnectionError,
    Gen3Error,
    Gen3ResponseError,
    Gen3TimeoutError,
)
from twcdirector.gen3 import (
    ALLOWED_PATHS,
    GEN3_ERROR,
    GEN3_VITALS,
    Endpoint,
    Gen3Config,
    Gen3ErrorEvent,
    Gen3ErrorKind,
    Gen3Lifetime,
    Gen3Monitor,
    Gen3Unit,
    Gen3Version,
    Gen3Vitals,
    Gen3WifiStatus,
    create_session,
)
from twcdirector.simulator.gen3 import Quirk, SimulatedGen3Unit, start_gen3_units

#: Short budgets so a hung unit costs a fraction of a second: 0.2 s to connect (so 0.6 s for
#: the first byte, as tesla-wall-connector allows 3x), 0.5 s for a whole request.
FAST = Gen3Config(connect_timeout=0.2, request_timeout=0.5, request_gap=0.0)
#: Generous bound for "this event eventually arrives" on a busy CI machine.
PATIENCE = 20.0


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    """Collects a unit's (or monitor's) events and lets a test await one."""

    def __init__(self, emitter: Any, *names: str) -> None:
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        for name in names:
            emitter.on(name, self._handler(name))

    def _handler(self, name: str) -> Any:
        def handle(payload: Any) -> None:
            self.events.append((name, payload))
            self._changed.set()

        return handle

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def payloads(self, name: str) -> list[Any]:
        return [payload for event, payload in self.events if event == name]

    async def wait_for(self, name: str, check: Any = lambda payload: True, since: int = 0) -> Any:
        """The first ``name`` event (from index ``since``) whose payload passes ``check``."""
        async with asyncio.timeout(PATIENCE):
            seen = since
            while True:
                for event, payload in self.events[seen:]:
                    if event == name and check(payload):
                        return payload
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()


UNIT_EVENTS = (
    GEN3_VITALS,
    "GEN3_LIFETIME",
    "GEN3_VERSION",
    "GEN3_WIFI_STATUS",
    GEN3_ERROR,
    ALL_COMMANDS,
    CAR_CONNECTED,
    STATE_CHANGED,
    ALERT_RAISED,
    ALERT_CLEARED,
    REBOOT_DETECTED,
    DEVICE_LOST,
    DEVICE_FOUND,
)


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedGen3Unit]:
    [unit] = await start_gen3_units(1, firmware="new")
    yield unit
    await unit.stop()
    assert set(unit.requested_paths()) <= ALLOWED_PATHS


@pytest.fixture
async def watched(
    sim: SimulatedGen3Unit,
) -> AsyncIterator[tuple[Gen3Monitor, Gen3Unit, Recorder, FakeClock]]:
    clock = FakeClock()
    monitor = Gen3Monitor([sim.host_port], config=FAST, clock=clock)
    unit = monitor.unit(sim.host_port)
    yield monitor, unit, Recorder(unit, *UNIT_EVENTS), clock
    await monitor.stop()


# --- one read at a time --------------------------------------------------------------------


async def test_refresh_reads_all_four_and_announces_the_unit(sim: SimulatedGen3Unit) -> None:
    monitor = Gen3Monitor([sim.host_port], config=FAST)
    announced = Recorder(monitor, NEW_DEVICE)
    unit_events: list[str] = []

    def on_new(new: NewDevice) -> None:
        # Handlers attached on the announcement still see the first reading.
        assert isinstance(new.device, Gen3Unit)
        new.device.on(ALL_COMMANDS, lambda reading: unit_events.append(reading.command_name))

    monitor.on(NEW_DEVICE, on_new)
    sim.plug_in()
    try:
        snapshots = await monitor.refresh()
        await monitor.refresh()
    finally:
        await monitor.stop()
    [new] = announced.payloads(NEW_DEVICE)
    assert (new.device_id, new.generation) == (sim.host_port, 3)
    assert new.device is monitor.unit(sim.host_port)
    assert unit_events == ["GEN3_VERSION", "GEN3_VITALS", "GEN3_LIFETIME", "GEN3_WIFI_STATUS"] * 2
    snap = snapshots[sim.host_port]
    assert snap.reachable is True
    assert snap.serial_number == sim.state.serial_number
    assert snap.firmware_version == sim.state.firmware_version
    assert snap.state == 4
    assert snap.vehicle_connected is True
    assert snap.wifi_ssid == "TwcSimulator"  # served base64-encoded
    assert snap.vitals is not None
    assert snap.vitals.not_ready_reasons == (1,)
    assert snap.vitals.relay_k1_v == 12.0
    assert snap.errors == 0
    assert (
        sim.requested_paths()
        == [
            "/api/1/version",
            "/api/1/vitals",
            "/api/1/lifetime",
            "/api/1/wifi_status",
        ]
        * 2
    )


async def test_every_endpoint_reads_into_its_model(watched: Any) -> None:
    _, unit, _, _ = watched
    assert isinstance(await unit.fetch(Endpoint.VITALS), Gen3Vitals)
    assert isinstance(await unit.fetch("lifetime"), Gen3Lifetime)
    assert isinstance(await unit.fetch("version"), Gen3Version)
    assert isinstance(await unit.fetch("wifi_status"), Gen3WifiStatus)
    assert unit.vitals is not None
    assert unit.lifetime is not None
    assert unit.version is not None
    assert unit.wifi_status is not None
    assert unit.serial_number == unit.version.serial_number
    with pytest.raises(ConfigurationError, match="update"):
        await unit.fetch("update")


async def test_nan_is_no_value(watched: Any, sim: SimulatedGen3Unit) -> None:
    _, unit, _, _ = watched
    sim.set_quirk(Quirk.NAN)
    vitals = await unit.fetch(Endpoint.VITALS)
    lifetime = await unit.fetch(Endpoint.LIFETIME)
    assert isinstance(vitals, Gen3Vitals)
    assert isinstance(lifetime, Gen3Lifetime)
    assert vitals.current_n_a is None
    assert (lifetime.avg_startup_temp, lifetime.alert_count) == (None, None)
    assert lifetime.charge_starts == sim.state.charge_starts


async def test_missing_closing_brace_is_repaired(watched: Any, sim: SimulatedGen3Unit) -> None:
    _, unit, recorder, _ = watched
    sim.set_quirk(Quirk.TRUNCATED)
    sim.set_quirk(Quirk.NAN, endpoint="lifetime")
    version = await unit.fetch(Endpoint.VERSION)
    assert isinstance(version, Gen3Version)
    assert version.serial_number == sim.state.serial_number
    vitals = await unit.fetch(Endpoint.VITALS)  # new firmware: ends in a list
    assert isinstance(vitals, Gen3Vitals)
    assert vitals.not_ready_reasons == (4, 8)
    assert isinstance(await unit.fetch(Endpoint.WIFI_STATUS), Gen3WifiStatus)
    assert GEN3_ERROR not in recorder.names()
    # Lifetime ends in a number: its digits may be cut too, so it is refused, not guessed.
    error = await read_fails(unit, recorder, Endpoint.LIFETIME)
    assert error.kind is Gen3ErrorKind.BAD_BODY
    assert "may be cut" in error.message


async def test_slow_first_byte_is_waited_for(sim: SimulatedGen3Unit) -> None:
    # The first byte comes after the connect budget, well within the read budget (3x).
    sim.set_quirk(Quirk.SLOW, delay=0.6, times=1)
    config = Gen3Config(connect_timeout=0.5, request_timeout=10)
    monitor = Gen3Monitor([sim.host_port], config=config)
    unit = monitor.unit(sim.host_port)
    recorder = Recorder(unit, GEN3_ERROR)
    try:
        assert isinstance(await unit.fetch(Endpoint.VITALS), Gen3Vitals)
    finally:
        await monitor.stop()
    assert recorder.events == []


async def read_fails(unit: Gen3Unit, recorder: Recorder, endpoint: Endpoint) -> Gen3ErrorEvent:
    before = len(recorder.payloads(GEN3_ERROR))
    with pytest.raises(Gen3Error):
        await unit.fetch(endpoint)
    errors = recorder.payloads(GEN3_ERROR)
    assert len(errors) == before + 1
    error: Gen3ErrorEvent = errors[-1]
    assert error.endpoint == endpoint.value
    assert error.device_id == unit.device_id
    return error


@pytest.mark.parametrize(
    ("quirk", "kind", "error"),
    [
        (Quirk.HTTP_500, Gen3ErrorKind.HTTP_STATUS, Gen3ResponseError),
        (Quirk.NOT_JSON, Gen3ErrorKind.BAD_BODY, Gen3ResponseError),
        (Quirk.MISSING_FIELDS, Gen3ErrorKind.BAD_SHAPE, Gen3ResponseError),
        (Quirk.REDIRECT, Gen3ErrorKind.REFUSED, Gen3ResponseError),
        (Quirk.HANG, Gen3ErrorKind.TIMEOUT, Gen3TimeoutError),
        (Quirk.DROP, Gen3ErrorKind.CONNECTION, Gen3ConnectionError),
    ],
)
async def test_each_fault_is_a_clear_error_and_the_last_good_values_stay(
    watched: Any,
    sim: SimulatedGen3Unit,
    quirk: Quirk,
    kind: Gen3ErrorKind,
    error: type[Gen3Error],
) -> None:
    _, unit, recorder, clock = watched
    good = await unit.fetch(Endpoint.VITALS)
    sim.requests.clear()
    sim.set_quirk(quirk, times=1)
    clock.now += 30
    with pytest.raises(error) as raised:
        await unit.fetch(Endpoint.VITALS)
    assert unit.device_id in str(raised.value)
    [event] = recorder.payloads(GEN3_ERROR)
    assert (event.kind, event.endpoint, event.consecutive_failures) == (kind, "vitals", 1)
    # Exactly one request went out: no hidden retry, no redirect followed.
    assert sim.requested_paths() == ["/api/1/vitals"]
    snap = unit.snapshot()
    assert snap.vitals == good
    assert snap.vitals_age == 30
    assert snap.errors == 1
    assert snap.last_error == event
    assert unit.reachable is True  # one failure is not a lost unit
    # The next read works again and clears the failure streak.
    assert await unit.fetch(Endpoint.VITALS) == good or unit.vitals is not None
    assert unit.snapshot().consecutive_failures == 0


async def test_a_body_without_an_optional_field_still_reads(
    watched: Any, sim: SimulatedGen3Unit
) -> None:
    _, unit, recorder, _ = watched
    sim.set_quirk(Quirk.MISSING_FIELDS, endpoint="wifi_status", fields=("wifi_rssi",))
    wifi = await unit.fetch(Endpoint.WIFI_STATUS)
    assert isinstance(wifi, Gen3WifiStatus)
    assert wifi.missing == ("wifi_rssi",)
    assert wifi.rssi is None
    assert wifi.snr == 34
    assert GEN3_ERROR not in recorder.names()


async def test_refused_connection_lost_then_found(watched: Any, sim: SimulatedGen3Unit) -> None:
    _, unit, recorder, clock = watched
    await unit.fetch(Endpoint.VITALS)
    await sim.stop()
    for _ in range(FAST.lost_after_failures):
        clock.now += 10
        with pytest.raises(Gen3ConnectionError):
            await unit.fetch(Endpoint.VITALS)
    [lost] = recorder.payloads(DEVICE_LOST)
    assert lost.device_id == unit.device_id
    assert lost.silent_for == 10 * FAST.lost_after_failures
    assert unit.reachable is False
    assert unit.snapshot().vitals_age == 10 * FAST.lost_after_failures
    assert unit.snapshot().vitals is not None
    await sim.start()
    await unit.fetch(Endpoint.VITALS)
    assert recorder.payloads(DEVICE_FOUND)
    assert unit.reachable is True
    assert unit.tracker.next_request()[0] is Endpoint.VERSION


@pytest.fixture
async def raw_unit() -> AsyncIterator[Any]:
    """A bare server answering /api/1/vitals with whatever bytes a test sets."""
    served: dict[str, Any] = {"body": b"{}", "content_type": "application/json"}

    async def vitals(request: web.Request) -> web.Response:
        return web.Response(body=served["body"], content_type=served["content_type"])

    app = web.Application()
    app.router.add_get("/api/1/vitals", vitals)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    served["host"] = f"127.0.0.1:{runner.addresses[0][1]}"
    yield served
    await runner.cleanup()


async def read_raw(raw_unit: dict[str, Any], body: bytes) -> Gen3Vitals:
    raw_unit["body"] = body
    unit = Gen3Unit(raw_unit["host"], config=FAST)
    try:
        vitals = await unit.fetch(Endpoint.VITALS)
    finally:
        await unit.close()
    assert isinstance(vitals, Gen3Vitals)
    return vitals


async def test_deeper_nan_spellings_fall_back_to_our_decoder(raw_unit: dict[str, Any]) -> None:
    """tesla-wall-connector only knows ``: nan``; ``-nan`` and ``[nan]`` reach our decoder."""
    body = b'{"evse_state":1,"vehicle_connected":false,"currentN_a":-nan,"current_alerts":[nan]}'
    vitals = await read_raw(raw_unit, body)
    assert vitals.current_n_a is None
    assert vitals.alerts == ()
    assert "grid_v" in vitals.missing


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'{"evse_state":1,"vehicle_connected":false,"x":"\xff\xfe"}', Gen3ErrorKind.BAD_BODY),
        (
            b'{"evse_state":1,"vehicle_connected":false,"current_alerts":[1,2',
            Gen3ErrorKind.BAD_BODY,
        ),
        (b"[1, 2, 3]", Gen3ErrorKind.BAD_BODY),
        (b"", Gen3ErrorKind.BAD_BODY),
        (b'{"uptime_s": 12}', Gen3ErrorKind.BAD_SHAPE),
    ],
)
async def test_unreadable_bodies_are_response_errors(
    raw_unit: dict[str, Any], body: bytes, kind: Gen3ErrorKind
) -> None:
    raw_unit["body"] = body
    unit = Gen3Unit(raw_unit["host"], config=FAST)
    errors = Recorder(unit, GEN3_ERROR)
    try:
        with pytest.raises(Gen3ResponseError):
            await unit.fetch(Endpoint.VITALS)
    finally:
        await unit.close()
    [event] = errors.payloads(GEN3_ERROR)
    assert event.kind is kind


async def test_the_session_refuses_any_other_path(sim: SimulatedGen3Unit) -> None:
    session = create_session()
    try:
        for path in ("/update", "/api/1/vitals?x=1", "/api/1/update", "/"):
            with pytest.raises(Gen3ResponseError, match="refused"):
                async with session.get(sim.url + path):
                    pass
        with pytest.raises(Gen3ResponseError, match="refused"):
            async with session.post(sim.url + "/api/1/vitals"):
                pass
    finally:
        await session.close()
    assert sim.requests == []


def test_bad_hosts_and_unknown_units() -> None:
    monitor = Gen3Monitor(["192.0.2.1"])
    with pytest.raises(ConfigurationError):
        monitor.add_unit("192.0.2.1")
    with pytest.raises(ConfigurationError):
        monitor.add_unit("192.0.2.2/update")
    with pytest.raises(DeviceNotFoundError):
        monitor.unit("192.0.2.9")
    assert list(monitor.units) == ["192.0.2.1"]
    assert monitor.units["192.0.2.1"].generation == 3
    assert monitor.snapshot()["192.0.2.1"].reachable is False


async def test_split_phase_override_per_unit(sim: SimulatedGen3Unit) -> None:
    sim.state.supply = sim.state.supply.__class__("split_phase")
    sim.start_charging(40)
    monitor = Gen3Monitor([sim.host_port], config=FAST, split_phase={sim.host_port: False})
    try:
        vitals = await monitor.unit(sim.host_port).fetch(Endpoint.VITALS)
    finally:
        await monitor.stop()
    assert isinstance(vitals, Gen3Vitals)
    assert vitals.split_phase is False
    auto = Gen3Monitor([sim.host_port], config=FAST)
    try:
        vitals = await auto.unit(sim.host_port).fetch(Endpoint.VITALS)
    finally:
        await auto.stop()
    assert isinstance(vitals, Gen3Vitals)
    assert vitals.split_phase is True
    assert vitals.power_w == pytest.approx(240 * 40)


# --- the polling loop --------------------------------------------------------------------

LOOP = Gen3Config(
    vitals_interval_connected=0.02,
    vitals_interval_idle=0.05,
    lifetime_interval=0.2,
    wifi_status_interval=0.2,
    version_interval=5.0,
    connect_timeout=0.2,
    request_timeout=0.5,
    request_gap=0.0,
    backoff_initial=0.02,
    backoff_max=0.1,
    lost_after_failures=2,
)


async def test_the_loop_follows_a_whole_session(sim: SimulatedGen3Unit) -> None:
    async with Gen3Monitor([sim.host_port], config=LOOP) as monitor:
        assert monitor.running
        unit = monitor.unit(sim.host_port)
        events = Recorder(unit, *UNIT_EVENTS)
        announced = Recorder(monitor, NEW_DEVICE)
        await announced.wait_for(NEW_DEVICE)
        await events.wait_for(STATE_CHANGED, lambda p: p.new_state == 1)
        sim.plug_in()
        assert await events.wait_for(CAR_CONNECTED) == CarConnected(unit.device_id, True, None)
        sim.start_charging(32)
        await events.wait_for(STATE_CHANGED, lambda p: (p.old_state, p.new_state) == (4, 11))
        sim.raise_alert(27)
        assert (await events.wait_for(ALERT_RAISED)).alert == 27
        sim.clear_alerts()
        assert (await events.wait_for(ALERT_CLEARED)).alert == 27
        sim.set_quirk(Quirk.HTTP_500, endpoint="vitals", times=3)
        await events.wait_for(GEN3_ERROR, lambda p: len(events.payloads(GEN3_ERROR)) == 3)
        # Polling goes on after the errors, and vitals come back.
        await events.wait_for(GEN3_VITALS, since=len(events.events))
        assert {e.kind for e in events.payloads(GEN3_ERROR)} == {Gen3ErrorKind.HTTP_STATUS}
        sim.reboot()
        await events.wait_for(REBOOT_DETECTED)
        await sim.stop()
        lost = await events.wait_for(DEVICE_LOST)
        assert lost.device_id == unit.device_id
        assert monitor.running  # a lost unit stops nothing
        await sim.start()
        await events.wait_for(DEVICE_FOUND)
        sim.unplug()
        assert await events.wait_for(CAR_CONNECTED, lambda p: not p.connected) == CarConnected(
            unit.device_id, False, None
        )
        assert unit.snapshot().reachable is True
    assert not monitor.running
    assert len(announced.payloads(NEW_DEVICE)) == 1
    assert set(sim.requested_paths()) == ALLOWED_PATHS


async def test_a_hung_unit_does_not_starve_the_others() -> None:
    sims = await start_gen3_units(2)
    hung, healthy = sims
    hung.set_quirk(Quirk.HANG)
    try:
        async with Gen3Monitor([s.host_port for s in sims], config=LOOP) as monitor:
            hung_events = Recorder(monitor.unit(hung.host_port), *UNIT_EVENTS)
            healthy_events = Recorder(monitor.unit(healthy.host_port), *UNIT_EVENTS)
            lost = await hung_events.wait_for(DEVICE_LOST)
            assert lost.device_id == hung.host_port
            assert {e.kind for e in hung_events.payloads(GEN3_ERROR)} == {Gen3ErrorKind.TIMEOUT}
            await healthy_events.wait_for(GEN3_VITALS)
            assert GEN3_ERROR not in healthy_events.names()
            # A unit added while running is polled too.
            [late] = await start_gen3_units(1)
            sims.append(late)
            late_events = Recorder(monitor.add_unit(late.host_port), *UNIT_EVENTS)
            await late_events.wait_for(GEN3_VITALS)
    finally:
        for s in sims:
            await s.stop()
    # One failure streak, each retry after a longer pause: never reset, never hammered.
    streak = [e.consecutive_failures for e in hung_events.payloads(GEN3_ERROR)]
    assert streak == list(range(1, len(streak) + 1))


async def test_stop_returns_promptly_during_a_hung_request(sim: SimulatedGen3Unit) -> None:
    sim.set_quirk(Quirk.HANG)
    slow = Gen3Config(connect_timeout=30, request_timeout=60)
    monitor = Gen3Monitor([sim.host_port], config=slow)
    await monitor.start()
    await sim.wait_for_requests(1)
    async with asyncio.timeout(5):
        await monitor.stop()
    assert not monitor.running
    assert monitor.unit(sim.host_port).snapshot().errors == 0
