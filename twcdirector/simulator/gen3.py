"""A simulated Gen 3 Wall Connector on ``aiohttp.web``, serving the four read-only endpoints.

Bodies are generated from the unit's own scriptable state with exactly the fields, order and
JSON types of the real captures in ``shared/gen3/fixtures`` (``firmware="old"``: firmware
21.x, ``relay_coil_v``; ``firmware="new"``: ``relay_k1_v``/``relay_k2_v`` and
``evse_not_ready_reasons`` in vitals, ``git_branch``/``web_service`` in version). The
transport quirks of real units are available on demand with :meth:`SimulatedGen3Unit.set_quirk`.
Every request is logged in :attr:`SimulatedGen3Unit.requests`, so tests can prove a client
asks for nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import web

from ..exceptions import ConfigurationError

_LOGGER = logging.getLogger(__name__)

ENDPOINTS = ("vitals", "lifetime", "version", "wifi_status")
#: The highest current a Gen 3 unit delivers.
MAX_AMPS = 80.0


class Firmware(StrEnum):
    """Which generation of body layout the unit serves."""

    OLD = "old"  #: 21.x: relay_coil_v, no evse_not_ready_reasons, three version fields
    NEW = "new"  #: relay_k1_v/relay_k2_v, evse_not_ready_reasons, git_branch/web_service


class Supply(StrEnum):
    """How the unit is wired."""

    THREE_PHASE = "three_phase"  #: 230 V, 50 Hz, three phases (Europe)
    SINGLE_PHASE = "single_phase"  #: 230 V, 50 Hz, phase A only
    SPLIT_PHASE = "split_phase"  #: 240 V, 60 Hz split phase (North America): voltageC ≈ 120 V


class Quirk(StrEnum):
    """Misbehaviour of real units, to be switched on for a number of requests."""

    NAN = "nan"  #: literal nan in place of numbers (vitals currentN_a, lifetime counters)
    TRUNCATED = "truncated"  #: the body lacks its closing brace
    SLOW = "slow"  #: the first byte comes after ``delay`` seconds
    HTTP_500 = "http_500"  #: 500 Internal Server Error
    HANG = "hang"  #: never answers (until the quirk is cleared or the unit stops)
    NOT_JSON = "not_json"  #: an HTML page with status 200
    MISSING_FIELDS = "missing_fields"  #: ``fields`` dropped from the body
    REDIRECT = "redirect"  #: 302 to ``/update`` (a client must never follow it)
    DROP = "drop"  #: the connection is closed without an answer
    CUT = "cut"  #: the body loses its last ``cut`` characters (1: just the closing brace)
    RAW = "raw"  #: ``body`` is served verbatim (e.g. a captured faulty body)
    STREAM = "stream"  #: a chunked body of ``size`` bytes that never ends sooner
    HTTP_STATUS = "http_status"  #: an empty answer with HTTP ``status`` (401, 403, 404 …)


#: Fields each endpoint loses with MISSING_FIELDS when none are named.
_DEFAULT_MISSING = {
    "vitals": ("evse_state",),
    "lifetime": ("energy_wh",),
    "version": ("serial_number",),
    "wifi_status": ("wifi_ssid",),
}
_NAN_FIELDS = frozenset(
    {"currentN_a", "avg_startup_temp", "contactor_cycles_loaded", "alert_count"}
)
_FIRMWARE_VERSIONS = {
    Firmware.OLD: "21.29.1+g4152353e50f744",
    Firmware.NEW: "23.24.3+gba52398ee0bc71",
}


@dataclass(slots=True)
class _QuirkRule:
    quirk: Quirk
    endpoint: str | None
    remaining: int | None
    delay: float
    fields: tuple[str, ...]
    cut: int = 1
    body: str = ""
    size: int = 0
    status: int = 500

    def matches(self, endpoint: str) -> bool:
        return self.endpoint in (None, endpoint) and self.remaining != 0


@dataclass(slots=True)
class Gen3UnitState:
    """The simulated unit's electrical and lifetime state; bodies are rendered from it (pure)."""

    serial_number: str
    firmware: Firmware = Firmware.OLD
    supply: Supply = Supply.THREE_PHASE
    part_number: str = "1529455-02-D"
    firmware_version: str = ""
    ssid: str = "TwcSimulator"
    ssid_base64: bool = True
    infra_ip: str = "127.0.0.1"
    mac: str = "02:00:00:00:00:01"
    booted_at: float = 0.0
    vehicle_connected: bool = False
    contactor_closed: bool = False
    amps: float = 0.0
    session_started_at: float | None = None
    session_energy_wh: float = 0.0
    #: The contactor closed at least once since the vehicle was plugged in.
    charged_in_session: bool = False
    alerts: list[int] = field(default_factory=list)
    temperatures: tuple[float, float, float] = (29.0, 22.1, 34.9)
    # Lifetime counters.
    contactor_cycles: int = 175
    contactor_cycles_loaded: int = 3
    alert_count: int = 12
    charge_starts: int = 175
    energy_wh: float = 386204.0
    connector_cycles: int = 23
    lifetime_uptime_s: float = 1945056.0
    charging_time_s: float = 183022.0
    last_advance: float = 0.0

    def __post_init__(self) -> None:
        self.firmware = Firmware(self.firmware)
        self.supply = Supply(self.supply)
        if not self.firmware_version:
            self.firmware_version = _FIRMWARE_VERSIONS[self.firmware]

    # --- scripting ------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Accumulate energy and counters up to ``now``."""
        elapsed = max(0.0, now - self.last_advance)
        self.last_advance = now
        self.lifetime_uptime_s += elapsed
        if self.contactor_closed:
            watt_hours = self.power_w() * elapsed / 3600.0
            self.session_energy_wh += watt_hours
            self.energy_wh += watt_hours
            self.charging_time_s += elapsed

    def plug_in(self, now: float) -> None:
        self.advance(now)
        if not self.vehicle_connected:
            self.vehicle_connected = True
            self.connector_cycles += 1
            self.session_started_at = now
            self.session_energy_wh = 0.0
            self.charged_in_session = False

    def start_charging(self, amps: float, now: float) -> None:
        if not 0 < amps <= MAX_AMPS:
            raise ConfigurationError(f"a Gen 3 unit charges at 0-{MAX_AMPS} A, not {amps}")
        self.plug_in(now)
        self.advance(now)
        if not self.contactor_closed:
            self.contactor_closed = True
            self.contactor_cycles += 1
            self.contactor_cycles_loaded += 1
            self.charge_starts += 1
        self.charged_in_session = True
        self.amps = float(amps)

    def stop_charging(self, now: float) -> None:
        self.advance(now)
        self.contactor_closed = False
        self.amps = 0.0

    def unplug(self, now: float) -> None:
        self.stop_charging(now)
        self.vehicle_connected = False
        self.session_started_at = None
        self.session_energy_wh = 0.0
        self.charged_in_session = False

    def reboot(self, now: float) -> None:
        self.stop_charging(now)
        self.booted_at = now
        if self.vehicle_connected:
            self.session_started_at = now
            self.session_energy_wh = 0.0
            self.charged_in_session = False

    def raise_alert(self, alert_id: int) -> None:
        if alert_id not in self.alerts:
            self.alerts.append(alert_id)
            self.alert_count += 1

    # --- readings -------------------------------------------------------------------------

    @property
    def evse_state(self) -> int:
        if self.contactor_closed:
            return 11  # charging
        if self.vehicle_connected:
            return 9 if self.charged_in_session else 4
        return 1

    @property
    def grid(self) -> tuple[float, float]:
        """Nominal grid voltage and frequency."""
        if self.supply is Supply.SPLIT_PHASE:
            return 240.0, 59.98
        return 232.0, 50.02

    def phases(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """Voltages and currents of phases A, B, C."""
        grid_v, _ = self.grid
        if not self.contactor_closed:
            return (0.0, 4.9, 0.0), (0.2, 0.4, 0.2)
        amps = self.amps
        if self.supply is Supply.SPLIT_PHASE:
            return (grid_v + 4.4, grid_v + 4.3, grid_v / 2 + 0.1), (amps, amps, 0.1)
        if self.supply is Supply.SINGLE_PHASE:
            return (grid_v, 0.0, 0.0), (amps, 0.1, 0.1)
        return (grid_v, grid_v - 0.6, grid_v + 0.4), (amps, amps, amps)

    def power_w(self) -> float:
        if not self.contactor_closed:
            return 0.0
        grid_v, _ = self.grid
        if self.supply is Supply.SPLIT_PHASE:
            return grid_v * self.amps
        voltages, currents = self.phases()
        return sum(v * i for v, i in zip(voltages, currents, strict=True))

    def fields(self, endpoint: str, now: float) -> list[tuple[str, object]]:
        """The body of ``endpoint`` at ``now`` as ordered (name, value) pairs."""
        self.advance(now)
        if endpoint == "vitals":
            return self._vitals(now)
        if endpoint == "lifetime":
            return self._lifetime(now)
        if endpoint == "version":
            return self._version()
        if endpoint == "wifi_status":
            return self._wifi()
        raise ConfigurationError(f"no endpoint {endpoint!r}")

    def _vitals(self, now: float) -> list[tuple[str, object]]:
        grid_v, grid_hz = self.grid
        (va, vb, vc), (ia, ib, ic) = self.phases()
        connected = self.vehicle_connected
        pcba, handle, mcu = self.temperatures
        closed = self.contactor_closed
        session_s = 0 if self.session_started_at is None else int(now - self.session_started_at)
        if self.firmware is Firmware.OLD:
            relays: list[tuple[str, object]] = [("relay_coil_v", _F1(6.1 if closed else 12.0))]
        else:
            relays = [
                ("relay_k1_v", _F1(6.1 if closed else 12.0)),
                ("relay_k2_v", _F1(6.1 if closed else 0.0)),
            ]
        body: list[tuple[str, object]] = [
            ("contactor_closed", closed),
            ("vehicle_connected", connected),
            ("session_s", session_s),
            ("grid_v", _F1(grid_v)),
            ("grid_hz", _F3(grid_hz)),
            ("vehicle_current_a", _F1(self.amps if closed else 0.4)),
            ("currentA_a", _F1(ia)),
            ("currentB_a", _F1(ib)),
            ("currentC_a", _F1(ic)),
            ("currentN_a", _F1(0.3)),
            ("voltageA_v", _F1(va)),
            ("voltageB_v", _F1(vb)),
            ("voltageC_v", _F1(vc)),
            *relays,
            ("pcba_temp_c", _F1(pcba)),
            ("handle_temp_c", _F1(handle)),
            ("mcu_temp_c", _F1(mcu)),
            ("uptime_s", int(now - self.booted_at)),
            ("input_thermopile_uv", -204),
            ("prox_v", _F1(1.5 if connected else 0.0)),
            ("pilot_high_v", _F1(8.9 if connected else 11.9)),
            ("pilot_low_v", _F1(-11.9 if connected else 11.9)),
            ("session_energy_wh", _F3(self.session_energy_wh)),
            ("config_status", 5),
            ("evse_state", self.evse_state),
            ("current_alerts", list(self.alerts)),
        ]
        if self.firmware is Firmware.NEW:
            reasons = [] if closed else [1] if connected else [4, 8]
            body.append(("evse_not_ready_reasons", reasons))
        return body

    def _lifetime(self, now: float) -> list[tuple[str, object]]:
        del now
        return [
            ("contactor_cycles", self.contactor_cycles),
            ("contactor_cycles_loaded", self.contactor_cycles_loaded),
            ("alert_count", self.alert_count),
            ("thermal_foldbacks", 0),
            ("avg_startup_temp", _F1(27.8)),
            ("charge_starts", self.charge_starts),
            ("energy_wh", int(self.energy_wh)),
            ("connector_cycles", self.connector_cycles),
            ("uptime_s", int(self.lifetime_uptime_s)),
            ("charging_time_s", int(self.charging_time_s)),
        ]

    def _version(self) -> list[tuple[str, object]]:
        body: list[tuple[str, object]] = [
            ("firmware_version", self.firmware_version),
            ("part_number", self.part_number),
            ("serial_number", self.serial_number),
        ]
        if self.firmware is Firmware.NEW:
            body += [("git_branch", "HEAD"), ("web_service", "h3-hermes-prd.sn.tesla.services")]
        return body

    def _wifi(self) -> list[tuple[str, object]]:
        ssid = self.ssid
        if self.ssid_base64:
            ssid = base64.b64encode(ssid.encode("utf-8")).decode("ascii")
        return [
            ("wifi_ssid", ssid),
            ("wifi_signal_strength", 54),
            ("wifi_rssi", -63),
            ("wifi_snr", 34),
            ("wifi_connected", True),
            ("wifi_infra_ip", self.infra_ip),
            ("internet", True),
            ("wifi_mac", self.mac),
        ]


class _F1(float):
    """A float the firmware prints with one decimal."""

    decimals = 1


class _F3(float):
    """A float the firmware prints with three decimals (grid_hz, session_energy_wh)."""

    decimals = 3


def render_body(
    fields: list[tuple[str, object]], *, nan_fields: frozenset[str] = frozenset()
) -> str:
    """The compact JSON text a unit sends; names in ``nan_fields`` carry a literal ``nan``."""
    parts = []
    for name, value in fields:
        text = "nan" if name in nan_fields else _render_value(value)
        parts.append(f"{json.dumps(name)}:{text}")
    return "{" + ",".join(parts) + "}"


def _render_value(value: object) -> str:
    if isinstance(value, _F1 | _F3):
        return f"{float(value):.{value.decimals}f}" if math.isfinite(value) else "nan"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "nan"
    return json.dumps(value, separators=(",", ":"))


class SimulatedGen3Unit:
    """One simulated Gen 3 unit listening on loopback; script it, then point a client at it."""

    def __init__(
        self,
        index: int = 0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        firmware: Firmware | str = Firmware.OLD,
        supply: Supply | str = Supply.THREE_PHASE,
        serial_number: str | None = None,
        ssid: str = "TwcSimulator",
        ssid_base64: bool = True,
        uptime_s: float = 190.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            firmware, supply = Firmware(firmware), Supply(supply)
        except ValueError as err:
            raise ConfigurationError(str(err)) from err
        self.index = index
        self.host = host
        self._port = port
        self._clock = clock
        now = clock()
        self.state = Gen3UnitState(
            serial_number=serial_number or f"SIM{index + 1:09d}",
            firmware=firmware,
            supply=supply,
            ssid=ssid,
            ssid_base64=ssid_base64,
            infra_ip=host,
            mac=f"02:00:00:00:{(index >> 8) & 0xFF:02x}:{index & 0xFF:02x}",
            booted_at=now - uptime_s,
            last_advance=now,
        )
        #: Every request received, as (method, path with query), in order.
        self.requests: list[tuple[str, str]] = []
        #: Bytes of STREAM bodies written to the network so far; set when one ends.
        self.streamed_bytes = 0
        self.stream_ended = asyncio.Event()
        self._quirks: list[_QuirkRule] = []
        self._release = asyncio.Event()
        self._arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # --- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (again, on the same port once one was given or chosen)."""
        if self._runner is not None:
            return
        self._release = asyncio.Event()
        app = web.Application(middlewares=[self._log_request])
        app.router.add_get("/api/1/{endpoint}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        _LOGGER.debug("simulated Gen 3 unit %s on %s", self.state.serial_number, self.url)

    async def stop(self) -> None:
        """Stop listening; hung requests are released. Connections are then refused."""
        self._release.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def host_port(self) -> str:
        """``127.0.0.1:41234``: what a monitor is given."""
        return f"{self.host}:{self._port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:41234``."""
        return f"http://{self.host_port}"

    # --- scripting ------------------------------------------------------------------------

    def plug_in(self) -> None:
        """A vehicle is plugged in (evse_state 4)."""
        self.state.plug_in(self._clock())

    def start_charging(self, amps: float = 32.0) -> None:
        """Close the contactor and draw ``amps`` (plugging in first if needed; evse_state 11)."""
        self.state.start_charging(amps, self._clock())

    def stop_charging(self) -> None:
        """Open the contactor; the vehicle stays connected (evse_state 9)."""
        self.state.stop_charging(self._clock())

    def unplug(self) -> None:
        """The vehicle leaves (evse_state 1)."""
        self.state.unplug(self._clock())

    def reboot(self) -> None:
        """Restart: uptime starts again from zero and charging stops."""
        self.state.reboot(self._clock())

    def raise_alert(self, alert_id: int) -> None:
        """Add ``alert_id`` to current_alerts."""
        self.state.raise_alert(alert_id)

    def update_firmware(self, firmware_version: str) -> None:
        """Install another firmware: version reports it, and the unit restarts."""
        self.state.firmware_version = firmware_version
        self.state.reboot(self._clock())

    def clear_alerts(self) -> None:
        """Empty current_alerts."""
        self.state.alerts.clear()

    def set_temperatures(self, pcba: float, handle: float, mcu: float) -> None:
        """Sensor readings in °C; 255 means the sensor has no reading."""
        self.state.temperatures = (pcba, handle, mcu)

    def set_quirk(
        self,
        quirk: Quirk | str,
        *,
        endpoint: str | None = None,
        times: int | None = None,
        delay: float = 1.0,
        fields: tuple[str, ...] = (),
        cut: int = 1,
        body: str = "",
        size: int = 0,
        status: int = 500,
    ) -> None:
        """Misbehave on the next ``times`` requests (all if None) to ``endpoint`` (any if None).

        ``delay`` is for SLOW, ``fields`` for MISSING_FIELDS, ``cut`` for CUT, ``body`` for
        RAW, ``size`` (bytes) for STREAM and ``status`` for HTTP_STATUS.
        """
        try:
            quirk = Quirk(quirk)
        except ValueError as err:
            raise ConfigurationError(str(err)) from err
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ConfigurationError(f"no endpoint {endpoint!r}")
        if times is not None and times < 1:
            raise ConfigurationError("times must be >= 1")
        if cut < 1 or size < 0 or not 400 <= status <= 599:
            raise ConfigurationError("cut must be >= 1, size >= 0, status an HTTP error")
        self._quirks.append(
            _QuirkRule(quirk, endpoint, times, delay, tuple(fields), cut, body, size, status)
        )

    def clear_quirks(self) -> None:
        """Behave again; requests hung by HANG are released."""
        self._quirks.clear()
        self._release.set()
        self._release = asyncio.Event()

    def body(self, endpoint: str) -> str:
        """The well-formed body ``endpoint`` would serve now."""
        return render_body(self.state.fields(endpoint, self._clock()))

    def requested_paths(self) -> list[str]:
        """The paths requested so far."""
        return [path for _, path in self.requests]

    async def wait_for_requests(self, count: int) -> None:
        """Return once ``count`` requests in all have arrived."""
        while len(self.requests) < count:
            arrived = self._arrived
            await arrived.wait()

    # --- serving --------------------------------------------------------------------------

    @web.middleware
    async def _log_request(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()
        response: web.StreamResponse = await handler(request)
        return response

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.match_info["endpoint"]
        if endpoint not in ENDPOINTS or request.query_string:
            raise web.HTTPNotFound()
        rules = [rule for rule in self._quirks if rule.matches(endpoint)]
        for rule in rules:
            if rule.remaining is not None:
                rule.remaining -= 1
        active = {rule.quirk: rule for rule in rules}
        release = self._release
        if Quirk.HANG in active:
            await release.wait()
            raise web.HTTPServiceUnavailable()
        if Quirk.SLOW in active:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(release.wait(), active[Quirk.SLOW].delay)
        if Quirk.DROP in active:
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPServiceUnavailable()
        if Quirk.HTTP_500 in active:
            return web.Response(status=500, text="Internal Server Error")
        if Quirk.HTTP_STATUS in active:
            return web.Response(status=active[Quirk.HTTP_STATUS].status)
        if Quirk.STREAM in active:
            return await self._stream(request, active[Quirk.STREAM].size)
        if Quirk.RAW in active:
            return web.Response(text=active[Quirk.RAW].body, content_type="application/json")
        if Quirk.REDIRECT in active:
            raise web.HTTPFound("/update")
        if Quirk.NOT_JSON in active:
            return web.Response(
                text="<html><body><h1>Wall Connector</h1></body></html>", content_type="text/html"
            )
        fields = self.state.fields(endpoint, self._clock())
        if Quirk.MISSING_FIELDS in active:
            dropped = active[Quirk.MISSING_FIELDS].fields or _DEFAULT_MISSING[endpoint]
            fields = [(name, value) for name, value in fields if name not in dropped]
        nan_fields = _NAN_FIELDS if Quirk.NAN in active else frozenset()
        text = render_body(fields, nan_fields=nan_fields)
        if Quirk.TRUNCATED in active:
            text = text.rstrip().removesuffix("}")
        if Quirk.CUT in active:
            text = text[: -active[Quirk.CUT].cut]
        return web.Response(text=text, content_type="application/json")

    async def _stream(self, request: web.Request, size: int) -> web.StreamResponse:
        """A body of ``size`` bytes sent in chunks, as long as the client keeps reading."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"x" * (64 * 1024)
        sent = 0
        self.stream_ended.clear()
        try:
            while sent < size:
                data = (b'{"pad":"' + chunk)[: size - sent] if sent == 0 else chunk[: size - sent]
                await response.write(data)
                sent += len(data)
                self.streamed_bytes += len(data)
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up: exactly what a bounded reader does
        finally:
            self.stream_ended.set()
        return response


async def start_gen3_units(
    count: int, host: str = "127.0.0.1", **options: Any
) -> list[SimulatedGen3Unit]:
    """Start ``count`` simulated units, each on a free port of ``host``.

    ``options`` go to :class:`SimulatedGen3Unit` (``firmware``, ``supply``, ``ssid`` …);
    each unit gets its own serial number and MAC.
    """
    if count < 0:
        raise ConfigurationError(f"cannot start {count} Gen 3 units")
    if count > 1 and options.get("port"):
        raise ConfigurationError("a fixed port is for one unit only")
    units = [SimulatedGen3Unit(index, host=host, **options) for index in range(count)]
    started: list[SimulatedGen3Unit] = []
    try:
        for unit in units:
            await unit.start()
            started.append(unit)
    except BaseException:
        for unit in started:
            await unit.stop()
        raise
    return units
