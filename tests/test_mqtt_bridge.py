"""The MQTT bridge in process, against a real mosquitto: a hung or absent broker never slows
the bus, the available-current fallback, and discovery cleanup (stale units, discovery off)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import statistics
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e_helpers import Recorder, fast_config, fast_units
from tests.mqtt_helpers import BOUND, Broker, watching
from twcdirector import Gen3Monitor, events
from twcdirector.__main__ import run
from twcdirector.director import Director
from twcdirector.gen2.config import DirectorConfig
from twcdirector.mqtt import MqttSettings, gen3_unit
from twcdirector.mqtt.bridge import MqttBridge
from twcdirector.protocol import ControllerHeartbeat, OpenContactors
from twcdirector.simulator import SimulatedBus
from twcdirector.simulator.gen3 import start_gen3_units

BASE = "twcdirector/f00d"


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    broker = Broker(tmp_path)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@contextlib.asynccontextmanager
async def bridged(
    broker_port: int,
    units: int = 2,
    *,
    stale_after: float = 120.0,
    gen3: tuple[str, ...] = (),
    **settings: Any,
) -> AsyncIterator[tuple[SimulatedBus, Director, MqttBridge, Recorder]]:
    """Simulated units, a director at the fast test cadence and a bridge to the broker."""
    config = fast_config(**settings.pop("config", {}))
    async with SimulatedBus.on_pty(fast_units(units, protocols=(2,))) as sim:
        director = Director(sim.port, config)
        if gen3:
            director.attach_gen3(Gen3Monitor(gen3))
        recorder = Recorder()
        recorder.attach(director)
        bridge = MqttBridge(
            director,
            MqttSettings("127.0.0.1", broker_port, **settings),
            stale_after=stale_after,
        )
        async with director:
            await bridge.start()
            try:
                yield sim, director, bridge, recorder
            finally:
                await bridge.close()


def heartbeat_gaps(recorder: Recorder, since: float) -> list[float]:
    """Seconds between consecutive heartbeats to the same unit, sent after ``since``."""
    last: dict[int, float] = {}
    gaps = []
    for at, _, message in recorder.tx():
        if isinstance(message, ControllerHeartbeat) and at >= since:
            if message.receiver in last:
                gaps.append(at - last[message.receiver])
            last[message.receiver] = at
    return gaps


async def test_a_hung_or_absent_broker_never_slows_the_bus(broker: Broker) -> None:
    async with (
        watching(broker) as watcher,
        bridged(broker.port) as (sim, director, bridge, recorder),
    ):
        await watcher.until(lambda: watcher.latest.get(f"{BASE}/2019/status") == "A")
        loop = asyncio.get_running_loop()
        interval = director.config.heartbeat_interval
        # Hung: the broker keeps its connections but answers nothing.
        broker.pause(True)
        start = loop.time()
        sim.plug_in(0)
        await sim.wait_for(lambda: bool(recorder.payloads(events.CAR_CONNECTED, "1839")))
        await sim.wait_for(lambda: loop.time() > start + 6 * interval)
        # Absent: connections refused while the bridge retries.
        await broker.stop()
        await sim.wait_for(lambda: loop.time() > start + 12 * interval)
        gaps = heartbeat_gaps(recorder, start)
        assert len(gaps) >= 16
        assert max(gaps) < 2 * interval, gaps
        assert statistics.median(gaps) < 1.2 * interval, gaps
        # Every status report still became an event at its pace.
        statuses = [at for at, device, name, _ in recorder.log if name == "TWC_STATUS"]
        assert len([at for at in statuses if at >= start]) >= 16
        # Back: the bridge reconnects and shows what happened meanwhile.
        await broker.start()
        async with watching(broker) as fresh:
            await fresh.until(
                lambda: (
                    fresh.latest.get(f"{BASE}/1839/car_connected") == "true"
                    and fresh.latest.get(f"{BASE}/availability") == "online"
                )
            )
        assert bridge.connections >= 2


async def test_silence_on_available_current_falls_back_and_says_so(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="twcdirector.mqtt.bridge")
    async with (
        watching(broker) as watcher,
        bridged(
            broker.port,
            units=1,
            available_timeout=3.0,
            config={"shared_max": 32, "sharing_min_interval": 1.0},
        ) as (sim, director, _, _),
    ):
        sim.plug_in(0)
        await watcher.until(lambda: watcher.latest.get(f"{BASE}/1839/status") == "C")
        await watcher.publish(f"{BASE}/available_current/set", "20")
        await watcher.until(
            lambda: (
                sim.unit(0).max_amps == 20
                and watcher.latest.get(f"{BASE}/available_current_source") == "mqtt"
            )
        )
        # Nothing more arrives: after 3 s the charging unit is kept at its minimum.
        await watcher.until(
            lambda: (
                watcher.latest.get(f"{BASE}/available_current_source") == "fallback"
                and sim.unit(0).max_amps == 6
            )
        )
        assert watcher.latest[f"{BASE}/available_current"] == "6"
        assert director.snapshot().sharing is not None
        assert director.snapshot().sharing.total_max == 6  # type: ignore[union-attr]
        assert any("falling back to 6 A" in record.message for record in caplog.records)

        # Values again, as a producer sends them: back to them (a raise waits until 5 s
        # have passed since the last change).
        async def produce() -> None:
            while True:
                await watcher.publish(f"{BASE}/available_current/set", "16")
                await asyncio.sleep(1.0)

        producer = asyncio.create_task(produce())
        try:
            await watcher.until(
                lambda: (
                    sim.unit(0).max_amps == 16
                    and watcher.latest.get(f"{BASE}/available_current_source") == "mqtt"
                )
            )
        finally:
            producer.cancel()


async def _retained(broker: Broker, topic: str, settle: float = 1.0) -> dict[str, str]:
    """The retained messages on ``topic`` now."""
    async with watching(broker, topic) as watcher:
        with contextlib.suppress(TimeoutError):
            await watcher.until(lambda: False, bound=settle)
        return {t: p for _, t, p, retained in watcher.log if retained and p}


async def test_discovery_of_a_unit_gone_is_removed_and_off_removes_everything(
    broker: Broker,
) -> None:
    gone = "homeassistant/sensor/twcdirector_f00d_abcd/status/config"
    other = "homeassistant/sensor/someone_else/status/config"
    async with watching(broker) as watcher:
        assert watcher.client is not None
        for topic in (gone, other):
            await watcher.client.publish(topic, '{"name": "x"}', qos=1, retain=True)
        await watcher.client.publish(f"{BASE}/abcd/status", "C", qos=1, retain=True)
    async with (
        watching(broker) as watcher,
        bridged(broker.port, stale_after=1.0),
    ):
        await watcher.until(
            lambda: (
                watcher.latest.get(gone) == ""
                and watcher.latest.get(f"{BASE}/abcd/status") == ""
                and bool(watcher.latest.get(f"{BASE}/1839/status"))
            ),
            bound=BOUND,
        )
    retained = await _retained(broker, "homeassistant/#")
    assert gone not in retained
    assert other in retained  # not ours: left alone
    assert "homeassistant/sensor/twcdirector_f00d_1839/status/config" in retained
    # --mqtt-discovery off: every config of ours goes; states stay.
    ours = [topic for topic in retained if "twcdirector_f00d" in topic]
    assert len(ours) > 20
    async with watching(broker) as watcher, bridged(broker.port, discovery=False):
        await watcher.until(
            lambda: all(watcher.latest.get(topic) == "" for topic in ours), bound=BOUND
        )
    retained = await _retained(broker, "#")
    assert not [topic for topic in retained if "twcdirector_f00d" in topic]
    assert other in retained
    assert retained[f"{BASE}/1839/status"] == "A"


async def test_gen3_units_are_read_only_and_contactors_need_the_option(broker: Broker) -> None:
    (gen3,) = await start_gen3_units(1)
    gen3.plug_in()
    gen3.start_charging(24)
    key = gen3_unit(gen3.state.serial_number)
    assert key is not None
    gen3_config = f"homeassistant/sensor/twcdirector_f00d_{key}/status/config"
    try:
        async with (
            watching(broker) as watcher,
            bridged(broker.port, units=1, gen3=(gen3.host_port,), allow_contactors=True) as (
                sim,
                _,
                _,
                _,
            ),
        ):
            await watcher.until(
                lambda: (
                    watcher.latest.get(f"{BASE}/{key}/status") == "C"
                    and watcher.latest.get(f"{BASE}/{key}/serial") == gen3.state.serial_number
                    and bool(watcher.latest.get(f"{BASE}/{key}/lifetime_energy"))
                    and bool(watcher.latest.get(gen3_config))
                    and bool(watcher.latest.get(f"{BASE}/1839/status"))
                )
            )
            assert float(watcher.latest[f"{BASE}/{key}/actual_current"]) > 20
            assert watcher.latest[f"{BASE}/{key}/car_connected"] == "true"
            ours = [t for t in watcher.latest if f"twcdirector_f00d_{key}/" in t]
            assert not [t for t in ours if "/number/" in t or "allowed_current" in t], ours
            assert json.loads(watcher.latest[gen3_config])["device"]["serial_number"] == (
                gen3.state.serial_number
            )
            # Read-only: a command for it is refused, and so is one for a unit that is not there.
            await watcher.publish(f"{BASE}/{key}/session_current/set", "16")
            await watcher.publish(f"{BASE}/beef/session_current/set", "16")
            await watcher.until(
                lambda: (
                    "read-only" in watcher.latest.get(f"{BASE}/{key}/error", "")
                    and "no unit beef" in watcher.latest.get(f"{BASE}/beef/error", "")
                )
            )
            # --mqtt-allow-contactors: buttons in discovery, and an open reaches the unit.
            assert watcher.latest.get(
                "homeassistant/button/twcdirector_f00d_1839/open_contactors/config"
            )
            await watcher.publish(f"{BASE}/1839/contactors/set", "open")
            await sim.wait_for(lambda: any(isinstance(m, OpenContactors) for _, m in sim.received))
    finally:
        await gen3.stop()
    # Without the option the topic is not even subscribed: nothing reaches the bus.
    async with (
        watching(broker) as watcher,
        bridged(broker.port, units=1) as (sim, _, bridge, _),
    ):
        await watcher.until(lambda: bridge.connected)  # subscribed to everything it takes
        start = asyncio.get_running_loop().time()
        await watcher.publish(f"{BASE}/1839/contactors/set", "open")
        await watcher.publish(f"{BASE}/1839/session_current/set", "abc")  # a marker after it
        await watcher.until(lambda: bool(watcher.latest.get(f"{BASE}/1839/error")))
        assert "contactors" not in watcher.latest[f"{BASE}/1839/error"]
        assert not any(isinstance(m, OpenContactors) for at, m in sim.received if at >= start)


async def test_retained_commands_are_ignored_at_connect_and_after_a_broker_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # mosquitto with persistence (as Home Assistant's add-on runs it) hands a retained command
    # to every new subscription, after a broker restart too: it must never be obeyed.
    caplog.set_level(logging.WARNING, logger="twcdirector.mqtt.bridge")
    broker = Broker(tmp_path, persistence=True)
    await broker.start()
    session, available = f"{BASE}/1839/session_current/set", f"{BASE}/available_current/set"
    unit_error, site_error = f"{BASE}/1839/error", f"{BASE}/error"
    try:
        async with watching(broker) as publisher:
            await publisher.publish(session, "10", retain=True)
            await publisher.publish(available, "20", retain=True)
        async with (
            watching(broker) as watcher,
            bridged(broker.port, units=1, config={"shared_max": 32}) as (sim, _, bridge, _),
        ):
            sim.plug_in(0)

            def answered(count: int) -> bool:
                return all(
                    len([a for a in watcher.values(t) if "retained commands are ignored" in a])
                    >= count
                    for t in (unit_error, site_error)
                )

            await watcher.until(
                lambda: (
                    answered(1)
                    and bridge.retained_ignored == 2
                    and watcher.latest.get(f"{BASE}/1839/status") == "C"
                    and sim.unit(0).max_amps == 32
                )
            )
            await broker.stop()
            await broker.start()  # the retained commands come back from the broker's store
            async with watching(broker) as fresh:
                await fresh.until(lambda: bridge.connections >= 2 and bridge.retained_ignored >= 4)
                assert fresh.latest[f"{BASE}/available_current_source"] == "configured"
                assert fresh.latest[f"{BASE}/available_current"] == "32"
                assert sim.unit(0).max_amps == 32
                assert all(unit.highest_commanded_amps <= 32 for unit in sim.units)
                assert not [
                    m
                    for _, m in sim.received
                    if isinstance(m, ControllerHeartbeat) and m.amps in (10.0, 20.0)
                ]
                # A command published while the bridge listens is obeyed.
                await fresh.publish(session, "12")
                await fresh.publish(available, "20")
                await fresh.until(
                    lambda: (
                        sim.unit(0).max_amps == 12
                        and fresh.latest.get(f"{BASE}/available_current_source") == "mqtt"
                    )
                )
        warnings = [r.message for r in caplog.records if "retained commands" in r.message]
        assert len(warnings) == 2, warnings  # once per topic, not once per delivery
    finally:
        await broker.stop()


async def test_an_absent_vin_stays_retained_as_none(broker: Broker) -> None:
    # An empty retained payload would delete the retained VIN: Home Assistant, and any client
    # subscribing later, would get nothing. "None" is Home Assistant's payload for unknown.
    vin = f"{BASE}/1839/vin"
    async with (
        watching(broker) as watcher,
        bridged(broker.port, units=1) as (sim, _, _, _),
    ):
        await watcher.until(lambda: watcher.latest.get(f"{BASE}/1839/status") == "A")
        await watcher.until(lambda: watcher.latest.get(vin) == "None")
        assert (await _retained(broker, vin)) == {vin: "None"}
        sim.plug_in(0)
        await watcher.until(lambda: watcher.latest.get(vin) not in (None, "None"))
        sim.unplug(0)
        await watcher.until(lambda: watcher.latest.get(vin) == "None")
        assert "" not in watcher.values(vin)
    assert (await _retained(broker, vin)) == {vin: "None"}


async def test_a_refused_login_is_logged_once_with_the_password_hint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="twcdirector.mqtt.bridge")
    attempts: list[logging.LogRecord] = []
    tried = asyncio.Event()

    class Attempts(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "MQTT broker" in record.getMessage():
                attempts.append(record)
                tried.set()

    handler = Attempts()
    logging.getLogger("twcdirector.mqtt.bridge").addHandler(handler)
    broker = Broker(tmp_path, anonymous=False)  # no user may log in
    await broker.start()
    try:
        async with SimulatedBus.on_pty(fast_units(1, protocols=(2,))) as sim:
            bridge = MqttBridge(
                Director(sim.port, fast_config()),
                MqttSettings("127.0.0.1", broker.port, username="twc"),
                backoff_initial=0.05,
                backoff_max=0.1,
            )
            await bridge.start()
            try:
                async with asyncio.timeout(BOUND):
                    while len(attempts) < 4:  # four refusals: the first and three retries
                        tried.clear()
                        await tried.wait()
            finally:
                await bridge.close()
    finally:
        logging.getLogger("twcdirector.mqtt.bridge").removeHandler(handler)
        await broker.stop()
    warnings = [r.getMessage() for r in attempts if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "refused the login" in warnings[0]
    assert "no password: TWCDIRECTOR_MQTT_PASSWORD is not set" in warnings[0]
    assert bridge.connections == 0


async def test_gen3_units_alone_are_bridged_read_only(broker: Broker) -> None:
    # The headless command's own run(): no --port, so the bridge sits on the Gen 3 monitor.
    (gen3,) = await start_gen3_units(1)
    gen3.plug_in()
    gen3.start_charging(24)
    key = gen3_unit(gen3.state.serial_number)
    assert key is not None
    base = "twcdirector/gen3"  # no controller ID to name it
    status_config = f"homeassistant/sensor/twcdirector_gen3_{key}/status/config"
    stop = asyncio.Event()
    settings = MqttSettings("127.0.0.1", broker.port)
    try:
        async with watching(broker) as watcher:
            task = asyncio.create_task(
                run(
                    None,
                    DirectorConfig(),
                    gen3=[gen3.host_port],
                    mqtt=settings,
                    stop=stop,
                    out=io.StringIO(),
                )
            )
            await watcher.until(
                lambda: (
                    watcher.latest.get(f"{base}/availability") == "online"
                    and watcher.latest.get(f"{base}/{key}/status") == "C"
                    and watcher.latest.get(f"{base}/{key}/serial") == gen3.state.serial_number
                    and float(watcher.latest.get(f"{base}/{key}/actual_current", "0")) > 20
                    and bool(watcher.latest.get(status_config))
                )
            )
            device = json.loads(watcher.latest[status_config])["device"]
            assert "via_device" not in device  # no controller device to hang from
            # Read-only: a command is answered, and nothing needs a director.
            await watcher.publish(f"{base}/{key}/session_current/set", "16")
            await watcher.until(
                lambda: "read-only" in watcher.latest.get(f"{base}/{key}/error", "")
            )
            assert not [
                t for t in watcher.latest if "available_current" in t or "total_current" in t
            ]
            assert not [t for t in watcher.latest if "/number/" in t]
            stop.set()
            assert await asyncio.wait_for(task, BOUND) == 0
            await watcher.until(lambda: watcher.latest.get(f"{base}/availability") == "offline")
    finally:
        stop.set()
        await gen3.stop()
