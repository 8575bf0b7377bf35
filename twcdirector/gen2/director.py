"""The asyncio controller: a thin adapter between a serial link, the pure core and pyee.

:class:`Director` owns one link and one :class:`~twcdirector.gen2.controller.BusController`.
Bytes from the link go through the frame decoder into the core; the core says what to write
and when; the events it produces are emitted on the director or on a :class:`Peripheral`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable, Mapping
from enum import IntEnum
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Self

from ..emitter import SafeEmitter
from ..events import (
    LINK_LOST,
    LINK_RESTORED,
    NEW_DEVICE,
    CommandOutcome,
    LinkEvent,
    NewDevice,
    format_id,
)
from ..exceptions import CommandFailedError, LinkError, UsageError
from ..protocol.decoder import FrameDecoder
from ..protocol.messages import Message
from .commands import CommandKind
from .config import DirectorConfig
from .controller import BusController
from .device import Notice
from .limits import CurrentLimits
from .snapshot import DirectorSnapshot, PeripheralSnapshot
from .transport import DirectLink, Link, LinkFactory, open_serial_link

if TYPE_CHECKING:  # the Gen 3 monitor pulls in aiohttp; a Gen 2-only director never needs it
    from ..gen3.monitor import Gen3Monitor

_LOGGER = logging.getLogger(__name__)

#: How long close() lets the frame in flight finish before it cancels the bus task.
_STOP_TIMEOUT = 5.0

#: ``callback(direction, raw, message)``: direction ``"tx"`` or ``"rx"``; message ``None``
#: for a frame that failed to decode.
FrameCallback = Callable[[str, bytes, "Message | None"], None]


class Lifecycle(IntEnum):
    """Where a :class:`Director` is in its life; it only moves forward (a failed start goes
    back to ``NEW`` so it may be tried again)."""

    NEW = 0  #: created, not started (closing it does nothing)
    STARTING = 1  #: opening the port
    RUNNING = 2  #: the bus task runs; commands are taken
    STOPPING = 3  #: close() began: the optional fail-safe; new commands are refused
    CLOSING = 4  #: the bus task finishes the frame in flight, then the port is closed
    CLOSED = 5  #: done; it cannot be started again


class Peripheral(SafeEmitter):
    """One Gen 2 peripheral on the bus; emits its own events (see :mod:`twcdirector.events`).

    Commands validate first (nothing is sent on an error), go out in the next free bus slot,
    and return once the unit's replies confirm them; otherwise they are re-sent up to
    ``config.command_retries`` times, ``TWC_COMMAND_FAILED`` is emitted and
    :class:`~twcdirector.exceptions.CommandFailedError` raised.
    """

    #: A Gen 2 unit (see :class:`~twcdirector.events.DeviceHandle`).
    generation = 2

    def __init__(self, director: Director, device_id: int) -> None:
        super().__init__()
        self._director = director
        #: The 16-bit ID on the bus.
        self.device_id = device_id
        #: The ID as 4-digit upper-case hex, as in events.
        self.id_hex = format_id(device_id)

    def __repr__(self) -> str:
        return f"<Peripheral {self.id_hex}>"

    def snapshot(self) -> PeripheralSnapshot:
        """A frozen copy of what is known about the unit."""
        return self._director._peripheral_snapshot(self.device_id)

    async def set_default_current(self, amps: float) -> None:
        """``FB E0 05``: the current offered at the next plug-in (v2), the limit (v1).

        Raises :class:`~twcdirector.CurrentLimitError` for a current that is not 0 or a whole
        number of amperes from the protocol minimum to the unit's ceiling (nothing is sent),
        :class:`~twcdirector.NotApplicableError` if the unit is offline or capacity sharing
        is on (it sets currents itself),
        :class:`~twcdirector.DeviceNotFoundError` if it is not announced,
        :class:`~twcdirector.UsageError` if the director is not running or only listening, and
        :class:`~twcdirector.CommandFailedError` if the unit never confirms it.
        """
        await self._director._command(self.device_id, CommandKind.SET_DEFAULT_CURRENT, amps)

    async def set_session_current(self, amps: float) -> None:
        """``FB E0 09`` (v1: ``05``): the live limit while a car is connected (under capacity
        sharing: a cap on the unit's share, confirmed at once).

        Raises :class:`~twcdirector.CurrentLimitError` for a current that is not 0 or a whole
        number of amperes from the protocol minimum to the unit's ceiling (nothing is sent),
        :class:`~twcdirector.NotApplicableError` if the unit is offline,
        :class:`~twcdirector.DeviceNotFoundError` if it is not announced,
        :class:`~twcdirector.UsageError` if the director is not running or only listening, and
        :class:`~twcdirector.CommandFailedError` if the unit never confirms it.
        """
        await self._director._command(self.device_id, CommandKind.SET_SESSION_CURRENT, amps)

    async def increase_current(self) -> None:
        """``FB E0 06``: raise by 2 A (protocol 2, refused past the limit).

        Raises :class:`~twcdirector.CurrentLimitError` if 2 A more could pass the unit's
        ceiling, :class:`~twcdirector.NotApplicableError` if the unit is offline, speaks
        protocol 1 or capacity sharing is on,
        :class:`~twcdirector.DeviceNotFoundError` if it is not announced,
        :class:`~twcdirector.UsageError` if the director is not running or only listening, and
        :class:`~twcdirector.CommandFailedError` if the unit never confirms it.
        """
        await self._director._command(self.device_id, CommandKind.INCREASE_CURRENT, 0.0)

    async def decrease_current(self) -> None:
        """``FB E0 07``: lower by 2 A for a while (protocol 2).

        Raises :class:`~twcdirector.NotApplicableError` if the unit is offline, speaks
        protocol 1 or capacity sharing is on,
        :class:`~twcdirector.DeviceNotFoundError` if it is not announced,
        :class:`~twcdirector.UsageError` if the director is not running or only listening, and
        :class:`~twcdirector.CommandFailedError` if the unit never confirms it.
        """
        await self._director._command(self.device_id, CommandKind.DECREASE_CURRENT, 0.0)

    async def open_contactors(self) -> None:
        """``FC B2``: stop charging; a Tesla usually needs re-plugging afterwards.

        Raises :class:`~twcdirector.NotApplicableError` if the unit is offline,
        :class:`~twcdirector.DeviceNotFoundError` if it is not announced,
        :class:`~twcdirector.UsageError` if the director is not running or only listening, and
        :class:`~twcdirector.CommandFailedError` if the unit never confirms it.
        """
        await self._director._command(self.device_id, CommandKind.OPEN_CONTACTORS, 0.0)

    async def close_contactors(self) -> None:
        """``FC B1``: close the contactors (start charging).

        Raises :class:`~twcdirector.NotApplicableError` if the unit is offline,
        :class:`~twcdirector.DeviceNotFoundError` if it is not announced,
        :class:`~twcdirector.UsageError` if the director is not running or only listening, and
        :class:`~twcdirector.CommandFailedError` if the unit never confirms it.
        """
        await self._director._command(self.device_id, CommandKind.CLOSE_CONTACTORS, 0.0)


class _Listener:
    """Link callbacks for one opened link; a stale link's callbacks are ignored."""

    def __init__(self, director: Director, generation: int) -> None:
        self._director = director
        self._generation = generation

    def link_data(self, data: bytes) -> None:
        if self._director._generation == self._generation:
            self._director._on_data(data)

    def link_lost(self, error: LinkError) -> None:
        if self._director._generation == self._generation:
            self._director._on_lost(error)


class Director(SafeEmitter):
    """The controller of a bus of Gen 2 peripherals (or, listening only, its observer).

    Use ``async with Director(port, config) as director:`` or :meth:`start` / :meth:`close`.
    ``link_factory`` replaces the serial port (tests); ``clock`` replaces the event loop's
    monotonic clock and must advance with the loop's timers.
    """

    def __init__(
        self,
        port: str,
        config: DirectorConfig | None = None,
        *,
        link_factory: LinkFactory | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.port = port
        self.config = config if config is not None else DirectorConfig()
        self._factory: LinkFactory = link_factory or open_serial_link
        self._clock = clock
        self._core = BusController(self.config)
        self._decoder = FrameDecoder()
        self._frame_callbacks: list[FrameCallback] = []
        self._peripherals: dict[int, Peripheral] = {}
        self._futures: dict[int, asyncio.Future[None]] = {}
        self._link: Link | None = None
        self._lost: LinkError | None = None
        self._generation = 0
        # Set by input and commands; the bus task's sleep ends when it is set.
        self._wake_pending = False
        self._waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        # While the link is up the bus runs on callbacks: one timer for the core's next
        # wake-up (re-armed only when that time moves), a call_soon for commands, and the
        # write of a link without write_now in flight.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.nan
        self._soon: asyncio.Handle | None = None
        self._writing: asyncio.Task[None] | None = None
        self._direct: DirectLink | None = None
        self._servicing = False
        self._state = Lifecycle.NEW
        #: Set once close() has finished (an overlapping close() waits for it).
        self._closed = asyncio.Event()
        self._gen3: Gen3Monitor | None = None

    # --- public API --------------------------------------------------------------------

    @property
    def peripherals(self) -> Mapping[int, Peripheral]:
        """Every announced peripheral by ID (lost ones too; see ``snapshot().online``)."""
        return MappingProxyType(self._peripherals)

    @property
    def limits(self) -> CurrentLimits:
        """The one gate every current passes; capacity sharing sets grants here."""
        return self._core.limits

    @property
    def link_up(self) -> bool:
        """The serial link is open."""
        return self._link is not None and self._lost is None

    def on_frame(self, callback: FrameCallback) -> Callable[[], None]:
        """Call ``callback(direction, raw, message)`` for every frame: ``"tx"`` with the wire
        bytes we wrote, ``"rx"`` with the bytes of each frame heard (``C0`` to ``C0``) and
        its message, or ``None`` when it failed to decode. Returns an unsubscribe function.
        A callback that raises is logged and ignored."""
        self._frame_callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._frame_callbacks.remove(callback)

        return unsubscribe

    @property
    def gen3(self) -> Gen3Monitor | None:
        """The attached Gen 3 monitor, if any."""
        return self._gen3

    def attach_gen3(self, monitor: Gen3Monitor) -> None:
        """Watch Gen 3 units too: their ``TWC_NEW_DEVICE`` is announced by this director,
        and the monitor runs with it (started by :meth:`start`, stopped by :meth:`close`)."""
        if self._gen3 is not None:
            raise UsageError("a Gen 3 monitor is already attached")
        self._gen3 = monitor
        monitor.on(NEW_DEVICE, lambda new: self.emit(NEW_DEVICE, new))

    def peripheral(self, device_id: int) -> Peripheral:
        """The peripheral with that ID; :class:`DeviceNotFoundError` if none."""
        self._core.record(device_id)  # raises DeviceNotFoundError
        return self._peripherals[device_id]

    def snapshot(self) -> DirectorSnapshot:
        """A frozen view of the director and its peripherals, sorted by ID."""
        core = self._core
        return DirectorSnapshot(
            port=self.port,
            listen_only=self.config.listen_only,
            controller_id=self.config.controller_id,
            frames_in=core.frames_in,
            frames_out=core.frames_out,
            framing_errors=MappingProxyType(
                {kind.value: count for kind, count in self._decoder.errors.items()}
            ),
            link_up=self.link_up,
            peripherals=tuple(
                record.snapshot(core.pending(record.device_id)) for record in core.records()
            ),
            echoes=core.echoes,
            bus_errors=core.bus_errors,
            sharing=core.sharing_snapshot(),
        )

    def set_installation_limits(
        self, *, total_max: float | None = None, unit_max: float | None = None
    ) -> None:
        """Change the shared (``total_max``) or per-unit maximum at run time.

        Only within the configured ``shared_max`` / ``max_current``: a higher value raises
        :class:`ConfigurationError`. Units are lowered before any is raised.
        """
        self._core.set_installation_limits(total_max=total_max, unit_max=unit_max)
        self._wake_up()

    @property
    def state(self) -> Lifecycle:
        """Where the director is in its life: new, starting, running, stopping, closing,
        closed."""
        return self._state

    async def start(self) -> None:
        """Open the port and begin.

        Raises :class:`LinkError` if the port cannot be opened (the director may be started
        again) and :class:`UsageError` if it was started before.
        """
        if self._state is not Lifecycle.NEW:
            raise UsageError("the director was already started")
        self._state = Lifecycle.STARTING
        self._loop = loop = asyncio.get_running_loop()
        if self._clock is None:
            self._clock = loop.time
        try:
            self._link = await self._open()
        except LinkError:
            self._state = Lifecycle.NEW  # the caller may try again
            raise
        sign = self.config.sign if self.config.sign is not None else random.randint(1, 254)
        self._core.start(self._now(), sign)
        _LOGGER.info(
            "director %04X on %s (%s)",
            self.config.controller_id,
            self.port,
            "listening only" if self.config.listen_only else f"sign {sign:02X}",
        )
        self._task = loop.create_task(self._run(), name=f"twcdirector {self.port}")
        self._advance(Lifecycle.RUNNING)
        if self._gen3 is not None and not self._gen3.running:
            await self._gen3.start()

    async def close(self) -> None:
        """Stop gracefully: the optional fail-safe, the frame in flight, then the port."""
        if self._state in (Lifecycle.NEW, Lifecycle.CLOSED):
            return
        if self._state >= Lifecycle.STOPPING:
            # Another close() is under way: wait for it rather than cut its fail-safe short.
            await self._closed.wait()
            return
        self._advance(Lifecycle.STOPPING)
        if self.config.fail_safe and not self.config.listen_only and self.link_up:
            await self._fail_safe()
        self._advance(Lifecycle.CLOSING)
        self._wake_up()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=_STOP_TIMEOUT)
            if not done:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop_link()
        self._core.fail_all("the director was closed")
        self._dispatch()
        self._advance(Lifecycle.CLOSED)
        if self._gen3 is not None:
            await self._gen3.stop()
        self._closed.set()
        _LOGGER.info("director on %s closed", self.port)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- for Peripheral ----------------------------------------------------------------

    def _peripheral_snapshot(self, device_id: int) -> PeripheralSnapshot:
        return self._core.record(device_id).snapshot(self._core.pending(device_id))

    async def _command(self, device_id: int, kind: CommandKind, amps: float) -> None:
        if self._state not in (Lifecycle.STARTING, Lifecycle.RUNNING):
            raise UsageError("the director is not running")
        ticket = self._core.submit(device_id, kind, amps, self._now())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._futures[ticket] = future
        self._dispatch()
        self._wake_up()
        await future

    # --- link callbacks ----------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        now = self._now()
        self._core.heard(now)
        for frame in self._decoder.feed_frames(data):
            self._frame("rx", frame.raw, frame.message)
            if frame.message is not None:
                self._core.receive(frame.message, now)
            elif frame.error is not None:
                _LOGGER.debug("framing error: %s", frame.error)
                self._core.framing_error(frame.error)
        self._dispatch()
        # Answer in the same callback: a reply usually frees the bus for the next frame.
        self._service()

    def _on_lost(self, error: LinkError) -> None:
        if self._lost is None:
            self._lost = error
        self._disarm()
        self._wake_up()

    def _frame(self, direction: str, raw: bytes, message: Message | None) -> None:
        for callback in list(self._frame_callbacks):
            try:
                callback(direction, raw, message)
            except Exception:
                _LOGGER.exception("frame callback %r raised", callback)

    # --- the bus task ------------------------------------------------------------------

    def _now(self) -> float:
        assert self._clock is not None
        return self._clock()

    async def _open(self) -> Link:
        self._generation += 1
        link = await self._factory(
            self.port, self.config.baudrate, _Listener(self, self._generation)
        )
        self._lost = None
        self._decoder.reset()
        self._direct = link if isinstance(link, DirectLink) else None
        return link

    async def _run(self) -> None:
        while not self._closing_down:
            try:
                if self._link is None:
                    await self._reconnect()
                else:
                    await self._bus()
                    if self._lost is not None and not self._closing_down:
                        await self._link_down(self._lost)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug must not stop the bus for good: log it, drop the link, start over.
                _LOGGER.exception("director loop failed; reopening the link")
                await self._link_down(LinkError("internal error"))

    async def _bus(self) -> None:
        """While the link is up, callbacks drive the bus (:meth:`_service`); this task only
        waits for the link to fail or close() to begin, then for the frame in flight."""
        try:
            self._service()
            while not self._closing_down and self._lost is None:
                self._wake_pending = False
                await self._sleep(math.inf)
            self._disarm()
            if self._writing is not None:
                await asyncio.wait({self._writing})
        except asyncio.CancelledError:
            self._disarm()
            if self._writing is not None:
                self._writing.cancel()
            raise

    def _service(self) -> None:
        """Poll the core and write what it says until it has nothing to send now, then arm
        the timer for its next wake-up. Runs in the callback that brought the news (bytes
        heard, the timer, a command), so a frame costs no task step and no new future."""
        link = self._link
        if (
            link is None
            or self._lost is not None
            or self._closing_down
            or self._writing is not None
        ):
            return
        if self._servicing:  # an event handler changed something: look again afterwards
            self._wake_up()
            return
        self._servicing = True
        try:
            while True:
                now = self._now()
                transmission = self._core.poll(now)
                self._dispatch()
                if transmission is None:
                    break
                self._frame("tx", transmission.data, transmission.message)
                if not self._write(link, transmission.data):
                    return  # the link failed, or its write ends with another _service()
            self._arm(self._core.next_wakeup(now))
        except Exception:
            # A bug must not stop the bus for good: log it, drop the link, start over.
            _LOGGER.exception("director loop failed; reopening the link")
            self._on_lost(LinkError("internal error"))
        finally:
            self._servicing = False

    def _write(self, link: Link, data: bytes) -> bool:
        """Hand one frame to the link; True if the next one may follow at once."""
        direct = self._direct
        if direct is link and direct is not None:
            try:
                direct.write_now(data)
            except LinkError as error:
                self._on_lost(error)
                return False
            return True
        assert self._loop is not None
        self._writing = self._loop.create_task(self._write_async(link, data))
        return False

    async def _write_async(self, link: Link, data: bytes) -> None:
        """A link that must be awaited: nothing else is written until it returns."""
        try:
            await link.write(data)
        except LinkError as error:
            self._on_lost(error)
        finally:
            self._writing = None
        self._service()

    def _arm(self, deadline: float) -> None:
        """One timer for the core's next wake-up, replaced only when that time moves."""
        if self._timer is not None:
            if deadline == self._timer_at:
                return
            self._timer.cancel()
        loop = self._loop
        assert loop is not None
        when = deadline if self._clock == loop.time else loop.time() + deadline - self._now()
        self._timer_at = deadline
        self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._service()

    def _on_soon(self) -> None:
        self._soon = None
        self._service()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None

    async def _sleep(self, deadline: float) -> None:
        """Until ``deadline`` on our clock (``inf``: no timer), or until woken."""
        delay = deadline - self._now()
        if delay <= 0 or self._wake_pending:
            return
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(delay, _resolve, waiter) if delay < math.inf else None
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None

    @property
    def _closing_down(self) -> bool:
        """The bus task is to end."""
        return self._state >= Lifecycle.CLOSING

    def _advance(self, state: Lifecycle) -> None:
        """Move forward to ``state``; never back (two close() calls may overlap)."""
        self._state = max(self._state, state)

    def _wake_up(self) -> None:
        """A command, a limit or the link changed: poll the core soon; wake the bus task."""
        self._wake_pending = True
        if self._waiter is not None:
            _resolve(self._waiter)
        if self._soon is None and self._link is not None and self._loop is not None:
            self._soon = self._loop.call_soon(self._on_soon)

    async def _link_down(self, error: LinkError) -> None:
        _LOGGER.warning("link to %s lost: %s", self.port, error)
        await self._drop_link()
        self._core.link_lost(self._now(), f"link lost: {error}")
        self.emit(LINK_LOST, LinkEvent(self.port, False, str(error)))
        self._dispatch()

    async def _drop_link(self) -> None:
        link, self._link = self._link, None
        self._generation += 1  # callbacks of the old link are ignored from here on
        if link is not None:
            try:
                await link.close()
            except (LinkError, OSError) as error:
                _LOGGER.debug("closing %s: %s", self.port, error)

    async def _reconnect(self) -> None:
        backoff = self.config.reconnect_backoff_initial
        while not self._closing_down:
            deadline = self._now() + backoff
            while not self._closing_down and self._now() < deadline:
                # Keep time running for the core while the link is down (units get lost).
                self._wake_pending = False
                now = self._now()
                self._core.poll(now)
                self._dispatch()
                await self._sleep(min(deadline, self._core.next_wakeup(now)))
            if self._closing_down:
                return
            try:
                link = await self._open()
            except LinkError as error:
                _LOGGER.info(
                    "reopening %s failed: %s (next try in %.1f s)", self.port, error, backoff
                )
                backoff = min(backoff * 2, self.config.reconnect_backoff_max)
                continue
            if self._closing_down:
                await link.close()
                return
            self._link = link
            self._core.link_restored(self._now())
            _LOGGER.info("link to %s restored", self.port)
            self.emit(LINK_RESTORED, LinkEvent(self.port, True))
            self._dispatch()
            return

    async def _fail_safe(self) -> None:
        """SPEC §8.6/§8.7: 0 A to every online unit before stopping, capacity sharing or not;
        each outcome (confirmed, holds at its minimum, failed) is logged and emitted."""
        futures = []
        for ticket in self._core.fail_safe(self._now()):
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._futures[ticket] = future
            futures.append(future)
        self._dispatch()
        self._wake_up()
        for outcome in await asyncio.gather(*futures, return_exceptions=True):
            if isinstance(outcome, BaseException):
                _LOGGER.warning("fail-safe 0 A not confirmed: %s", outcome)

    # --- events ------------------------------------------------------------------------

    def _dispatch(self) -> None:
        for notice in self._core.drain():
            self._deliver(notice)

    def _deliver(self, notice: Notice) -> None:
        if notice.event == NEW_DEVICE:
            assert notice.device_id is not None
            peripheral = self._peripherals.get(notice.device_id)
            if peripheral is None:
                peripheral = Peripheral(self, notice.device_id)
                self._peripherals[notice.device_id] = peripheral
            _LOGGER.info("new peripheral %s", peripheral.id_hex)
            self.emit(NEW_DEVICE, NewDevice(peripheral.id_hex, 2, peripheral))
            return
        if notice.device_id is None:
            self.emit(notice.event, notice.payload)
        else:
            target = self._peripherals.get(notice.device_id)
            if target is not None:
                target.emit(notice.event, notice.payload)
        if notice.ticket is not None and isinstance(notice.payload, CommandOutcome):
            self._resolve(notice.ticket, notice.payload)

    def _resolve(self, ticket: int, outcome: CommandOutcome) -> None:
        future = self._futures.pop(ticket, None)
        if future is None or future.done():
            return
        if outcome.confirmed:
            future.set_result(None)
        else:
            future.set_exception(
                CommandFailedError(
                    f"{outcome.command} to {outcome.device_id} failed: {outcome.reason}"
                )
            )


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
