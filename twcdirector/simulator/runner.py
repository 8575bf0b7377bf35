"""Run a simulated bus on a real serial line or in memory (asyncio adapter).

The pure :class:`~twcdirector.simulator.bus.Bus` decides what to send and when; this module
only reads the loop's clock, wakes up at the bus's next deadline with ``loop.call_at``, and
moves bytes: to and from a pseudo-terminal, a pyserial URL, or in-memory transports. Bytes
of a frame are written at once when it starts on the simulated wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import struct
import termios
import tty
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol, Self

import serial
import serial_asyncio

from ..exceptions import ConfigurationError, LinkError
from ..protocol import Message
from .bus import Bus, Chunk, units_from
from .car import Car
from .config import UnitConfig
from .link import MemoryTransport
from .peripheral import SimulatedPeripheral
from .scenario import Action, ActionKind, Scenario

_LOGGER = logging.getLogger(__name__)

#: Unread bytes on the pty's far end above which nobody is listening: they are flushed,
#: as bytes on a wire nobody reads are gone (about a second of traffic at 9600 baud).
_STALE_BYTES = 1024
_READ_SIZE = 4096
#: Seconds between re-checks of a :meth:`SimulatedBus.wait_for` predicate.
_RECHECK = 0.05


class _Line(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class _PtyLine:
    """The master side of a new pseudo-terminal; the controller opens :attr:`path`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_data: Callable[[bytes], None]) -> None:
        try:
            self._master, self._slave = os.openpty()
        except OSError as error:
            raise LinkError(f"cannot create a pseudo-terminal: {error}") from error
        # Raw both ways: no echo, no line discipline, every byte passes unchanged.
        tty.setraw(self._master)
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        # Holding the far end open keeps the pty alive while no controller has it open.
        self.path = os.ttyname(self._slave)
        self._loop = loop
        self._on_data = on_data
        loop.add_reader(self._master, self._readable)

    def write(self, data: bytes) -> None:
        try:
            unread = struct.unpack("i", fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0"))[0]
            if unread > _STALE_BYTES:
                termios.tcflush(self._slave, termios.TCIFLUSH)
            view = memoryview(data)
            while view:
                view = view[os.write(self._master, view) :]
        except BlockingIOError:
            _LOGGER.debug("pty full, %d bytes dropped", len(data))
        except OSError as error:
            _LOGGER.warning("pty write failed: %s", error)

    def close(self) -> None:
        self._loop.remove_reader(self._master)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _readable(self) -> None:
        try:
            data = os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as error:
            _LOGGER.warning("pty read failed, no longer listening: %s", error)
            self._loop.remove_reader(self._master)
            return
        if data:
            self._on_data(data)


class _Receiver(asyncio.Protocol):
    def __init__(self, on_data: Callable[[bytes], None]) -> None:
        self._on_data = on_data

    def data_received(self, data: bytes) -> None:
        self._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            _LOGGER.warning("serial line lost: %s", exc)


class _SerialLine:
    """A serial device or pyserial URL opened through pyserial-asyncio."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self._transport = transport

    @classmethod
    async def open(
        cls,
        loop: asyncio.AbstractEventLoop,
        url: str,
        on_data: Callable[[bytes], None],
        baudrate: int,
    ) -> _SerialLine:
        try:
            transport, _ = await serial_asyncio.create_serial_connection(
                loop, lambda: _Receiver(on_data), url, baudrate=baudrate
            )
        except (serial.SerialException, OSError, ValueError) as error:
            raise LinkError(f"cannot open {url}: {error}") from error
        return cls(transport)

    def write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._transport.close()


class _MemoryLine:
    """Fans the units' bytes out to every in-memory transport connected."""

    def __init__(self) -> None:
        self.transports: list[MemoryTransport] = []

    def write(self, data: bytes) -> None:
        for transport in self.transports:
            transport.deliver(data)

    def close(self) -> None:
        for transport in list(self.transports):
            transport.close()

    def detach(self, transport: MemoryTransport) -> None:
        if transport in self.transports:
            self.transports.remove(transport)


class SimulatedBus:
    """Simulated Gen 2 peripherals on one bus, running on the event loop.

    Make it with :meth:`on_pty`, :meth:`on_port` or :meth:`in_memory` and use it as an async
    context manager (or call :meth:`start` / :meth:`stop`). Units are numbered from 0 in the
    order given; actions address them by number.
    """

    def __init__(
        self,
        units: Sequence[UnitConfig] | int = 1,
        *,
        scenario: Scenario | str | None = None,
        mode: str = "pty",
        url: str | None = None,
        baudrate: int = 9600,
        history: int = 1000,
    ) -> None:
        if mode not in ("pty", "port", "memory"):
            raise ConfigurationError(f"mode {mode!r} must be pty, port or memory")
        if mode == "port" and not url:
            raise ConfigurationError("mode 'port' needs a device or pyserial URL")
        self._configs = units_from(units)
        self._scenario = Scenario.parse(scenario) if isinstance(scenario, str) else scenario
        self._mode = mode
        self._url = url
        self._baudrate = baudrate
        self._history = history
        self._port: str | None = {"port": url, "memory": "memory://"}.get(mode)
        self._core: Bus | None = None
        self._line: _Line | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._changed = asyncio.Event()
        self._observers: list[Callable[[Chunk], None]] = []

    @classmethod
    def on_pty(
        cls, units: Sequence[UnitConfig] | int = 1, *, scenario: Scenario | str | None = None
    ) -> SimulatedBus:
        """On a new pseudo-terminal; the controller opens :attr:`port` (``/dev/pts/N``)."""
        return cls(units, scenario=scenario, mode="pty")

    @classmethod
    def on_port(
        cls,
        url: str,
        units: Sequence[UnitConfig] | int = 1,
        *,
        scenario: Scenario | str | None = None,
        baudrate: int = 9600,
    ) -> SimulatedBus:
        """On an existing serial device or pyserial URL (e.g. an RS-485 adapter)."""
        return cls(units, scenario=scenario, mode="port", url=url, baudrate=baudrate)

    @classmethod
    def in_memory(
        cls, units: Sequence[UnitConfig] | int = 1, *, scenario: Scenario | str | None = None
    ) -> SimulatedBus:
        """In memory; the controller connects with :meth:`create_serial_connection`."""
        return cls(units, scenario=scenario, mode="memory")

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the line and start the units (scenario times count from now); once only."""
        if self._core is not None:
            raise ConfigurationError("a SimulatedBus starts once; make a new one")
        loop = asyncio.get_running_loop()
        core = Bus(self._configs, now=loop.time(), scenario=self._scenario, history=self._history)
        if self._mode == "pty":
            line = _PtyLine(loop, self._on_data)
            self._line, self._port = line, line.path
        elif self._mode == "port":
            assert self._url is not None  # checked in __init__
            self._line = await _SerialLine.open(loop, self._url, self._on_data, self._baudrate)
        else:
            self._line = _MemoryLine()
        # Only now: a port that fails to open leaves the bus unstarted.
        self._loop, self._core = loop, core
        _LOGGER.info("simulating %d unit(s) on %s", len(self._configs), self.port)
        self._schedule()

    async def stop(self) -> None:
        """Stop the units and close the line."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._line is not None:
            self._line.close()
            self._line = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- what a test or the utility looks at ----------------------------------------------

    @property
    def port(self) -> str:
        """What a controller opens: the pty path, the device/URL, or ``memory://``."""
        if self._port is None:
            raise ConfigurationError("the pseudo-terminal exists once the bus has started")
        return self._port

    @property
    def core(self) -> Bus:
        """The pure bus (decoder counters, received messages, units)."""
        if self._core is None:
            raise ConfigurationError("the simulated bus has not been started")
        return self._core

    @property
    def units(self) -> list[SimulatedPeripheral]:
        """The units, in configuration order."""
        return self.core.units

    def unit(self, index: int) -> SimulatedPeripheral:
        """Unit number ``index``."""
        return self.core.unit(index)

    @property
    def received(self) -> list[tuple[float, Message]]:
        """The controller's latest messages with their loop time."""
        return list(self.core.received)

    def observe(self, callback: Callable[[Chunk], None]) -> None:
        """Call ``callback`` with every chunk the units send (for logging or a monitor)."""
        self._observers.append(callback)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; checked after every bus event.

        Bound it with ``asyncio.timeout`` in tests.
        """
        while not predicate():
            # Also re-check now and then: the predicate may watch the controller's side.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), _RECHECK)

    # --- actions at run time ---------------------------------------------------------------

    def plug_in(self, unit: int, car: Car | None = None) -> None:
        """Plug a car (default: a Tesla with a VIN unique to the unit) into unit ``unit``."""
        self.apply(Action(0, ActionKind.PLUG_IN, unit, car=car))

    def unplug(self, unit: int) -> None:
        """Unplug the car from unit ``unit``."""
        self.apply(Action(0, ActionKind.UNPLUG, unit))

    def go_silent(self, unit: int, seconds: float) -> None:
        """Unit ``unit`` transmits nothing for ``seconds`` (it still hears the bus)."""
        self.apply(Action(0, ActionKind.GO_SILENT, unit, seconds=seconds))

    def drop_replies(self, unit: int, count: int = 1) -> None:
        """Unit ``unit`` drops its next ``count`` replies."""
        self.apply(Action(0, ActionKind.DROP, unit, count=count))

    def delay_replies(self, unit: int, seconds: float, count: int = 1) -> None:
        """Unit ``unit`` sends its next ``count`` replies ``seconds`` late."""
        self.apply(Action(0, ActionKind.DELAY, unit, seconds=seconds, count=count))

    def corrupt_replies(self, unit: int, count: int = 1) -> None:
        """Unit ``unit`` flips a bit in its next ``count`` replies."""
        self.apply(Action(0, ActionKind.CORRUPT, unit, count=count))

    def inject_noise(self, unit: int, data: bytes = b"", count: int = 8) -> None:
        """Unit ``unit`` puts ``data`` (or ``count`` random non-C0 bytes) on the bus."""
        self.apply(Action(0, ActionKind.NOISE, unit, data=data, count=count))

    def collide(self, unit: int, device_id: int | None = None) -> None:
        """Unit ``unit`` announces ``device_id`` (default: the controller's own ID)."""
        self.apply(Action(0, ActionKind.COLLIDE, unit, device_id=device_id))

    def reboot(self, unit: int) -> None:
        """Power-cycle unit ``unit``."""
        self.apply(Action(0, ActionKind.REBOOT, unit))

    def offer(self, unit: int, amps: float) -> None:
        """Make unit ``unit`` offer ``amps`` now, as another controller could have left it."""
        self.apply(Action(0, ActionKind.OFFER, unit, amps=amps))

    def apply(self, action: Action) -> None:
        """Do ``action`` now (its ``at`` is ignored)."""
        now = self._now()
        self._flush(now)
        self.core.apply(action, now)
        self._after_input()

    def run_scenario(self, scenario: Scenario | str) -> None:
        """Schedule a scenario whose times count from now."""
        if isinstance(scenario, str):
            scenario = Scenario.parse(scenario)
        now = self._now()
        self.core.add(scenario, offset=now - self.core.start)
        self._after_input()

    # --- memory link -----------------------------------------------------------------------

    async def create_serial_connection(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        *args: object,
        chunk_size: int | None = None,
        **kwargs: object,
    ) -> tuple[MemoryTransport, asyncio.BaseProtocol]:
        """Drop-in for ``serial_asyncio.create_serial_connection`` on an in-memory bus.

        Port arguments are ignored; ``chunk_size=1`` delivers the units' bytes one at a time.
        """
        line = self._line
        if not isinstance(line, _MemoryLine):
            raise ConfigurationError("create_serial_connection needs SimulatedBus.in_memory()")
        protocol = protocol_factory()
        transport = MemoryTransport(
            loop, protocol, self._on_data, chunk_size=chunk_size, on_close=line.detach
        )
        line.transports.append(transport)
        loop.call_soon(protocol.connection_made, transport)
        await asyncio.sleep(0)  # connection_made runs before the caller writes
        return transport, protocol

    async def open_connection(
        self, *, chunk_size: int | None = None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Streams over an in-memory link, like ``serial_asyncio.open_serial_connection``."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        transport, _ = await self.create_serial_connection(
            loop, lambda: protocol, chunk_size=chunk_size
        )
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    # --- helpers -----------------------------------------------------------------------------

    def _now(self) -> float:
        if self._loop is None:
            raise ConfigurationError("the simulated bus has not been started")
        return self._loop.time()

    def _on_data(self, data: bytes) -> None:
        if self._line is None:
            return
        now = self._now()
        self._flush(now)
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("<< %s", data.hex(" "))
        self.core.receive(data, now)
        self._after_input()

    def _wake(self) -> None:
        self._handle = None
        if self._line is None:
            return
        now = self._now()
        self._flush(now)
        self._after_input()

    def _flush(self, now: float) -> None:
        """Put on the line everything that is due by ``now``."""
        line = self._line
        for chunk in self.core.poll(now):
            if _LOGGER.isEnabledFor(logging.DEBUG):
                _LOGGER.debug(">> unit %d: %s", chunk.unit, chunk.data.hex(" "))
            if line is not None:
                line.write(chunk.data)
            for observer in self._observers:
                try:
                    observer(chunk)
                except Exception:
                    _LOGGER.exception("simulator observer %r failed", observer)

    def _after_input(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        self._schedule()

    def _schedule(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        deadline = self.core.next_deadline()
        if deadline is not None and self._loop is not None and self._line is not None:
            self._handle = self._loop.call_at(deadline, self._wake)
