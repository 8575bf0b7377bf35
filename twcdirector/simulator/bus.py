"""Several simulated units on one half-duplex RS-485 bus (pure).

The bus takes the controller's bytes with :meth:`Bus.receive` and hands back what the
units say with :meth:`Bus.poll`, as :class:`Chunk` s stamped with the time they start on
the wire. Only one unit talks at a time: a transmission waits until the previous one has
left the wire (9600 baud, 8N1: ~1.04 ms a byte) plus ``gap``, and never starts within
``idle_guard`` of the controller's last byte. Everything is a function of ``now``, so a
test can run hours of bus time in milliseconds.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ..exceptions import ConfigurationError, DeviceNotFoundError, FramingError, UsageError
from ..protocol import FrameDecoder, Message
from .car import Car, make_vin
from .config import UnitConfig, default_units
from .peripheral import SimulatedPeripheral
from .scenario import Action, ActionKind, Scenario

_LOGGER = logging.getLogger(__name__)

#: Bits on the wire per byte: start, 8 data, stop.
_BITS_PER_BYTE = 10
_END = 0xC0


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes a unit put on the wire, starting at ``at``."""

    at: float
    data: bytes
    #: Index of the unit that sent it.
    unit: int
    #: The frame's message; None for noise.
    message: Message | None = None


