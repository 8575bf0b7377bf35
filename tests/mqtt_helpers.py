"""A real mosquitto broker for tests, on a free loopback port, and an MQTT client that watches.

The broker is Debian's ``mosquitto`` with a minimal config written to a temporary directory
(listener on 127.0.0.1, anonymous, no persistence unless asked: with it, retained messages
survive a restart, as with Home Assistant's mosquitto add-on). Without mosquitto the tests
are skipped with a reason, except in CI (``TWCDIRECTOR_REQUIRE_BROKER=1``), where they fail instead.
Nothing waits on a sleep: :meth:`Watcher.until` re-checks a condition on every message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import pytest

#: Seconds: reached only when something is broken (or the machine badly overloaded).
BOUND = 30.0


def mosquitto_path() -> str:
    """The broker's executable; skips (or in CI fails) the test without one."""
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )
    if found is None:
        reason = "mosquitto is not installed (apt-get install mosquitto); the MQTT tests need it"
        if os.environ.get("TWCDIRECTOR_REQUIRE_BROKER"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Broker:
    """One mosquitto process; :meth:`start` again after :meth:`stop` reuses the port."""

    def __init__(
        self, directory: Path, *, persistence: bool = False, anonymous: bool = True
    ) -> None:
        self.executable = mosquitto_path()
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        # Run as root, mosquitto drops to user "mosquitto", which cannot write our directory.
        user = pwd.getpwuid(os.getuid()).pw_name
        stored = f"true\npersistence_location {directory}/\nuser {user}" if persistence else "false"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous {str(anonymous).lower()}\n"
            f"persistence {stored}\n",
            encoding="utf-8",
        )
        self.log = directory / "mosquitto.log"
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                self.executable, "-c", str(self.config), stdout=log, stderr=log
            )
        async with asyncio.timeout(BOUND):
            while True:
                assert self.process.returncode is None, self.log.read_text()
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    return
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGCONT)  # in case a test paused it
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), BOUND)
        self.process = None

    def pause(self, paused: bool) -> None:
        """Freeze the broker (a hung broker: connections stay open, nothing is answered)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)


@dataclass
class Watcher:
    """Every message seen on ``#`` since it subscribed, and the latest payload per topic."""

    latest: dict[str, str] = field(default_factory=dict)
    log: list[tuple[float, str, str, bool]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    client: aiomqtt.Client | None = None

    def values(self, topic: str) -> list[str]:
        return [payload for _, t, payload, _ in self.log if t == topic]

    async def until(self, predicate: Callable[[], bool], bound: float = BOUND) -> None:
        async with asyncio.timeout(bound):
            while not predicate():
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.25):
                        await self.changed.wait()

    async def publish(self, topic: str, payload: str, *, retain: bool = False) -> None:
        assert self.client is not None
        await self.client.publish(topic, payload, qos=1, retain=retain)


@contextlib.asynccontextmanager
async def watching(broker: Broker, topic: str = "#") -> AsyncIterator[Watcher]:
    """A client subscribed to ``topic`` for the duration of the block."""
    watcher = Watcher()
    loop = asyncio.get_running_loop()
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        watcher.client = client
        await client.subscribe(topic, qos=1)

        async def collect() -> None:
            async for message in client.messages:
                payload = message.payload
                text = payload.decode() if isinstance(payload, bytes | bytearray) else ""
                watcher.latest[message.topic.value] = text
                watcher.log.append((loop.time(), message.topic.value, text, message.retain))
                watcher.changed.set()

        task = asyncio.create_task(collect())
        try:
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task
