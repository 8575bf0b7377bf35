"""twcdirector: be the controller of a bus of Tesla Gen 2 Wall Connectors, watch Gen 3 ones.

The public API is pinned in ``__all__`` (a test keeps it so). The asyncio director, the
serial transport and the Gen 3 HTTP monitor load on first use, so importing the pure parts
(``twcdirector.protocol`` …) costs neither asyncio nor aiohttp.
"""

import importlib
from typing import TYPE_CHECKING, Any

from . import events, gen3, protocol, sharing
from .exceptions import (
    ChecksumError,
    CommandFailedError,
    ConfigurationError,
    CurrentLimitError,
    DeviceError,
    DeviceNotFoundError,
    EscapeError,
    ForbiddenMessageError,
    FrameErrorKind,
    FramingError,
    Gen3ConnectionError,
    Gen3Error,
    Gen3ResponseError,
    Gen3TimeoutError,
    InvalidValueError,
    LengthError,
    LinkError,
    NotApplicableError,
    OverrunError,
    ProtocolError,
    TWCError,
    UsageError,
)
from .gen2.commands import CommandKind
from .gen2.config import DirectorConfig
from .gen2.limits import CurrentLimits
from .gen2.snapshot import DirectorSnapshot, PeripheralSnapshot
from .gen3 import Gen3Config, Gen3Snapshot
from .protocol import (
    Commands,
    HeartbeatCommand,
    Message,
    PeripheralState,
    ProtocolVersion,
    decode_frame,
)
from .sharing import InstallationLimits, SharingSnapshot

if TYPE_CHECKING:
    from .gen2.director import Director, Peripheral
    from .gen2.transport import TRACE, open_serial_link
    from .gen3.monitor import Gen3Monitor, Gen3Unit

#: Names whose modules load on first use: name -> module.
_LAZY = {
    "Director": ".gen2.director",
    "Peripheral": ".gen2.director",
    "Gen3Monitor": ".gen3.monitor",
    "Gen3Unit": ".gen3.monitor",
    "TRACE": ".gen2.transport",
    "open_serial_link": ".gen2.transport",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "TRACE",
    "ChecksumError",
    "CommandFailedError",
    "CommandKind",
    "Commands",
    "ConfigurationError",
    "CurrentLimitError",
    "CurrentLimits",
    "DeviceError",
    "DeviceNotFoundError",
    "Director",
    "DirectorConfig",
    "DirectorSnapshot",
    "EscapeError",
    "ForbiddenMessageError",
    "FrameErrorKind",
    "FramingError",
    "Gen3Config",
    "Gen3ConnectionError",
    "Gen3Error",
    "Gen3Monitor",
    "Gen3ResponseError",
    "Gen3Snapshot",
    "Gen3TimeoutError",
    "Gen3Unit",
    "HeartbeatCommand",
    "InstallationLimits",
    "InvalidValueError",
    "LengthError",
    "LinkError",
    "Message",
    "NotApplicableError",
    "OverrunError",
    "Peripheral",
    "PeripheralSnapshot",
    "PeripheralState",
    "ProtocolError",
    "ProtocolVersion",
    "SharingSnapshot",
    "TWCError",
    "UsageError",
    "__version__",
    "decode_frame",
    "events",
    "gen3",
    "open_serial_link",
    "protocol",
    "sharing",
]
