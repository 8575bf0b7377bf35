"""The normalised Gen 3 model (pure): one frozen reading per endpoint, raw JSON kept.

Parsers are tolerant: a known field that is absent lands in ``missing``, one of the wrong
type in ``invalid``, and both read as ``None``. Only a body that cannot be a reading of its
endpoint at all (no known field, or vitals without ``evse_state`` / ``vehicle_connected``)
raises :class:`Gen3ResponseError`.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

from ..exceptions import Gen3ResponseError
from .events import GEN3_LIFETIME, GEN3_VERSION, GEN3_VITALS, GEN3_WIFI_STATUS


class Endpoint(StrEnum):
    """The four read-only endpoints, the only paths twcdirector ever requests."""

    VITALS = "vitals"  #: live electrical state, every 5 s / 30 s
    LIFETIME = "lifetime"  #: lifetime counters, every 60 s
    VERSION = "version"  #: firmware, part and serial number, at start and every 6 h
    WIFI_STATUS = "wifi_status"  #: Wi-Fi link, every 60 s

    @property
    def path(self) -> str:
        """The URL path, e.g. ``/api/1/vitals``."""
        return f"/api/1/{self.value}"

    @property
    def event_name(self) -> str:
        """The per-endpoint event, e.g. ``GEN3_VITALS``."""
        return _EVENT_NAMES[self]


_EVENT_NAMES = {
    Endpoint.VITALS: GEN3_VITALS,
    Endpoint.LIFETIME: GEN3_LIFETIME,
    Endpoint.VERSION: GEN3_VERSION,
    Endpoint.WIFI_STATUS: GEN3_WIFI_STATUS,
}
#: Every path a client may request.
ALLOWED_PATHS = frozenset(endpoint.path for endpoint in Endpoint)

#: ``evse_state`` labels. Advisory: sources disagree and some codes are undocumented, so
#: the integer code is always kept next to the label.
EVSE_STATE_LABELS: Mapping[int, str] = MappingProxyType(
    {
        0: "booting",
        1: "not connected",
        2: "connected",
        4: "ready",
        6: "negotiating",
        7: "error",  # also seen briefly, and harmlessly, at plug-in
        8: "charging finished",
        9: "waiting for car",
        10: "charging, reduced power",
        11: "charging",
    }
)

#: A temperature sensor reporting this many °C (or more) has no reading.
NO_TEMPERATURE_C = 255.0
#: voltageC within this fraction of grid_v / 2 suggests a split-phase (North American) unit.
SPLIT_PHASE_TOLERANCE = 0.1
#: Below this grid voltage the phase voltages tell nothing (unit idle or booting).
_MIN_GRID_V = 100.0


def evse_state_label(code: int) -> str:
    """A human label for an ``evse_state`` code; unknown codes say so."""
    return EVSE_STATE_LABELS.get(code, f"unknown ({code})")


def detect_split_phase(body: Mapping[str, Any]) -> bool:
    """True when a vitals body looks split-phase: voltageC ≈ grid_v / 2, voltageA ≈ grid_v."""
    grid = _number(body.get("grid_v"))
    phase_a = _number(body.get("voltageA_v"))
    phase_c = _number(body.get("voltageC_v"))
    if grid is None or phase_a is None or phase_c is None or grid < _MIN_GRID_V:
        return False
    half = grid / 2
    return abs(phase_c - half) <= SPLIT_PHASE_TOLERANCE * half and abs(phase_a - grid) <= half / 2


@dataclass(frozen=True, slots=True)
class Phases:
    """One value per phase; ``None`` where the unit gave none."""

    a: float | None
    b: float | None
    c: float | None


@dataclass(frozen=True, slots=True)
class Gen3Vitals:
    """``/api/1/vitals``: the live state of the unit."""

    endpoint: ClassVar[Endpoint] = Endpoint.VITALS

    evse_state: int
    vehicle_connected: bool
    contactor_closed: bool | None
    session_s: int | None
    session_energy_wh: float | None
    vehicle_current_a: float | None
    currents: Phases
    current_n_a: float | None
    voltages: Phases
    grid_v: float | None
    grid_hz: float | None
    power_w: float | None
    split_phase: bool
    pcba_temp_c: float | None
    handle_temp_c: float | None
    mcu_temp_c: float | None
    uptime_s: int | None
    alerts: tuple[int | str, ...]
    #: ``evse_not_ready_reasons``; ``None`` on firmware that does not report it.
    not_ready_reasons: tuple[int, ...] | None
    #: Older firmware reports one relay coil voltage, newer firmware one per relay.
    relay_coil_v: float | None
    relay_k1_v: float | None
    relay_k2_v: float | None
    prox_v: float | None
    pilot_high_v: float | None
    pilot_low_v: float | None
    input_thermopile_uv: int | None
    config_status: int | None
    missing: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)

    @property
    def state_label(self) -> str:
        """Advisory label of :attr:`evse_state`."""
        return evse_state_label(self.evse_state)

    @property
    def command_name(self) -> str:
        """The per-endpoint event name, as Gen 2 messages have theirs."""
        return self.endpoint.event_name

    @property
    def relay_v(self) -> float | None:
        """The (first) relay coil voltage, whichever firmware generation reported it."""
        return self.relay_coil_v if self.relay_coil_v is not None else self.relay_k1_v


@dataclass(frozen=True, slots=True)
class Gen3Lifetime:
    """``/api/1/lifetime``: counters since manufacture; ``nan`` reads as ``None``."""

    endpoint: ClassVar[Endpoint] = Endpoint.LIFETIME

    contactor_cycles: int | None
    contactor_cycles_loaded: int | None
    alert_count: int | None
    thermal_foldbacks: int | None
    avg_startup_temp: float | None
    charge_starts: int | None
    energy_wh: float | None
    connector_cycles: int | None
    uptime_s: int | None
    charging_time_s: int | None
    missing: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)

    @property
    def command_name(self) -> str:
        """The per-endpoint event name."""
        return self.endpoint.event_name


@dataclass(frozen=True, slots=True)
class Gen3Version:
    """``/api/1/version``: firmware, part and serial number."""

    endpoint: ClassVar[Endpoint] = Endpoint.VERSION

    firmware_version: str | None
    part_number: str | None
    serial_number: str | None
    #: Newer firmware only.
    git_branch: str | None
    web_service: str | None
    missing: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)

    @property
    def command_name(self) -> str:
        """The per-endpoint event name."""
        return self.endpoint.event_name

    @property
    def firmware_base(self) -> str | None:
        """The release without its build suffix: ``23.24.3`` for ``23.24.3+gba52…``."""
        return None if self.firmware_version is None else self.firmware_version.split("+")[0]


@dataclass(frozen=True, slots=True)
class Gen3WifiStatus:
    """``/api/1/wifi_status``: the unit's Wi-Fi link."""

    endpoint: ClassVar[Endpoint] = Endpoint.WIFI_STATUS

    #: The SSID, decoded when the unit sent it base64-encoded (most firmware does).
    ssid: str | None
    ssid_raw: str | None
    ssid_was_base64: bool
    signal_strength: int | None
    rssi: int | None
    snr: int | None
    connected: bool | None
    infra_ip: str | None
    internet: bool | None
    mac: str | None
    missing: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)

    @property
    def command_name(self) -> str:
        """The per-endpoint event name."""
        return self.endpoint.event_name


