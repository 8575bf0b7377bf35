"""The serial adapter: bytes to and from any pyserial URL, on pyserial-asyncio (9600 8N1).

It knows bytes and frames only; splitting the byte stream into frames is the decoder's job.
Raw traffic is logged as hex at :data:`TRACE`, a level below DEBUG. Serial errors are
translated into :class:`~twcdirector.exceptions.LinkError`.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import io
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import serial
import serial_asyncio

from ..exceptions import LinkError

_LOGGER = logging.getLogger(__name__)

#: Log level of raw hex traffic, below DEBUG.
TRACE = 5
logging.addLevelName(TRACE, "TRACE")

#: How long a graceful close may take to flush before the port is dropped.
CLOSE_TIMEOUT = 2.0


class LinkListener(Protocol):
    """What a link reports to its owner."""

    def link_data(self, data: bytes) -> None:
        """Bytes arrived."""

    def link_lost(self, error: LinkError) -> None:
        """The link failed (not called after :meth:`Link.close`)."""


class Link(Protocol):
    """A byte link to the bus: the serial port, or an in-memory fake in tests."""

    async def write(self, frame: bytes) -> None:
        """Write one whole frame; return once it has left our buffers. Raise LinkError."""

    async def close(self) -> None:
        """Finish what is being written, then close."""


@runtime_checkable
class DirectLink(Link, Protocol):
    """A link that takes a frame without being awaited (the director's hot path)."""

    def write_now(self, frame: bytes) -> None:
        """Hand one whole frame to the port's buffer at once. Raise LinkError."""


#: ``factory(port, baudrate, listener)`` opens a link or raises LinkError.
LinkFactory = Callable[[str, int, LinkListener], Awaitable[Link]]


#: What pyserial says when a port is readable but yields nothing (it was unplugged).
_NO_DATA = (
    "device reports readiness to read but returned no data "
    "(device disconnected or multiple access on port?)"
)


class _SerialTransport(serial_asyncio.SerialTransport):  # type: ignore[misc]
    """pyserial-asyncio's transport, writing at once when nothing is queued, and reading and
    writing a device's file descriptor directly.

    Its own ``write`` always queues and registers a writer, which costs two extra passes of
    the event loop per frame; a 9600-baud line that is idle takes a whole frame at once. Its
    reader calls pyserial's ``read``, which runs ``select()`` twice per call although the
    event loop has just said the descriptor is readable.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: Any, instance: Any) -> None:
        super().__init__(loop, protocol, instance)
        #: The descriptor, for a port whose ``read`` and ``write`` are pyserial's own POSIX
        #: ones (not ``spy://`` or another handler that does more than that).
        self._fd: int | None = None
        kind = type(instance)
        if kind.read is serial.Serial.read and kind.write is serial.Serial.write:
            self._fd = instance.fileno() if _has_fileno(instance) else None

    def _read_ready(self) -> None:
        if self._fd is None:
            super()._read_ready()
            return
        try:
            data = os.read(self._fd, self._max_read_size)
        except (BlockingIOError, InterruptedError):
            return  # woken for nothing
        except OSError as error:
            self._close(exc=serial.SerialException(f"read failed: {error}"))
            return
        if not data:
            self._close(exc=serial.SerialException(_NO_DATA))
            return
        self._protocol.data_received(data)

    def write(self, data: bytes) -> None:
        if self._closing or self.get_write_buffer_size():
            super().write(data)
            return
        try:
            fd = self._fd
            written = self._serial.write(data) if fd is None else os.write(fd, data)
        except (BlockingIOError, InterruptedError):
            written = 0
        except serial.SerialException as error:
            self._fatal_error(error, "Fatal write error on serial transport")
            return
        except OSError as error:
            failed = serial.SerialException(f"write failed: {error}")
            self._fatal_error(failed, "Fatal write error on serial transport")
            return
        if written < len(data):
            super().write(data[written:])


class _PolledSerialTransport(_SerialTransport):
    """For URL handlers without a file descriptor (``loop://``, ``rfc2217://``): poll.

    pyserial-asyncio waits on the port's file descriptor; these handlers have none, so the
    reader and writer hooks run on a short timer instead (as pyserial-asyncio does on Windows).
    """

    POLL_INTERVAL = 0.005

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: Any, instance: Any) -> None:
        super().__init__(loop, protocol, instance)
        # These handlers treat a zero write timeout as "always too late" (loop:// refuses
        # every write); their writes do not block on a frame's worth of bytes anyway.
        self._serial.write_timeout = None

    _reader: asyncio.Handle | None = None
    _writer: asyncio.Handle | None = None
    _has_reader: bool
    _has_writer: bool

    def _ensure_reader(self) -> None:
        if not self._has_reader and not self._closing:
            self._has_reader = True
            self._reader = self._loop.call_soon(self._poll_read)

    def _remove_reader(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        self._has_reader = False

    def _poll_read(self) -> None:
        self._reader = None
        if not self._has_reader or self._closing:
            return
        try:
            waiting = self._serial.in_waiting
        except (serial.SerialException, OSError) as error:
            self._fatal_error(error, "serial port failed")
            return
        if waiting:
            self._read_ready()
        if self._has_reader and not self._closing:
            self._reader = self._loop.call_later(self.POLL_INTERVAL, self._poll_read)

    def _ensure_writer(self) -> None:
        if not self._has_writer and not self._closing:
            self._has_writer = True
            self._writer = self._loop.call_soon(self._poll_write)

    def _remove_writer(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        self._has_writer = False

    def _poll_write(self) -> None:
        self._writer = None
        if not self._has_writer or not self._write_buffer:
            return
        self._write_ready()
        if self._has_writer and self._writer is None:
            self._writer = self._loop.call_later(self.POLL_INTERVAL, self._poll_write)


class _SerialProtocol(asyncio.Protocol):
    """Bytes up to the listener; write flow control turned into an awaitable drain."""

    def __init__(self, port: str, listener: LinkListener) -> None:
        self._port = port
        self._listener = listener
        self._loop = asyncio.get_running_loop()
        self._drained: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        # Pause at the first buffered byte, resume when all of it left: a drain per frame.
        transport.set_write_buffer_limits(high=0, low=0)

    def data_received(self, data: bytes) -> None:
        if _LOGGER.isEnabledFor(TRACE):  # no hex of every chunk while TRACE is off
            _LOGGER.log(TRACE, "%s rx %s", self._port, data.hex(" "))
        self._listener.link_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        if not self.closed.done():
            self.closed.set_result(None)
        if self.closing and exc is None:
            return
        reason = f"{self._port}: {exc}" if exc is not None else f"{self._port} closed"
        _LOGGER.warning("link lost: %s", reason)
        self._listener.link_lost(LinkError(reason))

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = self._loop.create_future()

    def resume_writing(self) -> None:
        self._release()

    async def drained(self) -> None:
        if self._drained is not None:
            await asyncio.shield(self._drained)

    def _release(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None


class SerialLink:
    """An open serial port (any pyserial URL)."""

    def __init__(self, port: str, transport: Any, protocol: _SerialProtocol) -> None:
        self.port = port
        self._transport = transport
        self._protocol = protocol

    @property
    def is_open(self) -> bool:
        """Neither closed by us nor lost."""
        return not self._transport.is_closing()

    async def write(self, frame: bytes) -> None:
        """Write one frame and wait until it has left our buffer."""
        self.write_now(frame)
        await self._protocol.drained()
        if self._protocol.closed.done() and not self._protocol.closing:
            raise LinkError(f"{self.port} was lost while writing")

    def write_now(self, frame: bytes) -> None:
        """Hand one frame to the port (written at once on an idle line, else buffered; a
        close flushes the buffer). Raises :class:`LinkError` once the port is closed."""
        if self._transport.is_closing():
            raise LinkError(f"{self.port} is closed")
        if _LOGGER.isEnabledFor(TRACE):
            _LOGGER.log(TRACE, "%s tx %s", self.port, frame.hex(" "))
        self._transport.write(frame)

    async def close(self) -> None:
        """Flush what is buffered (never half a frame), then close the port."""
        self._protocol.closing = True
        if not self._transport.is_closing():
            self._transport.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await asyncio.shield(self._protocol.closed)
        except TimeoutError:
            _LOGGER.warning("%s did not flush in %s s; dropping it", self.port, CLOSE_TIMEOUT)
            self._transport.abort()
            await asyncio.shield(self._protocol.closed)


def _has_fileno(instance: serial.SerialBase) -> bool:
    try:
        instance.fileno()
    except (io.UnsupportedOperation, AttributeError, OSError, ValueError):
        return False
    return True


def _open_error(port: str, error: Exception) -> LinkError:
    """The one-line error for a port that did not open; "port busy" when another process
    holds its exclusive lock (pyserial passes flock's EWOULDBLOCK on as the errno)."""
    if getattr(error, "errno", None) in (errno.EWOULDBLOCK, errno.EAGAIN):
        return LinkError(f"port busy: {port} is in use by another program")
    return LinkError(f"cannot open {port}: {error}")


async def open_serial_link(port: str, baudrate: int, listener: LinkListener) -> SerialLink:
    """Open ``port`` (a device path or ``rfc2217://``, ``socket://``, ``loop://`` …) at 8N1.

    Opening runs in a worker thread: some URL handlers connect over TCP and would otherwise
    block the event loop. A device is opened exclusively (SPEC §8.7: one controller per port):
    pyserial takes a non-blocking ``flock`` on POSIX, so a second process that asks the same
    gets "port busy". The lock is advisory (a program that does not ask is not stopped), and
    URL ports (``loop://``, ``socket://``, ``rfc2217://``) accept the option and ignore it.
    Raises :class:`LinkError` when the port cannot be opened or is busy.
    """
    loop = asyncio.get_running_loop()
    opener = functools.partial(
        serial.serial_for_url,
        port,
        baudrate=baudrate,
        bytesize=serial.EIGHTBITS,
        parity=serial.PARITY_NONE,
        stopbits=serial.STOPBITS_ONE,
        timeout=0,
        exclusive=True,
    )
    try:
        instance = await loop.run_in_executor(None, opener)
    except (serial.SerialException, OSError, ValueError) as error:
        raise _open_error(port, error) from error
    protocol = _SerialProtocol(port, listener)
    cls = _SerialTransport if _has_fileno(instance) else _PolledSerialTransport
    transport = cls(loop, protocol, instance)
    _LOGGER.debug("opened %s at %s baud (%s)", port, baudrate, cls.__name__)
    return SerialLink(port, transport, protocol)
