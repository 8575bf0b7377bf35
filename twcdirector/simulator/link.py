"""An in-memory serial link to a simulated bus, shaped like pyserial-asyncio (asyncio adapter).

:class:`MemoryTransport` is the controller's end: what it writes reaches the simulated
units, what they send arrives through ``protocol.data_received``, ``chunk_size`` splits
deliveries (1: byte at a time), and :meth:`MemoryTransport.fail` cuts the link as a
vanished USB adapter would. :class:`~twcdirector.simulator.SimulatedBus` makes them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..exceptions import ConfigurationError, LinkError

_LOGGER = logging.getLogger(__name__)


class MemoryTransport(asyncio.Transport):
    """The controller's end of an in-memory link; the simulator's end is ``deliver``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: asyncio.BaseProtocol,
        to_bus: Callable[[bytes], None],
        *,
        chunk_size: int | None = None,
        on_close: Callable[[MemoryTransport], None] | None = None,
    ) -> None:
        super().__init__({"serial": None, "port": "memory://"})
        if chunk_size is not None and chunk_size < 1:
            raise ConfigurationError(f"chunk_size {chunk_size} must be >= 1")
        self._loop = loop
        self._protocol = protocol
        self._to_bus = to_bus
        self._chunk_size = chunk_size
        self._on_close = on_close
        self._closing = False
        self._paused = False
        self._held: list[bytes] = []
        #: Bytes the controller wrote, and bytes delivered to it.
        self.bytes_written = 0
        self.bytes_delivered = 0

    # --- asyncio.Transport (controller side) ---------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send bytes to the simulated units (they hear them on the next loop turn)."""
        if self._closing:
            raise LinkError("write on a closed memory link")
        data = bytes(data)
        self.bytes_written += len(data)
        self._loop.call_soon(self._to_bus, data)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._shut(None)

    def abort(self) -> None:
        self._shut(None)

    def pause_reading(self) -> None:
        self._paused = True

    def resume_reading(self) -> None:
        self._paused = False
        held, self._held = self._held, []
        for data in held:
            self.deliver(data)

    def is_reading(self) -> bool:
        return not self._paused and not self._closing

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Writes never queue here, so there is nothing to limit."""

    def can_write_eof(self) -> bool:
        return False

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    # --- simulator side ------------------------------------------------------------------

    def deliver(self, data: bytes) -> None:
        """Bytes from the units to the controller (split by ``chunk_size``)."""
        if self._closing:
            return
        if self._paused:
            self._held.append(data)
            return
        size = self._chunk_size or len(data) or 1
        for offset in range(0, len(data), size):
            self._loop.call_soon(self._data_received, data[offset : offset + size])

    def fail(self, reason: str = "memory link failed") -> None:
        """Cut the link: the protocol's ``connection_lost`` gets a :class:`LinkError`."""
        self._shut(LinkError(reason))

    def _data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self.bytes_delivered += len(data)
        protocol = self._protocol
        if isinstance(protocol, asyncio.Protocol):
            protocol.data_received(data)

    def _shut(self, error: Exception | None) -> None:
        if self._closing:
            return
        self._closing = True
        if self._on_close is not None:
            self._on_close(self)
        self._loop.call_soon(self._protocol.connection_lost, error)