Gen3Reading = Gen3Vitals | Gen3Lifetime | Gen3Version | Gen3WifiStatus


def parse_vitals(body: Mapping[str, Any], *, split_phase: bool | None = None) -> Gen3Vitals:
    """Normalise a vitals body; ``split_phase`` overrides detection when not ``None``."""
    fields = _Fields(body, Endpoint.VITALS, _VITALS_EXPECTED)
    state = fields.integer("evse_state")
    connected = fields.boolean("vehicle_connected")
    if state is None or connected is None:
        lacking = [
            name
            for name, value in (("evse_state", state), ("vehicle_connected", connected))
            if value is None
        ]
        raise Gen3ResponseError(f"vitals body without a usable {' or '.join(lacking)}")
    split = detect_split_phase(body) if split_phase is None else split_phase
    currents = Phases(
        fields.number("currentA_a"), fields.number("currentB_a"), fields.number("currentC_a")
    )
    voltages = Phases(
        fields.number("voltageA_v"), fields.number("voltageB_v"), fields.number("voltageC_v")
    )
    grid_v = fields.number("grid_v")
    vehicle_current = fields.number("vehicle_current_a")
    reasons = body.get("evse_not_ready_reasons")
    return Gen3Vitals(
        evse_state=state,
        vehicle_connected=connected,
        contactor_closed=fields.boolean("contactor_closed"),
        session_s=fields.integer("session_s"),
        session_energy_wh=fields.number("session_energy_wh"),
        vehicle_current_a=vehicle_current,
        currents=currents,
        current_n_a=fields.number("currentN_a"),
        voltages=voltages,
        grid_v=grid_v,
        grid_hz=fields.number("grid_hz"),
        power_w=_power(split, grid_v, vehicle_current, voltages, currents),
        split_phase=split,
        pcba_temp_c=fields.temperature("pcba_temp_c"),
        handle_temp_c=fields.temperature("handle_temp_c"),
        mcu_temp_c=fields.temperature("mcu_temp_c"),
        uptime_s=fields.integer("uptime_s"),
        alerts=fields.alerts("current_alerts"),
        not_ready_reasons=None if reasons is None else fields.int_tuple("evse_not_ready_reasons"),
        relay_coil_v=fields.number("relay_coil_v"),
        relay_k1_v=fields.number("relay_k1_v"),
        relay_k2_v=fields.number("relay_k2_v"),
        prox_v=fields.number("prox_v"),
        pilot_high_v=fields.number("pilot_high_v"),
        pilot_low_v=fields.number("pilot_low_v"),
        input_thermopile_uv=fields.integer("input_thermopile_uv"),
        config_status=fields.integer("config_status"),
        missing=fields.missing_fields(),
        invalid=tuple(fields.invalid),
        raw=_frozen(body),
    )