class Bus:
    """Simulated peripherals sharing one bus, driven by ``now``."""

    def __init__(
        self,
        units: Iterable[UnitConfig | SimulatedPeripheral] | None = None,
        *,
        now: float = 0.0,
        scenario: Scenario | None = None,
        baudrate: int = 9600,
        gap: float = 0.005,
        idle_guard: float = 0.010,
        history: int = 1000,
        seed: int = 0,
    ) -> None:
        if baudrate <= 0 or gap < 0 or idle_guard < 0 or history < 0:
            raise ConfigurationError("baudrate must be > 0; gap, idle_guard, history >= 0")
        self.units: list[SimulatedPeripheral] = [
            unit if isinstance(unit, SimulatedPeripheral) else SimulatedPeripheral(unit, now)
            for unit in (units if units is not None else (UnitConfig(),))
        ]
        #: Bus time 0 for scenario actions.
        self.start = now
        self.byte_time = _BITS_PER_BYTE / baudrate
        self.gap = gap
        self.idle_guard = idle_guard
        #: Decodes the controller's bytes; its ``errors`` count framing errors by kind.
        self.decoder = FrameDecoder(on_error=self._on_framing_error)
        #: The controller's latest messages, with the time they arrived.
        self.received: deque[tuple[float, Message]] = deque(maxlen=history)
        #: Scenario actions not applied yet.
        self.pending: deque[Action] = deque()
        self._rng = random.Random(seed)
        self._free_at = now
        self._clock = now
        if scenario is not None:
            self.add(scenario)

    # --- inputs --------------------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> list[Message]:
        """Bytes from the controller, arrived at ``now``; returns the messages they closed."""
        self._clock = max(self._clock, now)
        # Half duplex: nobody starts talking right after the controller's last byte.
        self._free_at = max(self._free_at, now + self.idle_guard)
        messages = self.decoder.feed(data)
        for message in messages:
            self.received.append((now, message))
            for unit in self.units:
                unit.receive(message, now)
        return messages

    def poll(self, now: float) -> list[Chunk]:
        """Run everything up to ``now``; return what went on the wire, in order."""
        chunks: list[Chunk] = []
        while self.pending and self.start + self.pending[0].at <= now:
            action = self.pending.popleft()
            when = self.start + action.at
            chunks += self._transmit(when)
            try:
                self.apply(action, when)
            except UsageError as error:
                _LOGGER.warning(
                    "scenario action %s at %.1f s skipped: %s", action.kind, action.at, error
                )
        chunks += self._transmit(now)
        self._clock = max(self._clock, now)
        return chunks

    def next_deadline(self) -> float | None:
        """When :meth:`poll` next has something to do; None if never (until new input)."""
        times = []
        for unit in self.units:
            due = unit.peek_due()
            if due is not None:
                times.append(max(due, self._free_at))
            timer = unit.next_timer()
            if timer is not None:
                times.append(timer)
        if self.pending:
            times.append(self.start + self.pending[0].at)
        return min(times) if times else None

    # --- actions -------------------------------------------------------------------------

    def add(self, scenario: Scenario, offset: float = 0.0) -> None:
        """Schedule a scenario's actions at :attr:`start` + ``offset`` + their time."""
        for action in scenario.actions:
            self.unit(action.unit)  # fail now, not halfway through a run
        actions = [replace(action, at=action.at + offset) for action in scenario.actions]
        self.pending = deque(sorted((*self.pending, *actions), key=lambda a: a.at))

    def apply(self, action: Action, now: float) -> None:
        """Do one action at ``now`` (its ``at`` is ignored)."""
        unit = self.unit(action.unit)
        kind = action.kind
        if kind is ActionKind.PLUG_IN:
            unit.plug_in(now, action.car or Car(vin=make_vin(action.unit + 1)))
        elif kind is ActionKind.UNPLUG:
            unit.unplug(now)
        elif kind is ActionKind.GO_SILENT:
            unit.advance(now)
            unit.faults.go_silent(now, action.seconds)
        elif kind is ActionKind.DROP:
            unit.faults.drop_replies(action.count)
        elif kind is ActionKind.DELAY:
            unit.faults.delay_replies(action.seconds, action.count)
        elif kind is ActionKind.CORRUPT:
            unit.faults.corrupt_replies(action.count)
        elif kind is ActionKind.NOISE:
            noise = action.data or bytes(
                self._rng.choice([b for b in range(256) if b != _END]) for _ in range(action.count)
            )
            unit.inject_noise(now, noise)
        elif kind is ActionKind.COLLIDE:
            unit.collide(now, action.device_id)
        elif kind is ActionKind.REBOOT:
            unit.reboot(now)
        elif kind is ActionKind.OFFER:
            unit.offer(now, action.amps)
        _LOGGER.debug("unit %d: %s at %.3f", action.unit, kind, now)

    def unit(self, index: int) -> SimulatedPeripheral:
        """Unit number ``index`` (0-based)."""
        if not 0 <= index < len(self.units):
            raise DeviceNotFoundError(f"no simulated unit {index} (have {len(self.units)})")
        return self.units[index]

    def find(self, device_id: int) -> SimulatedPeripheral:
        """The unit that now uses ``device_id``."""
        for unit in self.units:
            if unit.device_id == device_id:
                return unit
        raise DeviceNotFoundError(f"no simulated unit with ID {device_id:04X}")

    # --- helpers -------------------------------------------------------------------------

    def _transmit(self, now: float) -> list[Chunk]:
        for unit in self.units:
            unit.advance(now)
        chunks: list[Chunk] = []
        while True:
            talker = self._next_talker()
            if talker is None:
                break
            due, index = talker
            unit = self.units[index]
            start = max(due, self._free_at)
            if start > now:
                break
            item = unit.pop(start)
            if item is None:
                continue  # muted by a fault
            data = item.data
            tail = unit.next_tail() if item.message is not None else None
            if tail is not None:
                data += bytes((tail,))
            chunks.append(Chunk(start, data, index, item.message))
            self._free_at = start + len(data) * self.byte_time + self.gap
            if item.message is not None:
                # Every unit hears the others (an ID clash makes one of them move).
                for other in self.units:
                    if other is not unit:
                        other.receive(item.message, start)
        return chunks

    def _next_talker(self) -> tuple[float, int] | None:
        """(due, unit index) of the earliest queued transmission; ties go to the lower index."""
        best: tuple[float, int] | None = None
        for index, unit in enumerate(self.units):
            due = unit.peek_due()
            if due is not None and (best is None or due < best[0]):
                best = (due, index)
        return best

    def _on_framing_error(self, error: FramingError) -> None:
        _LOGGER.debug("controller frame rejected (%s): %s", error.kind, error)


def units_from(configs: Sequence[UnitConfig] | int) -> list[UnitConfig]:
    """A list of configurations from a list, or from a count (default IDs)."""
    return default_units(configs) if isinstance(configs, int) else list(configs)
