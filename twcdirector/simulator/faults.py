"""Fault injection for one simulated unit (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..exceptions import ConfigurationError

_END = 0xC0
_ESC = 0xDB
_UNSAFE = frozenset({0xC0, 0xDB, 0xDC, 0xDD})


def corrupt_frame(data: bytes) -> bytes:
    """Flip one bit of a body byte so the frame still closes but fails its checksum.

    A single flipped bit changes the byte sum by a power of two below 256, so the checksum
    always catches it. Delimiters and escape sequences are left alone, so the damage is a
    checksum error and nothing else.
    """
    middle = len(data) // 2
    order = sorted(range(1, len(data) - 1), key=lambda i: abs(i - middle))
    for index in order:
        byte = data[index]
        if byte in _UNSAFE or data[index - 1] == _ESC or (byte ^ 0x01) in _UNSAFE:
            continue
        return data[:index] + bytes((byte ^ 0x01,)) + data[index + 1 :]
    raise ConfigurationError("no byte of this frame can be corrupted safely")


@dataclass(slots=True)
class Faults:
    """The faults pending on one unit. Counts go down as replies are affected."""

    #: Replies to drop (heartbeat, data and contactor replies; not announcements).
    drop: int = 0
    #: Extra seconds added to the next ``delay_count`` replies.
    delay: float = 0.0
    delay_count: int = 0
    #: Replies to send with a flipped bit.
    corrupt: int = 0
    #: The unit transmits nothing in [silent_from, silent_until).
    silent_from: float = -math.inf
    silent_until: float = -math.inf

    def drop_replies(self, count: int) -> None:
        """Drop the next ``count`` replies."""
        self.drop += _count(count)

    def delay_replies(self, seconds: float, count: int = 1) -> None:
        """Send the next ``count`` replies ``seconds`` late (on top of the normal latency)."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ConfigurationError(f"delay {seconds} must be >= 0 seconds")
        self.delay = seconds
        self.delay_count = _count(count)

    def corrupt_replies(self, count: int = 1) -> None:
        """Flip a bit in the next ``count`` replies."""
        self.corrupt += _count(count)

    def go_silent(self, now: float, seconds: float) -> None:
        """Transmit nothing from ``now`` for ``seconds`` (the unit still hears the bus)."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ConfigurationError(f"silence {seconds} must be >= 0 seconds")
        self.silent_from = now
        self.silent_until = now + seconds

    def silent_at(self, when: float) -> bool:
        """Whether the unit is silent at ``when``."""
        return self.silent_from <= when < self.silent_until

    def shape_reply(self, due: float, data: bytes) -> tuple[float, bytes] | None:
        """Apply the pending reply faults: the new due time and bytes, or None if dropped."""
        if self.drop:
            self.drop -= 1
            return None
        if self.delay_count:
            self.delay_count -= 1
            due += self.delay
        if self.corrupt:
            self.corrupt -= 1
            data = corrupt_frame(data)
        return due, data


def _count(count: int) -> int:
    if count < 0:
        raise ConfigurationError(f"count {count} must be >= 0")
    return count