def parse_lifetime(body: Mapping[str, Any]) -> Gen3Lifetime:
    """Normalise a lifetime body (``nan`` counters become ``None``)."""
    fields = _Fields(body, Endpoint.LIFETIME, _LIFETIME_EXPECTED)
    return Gen3Lifetime(
        contactor_cycles=fields.integer("contactor_cycles"),
        contactor_cycles_loaded=fields.integer("contactor_cycles_loaded"),
        alert_count=fields.integer("alert_count"),
        thermal_foldbacks=fields.integer("thermal_foldbacks"),
        avg_startup_temp=fields.number("avg_startup_temp"),
        charge_starts=fields.integer("charge_starts"),
        energy_wh=fields.number("energy_wh"),
        connector_cycles=fields.integer("connector_cycles"),
        uptime_s=fields.integer("uptime_s"),
        charging_time_s=fields.integer("charging_time_s"),
        missing=fields.missing_fields(),
        invalid=tuple(fields.invalid),
        raw=_frozen(body),
    )


def parse_version(body: Mapping[str, Any]) -> Gen3Version:
    """Normalise a version body."""
    fields = _Fields(body, Endpoint.VERSION, _VERSION_EXPECTED)
    return Gen3Version(
        firmware_version=fields.text("firmware_version"),
        part_number=fields.text("part_number"),
        serial_number=fields.text("serial_number"),
        git_branch=fields.text("git_branch"),
        web_service=fields.text("web_service"),
        missing=fields.missing_fields(),
        invalid=tuple(fields.invalid),
        raw=_frozen(body),
    )


