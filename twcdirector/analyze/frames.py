"""Wire bytes to frames, framing errors and the bytes between frames, in wire order (pure).

The codec's :class:`~twcdirector.protocol.FrameDecoder` does the decoding and the error
counting; this splitter feeds it up to one ``C0`` at a time, so each piece closes at most one
frame and the bytes the decoder ignores between frames (a unit's tail byte, line noise) can
be seen and told apart. (``FrameDecoder.feed_frames`` will do the same once it exists.)
"""

from __future__ import annotations

from typing import NamedTuple

from ..exceptions import FramingError
from ..protocol import MAX_RAW_FRAME, FrameDecoder, Message

_END = b"\xc0"


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

    __slots__ = ("_errors", "_open", "_seen_end", "decoder")

    def __init__(self) -> None:
        self._errors: list[FramingError] = []
        #: The codec's decoder; its ``errors`` count rejected frames by kind.
        self.decoder = FrameDecoder(on_error=self._errors.append)
        # Bytes since the last C0, held until the next one: the decoder gets whole pieces.
        self._open = b""
        self._seen_end = False

    @property
    def buffered(self) -> int:
        """Bytes of a frame still open (at the end of a capture: it was cut off)."""
        return len(self._open)

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
                self._open += data[start:] if start else data
                if len(self._open) > MAX_RAW_FRAME:
                    # Longer than any frame: the decoder counts it now (an overrun).
                    feed(self._open)
                    out.extend(errors)
                    errors.clear()
                    self._open = b""
                break
            piece = data[start : end + 1]
            gap = len(self._open) + end - start
            if self._open:
                piece = self._open + piece
                self._open = b""
            messages = feed(piece)
            if messages:
                out.extend(messages)
            if errors:
                out.extend(errors)
                errors.clear()
            elif not messages and gap:
                out.append(Gap(gap, piece[0], not self._seen_end))
            self._seen_end = True
            start = end + 1
        return out
