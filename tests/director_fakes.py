"""Fakes for the director's tests: scripted peripherals, a pure bus harness, a virtual clock,
and in-memory links (byte at a time, lossy, noisy, delayed).

Nothing here uses the project's simulator: these peripherals are minimal and scripted, built
from the protocol's own message classes and ``encode_reply``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import selectors
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from twcdirector.exceptions import LinkError
from twcdirector.gen2.controller import BusController, Transmission
from twcdirector.gen2.transport import LinkListener
from twcdirector.protocol import (
    CloseContactors,
    CloseContactorsAck,
    ControllerHeartbeat,
    ControllerLinkReady1,
    ControllerLinkReady2,
    FrameDecoder,
    HeartbeatCommand,
    Message,
    MeterReply,
    MeterRequest,
    OpenContactors,
    OpenContactorsAck,
    PeripheralHeartbeat,
    PeripheralLinkReady,
    PeripheralState,
    ProtocolVersion,
    SerialReply,
    SerialRequest,
    VersionReply,
    VersionRequest,
    VinHighReply,
    VinHighRequest,
    VinLowReply,
    VinLowRequest,
    VinMidReply,
    VinMidRequest,
    decode_frame,
    encode_reply,
)

T = TypeVar("T")

BYTE_TIME = 10 / 9600


# --- a scripted peripheral (pure) ----------------------------------------------------------


@dataclass
class FakePeripheral:
    """A Gen 2 unit in peripheral mode, just enough to answer a controller."""

    device_id: int
    max_amps: float = 32.0
    protocol: ProtocolVersion = ProtocolVersion.V2
    sign: int = 0x52
    state: int = PeripheralState.READY
    allowed: float = 0.0
    actual: float = 0.0
    vin: str = ""
    serial: str = "A18B0001839"
    firmware: tuple[int, int, int, int] = (4, 5, 3, 2)
    kwh: int = 1234
    volts: tuple[int, int, int] = (241, 0, 0)
    #: Answer nothing at all (unplugged cable, dead unit).
    silent: bool = False
    #: Apply heartbeat commands to the reported state (a unit that ignores them: False).
    reflect: bool = True
    #: Seconds between announcements while unclaimed.
    announce_interval: float = 1.3
    claimed: bool = False
    received: list[Message] = field(default_factory=list)

    @property
    def length(self) -> int:
        return 14 if self.protocol is ProtocolVersion.V1 else 16

    def link_ready(self) -> PeripheralLinkReady:
        return PeripheralLinkReady(self.device_id, self.sign, self.max_amps, self.length)

    def status(self, controller_id: int) -> PeripheralHeartbeat:
        return PeripheralHeartbeat(
            self.device_id, controller_id, self.state, self.allowed, self.actual, self.length
        )

    def plug(self, vin: str) -> None:
        self.vin = vin

    def handle(self, message: Message) -> list[Message]:
        """The replies to one frame heard on the bus."""
        if self.silent:
            return []
        if isinstance(message, ControllerLinkReady2 | ControllerLinkReady1):
            return [] if self.claimed else [self.link_ready()]
        receiver = getattr(message, "receiver", None)
        if receiver != self.device_id:
            return []
        self.received.append(message)
        if isinstance(message, ControllerHeartbeat):
            self.claimed = True
            if self.reflect:
                self._apply(message)
            return [self.status(message.sender)]
        replies: dict[type[Message], Callable[[], Message]] = {
            MeterRequest: lambda: MeterReply(self.device_id, self.kwh, self.volts),
            VersionRequest: lambda: VersionReply(self.device_id, self.firmware),
            SerialRequest: lambda: SerialReply(self.device_id, self.serial),
            VinHighRequest: lambda: VinHighReply(self.device_id, self.vin[:7]),
            VinMidRequest: lambda: VinMidReply(self.device_id, self.vin[7:14]),
            VinLowRequest: lambda: VinLowReply(self.device_id, self.vin[14:17]),
            CloseContactors: lambda: CloseContactorsAck(self.device_id),
            OpenContactors: lambda: OpenContactorsAck(self.device_id),
        }
        build = replies.get(type(message))
        return [build()] if build is not None else []

    def _apply(self, message: ControllerHeartbeat) -> None:
        command = message.command
        if command in (HeartbeatCommand.SET_DEFAULT_CURRENT, HeartbeatCommand.ACK_CHARGE_START):
            self.allowed = message.amps
        elif command == HeartbeatCommand.SET_SESSION_CURRENT:
            self.allowed = message.amps
            self.state = PeripheralState.LIMIT_SET
        elif command == HeartbeatCommand.INCREASE_CURRENT:
            self.state = PeripheralState.RAISING
        elif command == HeartbeatCommand.DECREASE_CURRENT:
            self.state = PeripheralState.LOWERING


# --- the pure core on a discrete-event bus -------------------------------------------------


class CoreBus:
    """Drives a :class:`BusController` against fake peripherals in simulated time.

    Replies come ``reply_delay`` after the end of the frame that asked; unclaimed units
    announce themselves every ``announce_interval``. Everything is deterministic.
    """

    def __init__(
        self,
        core: BusController,
        peripherals: list[FakePeripheral],
        *,
        reply_delay: float = 0.03,
        start: float = 0.0,
        drop: Callable[[Message], bool] | None = None,
    ) -> None:
        self.core = core
        self.peripherals: list[FakePeripheral] = []
        self.reply_delay = reply_delay
        self.now = start
        self.drop = drop
        #: Called with (now, transmission) as each frame goes out.
        self.on_send: Callable[[float, Transmission], None] | None = None
        #: (time, transmission) for every frame the core wrote.
        self.wire: list[tuple[float, Transmission]] = []
        #: (time, message) for every frame a peripheral sent.
        self.replies: list[tuple[float, Message]] = []
        #: (time, message) for every frame the core was given (replies and injected ones).
        self.heard: list[tuple[float, Message]] = []
        self.notices: list[Any] = []
        self.decoder = FrameDecoder(on_error=core.framing_error)
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.core.start(start, sign=0x77)
        for peripheral in peripherals:
            self.power_on(peripheral)

    def power_on(self, peripheral: FakePeripheral, at: float | None = None) -> None:
        def on() -> None:
            if peripheral not in self.peripherals:
                self.peripherals.append(peripheral)
            self._announce(peripheral)

        self.at(self.now if at is None else at, on)

    def at(self, time: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (time, next(self._seq), action))

    def inject(self, message: Message, raw: bytes | None = None) -> None:
        """A frame from someone else on the bus, heard now."""
        data = raw if raw is not None else encode_reply(message)
        self._hear(data)

    def run_until(self, end: float) -> None:
        while True:
            transmission = self.core.poll(self.now)
            self.notices.extend(self.core.drain())
            if transmission is not None:
                self._send(transmission)
                continue
            wake = self.core.next_wakeup(self.now)
            queued = self._queue[0][0] if self._queue else float("inf")
            target = min(wake, queued)
            if target > end:
                self.now = end
                return
            self.now = max(self.now, target)
            while self._queue and self._queue[0][0] <= self.now:
                _, _, action = heapq.heappop(self._queue)
                action()
            self.notices.extend(self.core.drain())

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def sent(
        self, kind: type[Message] | None = None, to: int | None = None
    ) -> list[tuple[float, Message]]:
        return [
            (time, tx.message)
            for time, tx in self.wire
            if (kind is None or isinstance(tx.message, kind))
            and (to is None or getattr(tx.message, "receiver", None) == to)
        ]

    def events(self, name: str) -> list[Any]:
        return [notice for notice in self.notices if notice.event == name]

    def _send(self, transmission: Transmission) -> None:
        self.wire.append((self.now, transmission))
        if self.on_send is not None:
            self.on_send(self.now, transmission)
        message = decode_frame(transmission.data)
        end = self.now + len(transmission.data) * BYTE_TIME
        for peripheral in self.peripherals:
            for reply in peripheral.handle(message):
                if self.drop is not None and self.drop(reply):
                    continue
                self.at(end + self.reply_delay, lambda reply=reply: self._reply(reply))

    def _reply(self, message: Message) -> None:
        self.replies.append((self.now, message))
        self._hear(encode_reply(message))

    def _hear(self, data: bytes) -> None:
        self.core.heard(self.now)
        for message in self.decoder.feed(data):
            self.heard.append((self.now, message))
            self.core.receive(message, self.now)
        self.notices.extend(self.core.drain())

    def _announce(self, peripheral: FakePeripheral) -> None:
        if peripheral.claimed or peripheral.silent or peripheral not in self.peripherals:
            return
        self._reply(peripheral.link_ready())
        self.at(self.now + peripheral.announce_interval, lambda: self._announce(peripheral))


# --- virtual time for asyncio --------------------------------------------------------------


class _InstantSelector(selectors.DefaultSelector):
    """Never blocks: when nothing is ready, the loop's virtual clock jumps to its next timer."""

    loop: VirtualTimeLoop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if not ready and timeout is not None and timeout > 0:
            self.loop.advance(timeout)
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock only moves when every task waits: hours of bus time run in
    milliseconds, and timings are exact. For in-memory links only (no real I/O waits)."""

    def __init__(self) -> None:
        selector = _InstantSelector()
        super().__init__(selector)
        selector.loop = self
        self._virtual = 1000.0

    def time(self) -> float:
        return self._virtual

    def advance(self, seconds: float) -> None:
        self._virtual += seconds


def run_virtual(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main()`` on a fresh :class:`VirtualTimeLoop`; fail if it leaves tasks behind."""
    loop = VirtualTimeLoop()
    try:
        result = loop.run_until_complete(main())
        leftover = [task for task in asyncio.all_tasks(loop) if not task.done()]
        assert not leftover, f"tasks leaked: {leftover}"
        return result
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def wait_until(
    condition: Callable[[], bool], within: float = 120.0, step: float = 0.01
) -> None:
    """Poll ``condition`` in (virtual) time; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(step)


# --- in-memory links -----------------------------------------------------------------------


@dataclass
class LinkBehaviour:
    """How the in-memory bus mistreats what the controller hears."""

    #: Deliver replies one byte per byte-time (as a UART would) instead of in one chunk.
    byte_at_a_time: bool = False
    #: Drop every reply for which this returns True (called with a counter and the message).
    lose: Callable[[int, Message], bool] | None = None
    #: Garbage before each frame and a tail byte after it (real units send one).
    noise: bool = False
    #: Seconds from the end of a request to the start of its reply.
    reply_delay: float = 0.03


class MemoryBus:
    """An RS-485 bus in memory: one controller link and scripted peripherals on loop timers."""

    def __init__(self, peripherals: list[FakePeripheral] | None = None, **behaviour: Any) -> None:
        self.peripherals = list(peripherals or [])
        self.behaviour = LinkBehaviour(**behaviour)
        #: (loop time, frame) for every frame the controller wrote, across reopenings.
        self.wire: list[tuple[float, bytes]] = []
        #: Called with each written frame before it goes out (for safety checks).
        self.on_write: Callable[[bytes], None] | None = None
        self.link: MemoryLink | None = None
        self.opens = 0
        #: Refuse this many opens (the port has vanished).
        self.fail_opens = 0
        self._replies = 0
        self._busy_until = 0.0
        self._rng = random.Random(7)
        self._handles: list[asyncio.TimerHandle] = []

    async def factory(self, port: str, baudrate: int, listener: LinkListener) -> MemoryLink:
        """A link factory for :class:`~twcdirector.gen2.director.Director`."""
        await asyncio.sleep(0)
        if self.fail_opens:
            self.fail_opens -= 1
            raise LinkError(f"cannot open {port}: no such device")
        self.opens += 1
        self.link = MemoryLink(self, listener)
        for peripheral in self.peripherals:
            self._schedule_announce(peripheral, 0.05)
        return self.link

    def add(self, peripheral: FakePeripheral, after: float = 0.0) -> None:
        self.peripherals.append(peripheral)
        self._schedule_announce(peripheral, after)

    def unplug(self) -> None:
        """The USB adapter vanished: the link fails and further opens fail."""
        self.fail_opens = 10**9
        if self.link is not None:
            self.link.fail(LinkError("device reports readiness to read but returned no data"))

    def plug_back(self) -> None:
        self.fail_opens = 0

    def inject(self, data: bytes, delay: float = 0.0) -> None:
        """Bytes from someone else on the bus."""
        self._later(delay, lambda: self._deliver(data))

    def frames(self) -> list[tuple[float, Message]]:
        return [(time, decode_frame(data)) for time, data in self.wire]

    def close(self) -> None:
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()

    # --- internals ---------------------------------------------------------------------

    def _controller_wrote(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.wire.append((loop.time(), data))
        if self.on_write is not None:
            self.on_write(data)
        message = decode_frame(data)
        end = len(data) * BYTE_TIME
        for peripheral in self.peripherals:
            for reply in peripheral.handle(message):
                self._replies += 1
                lose = self.behaviour.lose
                if lose is not None and lose(self._replies, reply):
                    continue
                self._later(
                    end + self.behaviour.reply_delay,
                    lambda reply=reply: self._deliver(encode_reply(reply)),
                )

    def _deliver(self, data: bytes) -> None:
        link = self.link
        if link is None or link.closed:
            return
        if self.behaviour.noise:
            garbage = bytes(self._rng.choice((0x00, 0x11, 0xFE, 0xFF, 0x7C)) for _ in range(3))
            data = garbage + data + b"\xfe"
        if self.behaviour.byte_at_a_time:
            # Units wait for a quiet bus too: one frame's bytes never interleave another's.
            now = asyncio.get_running_loop().time()
            start = max(now, self._busy_until)
            self._busy_until = start + len(data) * BYTE_TIME
            for index, byte in enumerate(data):
                self._later(
                    start - now + index * BYTE_TIME, lambda byte=byte: link.feed(bytes((byte,)))
                )
        else:
            link.feed(data)

    def _schedule_announce(self, peripheral: FakePeripheral, after: float) -> None:
        def announce() -> None:
            if peripheral.claimed or peripheral.silent or peripheral not in self.peripherals:
                return
            self._deliver(encode_reply(peripheral.link_ready()))
            self._later(peripheral.announce_interval, announce)

        self._later(after, announce)

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        self._handles = [handle for handle in self._handles if not handle.cancelled()]
        self._handles.append(loop.call_later(delay, action))


class MemoryLink:
    """The controller's end of a :class:`MemoryBus`."""

    def __init__(self, bus: MemoryBus, listener: LinkListener) -> None:
        self.bus = bus
        self.listener = listener
        self.closed = False
        self.writes = 0

    async def write(self, frame: bytes) -> None:
        if self.closed:
            raise LinkError("closed")
        self.writes += 1
        self.bus._controller_wrote(frame)
        await asyncio.sleep(len(frame) * BYTE_TIME)

    async def close(self) -> None:
        self.closed = True

    def feed(self, data: bytes) -> None:
        if not self.closed:
            self.listener.link_data(data)

    def fail(self, error: LinkError) -> None:
        if not self.closed:
            self.closed = True
            self.listener.link_lost(error)


async def collect(awaitable: Awaitable[T]) -> T | BaseException:
    """An awaitable's result, or the exception it raised."""
    try:
        return await awaitable
    except Exception as error:
        return error