def parse_wifi_status(body: Mapping[str, Any]) -> Gen3WifiStatus:
    """Normalise a wifi_status body, decoding a base64 SSID."""
    fields = _Fields(body, Endpoint.WIFI_STATUS, _WIFI_EXPECTED)
    raw_ssid = fields.text("wifi_ssid")
    decoded = decode_ssid(raw_ssid) if raw_ssid is not None else None
    return Gen3WifiStatus(
        ssid=decoded if decoded is not None else raw_ssid,
        ssid_raw=raw_ssid,
        ssid_was_base64=decoded is not None,
        signal_strength=fields.integer("wifi_signal_strength"),
        rssi=fields.integer("wifi_rssi"),
        snr=fields.integer("wifi_snr"),
        connected=fields.boolean("wifi_connected"),
        infra_ip=fields.text("wifi_infra_ip"),
        internet=fields.boolean("internet"),
        mac=fields.text("wifi_mac"),
        missing=fields.missing_fields(),
        invalid=tuple(fields.invalid),
        raw=_frozen(body),
    )


def parse_reading(
    endpoint: Endpoint, body: Mapping[str, Any], *, split_phase: bool | None = None
) -> Gen3Reading:
    """Normalise a body read from ``endpoint``."""
    if endpoint is Endpoint.VITALS:
        return parse_vitals(body, split_phase=split_phase)
    if endpoint is Endpoint.LIFETIME:
        return parse_lifetime(body)
    if endpoint is Endpoint.VERSION:
        return parse_version(body)
    return parse_wifi_status(body)


