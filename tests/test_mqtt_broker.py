"""The MQTT bridge end to end: a real mosquitto, simulated Gen 2 units on a pty, and the
headless command as a real process (``python3 -m twcdirector ... --mqtt URL``).

The module shares one broker, one simulated bus and one process (starting the director at
SPEC cadence costs several seconds); the tests run in file order and each leaves the bus in
the state the next one starts from: discovery, a car charging, a session current, a second
car and a lower available current, bad payloads, a broker restart, and last SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from tests.e2e_helpers import fast_units
from tests.mqtt_helpers import BOUND, Broker, Watcher, watching
from twcdirector.protocol import ControllerHeartbeat, HeartbeatCommand
from twcdirector.simulator import DEFAULT_VIN, SimulatedBus

pytestmark = pytest.mark.asyncio(loop_scope="module")

BASE = "twcdirector/f00d"
UNITS = ("1839", "2019")
SET_COMMANDS = {
    HeartbeatCommand.SET_DEFAULT_CURRENT,
    HeartbeatCommand.SET_SESSION_CURRENT,
    HeartbeatCommand.ACK_CHARGE_START,
}


@dataclass
class Stack:
    broker: Broker
    sim: SimulatedBus
    process: asyncio.subprocess.Process
    watcher: Watcher
    stderr: Path

    def log(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")[-4000:]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    directory = tmp_path_factory.mktemp("mqtt")
    broker = Broker(directory)
    await broker.start()
    stderr = directory / "twcdirector.log"
    try:
        async with (
            SimulatedBus.on_pty(fast_units(2, protocols=(2,))) as sim,
            watching(broker) as watcher,
        ):
            with stderr.open("wb") as log:
                process = await asyncio.create_subprocess_exec(
                    *(sys.executable, "-m", "twcdirector", "--port", sim.port),
                    *("--max-current", "32", "--shared-max", "40", "--mqtt", broker.url, "-v"),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=log,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            try:
                yield Stack(broker, sim, process, watcher, stderr)
            finally:
                if process.returncode is None:
                    process.terminate()
                await asyncio.wait_for(process.wait(), BOUND)
    finally:
        await broker.stop()


def config(stack: Stack, component: str, unit: str | None, key: str) -> dict[str, object]:
    node = "twcdirector_f00d" if unit is None else f"twcdirector_f00d_{unit}"
    text = stack.watcher.latest.get(f"homeassistant/{component}/{node}/{key}/config", "")
    return json.loads(text) if text else {}


async def test_discovery_configs_are_retained_and_valid(stack: Stack) -> None:
    watcher = stack.watcher

    def complete() -> bool:
        return all(
            config(stack, "sensor", unit, "firmware").get("device", {}).get("sw_version")  # type: ignore[union-attr]
            and config(stack, "number", unit, "session_current")
            for unit in UNITS
        ) and bool(config(stack, "number", None, "available_current"))

    await watcher.until(complete, bound=BOUND * 2)
    assert watcher.latest[f"{BASE}/availability"] == "online"
    ours = {
        topic: json.loads(payload)
        for topic, payload in watcher.latest.items()
        if topic.startswith("homeassistant/") and "twcdirector_f00d" in topic and payload
    }
    unique_ids = [entity["unique_id"] for entity in ours.values()]
    assert len(unique_ids) == len(set(unique_ids))
    for topic, entity in ours.items():
        component = topic.split("/")[1]
        assert component in {"sensor", "binary_sensor", "number"}, topic
        assert entity["origin"]["name"] == "twcdirector"
        assert entity["availability"][0] == {
            "topic": f"{BASE}/availability",
            "payload_available": "online",
            "payload_not_available": "offline",
        }
        assert str(entity["state_topic"]).startswith(BASE + "/")
        device = entity["device"]
        assert device["identifiers"], topic
        assert device["model"], topic
        if "twcdirector_f00d_" in topic:
            assert device["via_device"] == "twcdirector_f00d"
    for unit in UNITS:
        current = config(stack, "sensor", unit, "actual_current")
        assert (
            current["device_class"],
            current["state_class"],
            current["unit_of_measurement"],
        ) == (
            "current",
            "measurement",
            "A",
        )
        energy = config(stack, "sensor", unit, "lifetime_energy")
        assert (energy["device_class"], energy["state_class"], energy["unit_of_measurement"]) == (
            "energy",
            "total_increasing",
            "kWh",
        )
        assert config(stack, "sensor", unit, "voltage_a")["unit_of_measurement"] == "V"
        plug = config(stack, "binary_sensor", unit, "car_connected")
        assert (plug["payload_on"], plug["payload_off"]) == ("true", "false")
        number = config(stack, "number", unit, "session_current")
        assert number["command_topic"] == f"{BASE}/{unit}/session_current/set"
        assert (number["min"], number["max"], number["step"]) == (6, 32, 1)
        assert config(stack, "sensor", unit, "serial")["entity_category"] == "diagnostic"
        assert watcher.latest[f"{BASE}/{unit}/status"] == "A"
        assert watcher.latest[f"{BASE}/{unit}/online"] == "true"
    # Contactor buttons only with --mqtt-allow-contactors.
    assert not any("/button/" in topic for topic in ours)
    # Home Assistant restarted (its birth message): everything is sent again.
    status_config = "homeassistant/sensor/twcdirector_f00d_1839/status/config"
    before = len(watcher.values(status_config))
    await watcher.publish("homeassistant/status", "online")
    await watcher.until(lambda: len(watcher.values(status_config)) > before)
    # Retained: a client that subscribes now gets them all at once.
    async with watching(stack.broker, "homeassistant/#") as late:
        await late.until(lambda: set(ours) <= set(late.latest))
        assert all(retained for _, topic, _, retained in late.log if topic in ours)


async def test_states_follow_a_car_plugging_in_and_charging(stack: Stack) -> None:
    watcher, unit = stack.watcher, UNITS[0]
    stack.sim.plug_in(0)
    await watcher.until(
        lambda: (
            watcher.latest.get(f"{BASE}/{unit}/status") == "C"
            and float(watcher.latest.get(f"{BASE}/{unit}/actual_current", "0")) > 6
            and watcher.latest.get(f"{BASE}/{unit}/vin") == DEFAULT_VIN
        )
    )
    assert watcher.latest[f"{BASE}/{unit}/car_connected"] == "true"
    assert watcher.latest[f"{BASE}/{unit}/allowed_current"] == "32"  # one car: its maximum
    statuses = watcher.values(f"{BASE}/{unit}/status")
    assert statuses[0] == "A"
    assert statuses[-1] == "C"
    assert float(watcher.latest[f"{BASE}/total_current"]) > 6
    assert watcher.latest[f"{BASE}/{UNITS[1]}/status"] == "A"


async def test_a_session_current_set_over_mqtt_reaches_the_unit(stack: Stack) -> None:
    watcher, unit = stack.watcher, UNITS[0]
    await watcher.publish(f"{BASE}/{unit}/session_current/set", "16")
    await watcher.until(
        lambda: (
            stack.sim.unit(0).max_amps == 16
            and watcher.latest.get(f"{BASE}/{unit}/allowed_current") == "16"
        )
    )
    assert f"{BASE}/{unit}/error" not in watcher.latest


async def test_available_current_shrinks_the_shares(stack: Stack) -> None:
    watcher, sim = stack.watcher, stack.sim
    sim.plug_in(1)
    await watcher.until(lambda: watcher.latest.get(f"{BASE}/{UNITS[1]}/status") == "C")
    await watcher.publish(f"{BASE}/available_current/set", "20")
    allowed = [f"{BASE}/{unit}/allowed_current" for unit in UNITS]
    await watcher.until(
        lambda: (
            all(watcher.latest.get(topic) == "10" for topic in allowed)
            and sim.unit(0).max_amps + sim.unit(1).max_amps <= 20
        )
    )
    assert watcher.latest[f"{BASE}/available_current"] == "20"
    assert watcher.latest[f"{BASE}/available_current_source"] == "mqtt"


@pytest.mark.parametrize("payload", ["abc", "-5", "1e9", "", "16.5"])
async def test_bad_payloads_are_refused_and_nothing_is_sent(stack: Stack, payload: str) -> None:
    watcher, sim = stack.watcher, stack.sim
    start = asyncio.get_running_loop().time()
    for command, error in (
        (f"{BASE}/{UNITS[0]}/session_current/set", f"{BASE}/{UNITS[0]}/error"),
        (f"{BASE}/available_current/set", f"{BASE}/error"),
    ):
        seen = len(watcher.values(error))
        await watcher.publish(command, payload)
        await watcher.until(lambda error=error, seen=seen: len(watcher.values(error)) > seen)
        answer = watcher.values(error)[-1]
        assert repr(payload) in answer
        assert "refused" in answer
    # Logged too, with the reason.
    assert f"MQTT command session_current/set {payload!r} refused: " in stack.log()
    # The shares stand, and no current went on the wire but the shares already granted.
    assert watcher.latest[f"{BASE}/available_current"] == "20"
    sent = [
        message
        for at, message in sim.received
        if at >= start
        and isinstance(message, ControllerHeartbeat)
        and message.command in SET_COMMANDS
    ]
    assert all(message.amps <= 10 for message in sent), sent
    assert all(unit.highest_commanded_amps <= 32 for unit in sim.units)


async def test_it_reconnects_and_republishes_after_the_broker_restarts(stack: Stack) -> None:
    await stack.broker.stop()
    await stack.broker.start()  # same port, nothing retained: persistence is off
    async with watching(stack.broker) as fresh:
        await fresh.until(
            lambda: (
                fresh.latest.get(f"{BASE}/availability") == "online"
                and fresh.latest.get(f"{BASE}/{UNITS[0]}/status") == "C"
                and bool(fresh.latest.get(f"{BASE}/{UNITS[0]}/firmware"))
                and bool(config_of(fresh, "number", UNITS[0], "session_current"))
            )
        )
        # The commands work again.
        await fresh.publish(f"{BASE}/{UNITS[0]}/session_current/set", "abc")
        await fresh.until(lambda: bool(fresh.values(f"{BASE}/{UNITS[0]}/error")))
    assert stack.process.returncode is None, stack.log()
    assert "MQTT connected" in stack.log()


def config_of(watcher: Watcher, component: str, unit: str, key: str) -> str:
    return watcher.latest.get(f"homeassistant/{component}/twcdirector_f00d_{unit}/{key}/config", "")


async def test_availability_turns_offline_when_the_process_is_killed(stack: Stack) -> None:
    async with watching(stack.broker, f"{BASE}/availability") as watcher:
        await watcher.until(lambda: watcher.latest.get(f"{BASE}/availability") == "online")
        stack.process.send_signal(signal.SIGKILL)
        await watcher.until(lambda: watcher.latest.get(f"{BASE}/availability") == "offline")
    await asyncio.wait_for(stack.process.wait(), BOUND)
    assert stack.process.returncode == -signal.SIGKILL
    async with watching(stack.broker, f"{BASE}/availability") as late:  # the will is retained
        await late.until(lambda: late.latest.get(f"{BASE}/availability") == "offline")
