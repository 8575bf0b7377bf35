"""The MQTT bridge (asyncio adapter on aiomqtt): a director's units as retained topics, commands
from ``/set`` topics, Home Assistant discovery, and the available-current input.

The bus never waits for the broker. The director's event handlers only note which device
changed and wake the sampler; the sampler turns snapshots into values in the
:class:`~twcdirector.mqtt.outbox.Outbox` (latest value per topic, bounded); the connection
task publishes what is due. While the broker is slow or gone only that task waits.

aiomqtt does not reconnect by itself; its documented pattern is a loop around
``async with Client(...)`` that catches :class:`aiomqtt.MqttError`, here with a capped backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import aiomqtt

from .. import __version__, events
from ..exceptions import DeviceNotFoundError, NotApplicableError, TWCError
from ..gen2.config import DirectorConfig
from ..protocol.codes import MINIMUM_AMPS
from ..sharing import InstallationLimits
from .available import AvailableCurrent, Source
from .discovery import UnitInfo, site_configs, unit_configs
from .outbox import Outbox
from .settings import PASSWORD_VARIABLE, MqttSettings, missing_password
from .topics import (
    AVAILABLE_CURRENT,
    CONTACTORS,
    GEN3_BASE,
    SESSION_CURRENT,
    UNIT_KEYS,
    Topics,
    gen2_unit,
    gen3_unit,
)
from .values import (
    charging_minimum,
    format_value,
    gen2_values,
    gen3_values,
    parse_amps,
    total_current,
)

if TYPE_CHECKING:
    from .. import Director, Gen3Monitor, Gen3Unit, Peripheral, PeripheralSnapshot

_LOGGER = logging.getLogger(__name__)

#: Reconnect backoff, seconds: doubled after each failure up to the cap.
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 30.0
#: Seconds after the bridge starts before discovery configs of units not seen are removed.
STALE_AFTER = 120.0
#: Seconds to collect our retained discovery configs before removing them (discovery off).
SETTLE = 3.0
#: Seconds close() waits for the broker before it drops the connection.
CLOSE_TIMEOUT = 2.0
ONLINE, OFFLINE = "online", "offline"
_QOS = 1
#: Per-device events after which a device's values are sampled again.
_DEVICE_EVENTS = (
    events.ALL_COMMANDS,
    events.DEVICE_LOST,
    events.DEVICE_FOUND,
    events.CAR_CONNECTED,
    events.STATE_CHANGED,
)


#: CONNACK codes of a refused login: MQTT 3.1.1 (4 bad user name or password, 5 not
#: authorised) and their MQTT 5 reason codes (134, 135), as paho may report either.
_LOGIN_REFUSED = frozenset({4, 5, 134, 135})


def _login_refused(error: aiomqtt.MqttError) -> bool:
    """The broker refused our credentials (not a network failure)."""
    if not isinstance(error, aiomqtt.MqttCodeError):
        return False
    code = getattr(error.rc, "value", error.rc)
    return isinstance(code, int) and code in _LOGIN_REFUSED


class MqttBridge:
    """Publishes a :class:`~twcdirector.Director` over MQTT and takes commands from it, or
    a :class:`~twcdirector.Gen3Monitor` watching Gen 3 units alone (read-only: no site
    values, base topic ``twcdirector/gen3`` unless ``settings.prefix``).

    Make it before the director or monitor starts (so no unit is missed), then :meth:`start`
    and :meth:`close` it. ``clock`` is the loop's monotonic clock unless given.
    """

    def __init__(
        self,
        source: Director | Gen3Monitor,
        settings: MqttSettings,
        *,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
        stale_after: float = STALE_AFTER,
        clock: Callable[[], float] | None = None,
    ) -> None:
        config = source.config
        # Both emit TWC_NEW_DEVICE; only a director has a bus, a controller ID and a site.
        self._director: Director | None = None
        if isinstance(config, DirectorConfig):
            self._director = cast("Director", source)
        self._settings = settings
        if isinstance(config, DirectorConfig):
            self.topics = Topics.for_controller(
                config.controller_id, settings.prefix, settings.discovery_prefix
            )
        else:
            self.topics = Topics(settings.prefix or GEN3_BASE, settings.discovery_prefix)
        self._outbox = Outbox()
        self._available: AvailableCurrent | None = None
        if (
            isinstance(config, DirectorConfig)
            and config.shared_max is not None
            and config.max_current is not None
        ):
            self._available = AvailableCurrent(
                InstallationLimits(
                    total_max=int(config.shared_max), unit_max=int(config.max_current)
                ),
                timeout=settings.available_timeout,
                fallback=settings.available_fallback,
            )
        self._backoff = (backoff_initial, backoff_max)
        self._stale_after = stale_after
        self._clock = clock
        self._gen2: dict[str, Peripheral] = {}
        self._gen3: dict[str, Gen3Unit] = {}
        #: Device IDs (as in events) whose values changed since the last sample.
        self._dirty: set[str] = set()
        #: Discovery topics this run publishes, and ours found on the broker.
        self._published: set[str] = set()
        self._found: set[str] = set()
        #: Topic keys of every unit this run has published.
        self._units: set[str] = set()
        #: What each unit's discovery configs were last built from.
        self._infos: dict[str, UnitInfo] = {}
        self._cleanup_at: float | None = None
        #: Command topics whose retained message was ignored and logged (once per topic).
        self._retained_warned: set[str] = set()
        self._sampled = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._sampler: asyncio.Task[None] | None = None
        self._client: aiomqtt.Client | None = None
        #: Connections made so far (tests and logs).
        self.connections = 0
        #: A refused login was logged (once until a connection succeeds).
        self._login_warned = False
        #: Retained command messages ignored so far (tests and logs).
        self.retained_ignored = 0
        source.on(events.NEW_DEVICE, self._on_new_device)
        if self._director is not None:
            self._director.on(events.SHARING_CHANGED, self._on_site_change)

    # --- public API ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Connected to the broker now."""
        return self._client is not None

    async def start(self) -> None:
        """Begin sampling and connecting (in the background: a broker that is away is retried)."""
        loop = asyncio.get_running_loop()
        if self._clock is None:
            self._clock = loop.time
        now = self._clock()
        self._cleanup_at = now + (self._stale_after if self._settings.discovery else SETTLE)
        self._put_site()
        if self._director is not None:
            config = self._director.config
            shared = None if config.shared_max is None else int(config.shared_max)
            self._put_discovery(
                site_configs(self.topics, config.controller_id, __version__, shared_max=shared)
            )
        self._sampler = loop.create_task(self._sample_loop(), name="twcdirector mqtt sampler")
        self._runner = loop.create_task(self._connect_loop(), name="twcdirector mqtt")

    async def close(self) -> None:
        """Say ``offline`` (retained) if connected, then disconnect (a hung broker is given
        :data:`CLOSE_TIMEOUT` seconds, then dropped)."""
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await client.publish(self.topics.availability, OFFLINE, qos=_QOS, retain=True)
        tasks = [t for t in (self._runner, self._sampler, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        _, pending = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT) if tasks else (set(), set())
        for task in pending:
            task.cancel()  # again: aiomqtt waits for a hung broker's goodbye while cancelled
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task

    # --- event handlers: record and wake, nothing else -----------------------------------

    def _on_new_device(self, new: events.NewDevice) -> None:
        device: Any = new.device
        if new.generation == 2:
            self._gen2[new.device_id] = device
        else:
            self._gen3[new.device_id] = device
        mark = self._marker(new.device_id)
        for name in _DEVICE_EVENTS:
            device.on(name, mark)
        mark(None)

    def _marker(self, device_id: str) -> Callable[[object], None]:
        def mark(_payload: object) -> None:
            self._dirty.add(device_id)
            self._wake.set()

        return mark

    def _on_site_change(self, _payload: object) -> None:
        self._wake.set()

    # --- the sampler: snapshots into the outbox ------------------------------------------

    def _now(self) -> float:
        assert self._clock is not None
        return self._clock()

    async def _sample_loop(self) -> None:
        while True:
            self._wake.clear()
            now = self._now()
            try:
                self._sample(now)
            except Exception:  # a bug here must not end the bridge
                _LOGGER.exception("sampling the director failed")
            self._sampled.set()
            deadline = self._available.next_deadline() if self._available else None
            timeout = None if deadline is None else max(0.0, deadline - now)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _sample(self, now: float) -> None:
        dirty, self._dirty = self._dirty, set()
        director = self._director
        if director is not None and (
            self._available is not None or any(device_id in self._gen2 for device_id in dirty)
        ):
            snapshot = director.snapshot()
            for unit in snapshot.peripherals:
                if unit.id_hex in dirty:
                    self._put_gen2(unit)
            self._outbox.put(
                self.topics.site("total_current"),
                format_value(total_current(snapshot.peripherals)),
            )
            if self._available is not None:
                change = self._available.poll(now, charging_minimum(snapshot.peripherals))
                if change is not None:
                    self._apply(change.total_max, change.note)
                self._put_site()
        for device_id in dirty:
            gen3 = self._gen3.get(device_id)
            if gen3 is not None:
                self._put_gen3(gen3)

    def _put_gen2(self, snap: PeripheralSnapshot) -> None:
        unit = gen2_unit(snap.id)
        self._units.add(unit)
        for key, value in gen2_values(snap).items():
            self._outbox.put(self.topics.unit(unit, key), value)
        assert self._director is not None  # Gen 2 units come only from a director
        limit = self._director.config.max_current
        ceiling = None
        if limit is not None:
            ceiling = int(min(limit, snap.advertised_max or limit))
        info = UnitInfo(
            unit=unit,
            generation=2,
            model=f"Gen 2 Wall Connector (protocol {int(snap.protocol)})",
            firmware=snap.firmware,
            serial=snap.serial,
            minimum=MINIMUM_AMPS[snap.protocol],
            ceiling=ceiling,
        )
        self._put_discovery(
            unit_configs(self.topics, info, __version__, contactors=self._settings.allow_contactors)
        )

    def _put_gen3(self, device: Gen3Unit) -> None:
        snap = device.snapshot()
        unit = gen3_unit(snap.serial_number or "")
        if unit is None:
            return  # keyed by serial number: wait for the version reading
        self._units.add(unit)
        for key, value in gen3_values(snap).items():
            self._outbox.put(self.topics.unit(unit, key), value)
        model = "Gen 3 Wall Connector" + (f" ({snap.part_number})" if snap.part_number else "")
        self._put_unit_discovery(
            UnitInfo(unit, 3, model, snap.firmware_version, snap.serial_number)
        )

    def _put_site(self) -> None:
        if self._available is not None:
            self._outbox.put(
                self.topics.site(AVAILABLE_CURRENT), format_value(self._available.applied)
            )
            self._outbox.put(
                self.topics.site("available_current_source"), self._available.source.value
            )

    def _put_unit_discovery(self, info: UnitInfo) -> None:
        # Configs are rebuilt only when what they say changes (firmware known, a new rating),
        # not at every frame.
        if self._infos.get(info.unit) == info:
            return
        self._infos[info.unit] = info
        contactors = self._settings.allow_contactors and info.generation == 2
        self._put_discovery(
            unit_configs(
                self.topics,
                info,
                __version__,
                contactors=contactors,
                via_controller=self._director is not None,
            )
        )

    def _put_discovery(self, configs: dict[str, str]) -> None:
        if not self._settings.discovery:
            return
        for topic, payload in configs.items():
            self._outbox.put(topic, payload, refresh=False)
            self._published.add(topic)
        self._sampled.set()

    def _apply(self, total_max: int | None, note: str | None) -> None:
        if note:
            _LOGGER.warning("%s", note)
        if total_max is not None and self._director is not None:
            self._director.set_installation_limits(total_max=total_max)
            _LOGGER.info("available current %s A (%s)", total_max, self._available_source())

    def _available_source(self) -> str:
        return self._available.source.value if self._available else Source.CONFIGURED.value

    # --- the connection ------------------------------------------------------------------

    async def _connect_loop(self) -> None:
        settings = self._settings
        backoff, cap = self._backoff
        delay = backoff
        tls = ssl.create_default_context() if settings.tls else None
        while True:
            try:
                async with aiomqtt.Client(
                    settings.host,
                    settings.port,
                    username=settings.username,
                    password=settings.password,
                    will=aiomqtt.Will(self.topics.availability, OFFLINE, qos=_QOS, retain=True),
                    tls_context=tls,
                    keepalive=30,
                    timeout=10,
                ) as client:
                    delay = backoff
                    await self._session(client)
            except aiomqtt.MqttError as error:
                self._client = None
                if not _login_refused(error):
                    _LOGGER.warning(
                        "MQTT broker %s:%s: %s (next try in %.0f s)",
                        settings.host,
                        settings.port,
                        error,
                        delay,
                    )
                elif not self._login_warned:
                    # Said once: a refused login is refused again at every retry, and the
                    # same line every 30 s for days would bury everything else.
                    self._login_warned = True
                    hint = missing_password(settings) or (
                        f"check --mqtt-user and {PASSWORD_VARIABLE}"
                    )
                    _LOGGER.warning(
                        "MQTT broker %s:%s refused the login: %s (%s); retrying quietly",
                        settings.host,
                        settings.port,
                        error,
                        hint,
                    )
                else:
                    _LOGGER.debug("MQTT broker %s:%s: %s", settings.host, settings.port, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, cap)

    async def _session(self, client: aiomqtt.Client) -> None:
        self.connections += 1
        self._login_warned = False
        now = self._now()
        _LOGGER.info("MQTT connected to %s:%s", self._settings.host, self._settings.port)
        self._outbox.reconnected(now)
        await client.publish(self.topics.availability, ONLINE, qos=_QOS, retain=True)
        for topic in self.topics.subscriptions(
            contactors=self._settings.allow_contactors, available=self._director is not None
        ):
            await client.subscribe(topic, qos=_QOS)
        await client.subscribe(f"{self.topics.discovery_prefix}/status", qos=_QOS)
        if self._cleanup_at is not None:
            # Our retained configs arrive on this subscription; give them time to.
            self._cleanup_at = max(self._cleanup_at, now + SETTLE)
            await client.subscribe(self.topics.discovery_filter, qos=_QOS)
        self._client = client
        receiver = asyncio.create_task(self._receive(client))
        publisher = asyncio.create_task(self._publish(client))
        try:
            done, _ = await asyncio.wait({receiver, publisher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._client = None
            for task in (receiver, publisher):
                task.cancel()
            await asyncio.gather(receiver, publisher, return_exceptions=True)
        for task in done:
            task.result()  # re-raises the MqttError that ended the session

    async def _publish(self, client: aiomqtt.Client) -> None:
        while True:
            self._sampled.clear()
            now = self._now()
            if self._cleanup_at is not None and now >= self._cleanup_at:
                await self._remove_stale(client)
            for message in self._outbox.due(now):
                await client.publish(
                    message.topic, message.payload, qos=_QOS, retain=message.retain
                )
            times = [t for t in (self._outbox.next_due(), self._cleanup_at) if t is not None]
            timeout = max(0.0, min(times) - self._now()) if times else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._sampled.wait()

    async def _remove_stale(self, client: aiomqtt.Client) -> None:
        """Clear our retained discovery configs (and states) of units no longer here."""
        self._cleanup_at = None
        stale = sorted(self._found - self._published)
        units = {self.topics.owns_discovery(topic) for topic in stale} - {None, ""}
        # Kept as values, not notices: a removal must not be dropped from a full notice queue.
        for topic in stale:
            self._outbox.put(topic, "", refresh=False)
        for unit in sorted(u for u in units if u is not None and u not in self._units):
            _LOGGER.info("removing unit %s from MQTT discovery and state", unit)
            for key in UNIT_KEYS:
                self._outbox.put(self.topics.unit(unit, key), "", refresh=False)
        self._found.clear()
        with contextlib.suppress(aiomqtt.MqttError):
            await client.unsubscribe(self.topics.discovery_filter)

    # --- commands ------------------------------------------------------------------------

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = message.topic.value
            payload = message.payload
            text = (
                payload.decode("utf-8", "replace")
                if isinstance(payload, bytes | bytearray)
                else ""
                if payload is None
                else str(payload)
            )
            if self.topics.owns_discovery(topic) is not None:
                if text and topic not in self._published:
                    self._found.add(topic)
                continue
            if topic == f"{self.topics.discovery_prefix}/status":
                if text == "online":  # Home Assistant restarted: show it everything again
                    self._outbox.reconnected(self._now())
                    self._sampled.set()
                continue
            if message.retain and self.topics.parse_command(topic) is not None:
                self._ignore_retained(topic, text)
                continue
            self._command(topic, text)

    def _ignore_retained(self, topic: str, text: str) -> None:
        # A retained message reaches us when we subscribe, at every reconnect (mosquitto with
        # persistence keeps it across broker restarts): obeying it would repeat an old command,
        # e.g. open contactors again. A message published while we listen arrives with the
        # retain flag clear (MQTT 3.1.1 §3.3.1.3), whether or not its sender set it.
        command = self.topics.parse_command(topic)
        assert command is not None
        self.retained_ignored += 1
        message = (
            f"{command.name}/set {text[:40]!r} ignored: retained commands are ignored "
            "(publish commands without the retain flag)"
        )
        if topic not in self._retained_warned:
            self._retained_warned.add(topic)
            _LOGGER.warning("MQTT command on %s %s", topic, message)
        self._answer(command.unit, message)

    def _command(self, topic: str, text: str) -> None:
        command = self.topics.parse_command(topic)
        if command is None:
            return
        if command.name == AVAILABLE_CURRENT:
            self._set_available(text)
        elif command.unit is not None and command.name == SESSION_CURRENT:
            self._spawn(self._session_current(command.unit, text))
        elif command.unit is not None and command.name == CONTACTORS:
            self._spawn(self._contactors(command.unit, text))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _set_available(self, text: str) -> None:
        try:
            if self._available is None:
                raise NotApplicableError(
                    "capacity sharing is off: start with --shared-max to use available current"
                )
            amps = self._available.receive(parse_amps(text), self._now())
        except TWCError as error:
            self._refuse(None, f"{AVAILABLE_CURRENT}/set {text[:40]!r} refused: {error}")
            return
        _LOGGER.debug("available current %s A received", amps)
        self._wake.set()

    async def _session_current(self, unit: str, text: str) -> None:
        try:
            amps = parse_amps(text)
            await self._peripheral(unit).set_session_current(amps)
        except TWCError as error:
            self._refuse(unit, f"{SESSION_CURRENT}/set {text[:40]!r} refused: {error}")

    async def _contactors(self, unit: str, text: str) -> None:
        try:
            peripheral = self._peripheral(unit)
            action = text.strip().lower()
            if action == "open":
                await peripheral.open_contactors()
            elif action == "close":
                await peripheral.close_contactors()
            else:
                raise NotApplicableError("send open or close")
        except TWCError as error:
            self._refuse(unit, f"{CONTACTORS}/set {text[:40]!r} refused: {error}")

    def _peripheral(self, unit: str) -> Peripheral:
        peripheral = self._gen2.get(unit.upper())
        if peripheral is not None and gen2_unit(peripheral.device_id) == unit:
            return peripheral
        if any(gen3_unit(d.serial_number or "") == unit for d in self._gen3.values()):
            raise NotApplicableError(f"unit {unit} is a Gen 3 Wall Connector: read-only")
        raise DeviceNotFoundError(f"no unit {unit}")

    def _refuse(self, unit: str | None, message: str) -> None:
        _LOGGER.warning("MQTT command %s", message)
        self._answer(unit, message)

    def _answer(self, unit: str | None, message: str) -> None:
        topic = self.topics.error if unit is None else self.topics.unit_error(unit)
        self._outbox.notify(topic, message)
        self._sampled.set()
