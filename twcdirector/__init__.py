"""twcdirector: be the controller of a bus of Tesla Gen 2 Wall Connectors, watch Gen 3 ones.

The public API is pinned in ``__all__`` (a test keeps it so).
"""

from . import protocol
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
from .protocol import (
    Commands,
    HeartbeatCommand,
    Message,
    PeripheralState,
    ProtocolVersion,
    decode_frame,
)

__version__ = "0.1.0"

__all__ = [
    "ChecksumError",
    "CommandFailedError",
    "Commands",
    "ConfigurationError",
    "CurrentLimitError",
    "DeviceError",
    "DeviceNotFoundError",
    "EscapeError",
    "ForbiddenMessageError",
    "FrameErrorKind",
    "FramingError",
    "Gen3ConnectionError",
    "Gen3Error",
    "Gen3ResponseError",
    "Gen3TimeoutError",
    "HeartbeatCommand",
    "InvalidValueError",
    "LengthError",
    "LinkError",
    "Message",
    "NotApplicableError",
    "OverrunError",
    "PeripheralState",
    "ProtocolError",
    "ProtocolVersion",
    "TWCError",
    "UsageError",
    "__version__",
    "decode_frame",
    "protocol",
]
