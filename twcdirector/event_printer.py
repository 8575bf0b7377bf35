"""Every event of a director (or a Gen 3 monitor) and its devices as JSON lines.

The headless command prints these on stdout; the bus doctor's replay prints the same, so a
replayed capture can be compared line by line with what the live run printed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from . import events
from .emitter import SafeEmitter
from .gen3.events import GEN3_ERROR, UNIT_EVENTS
from .jsonlog import event_line

_DIRECTOR_EVENTS = (
    events.NEW_DEVICE,
    events.FRAMING_ERROR,
    events.LINK_LOST,
    events.LINK_RESTORED,
    events.BUS_ERROR,
    events.BUS_MESSAGE,
    events.SHARING_CHANGED,
)
#: Per device: readings and decoded commands come through __ALL_COMMANDS__ under their names.
_DEVICE_EVENTS = (events.ALL_COMMANDS, *events.PERIPHERAL_EVENTS)
_GEN3_EVENTS = (events.ALL_COMMANDS, *UNIT_EVENTS)


class TextOut(Protocol):
    """Where lines go: a text stream (stdout) or a :class:`~twcdirector.recorder.LogFile`."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...


class JsonPrinter:
    """Subscribes to every event of a director (or a Gen 3 monitor alone) and its devices;
    prints JSON lines.

    When the reader goes away (``python3 -m twcdirector | head``), printing stops and
    ``on_closed`` is called once, so the command can stop gracefully instead of raising
    :class:`BrokenPipeError` in every event handler.
    """

    def __init__(
        self,
        director: SafeEmitter,
        out: TextOut,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        self._out = out
        self._on_closed = on_closed
        self.closed = False
        for name in _DIRECTOR_EVENTS:
            director.on(name, self._handler(name, None))
        director.on(events.NEW_DEVICE, self._watch)

    def watch_gen3(self, monitor: SafeEmitter) -> None:
        """Also print what the monitor says of units not announced yet (never answered)."""
        for name in (GEN3_ERROR, events.DEVICE_LOST):
            monitor.on(name, self._handler(name, None))

    def _watch(self, new: events.NewDevice) -> None:
        device = new.device
        for name in _DEVICE_EVENTS if new.generation == 2 else _GEN3_EVENTS:
            device.on(name, self._handler(name, new.device_id))

    def _handler(self, name: str, device: str | None) -> Callable[[Any], None]:
        def handler(payload: Any) -> None:
            self.print(name, device, payload)

        return handler

    def print(self, name: str, device: str | None, payload: Any) -> None:
        """Write one event as a JSON line (nothing once the reader has gone)."""
        if self.closed:
            return
        try:
            self._out.write(event_line(name, device, payload) + "\n")
            self._out.flush()
        except BrokenPipeError:
            self.closed = True
            if self._on_closed is not None:
                self._on_closed()
