"""Compatibility: the serial transport moved to :mod:`twcdirector.gen2.transport`."""

from .gen2.transport import (
    CLOSE_TIMEOUT,
    TRACE,
    Link,
    LinkFactory,
    LinkListener,
    SerialLink,
    open_serial_link,
)

__all__ = [
    "CLOSE_TIMEOUT",
    "TRACE",
    "Link",
    "LinkFactory",
    "LinkListener",
    "SerialLink",
    "open_serial_link",
]
