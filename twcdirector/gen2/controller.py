"""The controller core: who talks on the bus, when, and what it means (pure, sans-I/O).

Feed it what the link hears (:meth:`BusController.heard`, :meth:`~BusController.receive`,
:meth:`~BusController.framing_error`), ask it what to send (:meth:`~BusController.poll`) and
when to ask again (:meth:`~BusController.next_wakeup`), and drain the events it wants emitted
(:meth:`~BusController.drain`). Every time is a monotonic ``now`` given by the caller.

Bus arbitration (SPEC §8.3): half duplex, one outstanding exchange at a time, each request
holds the bus until its reply or the reply timeout, and nothing is sent until the inter-frame
gap has passed since the last byte heard or sent. Priority: due heartbeats (which carry a
queued current command for their unit), then other queued commands, then the start-up burst
and data requests, the last two only if their exchange ends before the next heartbeat is due.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

from ..events import (
    BUS_ERROR,
    BUS_MESSAGE,
    DEVICE_FOUND,
    DEVICE_LOST,
    FRAMING_ERROR,
    LIMIT_ENFORCED,
    NEW_DEVICE,
    BusError,
    DeviceFound,
    DeviceLost,
    FramingErrorEvent,
    format_id,
)
from ..exceptions import (
    ConfigurationError,
    DeviceNotFoundError,
    FramingError,
    NotApplicableError,
    UsageError,
)
from ..protocol.codes import HeartbeatCommand, PeripheralState, ProtocolVersion, body_length
from ..protocol.messages import (
    ControllerHeartbeat,
    Message,
    PeripheralHeartbeat,
    PeripheralLinkReady,
)
from ..sharing.sequencer import SharingSnapshot
from .bridge import SharingBridge
from .commands import CommandKind, PendingCommand, check_applicable
from .config import DirectorConfig
from .device import Notice, PeripheralRecord
from .exchange import (
    REPLY_TO,
    Exchange,
    Purpose,
    Transmission,
    exchange_time,
    frame_time,
    from_controller,
    guard,
    refusal,
)
from .limits import CurrentLimits
from .schedule import DATA_REQUESTS, Agenda, PollSchedule, StartupBurst
from .tickets import CommandQueues

_LOGGER = logging.getLogger(__name__)

#: Never ask to be woken sooner than this after ``now`` (no busy loop on float ties).
_MIN_WAKE = 1e-4


class BusController:
    """The sans-I/O controller of one Gen 2 bus."""

    def __init__(self, config: DirectorConfig, limits: CurrentLimits | None = None) -> None:
        self.config = config
        sharing = config.shared_max is not None
        #: The one gate for every current (capacity sharing adds grants here).
        self.limits = (
            limits if limits is not None else CurrentLimits(config.max_current, sharing=sharing)
        )
        self.sign = config.sign if config.sign is not None else 1
        self.started = False
        self.link_up = False
        self.frames_in = 0
        self.frames_out = 0
        self.echoes = 0
        self.bus_errors = 0
        self._records: dict[int, PeripheralRecord] = {}
        #: Due times of every unit; a wake looks at the first ones only.
        self._agenda = Agenda(config)
        self._schedules = self._agenda.schedules
        self._commands = CommandQueues(self._records, config, self._notify)
        self._sharing = (
            SharingBridge(config, self.limits, self._commands, self._notify) if sharing else None
        )
        self._burst: StartupBurst | None = None
        self._exchange: Exchange | None = None
        self._last_rx = -math.inf
        self._tx_end = -math.inf
        self._notices: list[Notice] = []
        self._other_controllers: dict[int, float] = {}
        self._over_capacity: set[int] = set()
        #: The fail-safe is under way: capacity sharing and enforcement stand aside.
        self._stopping = False

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, now: float, sign: int | None = None) -> None:
        """The link is open: begin (start-up burst unless listening only)."""
        if sign is not None:
            self.sign = sign
        self.started = True
        self.link_up = True
        self._restart_burst(now)

    def link_lost(self, now: float, reason: str = "link lost") -> None:
        """The link went away: nothing is in flight any more; queued commands fail."""
        self.link_up = False
        self._exchange = None
        self.fail_all(reason)

    def link_restored(self, now: float) -> None:
        """The link is back: re-run discovery and heartbeat every known unit at once."""
        self.link_up = True
        self._last_rx = -math.inf
        self._tx_end = -math.inf
        self._restart_burst(now)
        for device_id, record in self._records.items():
            if record.online:
                self._schedules[device_id].claim(now)

    def fail_all(self, reason: str) -> None:
        """Fail every queued or in-flight command."""
        if self._exchange is not None and self._exchange.command is not None:
            self._exchange = None
        self._commands.fail_all(reason)

    # --- what the link hears -----------------------------------------------------------

    def heard(self, now: float) -> None:
        """Bytes arrived (even noise): the bus is busy, keep the inter-frame gap."""
        self._last_rx = now

    def framing_error(self, error: FramingError) -> None:
        """The decoder rejected a frame."""
        self._notify(FRAMING_ERROR, FramingErrorEvent(error.kind, str(error), error.data))

    def receive(self, message: Message, now: float) -> None:
        """A frame that passed its checksum."""
        self.frames_in += 1
        self._last_rx = now
        if from_controller(message):
            self._controller_frame(message, now)
            return
        if (
            isinstance(message, PeripheralLinkReady)
            and message.sender == self.config.controller_id
            and not self.config.listen_only
        ):
            self._collision(message, now)
            return
        record = self._records.get(message.sender)
        if record is None:
            record = self._discover(message, now)
            if record is None:
                self._notify(BUS_MESSAGE, message)
                return
        self._peripheral_frame(record, message, now)

    # --- what to send ------------------------------------------------------------------

    def poll(self, now: float) -> Transmission | None:
        """The frame to write now, if any. Call again at :meth:`next_wakeup` or on input."""
        self._expire(now)
        self._commands.expire(now)
        if self._sharing is not None and self._may_transmit() and not self._stopping:
            in_flight = self._exchange.command if self._exchange is not None else None
            self._sharing.share(list(self.records()), now, in_flight, self.link_up)
        if not self._may_transmit():
            return None
        if self._exchange is not None:
            if now < self._exchange.deadline:
                return None
            self._timeout()
        if now < self._bus_free_at():
            return None
        return self._choose(now)

    def next_wakeup(self, now: float) -> float:
        """When :meth:`poll` may next have something to do (input also warrants a call)."""
        times = [self._agenda.next_silence(now, self.config.lost_after)]
        times.append(self._commands.next_deadline())
        if self._may_transmit():
            if self._exchange is not None:
                times.append(self._exchange.deadline)
            else:
                free = self._bus_free_at()
                times.extend(max(due, free) for due in self._due_times())
        if self._sharing is not None:
            times.append(self._sharing.next_step())
        later = [time for time in times if now < time < math.inf]
        return max(min(later, default=now + 1.0), now + _MIN_WAKE)

    # --- commands ----------------------------------------------------------------------

    def submit(self, device_id: int, kind: CommandKind, amps: float, now: float) -> int:
        """Validate and queue a command; return its ticket. Nothing is queued on an error.

        Raises :class:`~twcdirector.UsageError` while listening only,
        :class:`~twcdirector.DeviceNotFoundError` for a unit not announced,
        :class:`~twcdirector.NotApplicableError` for a command the unit cannot take now and
        :class:`~twcdirector.CurrentLimitError` for a current outside its limits.
        """
        if self.config.listen_only:
            raise UsageError("the director is listening only; it sends no commands")
        record = self.record(device_id)
        if kind.v2_only and record.protocol is ProtocolVersion.V1:
            raise NotApplicableError(f"{kind} needs protocol 2; {record.id_hex} speaks protocol 1")
        if not record.online:
            raise NotApplicableError(f"peripheral {record.id_hex} is offline")
        if self._sharing is not None:
            return self._sharing.submit(record, kind, amps, self.link_up)
        check_applicable(kind, record.state, record.id_hex)
        return self._commands.submit(
            record, kind, amps, now, limits=self.limits, link_up=self.link_up
        )

    def fail_safe(self, now: float) -> list[int]:
        """SPEC §8.7: stop capacity sharing, queue 0 A for every online unit ahead of anything
        unsent; return the tickets (their outcomes say what each unit did)."""
        self._stopping = True
        online = [record for record in self.records() if record.online]
        for record in online:
            self.limits.set_grant(record.device_id, 0.0)
        return [self._commands.supersede_with_zero(record.device_id) for record in online]

    def sharing_snapshot(self) -> SharingSnapshot | None:
        """Every unit's share and the total used / available; ``None`` without sharing."""
        return None if self._sharing is None else self._sharing.snapshot()

    def set_installation_limits(
        self, *, total_max: float | None = None, unit_max: float | None = None
    ) -> None:
        """Change the shared or per-unit maximum at run time, never past the configured one."""
        if self._sharing is None:
            raise ConfigurationError("capacity sharing is off (no shared_max configured)")
        self._sharing.set_limits(total_max=total_max, unit_max=unit_max)

    # --- state for the adapter ---------------------------------------------------------

    def drain(self) -> list[Notice]:
        """The events produced since the last call, in order."""
        notices, self._notices = self._notices, []
        return notices

    def record(self, device_id: int) -> PeripheralRecord:
        """An announced peripheral's record."""
        record = self._records.get(device_id)
        if record is None or not record.announced:
            raise DeviceNotFoundError(f"no peripheral {format_id(device_id)}")
        return record

    def records(self) -> Iterator[PeripheralRecord]:
        """Every announced peripheral, by ID."""
        for device_id in sorted(self._records):
            record = self._records[device_id]
            if record.announced:
                yield record

    def pending(self, device_id: int) -> int:
        """Commands queued or in flight for a unit."""
        return self._commands.pending(device_id)

    # --- private: receiving ------------------------------------------------------------

    def _controller_frame(self, message: Message, now: float) -> None:
        if message.sender == self.config.controller_id and not self.config.listen_only:
            # Adapters that echo what they send (and loop://) hand our frames back.
            self.echoes += 1
            return
        if not self.config.listen_only:
            last = self._other_controllers.get(message.sender)
            if last is None or now - last >= self.config.lost_after:
                self._bus_error(
                    "second_controller",
                    message.sender,
                    f"another controller {format_id(message.sender)} is on the bus "
                    f"(a unit not set to peripheral mode?)",
                )
            self._other_controllers[message.sender] = now
        self._notify(BUS_MESSAGE, message)

    def _collision(self, message: PeripheralLinkReady, now: float) -> None:
        self._notify(BUS_MESSAGE, message)
        if self._burst is not None and not self._burst.done:
            return  # the burst under way will make it pick another ID
        self._bus_error(
            "id_collision",
            message.sender,
            f"a peripheral announced our own ID {format_id(message.sender)}; "
            "re-running the start-up burst",
        )
        self._restart_burst(now)

    def _discover(self, message: Message, now: float) -> PeripheralRecord | None:
        if not isinstance(message, PeripheralLinkReady | PeripheralHeartbeat):
            return None
        online = sum(1 for record in self._records.values() if record.online)
        if online >= self.config.max_peripherals:
            if message.sender not in self._over_capacity:
                self._over_capacity.add(message.sender)
                self._bus_error(
                    "too_many_peripherals",
                    message.sender,
                    f"{format_id(message.sender)} ignored: already "
                    f"{self.config.max_peripherals} peripherals (max_peripherals)",
                )
            return None
        record = PeripheralRecord(message.sender, message.protocol, now)
        self._records[message.sender] = record
        self._agenda.add(message.sender, now)
        self._commands.add_unit(message.sender)
        _LOGGER.info("discovered peripheral %s", record.id_hex)
        return record

    def _peripheral_frame(self, record: PeripheralRecord, message: Message, now: float) -> None:
        if not record.online:
            record.online = True
            self._agenda.set_online(record.device_id, True)
            self._schedules[record.device_id].claim(now)
            if record.announced:
                _LOGGER.info("peripheral %s is back", record.id_hex)
                self._notify(DEVICE_FOUND, DeviceFound(record.id_hex), record.device_id)
        if isinstance(message, PeripheralLinkReady):
            if record.sign is not None and message.sign != record.sign:
                _LOGGER.info("peripheral %s restarted (new sign byte)", record.id_hex)
            self._schedules[record.device_id].claim(now)
        if isinstance(message, PeripheralHeartbeat):
            record.reported_at = now
            if self._sharing is not None:
                self._sharing.reported()
            # A late report still settles a command it shows (a slow bridge, SPEC §8.7).
            in_flight = self._exchange.command if self._exchange is not None else None
            self._commands.reported(record, message, self.config.controller_id, in_flight)
        notices = record.update(message, now)
        self._agenda.heard(record.device_id, now)
        if not record.announced and (
            self.config.listen_only or not isinstance(message, PeripheralLinkReady)
        ):
            record.announced = True
            self._notices.append(Notice(NEW_DEVICE, None, record.device_id))
        if record.announced:
            self._notices.extend(notices)
        else:
            self._notify(BUS_MESSAGE, message)
        exchange = self._exchange
        if (
            exchange is not None
            and exchange.device_id == record.device_id
            and exchange.reply is not None
            and isinstance(message, exchange.reply)
        ):
            self._exchange = None
            if exchange.command is not None:
                self._commands.replied(exchange.command, message, exchange.sent, record.protocol)
        if isinstance(message, PeripheralHeartbeat) and record.announced:
            self._enforce(record, message)

    def _enforce(self, record: PeripheralRecord, report: PeripheralHeartbeat) -> None:
        """SPEC §8.7: a unit reporting an offer above its ceiling is lowered at once."""
        if self._may_transmit() and not self._stopping:
            in_flight = self._exchange.command if self._exchange is not None else None
            event = self._commands.enforce(record, report, self.limits, in_flight)
            if event is not None:
                self._notify(LIMIT_ENFORCED, event, record.device_id)

    def _expire(self, now: float) -> None:
        candidates = set(self._agenda.silent(now, self.config.lost_after))
        if not candidates:
            return
        # In discovery order, as the events always came.
        for device_id in [device_id for device_id in self._records if device_id in candidates]:
            record = self._records[device_id]
            # The same sum as in next_wakeup, so waking at that time finds it expired.
            if not record.online or now < record.last_heard + self.config.lost_after:
                continue
            silent = now - record.last_heard
            record.online = False
            self._agenda.set_online(device_id, False)
            if self._exchange is not None and self._exchange.device_id == device_id:
                self._exchange = None
            self._commands.fail_unit(device_id, "peripheral lost")
            if not record.announced:
                # Announced itself but never answered: forget it.
                del self._records[device_id]
                self._agenda.remove(device_id)
                self._commands.remove_unit(device_id)
                continue
            _LOGGER.warning("peripheral %s lost after %.1f s of silence", record.id_hex, silent)
            self._notify(DEVICE_LOST, DeviceLost(record.id_hex, silent, "silence"), device_id)

    def _timeout(self) -> None:
        exchange = self._exchange
        assert exchange is not None
        self._exchange = None
        if exchange.device_id is None or exchange.reply is None:
            return  # a broadcast's listening window
        record = self._records.get(exchange.device_id)
        if record is not None:
            record.timeouts += 1
        self._commands.no_reply(exchange.command)

    # --- private: sending --------------------------------------------------------------

    def _may_transmit(self) -> bool:
        return self.started and self.link_up and not self.config.listen_only

    def _bus_free_at(self) -> float:
        return max(self._last_rx, self._tx_end) + self.config.inter_frame_gap

    def _active(self) -> Iterator[tuple[PeripheralRecord, PollSchedule]]:
        for device_id, record in self._records.items():
            if record.online:
                yield record, self._schedules[device_id]

    def _due_times(self) -> Iterator[float]:
        for record, schedule in self._active():
            yield schedule.heartbeat_due
            if schedule.request_allowed:
                yield schedule.next_request_due()
            queue = self._commands.queue(record.device_id)
            if queue:
                # A command goes out in the next free slot, a re-send a heartbeat later.
                yield queue[0].resend_at(self.config.heartbeat_interval)
        if self._burst is not None:
            yield self._burst.due

    def _choose(self, now: float) -> Transmission | None:
        first = self._agenda.next_heartbeat()
        next_heartbeat = math.inf if first is None else first[0]
        if first is not None and next_heartbeat <= now:
            return self._heartbeat(self._records[first[1]], now)
        for record, _ in self._active():
            queue = self._commands.queue(record.device_id)
            if queue and now >= queue[0].resend_at(self.config.heartbeat_interval):
                sent = self._command(queue[0], record, now)
                if sent is not None:
                    return sent
        # The burst and data requests only take the bus if they hand it back in time for
        # the next heartbeat.
        burst = self._burst
        if burst is not None and burst.due <= now:
            window = burst.window(self.config.reply_timeout)
            if (
                now + frame_time(18, self.config.baudrate) + window + self.config.inter_frame_gap
                <= next_heartbeat
            ):
                message = burst.next_frame(self.config.controller_id, self.sign)
                burst.sent(now)
                return self._transmit(message, None, Purpose.STARTUP, now, window)
        if now + exchange_time(self.config) > next_heartbeat:
            return None
        request_first = self._agenda.next_request()
        if request_first is not None and request_first[0] <= now:
            record = self._records[request_first[1]]
            schedule = self._schedules[record.device_id]
            index = schedule.due_request(now)
            assert index is not None  # its earliest request is due and it may be sent one
            request = DATA_REQUESTS[index](
                self.config.controller_id, record.device_id, body_length(record.protocol)
            )
            schedule.request_sent(index, now)
            return self._transmit(
                request,
                record,
                Purpose.REQUEST,
                now,
                self.config.reply_timeout,
                reply=REPLY_TO[type(request)],
            )
        return None

    def _heartbeat(self, record: PeripheralRecord, now: float) -> Transmission | None:
        schedule = self._schedules[record.device_id]
        queue = self._commands.queue(record.device_id)
        if queue and not queue[0].kind.own_frame:
            sent = self._command(queue[0], record, now)
            if sent is not None:
                return sent
        command = HeartbeatCommand.NO_CHANGE
        amps = 0.0
        if record.state == PeripheralState.STARTING and record.allowed_amps == 0:
            # The unit asks for an allocation (SPEC §8.4); without a configured maximum it
            # is given 0 A.
            command = HeartbeatCommand.ACK_CHARGE_START
            # Under capacity sharing the grant alone says what the unit may have.
            wanted = None if self._sharing is not None else record.wanted_amps
            amps = self.limits.allocation(record, wanted, owed=record.owed_amps(now))
        schedule.heartbeat_sent(now)
        heartbeats = [(command, amps)]
        if command is not HeartbeatCommand.NO_CHANGE:
            heartbeats.append((HeartbeatCommand.NO_CHANGE, 0.0))  # if the guard refuses it
        for each, each_amps in heartbeats:
            message = ControllerHeartbeat(
                self.config.controller_id,
                record.device_id,
                each,
                each_amps,
                length=body_length(record.protocol),
            )
            sent = self._transmit(
                message,
                record,
                Purpose.HEARTBEAT,
                now,
                self.config.reply_timeout,
                reply=PeripheralHeartbeat,
            )
            if sent is not None:
                return sent
        return None

    def _command(
        self, command: PendingCommand, record: PeripheralRecord, now: float
    ) -> Transmission | None:
        command.attempts += 1
        command.last_sent = now
        message = command.message(self.config.controller_id, record.protocol)
        sent = self._transmit(
            message,
            record,
            Purpose.COMMAND,
            now,
            self.config.reply_timeout,
            reply=command.expected_reply(),
            command=command,
        )
        if sent is None:
            self._commands.drop_head(command, "refused by the final safety check")
            return None
        self._commands.sent(command, record, now)  # a relative command is never sent again
        if isinstance(message, ControllerHeartbeat):
            self._schedules[record.device_id].heartbeat_sent(now)
        return sent

    def _transmit(
        self,
        message: Message,
        record: PeripheralRecord | None,
        purpose: Purpose,
        now: float,
        window: float,
        *,
        reply: type[Message] | None = None,
        command: PendingCommand | None = None,
    ) -> Transmission | None:
        """The one path to the wire: the last safety check, then bookkeeping."""
        try:
            data = guard(message, record, now, self.limits, self._commands, command=command)
        except UsageError as error:
            _LOGGER.error("%s", refusal(message, error))
            return None
        self.frames_out += 1
        self._tx_end = now + frame_time(len(data), self.config.baudrate)
        if window > 0:
            self._exchange = Exchange(
                None if record is None else record.device_id,
                reply,
                self._tx_end + window,
                message,
                command,
            )
        return Transmission(message, data, purpose, None if record is None else record.device_id)

    def _restart_burst(self, now: float) -> None:
        self._burst = None if self.config.listen_only else StartupBurst(self.config, now)

    # --- private: events ---------------------------------------------------------------

    def _notify(
        self,
        event: str,
        payload: object,
        device_id: int | None = None,
        ticket: int | None = None,
    ) -> None:
        self._notices.append(Notice(event, payload, device_id, ticket))

    def _bus_error(self, kind: str, device_id: int, message: str) -> None:
        self.bus_errors += 1
        _LOGGER.error("bus error (%s): %s", kind, message)
        self._notify(BUS_ERROR, BusError(kind, format_id(device_id), message))
