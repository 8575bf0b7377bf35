"""Frozen views of the director and its peripherals, for programs and the utility."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..protocol.codes import ProtocolVersion

if TYPE_CHECKING:  # the sharing package imports this module's neighbours
    from ..sharing.sequencer import SharingSnapshot


@dataclass(frozen=True, slots=True)
class PeripheralSnapshot:
    """One peripheral as last heard. ``None`` means not reported yet."""

    id: int
    sign: int | None
    protocol: ProtocolVersion
    #: Hardware rating from its ``FD E2`` (80 A US, 32 A EU).
    advertised_max: float | None
    state: int | None
    state_name: str | None
    #: The limit the unit reports it is allowed (``FD E0`` max amps).
    allowed_amps: float | None
    actual_amps: float | None
    lifetime_kwh: int | None
    voltages: tuple[int, int, int] | None
    firmware: str | None
    serial: str | None
    #: VIN characters 1-7, 8-14, 15-17; ``""`` once reported empty.
    vin_fragments: tuple[str | None, str | None, str | None]
    vin: str | None
    #: All three VIN fragments reported non-empty.
    car_connected: bool
    #: The heartbeat state implies a plug (SPEC §8.5); works without a VIN.
    plugged: bool
    #: Monotonic time of the last valid frame from the unit.
    last_heard: float
    online: bool
    frames: int
    timeouts: int
    #: Entries into the ERROR state plus commands that failed.
    errors: int
    #: Commands queued or in flight.
    pending_commands: int = 0

    @property
    def id_hex(self) -> str:
        """The ID as 4-digit upper-case hex, as in events."""
        return f"{self.id:04X}"


@dataclass(frozen=True, slots=True)
class DirectorSnapshot:
    """The director and every announced peripheral, sorted by ID."""

    port: str
    listen_only: bool
    controller_id: int
    frames_in: int
    frames_out: int
    #: Rejected frames by kind (``checksum``, ``escape``, ``length``, ``overrun``).
    framing_errors: Mapping[str, int]
    link_up: bool
    peripherals: tuple[PeripheralSnapshot, ...]
    #: Our own frames heard back (adapters that echo what they send).
    echoes: int = 0
    #: Second controllers and ID collisions seen.
    bus_errors: int = 0
    #: Capacity sharing: every unit's share and the total used / available; None when off.
    sharing: SharingSnapshot | None = None
