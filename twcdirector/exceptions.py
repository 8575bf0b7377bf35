"""The one exception tree of twcdirector.

::

    TWCError
    ├── ProtocolError                  the bus or a peer sent something we cannot accept (remote)
    │   └── FramingError               a frame failed to decode; ``kind`` says why
    │       ├── ChecksumError
    │       ├── EscapeError
    │       ├── LengthError
    │       └── OverrunError
    ├── UsageError                     the caller asked for something illegal (local)
    │   ├── ForbiddenMessageError      outside the SPEC §8.4 allow-list; never reaches the wire
    │   ├── CurrentLimitError          amps outside what the installation allows (also ValueError)
    │   ├── InvalidValueError          a field that cannot be encoded (also ValueError)
    │   ├── ConfigurationError         a bad option or limit (also ValueError)
    │   └── NotApplicableError         e.g. increase/decrease on a protocol-1 unit
    ├── DeviceError
    │   ├── DeviceNotFoundError        no such peripheral (also KeyError)
    │   └── CommandFailedError         not confirmed after every retry (also TimeoutError)
    ├── LinkError                      the serial port cannot be opened or vanished (also OSError)
    └── Gen3Error                      a Gen 3 unit over HTTP
        ├── Gen3ConnectionError        refused, unreachable (also OSError)
        ├── Gen3TimeoutError           no answer in time (also TimeoutError)
        └── Gen3ResponseError          an HTTP error status or a body we cannot read

Serial and HTTP library errors are translated into this tree at the boundary.
"""

from __future__ import annotations

from enum import StrEnum


class TWCError(Exception):
    """Root of every error twcdirector raises."""


class ProtocolError(TWCError):
    """Something received from the bus or a peer cannot be accepted."""


class FrameErrorKind(StrEnum):
    """Why a frame was rejected; the decoder keeps one counter per kind."""

    CHECKSUM = "checksum"  #: the checksum byte does not match the body
    ESCAPE = "escape"  #: a DB byte not followed by DC or DD
    LENGTH = "length"  #: a body length no Wall Connector sends for that frame
    OVERRUN = "overrun"  #: a frame that never closed before the longest legal length


class FramingError(ProtocolError):
    """A frame could not be decoded."""

    kind: FrameErrorKind = FrameErrorKind.LENGTH

    def __init__(self, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.data = bytes(data)


class ChecksumError(FramingError):
    """The checksum byte does not match the body."""

    kind = FrameErrorKind.CHECKSUM


class EscapeError(FramingError):
    """An invalid SLIP escape sequence."""

    kind = FrameErrorKind.ESCAPE


class LengthError(FramingError):
    """A body length that is not legal for the frame."""

    kind = FrameErrorKind.LENGTH


class OverrunError(FramingError):
    """A frame longer than the longest legal frame."""

    kind = FrameErrorKind.OVERRUN


FRAMING_ERRORS: dict[FrameErrorKind, type[FramingError]] = {
    cls.kind: cls for cls in (ChecksumError, EscapeError, LengthError, OverrunError)
}


class UsageError(TWCError):
    """The caller asked for something that is not allowed."""


class ForbiddenMessageError(UsageError):
    """The message is outside the allow-list of SPEC §8.4 and is never encoded."""


class CurrentLimitError(UsageError, ValueError):
    """A current outside what the protocol, the unit or the installation allows."""


class InvalidValueError(UsageError, ValueError):
    """A field value that cannot be represented on the wire."""


class ConfigurationError(UsageError, ValueError):
    """A bad option, limit or parameter."""


class NotApplicableError(UsageError):
    """The command does not apply to this unit or in its present state."""


class DeviceError(TWCError):
    """A problem with one peripheral."""


class DeviceNotFoundError(DeviceError, KeyError):
    """No peripheral with that ID is known."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CommandFailedError(DeviceError, TimeoutError):
    """A command was not confirmed by the peripheral after every retry."""


class LinkError(TWCError, OSError):
    """The serial link cannot be opened or was lost."""


class Gen3Error(TWCError):
    """A problem talking to a Gen 3 Wall Connector."""


class Gen3ConnectionError(Gen3Error, OSError):
    """The unit refused the connection or cannot be reached."""


class Gen3TimeoutError(Gen3Error, TimeoutError):
    """The unit did not answer in time."""


class Gen3ResponseError(Gen3Error):
    """The unit answered with an error status or a body that cannot be read."""
