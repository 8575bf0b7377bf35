"""Per-unit Gen 3 state and change detection (pure): readings in, events out.

The adapter hands each body (or failure) to :class:`Gen3Tracker` with the loop's ``now``;
the tracker keeps the last good reading of every endpoint with the time it was read, and
returns the ``(event name, payload)`` pairs the unit must emit, in order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from ..events import (
    ALERT_CLEARED,
    ALERT_RAISED,
    ALL_COMMANDS,
    CAR_CONNECTED,
    DEVICE_FOUND,
    DEVICE_LOST,
    REBOOT_DETECTED,
    STATE_CHANGED,
    CarConnected,
    DeviceFound,
    DeviceLost,
    StateChanged,
)
from ..exceptions import Gen3ResponseError
from .config import Gen3Config
from .events import (
    GEN3_ERROR,
    GEN3_FIRMWARE_CHANGED,
    AlertEvent,
    FirmwareChanged,
    Gen3ErrorEvent,
    Gen3ErrorKind,
    RebootDetected,
)
from .model import (
    Endpoint,
    Gen3Lifetime,
    Gen3Reading,
    Gen3Version,
    Gen3Vitals,
    Gen3WifiStatus,
    Phases,
    detect_split_phase,
    parse_reading,
)
from .schedule import Gen3Schedule

_LOGGER = logging.getLogger(__name__)

#: An event to emit: its name and its payload.
Emission = tuple[str, object]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one body did: the events to emit, and the reading or why there is none."""

    emissions: tuple[Emission, ...]
    reading: Gen3Reading | None
    error: Gen3ResponseError | None
    #: This was the unit's first good reading (time to announce it).
    first: bool = False


@dataclass(frozen=True, slots=True)
class Gen3Snapshot:
    """One unit at a glance: the last good values, how old they are, and its health."""

    generation: ClassVar[int] = 3

    device_id: str
    #: Answered at least once and not lost since.
    reachable: bool
    lost: bool
    serial_number: str | None
    firmware_version: str | None
    part_number: str | None
    state: int | None
    state_label: str | None
    vehicle_connected: bool | None
    contactor_closed: bool | None
    power_w: float | None
    currents: Phases | None
    voltages: Phases | None
    grid_v: float | None
    grid_hz: float | None
    session_s: int | None
    session_energy_wh: float | None
    lifetime_energy_wh: float | None
    uptime_s: int | None
    alerts: tuple[int | str, ...]
    split_phase: bool
    wifi_ssid: str | None
    wifi_signal_strength: int | None
    wifi_rssi: int | None
    vitals: Gen3Vitals | None
    lifetime: Gen3Lifetime | None
    version: Gen3Version | None
    wifi_status: Gen3WifiStatus | None
    #: Seconds since each last good reading, ``None`` if never read.
    vitals_age: float | None
    lifetime_age: float | None
    version_age: float | None
    wifi_status_age: float | None
    errors: int
    consecutive_failures: int
    last_error: Gen3ErrorEvent | None
    #: Seconds since the unit last answered anything (even an error), ``None`` if never.
    heard_age: float | None = None

    def age(self, endpoint: Endpoint) -> float | None:
        """Seconds since ``endpoint`` was last read successfully."""
        return {
            Endpoint.VITALS: self.vitals_age,
            Endpoint.LIFETIME: self.lifetime_age,
            Endpoint.VERSION: self.version_age,
            Endpoint.WIFI_STATUS: self.wifi_status_age,
        }[endpoint]


