"""Configuration of one simulated Gen 2 peripheral (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ..exceptions import ConfigurationError
from ..protocol import Commands, ProtocolVersion

#: IDs given to units 0, 1, 2 … when none is configured (real IDs from SPEC §6 captures).
DEFAULT_IDS = (0x1839, 0x2019, 0x2433, 0x8725)
#: The requests a unit answers (SPEC §3.6).
DATA_REQUESTS = frozenset(
    {
        Commands.TWC_METER,
        Commands.TWC_VERSION,
        Commands.TWC_SERIAL,
        Commands.TWC_VIN_HIGH,
        Commands.TWC_VIN_MID,
        Commands.TWC_VIN_LOW,
    }
)
_FIRMWARE = {ProtocolVersion.V1: (4, 4, 13, 0), ProtocolVersion.V2: (4, 5, 3, 2)}
_SERIAL_CAPACITY = 11  # a 16-byte reply carries 11 characters; v1 units use that form


def default_id(index: int) -> int:
    """The ID of the ``index``-th unit when none is configured."""
    if index < len(DEFAULT_IDS):
        return DEFAULT_IDS[index]
    return 0x3000 + index


def protocol_version(value: int) -> ProtocolVersion:
    """1 or 2 as a :class:`ProtocolVersion`; anything else is a configuration error."""
    try:
        return ProtocolVersion(value)
    except ValueError:
        raise ConfigurationError(f"protocol must be 1 or 2, not {value!r}") from None


def _check_time(name: str, value: float, *, positive: bool = True) -> None:
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ConfigurationError(f"{name} must be a finite number of seconds > 0, not {value}")


@dataclass(frozen=True, slots=True)
class UnitConfig:
    """What one simulated Wall Connector is, and its timings (seconds).

    Defaults follow SPEC.md; ``None`` means "derived": the firmware from the protocol version,
    the serial from the ID (the ID sits at characters 7-10, SPEC §3.9), the sign from the
    unit's random generator, and ``reports_vin`` is true for protocol 2 (old protocol-1 units
    never report a VIN).
    """

    device_id: int = DEFAULT_IDS[0]
    protocol: ProtocolVersion = ProtocolVersion.V2
    #: The hardware rating it advertises in ``FD E2``: 32 A (EU) or 80 A (US).
    max_amps: float = 32.0
    firmware: tuple[int, int, int, int] | None = None
    serial: str | None = None
    reports_vin: bool | None = None
    sign: int | None = None
    #: Byte sent after each frame's closing C0 (real units: FE, FC, F8 …); None for none.
    tail: int | None = 0xFE
    #: Tail bytes used in turn, frame after frame (real units vary it: FE, FC, F8, FF);
    #: empty: always ``tail``.
    tails: tuple[int, ...] = ()
    #: A reply goes out uniformly within this window after the request (real: < 160 ms).
    latency: tuple[float, float] = (0.020, 0.060)
    #: Phase A, B, C volts in ``FD EB``; energy counts every non-zero phase.
    voltages: tuple[int, int, int] = (240, 0, 0)
    lifetime_kwh: float = 1234.0
    #: Request codes this unit ignores (e.g. old firmware without VIN support).
    unsupported: frozenset[int] = field(default_factory=frozenset)
    announce_interval: float = 1.3
    #: Delay of the five ``FD E2`` that answer a controller's second ``FB E2``.
    burst_delay: float = 0.2
    #: Without a heartbeat for this long the unit errors and announces again (SPEC §4).
    controller_timeout: float = 30.0
    #: State 04 after plug-in, then state 08 (starting) before 01 (charging).
    negotiate_time: float = 1.0
    start_time: float = 2.0
    #: Command 06: state 06 for this long, then 0A (DRACO: ~44 s).
    raise_period: float = 44.0
    #: Command 07: state 07 for this long, then the 2 A come back and 0A (DRACO: ~10 s).
    lower_period: float = 10.0
    #: How long 0A is reported before the unit reports 01 again.
    complete_hold: float = 2.0
    #: Seed of the unit's random generator (sign, latency, new ID); None: from the ID.
    seed: int | None = None
    #: Real units answer a 0 A ``05``/``09`` by reporting their minimum (6.00 A; protocol 1
    #: 5.00 A) in state 03 while drawing nothing (SPEC §5, vector 9). False: they report 0.
    zero_reports_minimum: bool = True
    #: The current it offers before any controller talks to it (the limit an earlier
    #: controller left it with): its limit and its default at power-up.
    offered_amps: float = 0.0
    #: Its reports show state and limit as they were this many heartbeats ago.
    report_lag: int = 0
    #: Whether it knows ``FC B1``/``FC B2`` (older firmware, typically protocol 1, ignores
    #: them and sends no ``FD B1``/``FD B2``).
    contactor_acks: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.device_id < 0xFFFF:
            raise ConfigurationError(f"device_id {self.device_id:#x} must be 0001-FFFE")
        object.__setattr__(self, "protocol", protocol_version(self.protocol))
        if not math.isfinite(self.max_amps) or not 0 < self.max_amps <= 655.35:
            raise ConfigurationError(f"max_amps {self.max_amps} must be within 0-655.35 A")
        if self.firmware is not None and any(not 0 <= part <= 255 for part in self.firmware):
            raise ConfigurationError(f"firmware {self.firmware} parts must be bytes")
        if self.serial is not None and (
            not self.serial.isascii()
            or not self.serial.isprintable()
            or not 0 < len(self.serial) <= _SERIAL_CAPACITY
        ):
            raise ConfigurationError(f"serial {self.serial!r} must be 1-11 ASCII characters")
        if self.sign is not None and not 0 <= self.sign <= 255:
            raise ConfigurationError(f"sign {self.sign} is not a byte")
        # A C0 tail would open a frame on every receiver.
        if self.tail is not None and (not 0 <= self.tail <= 255 or self.tail == 0xC0):
            raise ConfigurationError(f"tail {self.tail} must be a byte other than C0")
        for byte in self.tails:
            if not 0 <= byte <= 255 or byte == 0xC0:
                raise ConfigurationError(f"tail {byte} must be a byte other than C0")
        if not math.isfinite(self.offered_amps) or not 0 <= self.offered_amps <= 655.35:
            raise ConfigurationError(f"offered_amps {self.offered_amps} must be within 0-655.35 A")
        if not 0 <= self.report_lag <= 100:
            raise ConfigurationError(f"report_lag {self.report_lag} must be 0-100 heartbeats")
        low, high = self.latency
        _check_time("latency", low, positive=False)
        _check_time("latency", high, positive=False)
        if low > high:
            raise ConfigurationError(f"latency window {self.latency} is reversed")
        if any(not 0 <= volts <= 0xFFFF for volts in self.voltages):
            raise ConfigurationError(f"voltages {self.voltages} must be 0-65535")
        if not math.isfinite(self.lifetime_kwh) or not 0 <= self.lifetime_kwh < 2**32:
            raise ConfigurationError(f"lifetime_kwh {self.lifetime_kwh} must fit 32 bits")
        for name in (
            "announce_interval",
            "controller_timeout",
            "raise_period",
            "lower_period",
        ):
            _check_time(name, getattr(self, name))
        for name in ("burst_delay", "negotiate_time", "start_time", "complete_hold"):
            _check_time(name, getattr(self, name), positive=False)

    @property
    def firmware_version(self) -> tuple[int, int, int, int]:
        """The firmware it reports in ``FD EC``."""
        return self.firmware if self.firmware is not None else _FIRMWARE[self.protocol]

    @property
    def serial_number(self) -> str:
        """The serial it reports in ``FD ED``."""
        return self.serial if self.serial is not None else f"A19F00{self.device_id:04X}1"

    @property
    def vin_reporting(self) -> bool:
        """Whether it passes the car's VIN on (``FD EE/EF/F1``)."""
        if self.reports_vin is not None:
            return self.reports_vin
        return self.protocol == ProtocolVersion.V2

    @property
    def rng_seed(self) -> int:
        """Seed of the unit's random generator."""
        return self.seed if self.seed is not None else self.device_id


def default_units(
    count: int,
    *,
    protocols: Sequence[int] = (2,),
    max_amps: float = 32.0,
    reports_vin: bool | None = None,
    **overrides: object,
) -> list[UnitConfig]:
    """``count`` units with distinct default IDs; ``protocols`` repeats its last entry."""
    if count < 0:
        raise ConfigurationError(f"unit count {count} must be >= 0")
    if not protocols:
        raise ConfigurationError("protocols must name at least one version")
    units = []
    for index in range(count):
        protocol = protocols[min(index, len(protocols) - 1)]
        base = UnitConfig(
            device_id=default_id(index),
            protocol=protocol_version(protocol),
            max_amps=max_amps,
            reports_vin=reports_vin,
        )
        units.append(replace(base, **overrides) if overrides else base)  # type: ignore[arg-type]
    return units
