"""The controller's end of a simulated bus in virtual time (pure).

For fast, deterministic tests of a sans-I/O controller: write bytes at :attr:`now`, move the
clock with :meth:`advance`, and get back what the units said and when.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..exceptions import ConfigurationError
from ..protocol import FrameDecoder, Message
from .bus import Bus, Chunk
from .config import UnitConfig
from .scenario import Scenario


class VirtualLink:
    """A bus of simulated units and a virtual clock."""

    def __init__(
        self,
        units: Iterable[UnitConfig] | None = None,
        *,
        scenario: Scenario | None = None,
        now: float = 0.0,
        bus: Bus | None = None,
    ) -> None:
        self.bus = bus if bus is not None else Bus(units, now=now, scenario=scenario)
        self.now = max(now, self.bus.start)
        #: Every chunk the units sent, in order.
        self.chunks: list[Chunk] = []
        self._unread = bytearray()
        self._decoder = FrameDecoder()

    def write(self, data: bytes) -> list[Message]:
        """The controller sends ``data`` now; returns the messages the units decoded."""
        self.advance(0)
        return self.bus.receive(data, self.now)

    def advance(self, seconds: float) -> list[Chunk]:
        """Move the clock by ``seconds``; return the chunks sent meanwhile."""
        return self.advance_to(self.now + seconds)

    def advance_to(self, when: float) -> list[Chunk]:
        """Move the clock to ``when``; return the chunks sent meanwhile."""
        if when < self.now:
            raise ConfigurationError(f"time goes forward only ({when} < {self.now})")
        chunks: list[Chunk] = []
        while (deadline := self.bus.next_deadline()) is not None and deadline <= when:
            chunks += self.bus.poll(max(deadline, self.now))
            self.now = max(deadline, self.now)
        chunks += self.bus.poll(when)
        self.now = when
        self.chunks += chunks
        for chunk in chunks:
            self._unread += chunk.data
        return chunks

    def read(self) -> bytes:
        """Every byte the units sent since the last read."""
        data = bytes(self._unread)
        self._unread.clear()
        return data

    def read_messages(self) -> list[Message]:
        """What :meth:`read` returns, decoded as a controller would."""
        return self._decoder.feed(self.read())
