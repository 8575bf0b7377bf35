"""Replay a capture through the director in listen-only mode, in virtual time (asyncio).

The capture's bytes reach a :class:`~twcdirector.Director` (``listen_only=True``) through a
link that never transmits, each chunk at its own capture time on an event loop whose clock
jumps to the next timer instead of waiting: an hour of bus replays in seconds, and every
timing the director sees (26 s silences, reply windows) is the capture's. Its events are
printed by the headless command's own printer, so the lines are those a live
``python3 -m twcdirector --listen-only`` run printed; their ``time`` is the capture's:
its wall time where it tells it, else its time of day (on the day given, if any) or its
own seconds, never the time of the replay. Of a ``--log`` file only the frames the
director heard (``rx``) are replayed, as they reached it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import itertools
import json
import selectors
from collections.abc import Callable, Iterator
from typing import IO

from .. import Director, DirectorConfig
from ..event_printer import JsonPrinter  # the headless command's own event lines
from ..exceptions import ConfigurationError
from ..gen2.transport import Link, LinkListener
from .capture import CaptureReader, Chunk
from .timestamps import Clock


class ReplayError(ConfigurationError):
    """A capture that cannot be replayed (it has no timestamps)."""


class _JumpingSelector(selectors.DefaultSelector):
    """Never blocks: with nothing ready, the loop's clock jumps to the next timer."""

    def __init__(self, loop_clock: Callable[[float], None]) -> None:
        super().__init__()
        self._advance = loop_clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if not ready and timeout is not None and timeout > 0:
            self._advance(timeout)
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only when every task waits, straight to the next
    timer. For in-memory work only: it never waits for real I/O."""

    def __init__(self, start: float = 0.0) -> None:
        self._virtual = start
        super().__init__(_JumpingSelector(self._jump))

    def time(self) -> float:
        return self._virtual

    def _jump(self, seconds: float) -> None:
        self._virtual += seconds


class _SilentLink:
    """The replay's link: it has nothing to send to and says so if asked."""

    async def write(self, frame: bytes) -> None:
        raise AssertionError("a listen-only replay never transmits")

    async def close(self) -> None:
        """Nothing to close."""


class _CaptureTime:
    """A text stream that rewrites each JSON line's ``time`` to the capture's time."""

    def __init__(self, out: IO[str], stamp: Callable[[], str | None]) -> None:
        self._out = out
        self._stamp = stamp

    def write(self, text: str) -> int:
        for line in text.splitlines(keepends=True):
            when = self._stamp()
            if when is None or not line.startswith("{"):
                self._out.write(line)
                continue
            record = json.loads(line)
            record["time"] = when
            self._out.write(json.dumps(record, separators=(",", ":")) + "\n")
        return len(text)

    def flush(self) -> None:
        self._out.flush()


def replay_file(
    path: str,
    out: IO[str],
    *,
    day: datetime.date | None = None,
    note: Callable[[str], None] | None = None,
) -> int:
    """Replay the capture at ``path``; print events on ``out``. Returns the exit code.

    ``day``: the date of a capture stamped with times of day only. ``note`` is told, once,
    when the events cannot carry a date.
    """
    with open(path, "rb") as stream:
        reader = CaptureReader(stream)
        if not reader.timed:
            raise ReplayError(
                f"{path}: a {reader.format.value} capture has no timestamps to replay "
                "(use a --log file or a timestamped hex dump)"
            )
        clock = reader.summary.clock
        if note is not None and clock is Clock.TIME_OF_DAY and day is None:
            note(
                "the capture stamps times of day without a date: the date is unknown, events "
                "carry the time of day (give --date YYYY-MM-DD)"
            )
        elif note is not None and clock is Clock.RELATIVE:
            note("the capture stamps seconds without a date: events carry those seconds")
        replay(_heard(reader.chunks()), out, stamp=lambda time: reader.stamp(time, day))
    return 0


def replay(
    chunks: Iterator[Chunk],
    out: IO[str],
    *,
    stamp: Callable[[float], str | None] | None = None,
    config: DirectorConfig | None = None,
) -> None:
    """Feed timed ``chunks`` to a listen-only director; print its events on ``out``, their
    ``time`` as ``stamp`` gives it for the capture time (where it gives one).

    Chunks before the first timed one have no place in time and are left out.
    """
    chunks = itertools.dropwhile(lambda chunk: chunk.time is None, chunks)
    first = next(chunks, None)
    if first is None or first.time is None:
        return
    loop = VirtualTimeLoop(first.time)
    try:
        loop.run_until_complete(
            _run(itertools.chain((first,), chunks), out, stamp, config or DirectorConfig())
        )
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _run(
    chunks: Iterator[Chunk],
    out: IO[str],
    stamp: Callable[[float], str | None] | None,
    config: DirectorConfig,
) -> None:
    loop = asyncio.get_running_loop()
    listeners: list[LinkListener] = []

    async def factory(port: str, baudrate: int, listener: LinkListener) -> Link:
        listeners.append(listener)
        return _SilentLink()

    listen_only = dataclasses.replace(config, listen_only=True)
    director = Director("replay://", listen_only, link_factory=factory)
    printer_out: IO[str] = out
    if stamp is not None:
        # A duck-typed text stream (write, flush) is all the printer uses.
        printer_out = _CaptureTime(out, lambda: stamp(loop.time()))  # type: ignore[assignment]
    JsonPrinter(director, printer_out)
    await director.start()
    try:
        for chunk in chunks:
            if chunk.time is not None and chunk.time > loop.time():
                await asyncio.sleep(chunk.time - loop.time())
            listeners[-1].link_data(chunk.data)
    finally:
        await director.close()


def _heard(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """What a director heard: a --log's own ``tx`` frames are left out."""
    return (chunk for chunk in chunks if chunk.direction != "tx")
