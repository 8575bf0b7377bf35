"""Event names and payloads, shared by Gen 2 peripherals, Gen 3 units and the director.

Pure data: no pyee here. Every payload is a frozen dataclass. On a device, each decoded
message also fires an event named by its :class:`~twcdirector.protocol.Commands` name
(``TWC_STATUS``, ``TWC_METER`` …) with the message itself as payload, plus
:data:`ALL_COMMANDS` for every decoded message, unknown ones included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from .exceptions import FrameErrorKind, InvalidValueError

# --- on a device (Gen 2 peripheral or Gen 3 unit) ------------------------------------------
#: Every decoded message (Gen 2) or endpoint read (Gen 3); payload: the message.
ALL_COMMANDS = "__ALL_COMMANDS__"
#: All VIN fragments arrived, or one reverted to empty; Gen 3: vehicle_connected changed.
CAR_CONNECTED = "TWC_CAR_CONNECTED"
#: The unit fell silent (Gen 2: 26 s without a valid frame) / became unreachable (Gen 3).
DEVICE_LOST = "TWC_DEVICE_LOST"
#: A lost unit announced itself again / became reachable again.
DEVICE_FOUND = "TWC_DEVICE_FOUND"
#: A command was confirmed by the unit's replies.
COMMAND_CONFIRMED = "TWC_COMMAND_CONFIRMED"
#: A command was not confirmed after every retry.
COMMAND_FAILED = "TWC_COMMAND_FAILED"
#: Capacity sharing changed a unit's allowed current.
ALLOCATION_CHANGED = "TWC_ALLOCATION_CHANGED"
#: The unit's state code changed.
STATE_CHANGED = "TWC_STATE_CHANGED"
#: Gen 2: the unit reported an offered current above its ceiling and was lowered (SPEC §8.7);
#: payload :class:`LimitEnforced`.
LIMIT_ENFORCED = "TWC_LIMIT_ENFORCED"
#: Gen 3: an alert appeared / cleared; the unit rebooted (uptime went backwards).
ALERT_RAISED = "TWC_ALERT_RAISED"
ALERT_CLEARED = "TWC_ALERT_CLEARED"
REBOOT_DETECTED = "TWC_REBOOT_DETECTED"

#: What a Gen 2 peripheral emits besides its decoded commands and ``__ALL_COMMANDS__``.
PERIPHERAL_EVENTS = (
    CAR_CONNECTED,
    DEVICE_LOST,
    DEVICE_FOUND,
    COMMAND_CONFIRMED,
    COMMAND_FAILED,
    STATE_CHANGED,
    ALLOCATION_CHANGED,
    LIMIT_ENFORCED,
)

# --- on the director -----------------------------------------------------------------------
#: A unit was seen for the first time; payload :class:`NewDevice`.
NEW_DEVICE = "TWC_NEW_DEVICE"
#: A frame failed to decode; payload :class:`FramingErrorEvent`.
FRAMING_ERROR = "TWC_FRAMING_ERROR"
#: The serial port vanished or failed / was reopened.
LINK_LOST = "TWC_LINK_LOST"
LINK_RESTORED = "TWC_LINK_RESTORED"
#: Capacity sharing moved currents: payload the shares, total used and available
#: (:class:`~twcdirector.sharing.SharingSnapshot`).
SHARING_CHANGED = "TWC_SHARING_CHANGED"
#: A wiring or identity fault on the bus (a second controller, an ID collision).
BUS_ERROR = "TWC_BUS_ERROR"
#: A decoded frame not from an announced peripheral (another controller's frames, a unit not
#: claimed yet or over ``max_peripherals``, unknown codes from unknown senders); payload: the
#: message. Nothing that passes its checksum is dropped silently.
BUS_MESSAGE = "TWC_BUS_MESSAGE"


_Handler = TypeVar("_Handler", bound=Callable[..., Any])


class DeviceHandle(Protocol):
    """What every unit's handle offers, a Gen 2 :class:`~twcdirector.Peripheral` or a Gen 3
    :class:`~twcdirector.Gen3Unit`: its events, a frozen snapshot, its generation (2 or 3).
    Check ``generation`` (or ``isinstance``) before using what only one of them has, such as
    the Gen 2 commands."""

    @property
    def generation(self) -> int:
        """2 for a Gen 2 peripheral on the RS-485 bus, 3 for a Gen 3 unit over HTTP."""
        ...

    def on(self, event: str, f: _Handler) -> _Handler:
        """Call ``f(payload)`` for every ``event`` of this unit; returns ``f``."""
        ...

    def snapshot(self) -> object:
        """A frozen view of everything known about the unit."""
        ...


@dataclass(frozen=True, slots=True)
class NewDevice:
    """A unit appeared. ``device`` is its handle: events, snapshot, generation."""

    device_id: str
    generation: int
    device: DeviceHandle


@dataclass(frozen=True, slots=True)
class CarConnected:
    """A car was connected (with its VIN where the unit reports one) or disconnected."""

    device_id: str
    connected: bool
    vin: str | None


@dataclass(frozen=True, slots=True)
class DeviceLost:
    """A unit stopped answering."""

    device_id: str
    silent_for: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DeviceFound:
    """A lost unit is back."""

    device_id: str


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """A command's end: confirmed or failed, after how many attempts."""

    device_id: str
    command: str
    amps: float | None
    attempts: int
    confirmed: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class LimitEnforced:
    """A unit reported more than its ceiling allows, and a lower current was sent (SPEC §8.7).

    ``reported_amps`` is the offered current (A) of the unit's report, ``ceiling`` the lowest of
    the configured maximum, its rating and any sharing grant (A), ``enforced_amps`` the current
    sent to it (A; 0 when the ceiling is below the protocol minimum) and ``command`` the
    heartbeat command that carries it (``09`` with a car connected, else ``05``).
    """

    device_id: str
    reported_amps: float
    enforced_amps: float
    ceiling: float
    command: int


@dataclass(frozen=True, slots=True)
class AllocationChanged:
    """Capacity sharing changed a unit's allowed current."""

    device_id: str
    old_amps: float
    new_amps: float
    reason: str


@dataclass(frozen=True, slots=True)
class StateChanged:
    """A unit's state code changed."""

    device_id: str
    old_state: int | None
    new_state: int
    name: str


@dataclass(frozen=True, slots=True)
class FramingErrorEvent:
    """A frame that failed to decode."""

    kind: FrameErrorKind
    message: str
    data: bytes


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """The serial link was lost or restored."""

    port: str
    up: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class BusError:
    """A fault on the bus: ``kind`` is ``second_controller``, ``id_collision`` or
    ``too_many_peripherals``."""

    kind: str
    device_id: str | None
    message: str


def format_id(device_id: int) -> str:
    """A Gen 2 ID as the 4-digit upper-case hex used in events and logs.

    Inside the core a Gen 2 ID is an ``int``; this and :func:`parse_id` are the only
    conversions, used where an ID meets a person (events, logs, options) or capacity sharing,
    whose public snapshot names units by this form.
    """
    return f"{device_id:04X}"


def parse_id(text: str) -> int:
    """A Gen 2 ID from its hex form (``"1839"``, ``"0x1839"``); raises
    :class:`~twcdirector.InvalidValueError` for anything that is not 16-bit hex."""
    try:
        value = int(text, 16)
    except ValueError:
        raise InvalidValueError(f"{text!r} is not hexadecimal (an ID such as F00D)") from None
    if not 0 <= value <= 0xFFFF:
        raise InvalidValueError(f"{text!r} is not a 16-bit ID (0000-FFFF)")
    return value
