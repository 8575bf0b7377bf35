"""Wire bytes to frames, framing errors and the bytes between frames, in wire order (pure).

The codec's :class:`~twcdirector.protocol.FrameDecoder` does the decoding and the error
counting; this splitter feeds it up to one ``C0`` at a time, so each piece closes at most one
frame and the bytes the decoder ignores between frames (a unit's tail byte, line noise) can
be seen and told apart. (``FrameDecoder.feed_frames`` will do the same once it exists.)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import FramingError
from ..protocol import FrameDecoder, Message

_END = b"\xc0"


@dataclass(frozen=True, slots=True)
class Gap:
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

    __slots__ = ("_errors", "_first", "_open", "_seen_end", "decoder")

    def __init__(self) -> None:
        self._errors: list[FramingError] = []
        #: The codec's decoder; its ``errors`` count rejected frames by kind.
        self.decoder = FrameDecoder(on_error=self._errors.append)
        self._open = 0  # bytes since the last C0
        self._first = -1  # the first of them
        self._seen_end = False

    @property
    def buffered(self) -> int:
        """Bytes of a frame still open (at the end of a capture: it was cut off)."""
        return self._open

    def feed(self, data: bytes) -> list[Item]:
        """Consume bytes; return what they completed, in order."""
        out: list[Item] = []
        feed = self.decoder.feed
        errors = self._errors
        start = 0
        size = len(data)
        while start < size:
            end = data.find(_END, start)
            if end < 0:
                if self._open == 0:
                    self._first = data[start]
                self._open += size - start
                feed(data[start:] if start else data)
                if errors:
                    out.extend(errors)
                    errors.clear()
                    self._open = 0
                break
            messages = feed(data[start : end + 1])
            if messages:
                out.extend(messages)
            if errors:
                out.extend(errors)
                errors.clear()
            elif not messages:
                gap = self._open + end - start
                if gap:
                    first = self._first if self._open else data[start]
                    out.append(Gap(gap, first, not self._seen_end))
            self._seen_end = True
            self._open = 0
            start = end + 1
        return out
