"""``--port``: listen to a live bus without transmitting, then report (asyncio adapter).

The port is opened as the director opens it (9600 8N1, any pyserial URL) and nothing is
ever written to it. Each chunk of bytes is stamped with the loop's monotonic clock when it
arrives and goes into the same pure statistics as a capture file. Listening ends after
``duration`` seconds, or at Ctrl-C / SIGTERM; the report covers what was heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import signal
import sys
from typing import IO

from .. import open_serial_link
from ..exceptions import LinkError
from .capture import CaptureFormat, Chunk, InputSummary
from .report import Report, build_report
from .stats import BAUD, BusStatistics
from .timestamps import Clock


class _Listener:
    """Link callbacks: bytes into the statistics, a lost link ends listening."""

    def __init__(self, stats: BusStatistics, stop: asyncio.Event) -> None:
        self._stats = stats
        self._stop = stop
        self._loop = asyncio.get_running_loop()
        self.lost: LinkError | None = None

    def link_data(self, data: bytes) -> None:
        self._stats.add(Chunk(data, self._loop.time()))

    def link_lost(self, error: LinkError) -> None:
        self.lost = error
        self._stop.set()


def listen(port: str, duration: float | None = None, *, err: IO[str] | None = None) -> Report:
    """Listen to ``port`` until ``duration`` s have passed or a signal; return the report.

    Raises :class:`~twcdirector.exceptions.LinkError` if the port cannot be opened.
    """
    return asyncio.run(listen_async(port, duration, err=err))


async def listen_async(
    port: str,
    duration: float | None = None,
    *,
    err: IO[str] | None = None,
    stop: asyncio.Event | None = None,
) -> Report:
    """:func:`listen` on the running loop; ``stop`` ends it early."""
    err = err if err is not None else sys.stderr
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    stats = BusStatistics()
    listener = _Listener(stats, stop)
    link = await open_serial_link(port, BAUD, listener)
    started = loop.time(), datetime.datetime.now(datetime.UTC)
    handled = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    until = f"for {duration:g} s" if duration else "until Ctrl-C"
    err.write(f"listening on {port} {until}, never transmitting\n")
    err.flush()
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(duration):
                await stop.wait()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await link.close()
    summary = InputSummary(CaptureFormat.LIVE, clock=Clock.MONOTONIC)
    summary.bytes_read = stats.bytes
    if listener.lost is not None:
        err.write(f"link lost: {listener.lost}\n")

    def wall(time: float) -> datetime.datetime:
        return started[1] + datetime.timedelta(seconds=time - started[0])

    return build_report(stats, summary, source=port, wall=wall)
