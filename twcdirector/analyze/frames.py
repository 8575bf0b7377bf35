"""Wire bytes to frames, framing errors and the bytes between frames, in wire order (pure).

The codec's :class:`~twcdirector.protocol.FrameDecoder` does the decoding and the error
counting; this splitter feeds it up to one ``C0`` at a time, so each piece closes at most one
frame and the bytes the decoder ignores between frames (a unit's tail byte, line noise) can
be seen and told apart. (``FrameDecoder.feed_frames`` will do the same once it exists.)
"""

from __future__ import annotations

from typing import NamedTuple

from ..exceptions import FramingError
from ..protocol import MAX_RAW_FRAME, FrameDecoder, Message, check_and_decode, unescape

_END = b"\xc0"
#: The shortest legal body; a shorter run between two C0s is never a frame.
_SHORTEST_FRAME = 13


class Gap(NamedTuple):
    """Bytes between two delimiters that were no frame: ``size`` bytes, the first ``first``.

    One byte right after a frame is that unit's tail byte (SPEC §2.5); anything longer is
    noise. ``leading`` marks the bytes before the capture's first ``C0`` (a frame cut off).
    """

    size: int
    first: int
    leading: bool = False


Item = Message | FramingError | Gap


class FrameSplitter:
    """Feed bytes, get messages, framing errors and gaps in the order they were on the wire."""

    __slots__ = ("_errors", "_open", "_seen_end", "decoder", "frame_bytes")

    def __init__(self) -> None:
        self._errors: list[FramingError] = []
        #: The codec's decoder; its ``errors`` count rejected frames by kind.
        self.decoder = FrameDecoder(on_error=self._errors.append)
        # Bytes since the last C0, held until the next one: the decoder gets whole pieces.
        self._open = b""
        self._seen_end = False
        #: Wire bytes (with both C0s) of the frames of legal length, good or rejected: the
        #: bus's traffic. Overruns, noise and tail bytes are not in it.
        self.frame_bytes = 0

    @property
    def buffered(self) -> int:
        """Bytes of a frame still open (at the end of a capture: it was cut off)."""
        return len(self._open)

    def feed(self, data: bytes) -> list[Item]:
        """Consume bytes; return what they completed, in order."""
        text = self._open + data if self._open else data
        last = text.rfind(_END)
        if last < 0:
            self._open = text
            if len(text) <= MAX_RAW_FRAME:
                return []
            # Longer than any frame: the decoder counts it now (an overrun).
            self._open = b""
            self.decoder.feed(text)
            errors, self._errors[:] = list(self._errors), []
            return list(errors)
        closed = text[: last + 1]
        self._open = text[last + 1 :]
        # One call for every frame the bytes complete; the segments between the C0s tell
        # where each decoded frame sat among the tail bytes and noise.
        messages = self.decoder.feed(closed)
        segments = closed.split(_END)
        segments.pop()  # after the last C0: nothing
        if self._errors:
            return self._ordered_with_errors(segments, messages)
        out: list[Item] = []
        index = 0
        count = len(messages)
        for segment in segments:
            if not self._seen_end:
                self._seen_end = True
                if segment:
                    out.append(Gap(len(segment), segment[0], True))
            elif index < count and len(segment) >= _SHORTEST_FRAME:
                out.append(messages[index])
                index += 1
                self.frame_bytes += len(segment) + 2
            elif segment:
                out.append(Gap(len(segment), segment[0]))
        if index < count:
            out.extend(messages[index:])
        return out

    def _ordered_with_errors(self, segments: list[bytes], messages: list[Message]) -> list[Item]:
        """The rare case of bytes with a bad frame: each long segment is checked again to
        know whether it was a message or an error; spare errors go to short segments."""
        errors = list(self._errors)
        self._errors.clear()
        out: list[Item] = []
        decoded = iter(messages)
        rejected = iter(errors)
        short_errors = len(errors) - sum(
            1 for segment in segments if len(segment) >= _SHORTEST_FRAME and not _valid(segment)
        )
        for segment in segments:
            leading = not self._seen_end
            self._seen_end = True
            if leading:
                if segment:
                    out.append(Gap(len(segment), segment[0], True))
                continue
            if len(segment) >= _SHORTEST_FRAME:
                item = next(decoded, None) if _valid(segment) else next(rejected, None)
                if item is not None:
                    out.append(item)
                    if len(segment) <= MAX_RAW_FRAME:
                        self.frame_bytes += len(segment) + 2
                continue
            if segment and short_errors > 0:
                short_errors -= 1
                error = next(rejected, None)
                if error is not None:
                    out.append(error)
                    continue
            if segment:
                out.append(Gap(len(segment), segment[0]))
        out.extend(decoded)
        out.extend(rejected)
        return out


def _valid(raw: bytes) -> bool:
    """Whether the bytes between two C0s decode (for ordering only; the decoder counts)."""
    try:
        check_and_decode(unescape(raw))
    except FramingError:
        return False
    return True
