"""Capture readers: a file of bus traffic in, timed chunks of wire bytes out (pure, streaming).

Three shapes are told apart from the first 64 KiB:

* a **JSON-lines log** written by ``--log``: one record per frame seen (``rx``) or sent
  (``tx``) with its raw ``hex`` and ``monotonic`` time, plus event records (counted, unused);
* a **text hex dump**: whitespace-separated hex (``C0 FD E0 …`` or ``c0fde0…``), one or more
  frames per line, optionally after a timestamp and a label (``10:00:01.250 Rx@: C0 FD …``);
  a line without any ``C0`` in a dump that has none is a bare body (SPEC §6 vectors);
* a **raw byte capture** (``cat /dev/ttyUSB0 > bus.bin``): bytes only, no timestamps.

Lines of both text shapes may be mixed. Whatever cannot be read (garbage lines, truncated
records, unknown fields, lines whose timestamp differs in shape) is counted in
:class:`InputSummary`, never raised. Only a file that holds no frame at all in its first
64 KiB raises :class:`NotACaptureError`. The reader holds one line at a time, and at most
:data:`MAX_LINE` bytes of it: a longer line is counted as unreadable and skipped in bounded
reads, never held whole.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any, NamedTuple

from ..exceptions import ConfigurationError, FramingError
from ..protocol import FrameDecoder, check_and_decode, escape
from .timestamps import Clock, DayCounter, parse_iso, parse_stamp

#: Bytes read to tell the format, and the size of raw reads.
BLOCK = 65536
#: Bytes: a longer line is no capture line (a --log record is under 1 KiB, a dump line of a
#: few frames shorter still); it is skipped unread, so one huge line costs no memory.
MAX_LINE = 65536
_END = b"\xc0"
_DAY = 86400.0
#: Keys of the --log records (``twcdirector.jsonlog``): frames, then events.
_FRAME_KEYS = frozenset({"time", "monotonic", "event", "direction", "hex", "data"})
_EVENT_KEYS = frozenset({"time", "event", "device", "data"})
#: At most this many distinct unknown field or event names are remembered.
_NAMES_KEPT = 32
#: A bare body (no delimiters) is between a header with checksum and the longest legal body
#: plus one leaked tail byte.
_BARE_SIZES = range(4, 22)
_PUNCTUATION = "()[]{}<>,;:|"
_TEXT_BYTES = frozenset(b"\t\n\r") | frozenset(range(32, 127))


class NotACaptureError(ConfigurationError):
    """The file holds no Gen 2 frame in any known shape."""


class CaptureFormat(StrEnum):
    """The shape of a capture."""

    JSON_LINES = "json_lines"  #: a --log file
    HEX_DUMP = "hex_dump"  #: text hex, optionally timestamped
    RAW = "raw"  #: the bytes read from the port, untimed
    LIVE = "live"  #: read from a port now


class _LongLine(NamedTuple):
    """A line longer than :data:`MAX_LINE` that was skipped: only its size is kept."""

    size: int


class Chunk(NamedTuple):
    """Bytes seen on the bus, at ``time`` (seconds on the capture's clock) if known."""

    data: bytes
    time: float | None = None
    #: ``"rx"`` or ``"tx"`` when a --log says who wrote it, else None.
    direction: str | None = None


@dataclass(slots=True)
class InputSummary:
    """What reading the capture met (counts of lines and records by kind)."""

    format: CaptureFormat
    #: What the times count; None for an untimed capture.
    clock: Clock | None = None
    bytes_read: int = 0
    lines: int = 0
    #: Timed or untimed lines/records that gave bus bytes.
    frame_records: int = 0
    hex_lines: int = 0
    #: Hex lines without any C0: bodies published without their delimiters.
    bare_bodies: int = 0
    #: Chunks without a time in a timed capture (they take the time before them).
    untimed: int = 0
    #: Lines with a timestamp of another shape than the first one (treated as untimed).
    mixed_clocks: int = 0
    blank_lines: int = 0
    comment_lines: int = 0
    #: Lines that are neither hex nor a JSON record (text, cut-off lines).
    garbage_lines: int = 0
    #: JSON lines that do not parse or lack what a frame record needs.
    bad_records: int = 0
    #: Lines longer than :data:`MAX_LINE`, skipped unread (counted in ``garbage_lines`` too).
    long_lines: int = 0
    #: The last line had no newline and could not be read: the file was cut off.
    truncated: bool = False
    #: Event records of a --log (not needed for the analysis), by event name.
    event_records: Counter[str] = field(default_factory=Counter)
    #: Fields no --log record has, by name.
    unknown_fields: Counter[str] = field(default_factory=Counter)
    #: First line numbers of garbage lines and bad records (a few, for the report).
    examples: list[int] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        """Lines and records that could not be used."""
        return self.garbage_lines + self.bad_records


class CaptureReader:
    """Reads one capture from a binary stream; :meth:`chunks` is a generator.

    Raises :class:`NotACaptureError` at construction when the first 64 KiB hold no frame.
    """

    def __init__(self, stream: IO[bytes], *, block: int = BLOCK) -> None:
        self._stream = stream
        self._block = block
        self._head = stream.read(block)
        if not self._head.strip():
            raise NotACaptureError("the file is empty")
        text = _looks_like_text(self._head)
        fmt = CaptureFormat.RAW
        if text:
            fmt = (
                CaptureFormat.JSON_LINES
                if self._head.lstrip()[:1] == b"{"
                else CaptureFormat.HEX_DUMP
            )
        #: What reading met; complete once :meth:`chunks` is exhausted.
        self.summary = InputSummary(fmt)
        self._parser: _TextParser | None = None
        self._cut = False
        self._check_head(text)

    @property
    def format(self) -> CaptureFormat:
        """The capture's shape."""
        return self.summary.format

    @property
    def timed(self) -> bool:
        """The capture gives times (JSON-lines logs and timestamped dumps)."""
        return self.summary.clock is not None

    def wall(self, time: float) -> datetime.datetime | None:
        """The wall time (UTC) of a capture time, where the capture tells it."""
        if self.summary.clock is Clock.EPOCH:
            return datetime.datetime.fromtimestamp(time, datetime.UTC)
        origin = self._parser.wall_origin if self._parser is not None else None
        if self.summary.clock is Clock.MONOTONIC and origin is not None:
            mono, wall = origin
            return wall + datetime.timedelta(seconds=time - mono)
        return None

    def stamp(self, time: float, day: datetime.date | None = None) -> str | None:
        """A capture time as text, for event lines: the ISO 8601 wall time where the capture
        tells it; a time of day on ``day`` (ISO, no zone: the capturing machine's local time)
        or, without ``day``, as ``HH:MM:SS.fff`` (``day 2 HH:MM:SS.fff`` after a midnight);
        a relative stamp as its seconds. ``None`` for an untimed capture."""
        wall = self.wall(time)
        if wall is not None:
            return wall.isoformat(timespec="milliseconds")
        if self.summary.clock is Clock.TIME_OF_DAY:
            days, seconds = divmod(time, _DAY)
            if day is not None:
                midnight = datetime.datetime.combine(day, datetime.time())
                when = midnight + datetime.timedelta(seconds=time)
                return when.isoformat(timespec="milliseconds")
            clock = (datetime.datetime.min + datetime.timedelta(seconds=seconds)).time()
            text = clock.isoformat(timespec="milliseconds")
            return f"day {int(days) + 1} {text}" if days else text
        if self.summary.clock is Clock.RELATIVE:
            return f"{time:.3f}"
        return None

    def chunks(self) -> Iterator[Chunk]:
        """The capture's bytes in order, with their times."""
        if self.format is CaptureFormat.RAW:
            yield from self._raw()
        else:
            yield from self._text(self._lines(), self.summary)

    # --- private -------------------------------------------------------------------------

    def _check_head(self, text: bool) -> None:
        decoder = FrameDecoder()
        if text:
            trial = InputSummary(self.summary.format)
            lines = self._head.split(b"\n")
            if len(self._head) == self._block:
                lines.pop()  # cut at the block's end
            parser = _TextParser(trial)
            for chunk in parser.parse(lines):
                if decoder.feed(chunk.data):
                    # The clock and wall time are known before the chunks are read.
                    self.summary.clock = trial.clock
                    self._parser = parser
                    return
            if trial.event_records and not trial.frame_records:
                raise NotACaptureError(
                    "a JSON-lines file with events only and no FRAME records "
                    "(write the capture with --log)"
                )
            raise NotACaptureError("no Gen 2 frame in the first 64 KiB of text")
        if not decoder.feed(self._head) and not decoder.feed(_END):
            raise NotACaptureError("no Gen 2 frame in the first 64 KiB of bytes")

    def _raw(self) -> Iterator[Chunk]:
        data = self._head
        while data:
            self.summary.bytes_read += len(data)
            yield Chunk(data)
            data = self._stream.read(self._block)

    def _text(self, lines: Iterable[bytes | _LongLine], summary: InputSummary) -> Iterator[Chunk]:
        parser = self._parser = _TextParser(summary)
        yield from parser.parse(lines)
        summary.truncated = self._cut and parser.last_skipped

    def _lines(self) -> Iterator[bytes | _LongLine]:
        """The lines of the head and the rest of the stream, without their newlines; a line
        longer than :data:`MAX_LINE` as its size only."""
        parts = self._head.split(b"\n")
        carry = parts.pop()
        yield from parts  # each within the head's 64 KiB
        read_line = self._stream.readline
        while True:
            read = read_line(max(1, MAX_LINE + 1 - len(carry)))
            if not read:
                break
            line = carry + read if carry else read
            carry = b""
            if line.endswith(b"\n"):
                yield line[:-1]
            elif len(line) > MAX_LINE:
                size = len(line)
                while read and not read.endswith(b"\n"):
                    read = read_line(self._block)  # the rest, in bounded pieces, dropped
                    size += len(read)
                yield _LongLine(size)
            else:
                carry = line  # the end of the file without a newline
        if carry:
            self._cut = True
            yield carry


class _TextParser:
    """Hex lines and --log records to chunks; counts everything it meets in ``summary``."""

    def __init__(self, summary: InputSummary) -> None:
        self._summary = summary
        #: (monotonic, wall time) of the first --log record that has both.
        self.wall_origin: tuple[float, datetime.datetime] | None = None
        self._days = DayCounter()
        self._last: float | None = None
        #: No frame is open: a line without any C0 is then a bare body, not a frame's middle.
        self._between = True
        #: The last line could not be used.
        self.last_skipped = False

    def parse(self, lines: Iterable[bytes | _LongLine]) -> Iterator[Chunk]:
        summary = self._summary
        for number, raw in enumerate(lines, 1):
            summary.lines = number
            if isinstance(raw, _LongLine):
                summary.bytes_read += raw.size
                summary.long_lines += 1
                self._skip(number, garbage=True)
                self.last_skipped = True
                continue
            summary.bytes_read += len(raw) + 1
            text = raw.decode("latin-1").strip()
            if not text:
                summary.blank_lines += 1
                continue
            first = text[0]
            if first == "{":
                chunk = self._record(text, number)
            elif first == "#":
                summary.comment_lines += 1
                continue
            else:
                chunk = self._hex_line(text, number)
            self.last_skipped = chunk is None
            if chunk is not None:
                yield chunk

    def _hex_line(self, text: str, number: int) -> Chunk | None:
        summary = self._summary
        stamp = parse_stamp(text)
        time: float | None = None
        if stamp is not None:
            text = text[stamp.end :]
            seconds = stamp.seconds
            if stamp.clock is Clock.TIME_OF_DAY:
                seconds = self._days.running(seconds)
            time = self._timed(stamp.clock, seconds)
        data = _hex_bytes(text)
        if not data:
            self._skip(number, garbage=True)
            return None
        summary.hex_lines += 1
        last_end = data.rfind(_END)
        if last_end >= 0:
            # At most a tail byte after the last C0: that C0 closed a frame.
            self._between = len(data) - last_end <= 2
        elif self._between and len(data) in _BARE_SIZES:
            summary.bare_bodies += 1
            data = _frame_bare(data)
        return self._chunk(data, time, None)

    def _record(self, text: str, number: int) -> Chunk | None:
        summary = self._summary
        try:
            record: Any = json.loads(text)
        except ValueError:
            self._skip(number, garbage=False)
            return None
        if not isinstance(record, dict):
            self._skip(number, garbage=False)
            return None
        event = record.get("event")
        known = _FRAME_KEYS if event == "FRAME" else _EVENT_KEYS
        for name in record.keys() - known:
            if name in summary.unknown_fields or len(summary.unknown_fields) < _NAMES_KEPT:
                summary.unknown_fields[str(name)] += 1
        if event != "FRAME":
            if isinstance(event, str) and (
                event in summary.event_records or len(summary.event_records) < _NAMES_KEPT
            ):
                summary.event_records[event] += 1
            else:
                self._skip(number, garbage=False)
            return None
        hex_text = record.get("hex")
        try:
            data = bytes.fromhex(hex_text) if isinstance(hex_text, str) else b""
        except ValueError:
            data = b""
        if not data:
            self._skip(number, garbage=False)
            return None
        monotonic = record.get("monotonic")
        wall = parse_iso(record.get("time"))
        time: float | None = None
        if isinstance(monotonic, int | float) and not isinstance(monotonic, bool):
            time = self._timed(Clock.MONOTONIC, float(monotonic))
            if wall is not None and self.wall_origin is None:
                self.wall_origin = (float(monotonic), wall)
        elif wall is not None:
            time = self._timed(Clock.EPOCH, wall.timestamp())
        direction = record.get("direction")
        return self._chunk(data, time, direction if direction in ("rx", "tx") else None)

    def _timed(self, clock: Clock, seconds: float) -> float | None:
        summary = self._summary
        if summary.clock is None:
            summary.clock = clock
        elif summary.clock is not clock:
            summary.mixed_clocks += 1
            return None
        return seconds

    def _chunk(self, data: bytes, time: float | None, direction: str | None) -> Chunk:
        summary = self._summary
        summary.frame_records += 1
        if time is None:
            if summary.clock is not None:
                summary.untimed += 1
            time = self._last
        else:
            self._last = time
        return Chunk(data, time, direction)

    def _skip(self, number: int, *, garbage: bool) -> None:
        summary = self._summary
        if garbage:
            summary.garbage_lines += 1
        else:
            summary.bad_records += 1
        if len(summary.examples) < 5:
            summary.examples.append(number)


def _looks_like_text(head: bytes) -> bool:
    sample = head[:4096]
    printable = sum(1 for byte in sample if byte in _TEXT_BYTES)
    return printable >= 0.95 * len(sample)


def _hex_bytes(text: str) -> bytes:
    """The bytes of a hex line; empty if it is not one.

    A leading label (``Rx@:``, ``Tx``) is allowed; after the first hex token every token
    must be hex, so a sentence that happens to hold a hex-looking word is not read as bytes.
    """
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    out = bytearray()
    for word in text.split():
        token = word.strip(_PUNCTUATION)
        if token[:2] in ("0x", "0X"):
            token = token[2:]
        try:
            value = bytes.fromhex(token) if token and len(token) % 2 == 0 else None
        except ValueError:
            value = None
        if value is None:
            if out or any(ch.isdigit() for ch in token):
                return b""
            continue  # a label before the bytes
        out += value
    return bytes(out)


def _frame_bare(body: bytes) -> bytes:
    """Delimit a bare body; a leaked tail byte after a valid body stays outside (SPEC §6)."""
    try:
        check_and_decode(body)
    except FramingError:
        try:
            check_and_decode(body[:-1])
        except FramingError:
            return _END + escape(body) + _END
        return _END + escape(body[:-1]) + _END + body[-1:]
    return _END + escape(body) + _END
