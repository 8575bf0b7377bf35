"""Gen 3 event names and payloads (pure data, beside the shared ones in ``twcdirector.events``).

On a :class:`~twcdirector.gen3.Gen3Unit` every successful endpoint read fires the endpoint's
event (``GEN3_VITALS`` …) and ``__ALL_COMMANDS__`` with the reading as payload; derived changes
use the shared names (``TWC_CAR_CONNECTED``, ``TWC_STATE_CHANGED``, ``TWC_ALERT_RAISED`` …).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..events import (
    ALERT_CLEARED,
    ALERT_RAISED,
    CAR_CONNECTED,
    DEVICE_FOUND,
    DEVICE_LOST,
    REBOOT_DETECTED,
    STATE_CHANGED,
)

#: A ``/api/1/vitals`` read; payload :class:`~twcdirector.gen3.Gen3Vitals`.
GEN3_VITALS = "GEN3_VITALS"
#: A ``/api/1/lifetime`` read; payload :class:`~twcdirector.gen3.Gen3Lifetime`.
GEN3_LIFETIME = "GEN3_LIFETIME"
#: A ``/api/1/version`` read; payload :class:`~twcdirector.gen3.Gen3Version`.
GEN3_VERSION = "GEN3_VERSION"
#: A ``/api/1/wifi_status`` read; payload :class:`~twcdirector.gen3.Gen3WifiStatus`.
GEN3_WIFI_STATUS = "GEN3_WIFI_STATUS"
#: A read failed (no answer, HTTP error, unreadable body); payload :class:`Gen3ErrorEvent`.
#: Until a unit's first good reading announces it, the monitor emits its errors too.
GEN3_ERROR = "GEN3_ERROR"
#: The firmware version differs from the one read before; payload :class:`FirmwareChanged`.
GEN3_FIRMWARE_CHANGED = "GEN3_FIRMWARE_CHANGED"


class Gen3ErrorKind(StrEnum):
    """Why a read failed."""

    TIMEOUT = "timeout"  #: no complete answer within the deadline
    CONNECTION = "connection"  #: refused, unreachable, dropped mid-way
    HTTP_STATUS = "http_status"  #: the unit answered with an HTTP error status
    #: not a JSON object even after the known repairs, maybe cut, too long or too deep
    BAD_BODY = "bad_body"
    BAD_SHAPE = "bad_shape"  #: a JSON object, but lacking the fields we need
    REFUSED = "refused"  #: a redirect or a path outside the four endpoints; never followed
    #: 401/403/404: the firmware may have closed or moved its local API (reported once
    #: per unit and endpoint until the endpoint answers again or the firmware changes)
    API_UNAVAILABLE = "api_unavailable"

    @property
    def transport(self) -> bool:
        """True when the unit did not answer at all (counts towards ``TWC_DEVICE_LOST``)."""
        return self in (Gen3ErrorKind.TIMEOUT, Gen3ErrorKind.CONNECTION)


@dataclass(frozen=True, slots=True)
class Gen3ErrorEvent:
    """A failed read of one endpoint."""

    device_id: str
    endpoint: str
    kind: Gen3ErrorKind
    message: str
    consecutive_failures: int


@dataclass(frozen=True, slots=True)
class FirmwareChanged:
    """The unit reports another firmware version than before (an update, or a replaced unit)."""

    device_id: str
    old_version: str
    new_version: str


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An alert id appeared in (``raised``) or left ``current_alerts``."""

    device_id: str
    alert: int | str
    raised: bool
    active: tuple[int | str, ...]


@dataclass(frozen=True, slots=True)
class RebootDetected:
    """The vitals uptime went backwards: the unit restarted in between two reads."""

    device_id: str
    old_uptime_s: int
    new_uptime_s: int


#: What a Gen 3 unit emits besides its readings and ``__ALL_COMMANDS__``.
UNIT_EVENTS = (
    CAR_CONNECTED,
    DEVICE_LOST,
    DEVICE_FOUND,
    STATE_CHANGED,
    ALERT_RAISED,
    ALERT_CLEARED,
    REBOOT_DETECTED,
    GEN3_ERROR,
    GEN3_FIRMWARE_CHANGED,
)