class Gen3Tracker:
    """The state of one Gen 3 unit as seen through its four endpoints."""

    def __init__(
        self,
        device_id: str,
        config: Gen3Config,
        *,
        now: float,
        split_phase: bool | None = None,
    ) -> None:
        self.device_id = device_id
        self.config = config
        self.schedule = Gen3Schedule(config, now)
        #: ``None``: detect from the voltages; ``True``/``False``: the user knows better.
        self.split_phase_override = split_phase
        self._split_phase_seen = False
        self._readings: dict[Endpoint, Gen3Reading] = {}
        self._read_at: dict[Endpoint, float] = {}
        self._started_at = now
        self._last_answer_at: float | None = None
        self._unanswered = 0
        self.seen = False
        self.lost = False
        self.errors = 0
        self.last_error: Gen3ErrorEvent | None = None
        # Endpoints whose api_unavailable error was emitted: said once, not at every poll.
        self._unavailable_said: set[Endpoint] = set()

    # --- queries ----------------------------------------------------------------------------

    @property
    def split_phase(self) -> bool:
        """Whether power is computed as split-phase (override, else ever detected)."""
        if self.split_phase_override is not None:
            return self.split_phase_override
        return self._split_phase_seen

    @property
    def reachable(self) -> bool:
        """Answered at least once and not lost since."""
        return self._last_answer_at is not None and not self.lost

    @property
    def vitals(self) -> Gen3Vitals | None:
        """The last good vitals."""
        reading = self._readings.get(Endpoint.VITALS)
        return reading if isinstance(reading, Gen3Vitals) else None

    @property
    def version(self) -> Gen3Version | None:
        """The last good version."""
        reading = self._readings.get(Endpoint.VERSION)
        return reading if isinstance(reading, Gen3Version) else None

    @property
    def serial_number(self) -> str | None:
        """The unit's serial number, once its version has been read."""
        version = self.version
        return None if version is None else version.serial_number

    def reading(self, endpoint: Endpoint) -> Gen3Reading | None:
        """The last good reading of ``endpoint``."""
        return self._readings.get(endpoint)

    def age(self, endpoint: Endpoint, now: float) -> float | None:
        """Seconds since ``endpoint`` was last read successfully, ``None`` if never."""
        read_at = self._read_at.get(endpoint)
        return None if read_at is None else max(0.0, now - read_at)

    def next_request(self) -> tuple[Endpoint, float]:
        """The endpoint to read next, and not before when."""
        return self.schedule.next_request()

    # --- updates ----------------------------------------------------------------------------

    def record_body(self, endpoint: Endpoint, body: object, now: float) -> Outcome:
        """A decoded body arrived from ``endpoint`` at ``now``."""
        emissions: list[Emission] = self._answered(now)
        try:
            if not isinstance(body, Mapping):
                raise Gen3ResponseError(f"{endpoint.value} body is not a JSON object")
            if endpoint is Endpoint.VITALS and detect_split_phase(body):
                self._split_phase_seen = True
            reading = parse_reading(endpoint, body, split_phase=self.split_phase)
        except Gen3ResponseError as err:
            emissions += self._failed(endpoint, Gen3ErrorKind.BAD_SHAPE, str(err), now)
            return Outcome(tuple(emissions), None, err)
        first = not self.seen
        self.seen = True
        self._unavailable_said.discard(endpoint)
        emissions += [(endpoint.event_name, reading), (ALL_COMMANDS, reading)]
        if isinstance(reading, Gen3Vitals):
            emissions += self._vitals_changes(reading, now)
        elif isinstance(reading, Gen3Version):
            self._check_serial(reading)
            emissions += self._firmware_change(reading)
        self._readings[endpoint] = reading
        self._read_at[endpoint] = now
        vitals = self.vitals
        self.schedule.on_success(
            endpoint, now, vehicle_connected=None if vitals is None else vitals.vehicle_connected
        )
        if reading.missing or reading.invalid:
            _LOGGER.debug(
                "%s %s: missing %s, invalid %s",
                self.device_id,
                endpoint.value,
                reading.missing,
                reading.invalid,
            )
        return Outcome(tuple(emissions), reading, None, first)

    def record_failure(
        self, endpoint: Endpoint, kind: Gen3ErrorKind, message: str, now: float
    ) -> list[Emission]:
        """Reading ``endpoint`` failed at ``now`` for ``kind`` of reason."""
        emissions: list[Emission] = [] if kind.transport else self._answered(now)
        emissions += self._failed(endpoint, kind, message, now)
        if kind.transport:
            self._unanswered += 1
            if not self.lost and self._unanswered >= self.config.lost_after_failures:
                self.lost = True
                since = self._started_at if self._last_answer_at is None else self._last_answer_at
                _LOGGER.warning("Gen 3 unit %s unreachable: %s", self.device_id, message)
                emissions.append(
                    (DEVICE_LOST, DeviceLost(self.device_id, max(0.0, now - since), message))
                )
        return emissions

    def snapshot(self, now: float) -> Gen3Snapshot:
        """The unit at ``now``."""
        vitals = self.vitals
        version = self.version
        heard = self._last_answer_at
        lifetime = self._readings.get(Endpoint.LIFETIME)
        wifi = self._readings.get(Endpoint.WIFI_STATUS)
        lifetime = lifetime if isinstance(lifetime, Gen3Lifetime) else None
        wifi = wifi if isinstance(wifi, Gen3WifiStatus) else None
        return Gen3Snapshot(
            device_id=self.device_id,
            reachable=self.reachable,
            lost=self.lost,
            serial_number=None if version is None else version.serial_number,
            firmware_version=None if version is None else version.firmware_version,
            part_number=None if version is None else version.part_number,
            state=None if vitals is None else vitals.evse_state,
            state_label=None if vitals is None else vitals.state_label,
            vehicle_connected=None if vitals is None else vitals.vehicle_connected,
            contactor_closed=None if vitals is None else vitals.contactor_closed,
            power_w=None if vitals is None else vitals.power_w,
            currents=None if vitals is None else vitals.currents,
            voltages=None if vitals is None else vitals.voltages,
            grid_v=None if vitals is None else vitals.grid_v,
            grid_hz=None if vitals is None else vitals.grid_hz,
            session_s=None if vitals is None else vitals.session_s,
            session_energy_wh=None if vitals is None else vitals.session_energy_wh,
            lifetime_energy_wh=None if lifetime is None else lifetime.energy_wh,
            uptime_s=None if vitals is None else vitals.uptime_s,
            alerts=() if vitals is None else vitals.alerts,
            split_phase=self.split_phase,
            wifi_ssid=None if wifi is None else wifi.ssid,
            wifi_signal_strength=None if wifi is None else wifi.signal_strength,
            wifi_rssi=None if wifi is None else wifi.rssi,
            vitals=vitals,
            lifetime=lifetime,
            version=version,
            wifi_status=wifi,
            vitals_age=self.age(Endpoint.VITALS, now),
            lifetime_age=self.age(Endpoint.LIFETIME, now),
            version_age=self.age(Endpoint.VERSION, now),
            wifi_status_age=self.age(Endpoint.WIFI_STATUS, now),
            errors=self.errors,
            consecutive_failures=self.schedule.failures,
            last_error=self.last_error,
            heard_age=None if heard is None else max(0.0, now - heard),
        )

    # --- private helpers --------------------------------------------------------------------

    def _answered(self, now: float) -> list[Emission]:
        """The unit answered (well or badly): it is reachable."""
        self._last_answer_at = now
        self._unanswered = 0
        if not self.lost:
            return []
        self.lost = False
        # It may have been replaced or updated meanwhile: ask who it is.
        self.schedule.request_now(Endpoint.VERSION, now)
        _LOGGER.info("Gen 3 unit %s reachable again", self.device_id)
        return [(DEVICE_FOUND, DeviceFound(self.device_id))]

    def _failed(
        self, endpoint: Endpoint, kind: Gen3ErrorKind, message: str, now: float
    ) -> list[Emission]:
        self.errors += 1
        pause = self.schedule.on_failure(endpoint, now)
        event = Gen3ErrorEvent(
            self.device_id, endpoint.value, kind, message, self.schedule.failures
        )
        self.last_error = event
        _LOGGER.debug(
            "Gen 3 unit %s %s failed (%s): %s; next try in %.1f s",
            self.device_id,
            endpoint.value,
            kind.value,
            message,
            pause,
        )
        if kind is Gen3ErrorKind.API_UNAVAILABLE:
            # A closed API answers the same at every poll: one event says it, until the
            # endpoint answers again or the firmware changes.
            if endpoint in self._unavailable_said:
                return []
            self._unavailable_said.add(endpoint)
            _LOGGER.warning("Gen 3 unit %s: %s", self.device_id, message)
        return [(GEN3_ERROR, event)]

    def _firmware_change(self, version: Gen3Version) -> list[Emission]:
        old = self.version
        if old is None or old.firmware_version is None or version.firmware_version is None:
            return []
        if old.firmware_version == version.firmware_version:
            return []
        _LOGGER.warning(
            "Gen 3 unit %s firmware changed %s -> %s",
            self.device_id,
            old.firmware_version,
            version.firmware_version,
        )
        # New firmware may have opened (or closed) what the old one refused: say it again.
        self._unavailable_said.clear()
        changed = FirmwareChanged(self.device_id, old.firmware_version, version.firmware_version)
        return [(GEN3_FIRMWARE_CHANGED, changed)]

    def _vitals_changes(self, new: Gen3Vitals, now: float) -> list[Emission]:
        old = self.vitals
        emissions: list[Emission] = []
        if (
            old is not None
            and old.uptime_s is not None
            and new.uptime_s is not None
            and new.uptime_s < old.uptime_s
        ):
            _LOGGER.info(
                "Gen 3 unit %s rebooted (uptime %s s -> %s s)",
                self.device_id,
                old.uptime_s,
                new.uptime_s,
            )
            emissions.append(
                (REBOOT_DETECTED, RebootDetected(self.device_id, old.uptime_s, new.uptime_s))
            )
            self.schedule.request_now(Endpoint.VERSION, now)
        old_state = None if old is None else old.evse_state
        if new.evse_state != old_state:
            emissions.append(
                (
                    STATE_CHANGED,
                    StateChanged(self.device_id, old_state, new.evse_state, new.state_label),
                )
            )
        # Before the first reading no vehicle is assumed, so a unit found with one plugged
        # in announces it once.
        was_connected = False if old is None else old.vehicle_connected
        if new.vehicle_connected != was_connected:
            emissions.append(
                (CAR_CONNECTED, CarConnected(self.device_id, new.vehicle_connected, None))
            )
        old_alerts = () if old is None else old.alerts
        for alert in new.alerts:
            if alert not in old_alerts:
                raised = AlertEvent(self.device_id, alert, True, new.alerts)
                emissions.append((ALERT_RAISED, raised))
        for alert in old_alerts:
            if alert not in new.alerts:
                emissions.append(
                    (ALERT_CLEARED, AlertEvent(self.device_id, alert, False, new.alerts))
                )
        return emissions

    def _check_serial(self, version: Gen3Version) -> None:
        old = self.serial_number
        if old is not None and version.serial_number is not None and old != version.serial_number:
            _LOGGER.warning(
                "Gen 3 unit %s changed serial number %s -> %s (another unit at this address?)",
                self.device_id,
                old,
                version.serial_number,
            )