def always_sent(endpoint: Endpoint | str, body: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields every body of ``endpoint`` carries on the firmware generation ``body`` is from.

    The generation shows in the body itself: ``relay_k1_v`` (newer firmware) comes with
    ``relay_k2_v`` and ``evse_not_ready_reasons``, else ``relay_coil_v`` (older firmware);
    a version body with ``git_branch`` also has ``web_service``. Used to tell a body cut after
    a complete value from a whole one (:func:`~twcdirector.gen3.body.decode_body`).
    """
    endpoint = Endpoint(endpoint)
    if endpoint is Endpoint.VITALS:
        if "relay_k1_v" in body:
            return (*_VITALS_EXPECTED, "relay_k1_v", "relay_k2_v", "evse_not_ready_reasons")
        return (*_VITALS_EXPECTED, "relay_coil_v")
    if endpoint is Endpoint.VERSION:
        return (*_VERSION_EXPECTED, "web_service") if "git_branch" in body else _VERSION_EXPECTED
    if endpoint is Endpoint.LIFETIME:
        return _LIFETIME_EXPECTED
    return _WIFI_EXPECTED


def decode_ssid(value: str) -> str | None:
    """The SSID inside a base64 string, or ``None`` when ``value`` is not base64 text.

    A plain SSID can be valid base64 by accident (``"home"``); it is only taken as encoded
    when it decodes to printable UTF-8, which accidental matches almost never do.
    """
    if not value or len(value) % 4:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded if decoded and decoded.isprintable() else None


# --- private helpers ------------------------------------------------------------------------

# The fields each endpoint's body carries on every firmware seen; firmware-dependent ones
# (relay_k1_v/relay_k2_v vs relay_coil_v, evse_not_ready_reasons, git_branch, web_service)
# are read when present but never reported missing.
_VITALS_EXPECTED = (
    "contactor_closed",
    "vehicle_connected",
    "session_s",
    "grid_v",
    "grid_hz",
    "vehicle_current_a",
    "currentA_a",
    "currentB_a",
    "currentC_a",
    "currentN_a",
    "voltageA_v",
    "voltageB_v",
    "voltageC_v",
    "pcba_temp_c",
    "handle_temp_c",
    "mcu_temp_c",
    "uptime_s",
    "input_thermopile_uv",
    "prox_v",
    "pilot_high_v",
    "pilot_low_v",
    "session_energy_wh",
    "config_status",
    "evse_state",
    "current_alerts",
)
_LIFETIME_EXPECTED = (
    "contactor_cycles",
    "contactor_cycles_loaded",
    "alert_count",
    "thermal_foldbacks",
    "avg_startup_temp",
    "charge_starts",
    "energy_wh",
    "connector_cycles",
    "uptime_s",
    "charging_time_s",
)
_VERSION_EXPECTED = ("firmware_version", "part_number", "serial_number")
_WIFI_EXPECTED = (
    "wifi_ssid",
    "wifi_signal_strength",
    "wifi_rssi",
    "wifi_snr",
    "wifi_connected",
    "wifi_infra_ip",
    "internet",
    "wifi_mac",
)
_OPTIONAL = frozenset(
    {"relay_coil_v", "relay_k1_v", "relay_k2_v", "evse_not_ready_reasons"}
    | {"git_branch", "web_service"}
)


class _Fields:
    """Typed access to a body's fields, recording the absent and the ill-typed ones."""

    def __init__(self, body: Mapping[str, Any], endpoint: Endpoint, expected: tuple[str, ...]):
        if not isinstance(body, Mapping):
            raise Gen3ResponseError(f"{endpoint.value} body is not an object")
        known = set(expected) | _OPTIONAL
        if not known.intersection(body):
            raise Gen3ResponseError(f"{endpoint.value} body has none of its fields: {_keys(body)}")
        self._body = body
        self._expected = expected
        self.invalid: list[str] = []

    def missing_fields(self) -> tuple[str, ...]:
        return tuple(name for name in self._expected if name not in self._body)

    def number(self, name: str) -> float | None:
        value = self._body.get(name)
        result = _number(value)
        if result is None and value is not None and not _is_nan(value):
            self.invalid.append(name)
        return result

    def temperature(self, name: str) -> float | None:
        value = self.number(name)
        return None if value is None or value >= NO_TEMPERATURE_C else value

    def integer(self, name: str) -> int | None:
        value = self._body.get(name)
        if value is None or _is_nan(value):
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        self.invalid.append(name)
        return None

    def boolean(self, name: str) -> bool | None:
        value = self._body.get(name)
        if value is None or isinstance(value, bool):
            return value
        self.invalid.append(name)
        return None

    def text(self, name: str) -> str | None:
        value = self._body.get(name)
        if value is None or isinstance(value, str):
            return value
        self.invalid.append(name)
        return None

    def alerts(self, name: str) -> tuple[int | str, ...]:
        value = self._body.get(name)
        if value is None:
            return ()
        if not isinstance(value, list):
            self.invalid.append(name)
            return ()
        alerts: list[int | str] = []
        for item in value:
            if isinstance(item, str) or (isinstance(item, int) and not isinstance(item, bool)):
                alerts.append(item)
            elif isinstance(item, float) and item.is_integer():
                alerts.append(int(item))
            elif name not in self.invalid:
                self.invalid.append(name)
        return tuple(alerts)

    def int_tuple(self, name: str) -> tuple[int, ...]:
        return tuple(item for item in self.alerts(name) if isinstance(item, int))


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _power(
    split: bool,
    grid_v: float | None,
    vehicle_current: float | None,
    voltages: Phases,
    currents: Phases,
) -> float | None:
    # A split-phase car draws one current between the two hot legs at grid_v; summing the
    # three "phases" such a unit reports would count its 120 V leg as a third phase.
    if split:
        if grid_v is None or vehicle_current is None:
            return None
        return round(grid_v * vehicle_current, 1)
    pairs = [
        (volts, amps)
        for volts, amps in zip(
            (voltages.a, voltages.b, voltages.c), (currents.a, currents.b, currents.c), strict=True
        )
        if volts is not None and amps is not None
    ]
    if not pairs:
        return None
    return round(sum(volts * amps for volts, amps in pairs), 1)


def _frozen(body: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(body))


def _keys(body: Mapping[str, Any]) -> list[str]:
    return sorted(str(key) for key in body)[:12]
