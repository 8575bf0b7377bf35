"""Decoding frames: one whole frame, or a byte stream (SPEC §2, §8.1)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..exceptions import (
    ChecksumError,
    FrameErrorKind,
    FramingError,
    LengthError,
    OverrunError,
)
from .framing import unescape
from .messages import Message, decode_body

_END = b"\xc0"
#: The longest legal body (20 bytes) with every byte escaped.
MAX_RAW_FRAME = 40
#: Type, command and checksum at the very least.
_MIN_BODY = 4


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """One frame of a byte stream: its exact ``raw`` bytes (``C0`` … ``C0`` as heard, or the
    bytes dropped by an overrun) and either the ``message`` it decodes to or the ``error``
    that rejected it."""

    raw: bytes
    message: Message | None
    error: FramingError | None = None


def _decode_raw(raw: bytes) -> Message:
    """Decode the bytes between two delimiters; raise a :class:`FramingError` subclass."""
    if len(raw) > MAX_RAW_FRAME:
        raise OverrunError(f"frame of {len(raw)} raw bytes exceeds {MAX_RAW_FRAME}", raw)
    body = unescape(raw)
    return check_and_decode(body)


def check_and_decode(body: bytes) -> Message:
    """Verify the checksum of an unescaped body, then decode it."""
    if len(body) < _MIN_BODY:
        raise LengthError(f"body of {len(body)} bytes is too short", body)
    if sum(body[1:-1]) & 0xFF != body[-1]:
        raise ChecksumError(
            f"checksum {body[-1]:02X} != computed {sum(body[1:-1]) & 0xFF:02X}", body
        )
    return decode_body(body)


def decode_frame(data: bytes) -> Message:
    """Decode one whole frame.

    ``data`` is either as on the wire (``C0`` escaped-body ``C0``, optionally followed by one
    tail byte) or a bare unescaped body. A bare body that carries a leaked tail byte after its
    checksum (SPEC §6 vector 5) is accepted when the body without it verifies.
    """
    data = bytes(data)
    if data[:1] == _END:
        close = data.find(_END, 1)
        if close < 0:
            raise LengthError("frame does not close with C0", data)
        if len(data) - close - 1 > 1:
            raise LengthError("more than one byte after the closing C0", data)
        return _decode_raw(data[1:close])
    try:
        return check_and_decode(data)
    except (ChecksumError, LengthError) as error:
        if len(data) > _MIN_BODY:
            try:
                return check_and_decode(data[:-1])
            except FramingError:
                pass
        raise error from None


# Decoder states: what the segment up to the next C0 is.
_BETWEEN = 0  # inter-frame bytes (tail, noise) ignored, unless long enough to be a frame
_FRAME = 1  # a frame we saw open
_UNSURE = 2  # after a bad frame: a frame, or noise if too short to be one
_START = 3  # before the first C0 (or after an overrun): ignored; what follows is unsure
#: The shortest legal body; anything shorter after a bad frame is taken for line noise.
_SHORTEST_FRAME = 13


class FrameDecoder:
    """Turns a byte stream into messages.

    Bytes outside a ``C0 … C0`` pair (tail bytes, line noise) are ignored. A frame that fails
    to decode is counted by kind, reported to ``on_error`` if given, and dropped. The decoder
    then resynchronises: the ``C0`` that closed the bad frame may open the next one, so one
    bad frame never costs the next good one, and a few noise bytes before the next ``C0`` are
    not counted twice. A frame that grows past the longest legal length is dropped as an
    overrun and the decoder waits for the next ``C0``.
    """

    __slots__ = ("_on_error", "_pending", "_state", "errors", "frames")

    def __init__(self, on_error: Callable[[FramingError], None] | None = None) -> None:
        self._on_error = on_error
        self._pending = b""
        # Bytes before the first C0 are the tail of a frame we missed.
        self._state = _START
        #: Messages decoded so far.
        self.frames = 0
        #: Frames rejected so far, by kind.
        self.errors: dict[FrameErrorKind, int] = dict.fromkeys(FrameErrorKind, 0)

    @property
    def error_count(self) -> int:
        """Every rejected frame, all kinds together."""
        return sum(self.errors.values())

    @property
    def buffered(self) -> int:
        """Bytes held for a frame that has not closed yet."""
        return len(self._pending)

    def reset(self) -> None:
        """Forget any partial frame (e.g. after the link was reopened)."""
        self._pending = b""
        self._state = _START

    def feed(self, data: bytes) -> list[Message]:
        """Consume bytes; return the messages completed by them, in order."""
        return self._feed(data, None)

    def feed_frames(self, data: bytes) -> list[DecodedFrame]:
        """Consume bytes; return every frame they complete, in order, with its exact raw
        bytes: the decoded ones with their message, the rejected ones with their error (also
        counted and given to ``on_error`` as :meth:`feed` does)."""
        frames: list[DecodedFrame] = []
        self._feed(data, frames)
        return frames

    def _feed(self, data: bytes, frames: list[DecodedFrame] | None) -> list[Message]:
        """The one decoding loop; with ``frames`` it also records each frame's raw bytes."""
        if _END not in data:
            if self._state != _START:
                self._pending += data
                if len(self._pending) > MAX_RAW_FRAME:
                    self._overrun(frames)
            return []
        segments = (self._pending + data).split(_END) if self._pending else data.split(_END)
        # Each segment but the last ends at a C0; the last one is still open.
        messages: list[Message] = []
        state = self._state
        for raw in segments[:-1]:
            if state == _BETWEEN:
                if len(raw) < _SHORTEST_FRAME:
                    state = _FRAME
                    continue
                # Long enough to be a frame whose sender shared one C0 for close and open.
                state = _UNSURE
            if state == _START:
                # That C0 may have closed a frame we joined halfway through.
                state = _UNSURE
                continue
            if not raw:
                # C0 C0: the second one opens the frame.
                state = _FRAME
                continue
            try:
                message = _decode_raw(raw)
            except FramingError as error:
                if state == _UNSURE and len(raw) < _SHORTEST_FRAME:
                    state = _FRAME  # noise after a bad frame; this C0 opens the next one
                    continue
                self._count(error)
                if frames is not None:
                    frames.append(DecodedFrame(_END + raw + _END, None, error))
                state = _UNSURE
                continue
            messages.append(message)
            if frames is not None:
                frames.append(DecodedFrame(_END + raw + _END, message))
            state = _BETWEEN
        self._state = state
        self._pending = segments[-1] if state != _START else b""
        self.frames += len(messages)
        if len(self._pending) > MAX_RAW_FRAME:
            self._overrun(frames)
        return messages

    def _overrun(self, frames: list[DecodedFrame] | None) -> None:
        # Between frames a long run is line noise; inside one it is an overrun.
        if self._state != _BETWEEN:
            error = OverrunError(f"frame exceeds {MAX_RAW_FRAME} bytes", self._pending)
            self._count(error)
            if frames is not None:
                frames.append(DecodedFrame(self._pending, None, error))
        self._pending = b""
        self._state = _START

    def _count(self, error: FramingError) -> None:
        self.errors[error.kind] += 1
        if self._on_error is not None:
            self._on_error(error)
