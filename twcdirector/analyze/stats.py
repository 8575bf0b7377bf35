"""Bus statistics from a stream of timed chunks, in bounded memory (pure).

:class:`BusStatistics` takes each chunk's bytes through a
:class:`~twcdirector.analyze.frames.FrameSplitter` and keeps, per bus ID, what a
diagnosis needs: identity (protocol, rating, firmware, serial), the controller's heartbeat
period to each unit, each request's reply latency, timeouts, silences, state changes and
currents over time; for the bus, byte and frame counts, framing errors by kind, tail bytes
and noise. Times are the capture's own (seconds); without them only counts are kept.

Reply latency is the time from a controller's ``FB`` request to the addressed unit's reply
of the same command, as the capture stamps them (a --log stamps a request when it is
written and a reply when it has arrived, so about two frame times, ~40 ms, are included).
A reply more than :data:`MATCH_WINDOW` late, or a request followed by another one to the
same unit first, is a timeout.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..exceptions import ChecksumError, FrameErrorKind, FramingError
from ..protocol import (
    MESSAGE_TYPES,
    CloseContactors,
    CloseContactorsAck,
    ControllerHeartbeat,
    ControllerLinkReady1,
    ControllerLinkReady2,
    DataRequest,
    FrameType,
    HeartbeatCommand,
    IdleBroadcast,
    Message,
    MeterReply,
    OpenContactors,
    OpenContactorsAck,
    PeripheralHeartbeat,
    PeripheralLinkReady,
    SerialReply,
    UnknownMessage,
    VersionReply,
    VinHighReply,
    VinLowReply,
    VinMidReply,
    state_name,
)
from .capture import Chunk
from .frames import FrameSplitter, Gap
from .histogram import Distribution, Histogram, Timeline, add_up, keep_last, keep_max

#: A unit answers within 160 ms (SPEC §4).
REPLY_WINDOW = 0.160
#: A controller drops a unit after 26 s of silence (SPEC §4, §8.3).
LOST_AFTER = 26.0
#: A reply later than this after its request is not matched to it (a timeout).
MATCH_WINDOW = 2.0
#: 9600 baud, 8N1: ten bits a byte (SPEC §1).
BAUD = 9600
BITS_PER_BYTE = 10
#: Changes (state, offered current) kept per unit for the report; the rest are counted.
CHANGES_KEPT = 200
#: Buckets of the per-unit and error timelines.
TIMELINE_POINTS = 2048
_NAMES_KEPT = 64
_NO_REQUEST = -1


@dataclass(frozen=True, slots=True)
class Change:
    """A unit's state or offered current changed, at ``time`` s from the capture's start."""

    time: float | None
    what: str  #: ``state`` or ``offered``
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class UnitSummary:
    """One peripheral as the capture shows it. Times in s from the start, periods in ms."""

    id: str
    protocol: int | None
    rating_amps: float | None
    firmware: str | None
    serial: str | None
    vin: str | None
    frames: int
    announcements: int
    #: The sign byte of its announcements changed: the unit restarted.
    restarts: int
    heartbeat_period_ms: Distribution
    reply_latency_ms: Distribution
    requests: int
    late_replies: int
    timeouts: int
    #: Replies to no request of ours to see (another controller's, or the capture began late).
    unsolicited: int
    longest_silence_s: float | None
    longest_silence_at: float | None
    #: Seconds from its last frame to the end of the capture.
    silent_at_end_s: float | None
    #: Silences of 26 s or more (a controller drops the unit).
    lost: int
    state: str | None
    state_changes: int
    state_seconds: dict[str, float]
    offered_amps_max: float | None
    actual_amps_max: float | None
    actual_amps_mean: float | None
    #: Status reports offering more than the unit's rating.
    over_rating: int
    error_states: int
    changes: tuple[Change, ...]
    changes_total: int
    tail_bytes: dict[str, int]
    #: Frames that failed their checksum but name this unit as sender.
    checksum_errors: int
    #: (time, offered A, actual A, state code) per timeline bucket, for plots.
    timeline: tuple[tuple[float, float, float, float], ...]


@dataclass(frozen=True, slots=True)
class ControllerSummary:
    """A bus ID that sent controller frames (``FB``/``FC``)."""

    id: str
    frames: int
    first_seen: float | None
    last_seen: float | None
    heartbeats: int
    link_ready: int
    heartbeat_commands: dict[str, int]
    units_addressed: tuple[str, ...]
    firmware: str | None
    serial: str | None


@dataclass(frozen=True, slots=True)
class BusSummary:
    """The whole bus. ``duration_s``, rates and utilisation need a timed capture."""

    timed: bool
    duration_s: float | None
    start: str | None
    end: str | None
    bytes: int
    frames: int
    controller_frames: int
    unit_frames: int
    frames_per_second: float | None
    #: Share of the line's capacity in use (0-1): bytes of frames of legal length x 10 bits
    #: / 9600 baud / duration, at most 1.
    utilisation: float | None
    framing_errors: dict[str, int]
    errors_total: int
    errors_per_million_bytes: float
    errors_per_1000_frames: float
    tail_bytes: dict[str, int]
    noise_bytes: int
    #: Bytes before the first C0 (a frame cut off by the start of the capture).
    leading_bytes: int
    #: Bytes of a frame still open when the capture ended.
    trailing_bytes: int
    unknown_commands: dict[str, int]
    idle_broadcasts: int
    #: (time, framing errors in that bucket), for plots.
    error_timeline: tuple[tuple[float, float], ...]


@dataclass(slots=True)
class _Station:
    """What is known about one bus ID (a unit, a controller, or both)."""

    id: int
    # -- as a unit
    frames: int = 0
    protocol: int | None = None
    rating: float | None = None
    sign: int | None = None
    restarts: int = 0
    announcements: int = 0
    firmware: str | None = None
    serial: str | None = None
    vin_parts: list[str] = field(default_factory=lambda: ["", "", ""])
    first_heard: float | None = None
    last_heard: float | None = None
    longest_silence: float = 0.0
    longest_silence_at: float | None = None
    lost: int = 0
    pending_command: int = _NO_REQUEST
    pending_time: float | None = None
    requests: int = 0
    timeouts: int = 0
    unsolicited: int = 0
    #: Reply latencies, ms; ``latency.above`` is the count of late replies.
    latency: Histogram = field(
        default_factory=lambda: Histogram(1.0, 5000, limit=REPLY_WINDOW * 1000)
    )
    period: Histogram = field(default_factory=lambda: Histogram(10.0, 6000))
    last_beat: float | None = None
    state: int | None = None
    state_at: float | None = None
    state_changes: int = 0
    state_seconds: defaultdict[int, float] = field(default_factory=lambda: defaultdict(float))
    offered: float | None = None
    offered_max: float | None = None
    actual_max: float | None = None
    actual_total: float = 0.0
    reports: int = 0
    over_rating: int = 0
    error_states: int = 0
    changes: list[Change] = field(default_factory=list)
    changes_total: int = 0
    tails: Counter[int] = field(default_factory=Counter)
    checksum_errors: int = 0
    timeline: Timeline = field(
        default_factory=lambda: Timeline((keep_max, keep_max, keep_last), limit=TIMELINE_POINTS)
    )
    # -- as a controller
    controller_frames: int = 0
    controller_first: float | None = None
    controller_last: float | None = None
    heartbeats: int = 0
    link_ready: int = 0
    commands: Counter[int] = field(default_factory=Counter)
    addressed: set[int] = field(default_factory=set)


class BusStatistics:
    """Feed chunks with :meth:`add`; read the summaries at any time."""

    def __init__(self) -> None:
        self.splitter = FrameSplitter()
        self._stations: dict[int, _Station] = {}
        self.bytes = 0
        self.frames = 0
        self.controller_frames = 0
        self.unit_frames = 0
        self.first_time: float | None = None
        self.last_time: float | None = None
        self.timed = False
        self.noise_bytes = 0
        self.leading_bytes = 0
        self.tails: Counter[int] = Counter()
        self.unknown: Counter[str] = Counter()
        self.idle_broadcasts = 0
        self._errors = Timeline((add_up,), limit=TIMELINE_POINTS)
        self._last_sender: int | None = None
        self._handlers: dict[type[Message], Callable[[float | None, Message], None]] = {
            ControllerHeartbeat: self._controller_heartbeat,
            ControllerLinkReady1: self._controller_link_ready,
            ControllerLinkReady2: self._controller_link_ready,
            CloseContactors: self._controller_frame,
            OpenContactors: self._controller_frame,
            IdleBroadcast: self._idle,
            PeripheralHeartbeat: self._status,
            PeripheralLinkReady: self._announce,
            VersionReply: self._version,
            SerialReply: self._serial,
            VinHighReply: self._vin,
            VinMidReply: self._vin,
            VinLowReply: self._vin,
            MeterReply: self._data_reply,
            CloseContactorsAck: self._unit_frame,
            OpenContactorsAck: self._unit_frame,
            UnknownMessage: self._unknown_message,
        }
        for cls in MESSAGE_TYPES.values():
            if issubclass(cls, DataRequest):
                self._handlers[cls] = self._data_request

    # --- input -------------------------------------------------------------------------

    def add_all(self, chunks: Iterable[Chunk]) -> BusStatistics:
        """Add every chunk; returns self."""
        for chunk in chunks:
            self.add(chunk)
        return self

    def add(self, chunk: Chunk) -> None:
        """The bytes of one chunk, seen at its time."""
        time = chunk.time
        if time is not None:
            self.timed = True
            if self.first_time is None:
                self.first_time = time
            if self.last_time is None or time > self.last_time:
                self.last_time = time
        self.bytes += len(chunk.data)
        handlers = self._handlers
        for item in self.splitter.feed(chunk.data):
            if isinstance(item, Message):
                self.frames += 1
                handlers[type(item)](time, item)
            elif isinstance(item, Gap):
                self._gap(item)
            else:
                self._error(time, item)

    # --- summaries ---------------------------------------------------------------------

    def units(self) -> list[UnitSummary]:
        """Every ID that sent peripheral frames or was addressed, controllers excepted."""
        return [
            self._unit_summary(station)
            for station in sorted(self._stations.values(), key=lambda s: s.id)
            if not station.controller_frames and (station.frames or station.requests)
        ]

    def controllers(self) -> list[ControllerSummary]:
        """Every ID that sent controller frames, in order of appearance."""
        found = [s for s in self._stations.values() if s.controller_frames]
        found.sort(key=lambda s: (s.controller_first is None, s.controller_first or 0.0, s.id))
        return [
            ControllerSummary(
                id=f"{s.id:04X}",
                frames=s.controller_frames,
                first_seen=self._offset(s.controller_first),
                last_seen=self._offset(s.controller_last),
                heartbeats=s.heartbeats,
                link_ready=s.link_ready,
                heartbeat_commands={
                    _command_name(code): count for code, count in sorted(s.commands.items())
                },
                units_addressed=tuple(f"{unit:04X}" for unit in sorted(s.addressed)),
                firmware=s.firmware,
                serial=s.serial,
            )
            for s in found
        ]

    def bus(self, start: str | None = None, end: str | None = None) -> BusSummary:
        """The bus-wide figures (``start``/``end``: the capture's wall times, if known)."""
        duration = self.duration
        errors = self.splitter.decoder.errors
        total = sum(errors.values())
        per_second = utilisation = None
        if duration:
            per_second = self.frames / duration
            # Only frames of legal length are traffic: a huge hex line or a run of noise is
            # no load a 9600-baud line could carry. And never above 100%: a capture whose
            # clock is coarse (whole-second stamps) or stamps bursts of frames at the moment
            # they were read, not sent, can show more bytes in a span than the line can
            # carry; the line itself cannot be more than fully busy.
            load = self.splitter.frame_bytes * BITS_PER_BYTE / BAUD / duration
            utilisation = min(1.0, load)
        return BusSummary(
            timed=self.timed,
            duration_s=duration,
            start=start,
            end=end,
            bytes=self.bytes,
            frames=self.frames,
            controller_frames=self.controller_frames,
            unit_frames=self.unit_frames,
            frames_per_second=per_second,
            utilisation=utilisation,
            framing_errors={kind.value: errors[kind] for kind in FrameErrorKind},
            errors_total=total,
            errors_per_million_bytes=total * 1e6 / self.bytes if self.bytes else 0.0,
            errors_per_1000_frames=total * 1000 / (self.frames + total)
            if self.frames + total
            else 0.0,
            tail_bytes=_byte_counts(self.tails),
            noise_bytes=self.noise_bytes,
            leading_bytes=self.leading_bytes,
            # One byte after the last frame is its tail, not a frame cut off.
            trailing_bytes=self.splitter.buffered if self.splitter.buffered > 1 else 0,
            unknown_commands=dict(self.unknown.most_common()),
            idle_broadcasts=self.idle_broadcasts,
            error_timeline=tuple(
                (self._offset(time) or 0.0, values[0]) for time, values in self._errors.points()
            ),
        )

    @property
    def duration(self) -> float | None:
        """Seconds from the first to the last timed chunk; None if untimed."""
        if self.first_time is None or self.last_time is None:
            return None
        return self.last_time - self.first_time

    # --- private: per message ------------------------------------------------------------

    def _station(self, device_id: int) -> _Station:
        station = self._stations.get(device_id)
        if station is None:
            station = self._stations[device_id] = _Station(device_id)
        return station

    def _controller(self, time: float | None, message: Message) -> _Station:
        self.controller_frames += 1
        sender = message.sender
        self._last_sender = sender
        station = self._station(sender)
        station.controller_frames += 1
        if time is not None:
            if station.controller_first is None:
                station.controller_first = time
            station.controller_last = time
        return station

    def _controller_frame(self, time: float | None, message: Message) -> None:
        self._controller(time, message)

    def _controller_link_ready(self, time: float | None, message: Message) -> None:
        self._controller(time, message).link_ready += 1

    def _controller_heartbeat(self, time: float | None, message: Message) -> None:
        assert isinstance(message, ControllerHeartbeat)
        controller = self._controller(time, message)
        controller.heartbeats += 1
        controller.commands[int(message.command)] += 1
        if len(controller.addressed) < _NAMES_KEPT:
            controller.addressed.add(message.receiver)
        unit = self._station(message.receiver)
        if time is not None:
            # A pause of the cut-off or more is a unit dropped, not the controller's cadence.
            if unit.last_beat is not None and time - unit.last_beat < LOST_AFTER:
                unit.period.add((time - unit.last_beat) * 1000)
            unit.last_beat = time
        self._request(unit, time, 0xE0)

    def _data_request(self, time: float | None, message: Message) -> None:
        assert isinstance(message, DataRequest)
        self._controller(time, message)
        self._request(self._station(message.receiver), time, message.COMMAND)

    def _idle(self, time: float | None, message: Message) -> None:
        self.controller_frames += 1
        self.idle_broadcasts += 1
        self._last_sender = message.sender

    def _request(self, unit: _Station, time: float | None, command: int) -> None:
        if unit.pending_command != _NO_REQUEST:
            unit.timeouts += 1
        unit.pending_command = command
        unit.pending_time = time
        unit.requests += 1

    def _unit(self, time: float | None, message: Message) -> _Station:
        """A frame from a unit: it was heard."""
        self.unit_frames += 1
        sender = message.sender
        self._last_sender = sender
        unit = self._station(sender)
        unit.frames += 1
        if time is not None:
            last = unit.last_heard
            if last is None:
                unit.first_heard = time
            else:
                gap = time - last
                if gap > unit.longest_silence:
                    unit.longest_silence = gap
                    unit.longest_silence_at = last
                if gap >= LOST_AFTER:
                    unit.lost += 1
            unit.last_heard = time
        return unit

    def _unit_frame(self, time: float | None, message: Message) -> None:
        self._unit(time, message)

    def _reply(self, unit: _Station, time: float | None, command: int) -> None:
        if unit.pending_command != command:
            unit.unsolicited += 1
            return
        unit.pending_command = _NO_REQUEST
        asked = unit.pending_time
        if time is None or asked is None:
            return
        # To the microsecond, the finest any capture stamps: a reply stamped exactly 160 ms
        # after its request is in the window, not 1e-14 s past it.
        latency = round(time - asked, 6)
        if latency > MATCH_WINDOW:
            unit.timeouts += 1
            return
        unit.latency.add(latency * 1000)  # also counts it late beyond REPLY_WINDOW

    def _announce(self, time: float | None, message: Message) -> None:
        assert isinstance(message, PeripheralLinkReady)
        unit = self._unit(time, message)
        unit.announcements += 1
        unit.protocol = int(message.protocol)
        unit.rating = message.max_amps
        if unit.sign is not None and unit.sign != message.sign:
            unit.restarts += 1
        unit.sign = message.sign

    def _status(self, time: float | None, message: Message) -> None:
        assert isinstance(message, PeripheralHeartbeat)
        unit = self._unit(time, message)
        self._reply(unit, time, 0xE0)
        if unit.protocol is None:
            unit.protocol = int(message.protocol)
        state = int(message.state)
        offered = message.max_amps
        actual = message.actual_amps
        unit.reports += 1
        unit.actual_total += actual
        if unit.actual_max is None or actual > unit.actual_max:
            unit.actual_max = actual
        if unit.offered_max is None or offered > unit.offered_max:
            unit.offered_max = offered
        if unit.rating is not None and offered > unit.rating:
            unit.over_rating += 1
        if state == 0x02:
            unit.error_states += 1
        if time is not None:
            # The time since the last report counts for the state it reported.
            if unit.state_at is not None and unit.state is not None:
                unit.state_seconds[unit.state] += min(time - unit.state_at, LOST_AFTER)
            unit.state_at = time
            unit.timeline.add(time, (offered, actual, float(state)))
        if state != unit.state:
            if unit.state is not None:
                unit.state_changes += 1
                self._change(unit, time, "state", state_name(unit.state), state_name(state))
            unit.state = state
        if offered != unit.offered:
            if unit.offered is not None:
                self._change(unit, time, "offered", f"{unit.offered:.2f} A", f"{offered:.2f} A")
            unit.offered = offered

    def _change(self, unit: _Station, time: float | None, what: str, old: str, new: str) -> None:
        unit.changes_total += 1
        if len(unit.changes) < CHANGES_KEPT:
            unit.changes.append(Change(self._offset(time), what, old, new))

    def _data_reply(self, time: float | None, message: Message) -> None:
        unit = self._unit(time, message)
        self._reply(unit, time, message.COMMAND)

    def _version(self, time: float | None, message: Message) -> None:
        assert isinstance(message, VersionReply)
        self._data_reply(time, message)
        self._station(message.sender).firmware = ".".join(str(part) for part in message.version)

    def _serial(self, time: float | None, message: Message) -> None:
        assert isinstance(message, SerialReply)
        self._data_reply(time, message)
        self._station(message.sender).serial = message.text or None

    def _vin(self, time: float | None, message: Message) -> None:
        assert isinstance(message, VinHighReply | VinMidReply | VinLowReply)
        self._data_reply(time, message)
        index = {VinHighReply: 0, VinMidReply: 1, VinLowReply: 2}[type(message)]
        self._station(message.sender).vin_parts[index] = message.text

    def _unknown_message(self, time: float | None, message: Message) -> None:
        assert isinstance(message, UnknownMessage)
        name = message.command_name
        if name in self.unknown or len(self.unknown) < _NAMES_KEPT:
            self.unknown[name] += 1
        if message.frame_type == FrameType.REPLY:
            self._unit(time, message)
        else:
            self._controller(time, message)

    # --- private: between frames -------------------------------------------------------

    def _gap(self, gap: Gap) -> None:
        if gap.leading:
            self.leading_bytes += gap.size
        elif gap.size == 1 and self._last_sender is not None:
            self.tails[gap.first] += 1
            self._station(self._last_sender).tails[gap.first] += 1
        else:
            self.noise_bytes += gap.size
        self._last_sender = None

    def _error(self, time: float | None, error: FramingError) -> None:
        self._last_sender = None
        if time is not None:
            self._errors.add(time, (1.0,))
        body = error.data
        if isinstance(error, ChecksumError) and len(body) >= 4 and body[0] in (0xFB, 0xFC, 0xFD):
            station = self._stations.get(int.from_bytes(body[2:4], "big"))
            if station is not None:
                station.checksum_errors += 1

    # --- private: summaries ------------------------------------------------------------

    def _offset(self, time: float | None) -> float | None:
        if time is None or self.first_time is None:
            return None
        return time - self.first_time

    def _unit_summary(self, s: _Station) -> UnitSummary:
        timeouts = s.timeouts
        if (
            s.pending_command != _NO_REQUEST
            and s.pending_time is not None
            and self.last_time is not None
            and self.last_time - s.pending_time > MATCH_WINDOW
        ):
            timeouts += 1
        vin = "".join(s.vin_parts) if all(s.vin_parts) else None
        silent_at_end = None
        if s.last_heard is not None and self.last_time is not None:
            silent_at_end = self.last_time - s.last_heard
        timed = self.timed and s.last_heard is not None
        return UnitSummary(
            id=f"{s.id:04X}",
            protocol=s.protocol,
            rating_amps=s.rating,
            firmware=s.firmware,
            serial=s.serial,
            vin=vin,
            frames=s.frames,
            announcements=s.announcements,
            restarts=s.restarts,
            heartbeat_period_ms=s.period.summary(),
            reply_latency_ms=s.latency.summary(),
            requests=s.requests,
            late_replies=s.latency.above,
            timeouts=timeouts,
            unsolicited=s.unsolicited,
            longest_silence_s=s.longest_silence if timed else None,
            longest_silence_at=self._offset(s.longest_silence_at),
            silent_at_end_s=silent_at_end,
            lost=s.lost,
            state=None if s.state is None else state_name(s.state),
            state_changes=s.state_changes,
            state_seconds={
                state_name(code): round(seconds, 3)
                for code, seconds in sorted(s.state_seconds.items())
            },
            offered_amps_max=s.offered_max,
            actual_amps_max=s.actual_max,
            actual_amps_mean=s.actual_total / s.reports if s.reports else None,
            over_rating=s.over_rating,
            error_states=s.error_states,
            changes=tuple(s.changes),
            changes_total=s.changes_total,
            tail_bytes=_byte_counts(s.tails),
            checksum_errors=s.checksum_errors,
            timeline=tuple(
                (self._offset(time) or 0.0, *values)  # type: ignore[misc]
                for time, values in s.timeline.points()
            ),
        )


def _byte_counts(counts: Counter[int]) -> dict[str, int]:
    return {f"{value:02X}": number for value, number in counts.most_common()}


def _command_name(code: int) -> str:
    try:
        return HeartbeatCommand(code).name
    except ValueError:
        return f"UNKNOWN_{code:02X}"
