"""``python3 -m twcdirector``: the director without a screen, one JSON line per event.

Each line has ``time`` (UTC, ISO 8601), ``event``, ``device`` (4-digit hex ID or null) and
``data`` (the payload's fields). Decoded frames are reported under their command name
(``TWC_STATUS``, ``TWC_METER`` …). Ctrl-C or SIGTERM stop it gracefully (exit 0); a bad port
or option prints one line on stderr and exits with 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

from . import events
from . import gen3 as gen3_package
from .cli import (
    EXIT_USAGE,
    STOP_SIGNALS,
    OneLineParser,
    add_bus_options,
    checked_config,
    director_config,
)
from .exceptions import LinkError
from .gen2.config import DirectorConfig
from .gen2.director import Director
from .gen2.transport import LinkFactory
from .gen3.events import UNIT_EVENTS
from .jsonlog import event_line

_LOGGER = logging.getLogger(__name__)

PROG = "python3 -m twcdirector"

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


def build_parser() -> argparse.ArgumentParser:
    """The command line: the shared bus options (:mod:`twcdirector.cli`) and ``--fail-safe``."""
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0] if __doc__ else None)
    add_bus_options(parser, port_required=True, log=False, verbose_help="log to stderr")
    parser.add_argument(
        "--fail-safe",
        action="store_true",
        help="on every stop (Ctrl-C, SIGTERM, SIGHUP) send every online unit 0 A, capacity "
        "sharing or not, and report each outcome (real units report their minimum, 6 A / 5 A)",
    )
    return parser


def config_from(args: argparse.Namespace) -> DirectorConfig:
    """The options as a config; raises ConfigurationError."""
    return director_config(args, fail_safe=args.fail_safe)


class JsonPrinter:
    """Subscribes to every event of a director and its peripherals; prints JSON lines."""

    def __init__(self, director: Director, out: IO[str]) -> None:
        self._out = out
        for name in _DIRECTOR_EVENTS:
            director.on(name, self._handler(name, None))
        director.on(events.NEW_DEVICE, self._watch)

    def _watch(self, new: events.NewDevice) -> None:
        device = new.device
        for name in _DEVICE_EVENTS if new.generation == 2 else _GEN3_EVENTS:
            device.on(name, self._handler(name, new.device_id))

    def _handler(self, name: str, device: str | None) -> Callable[[Any], None]:
        def handler(payload: Any) -> None:
            self.print(name, device, payload)

        return handler

    def print(self, name: str, device: str | None, payload: Any) -> None:
        self._out.write(event_line(name, device, payload) + "\n")
        self._out.flush()


async def run(
    port: str,
    config: DirectorConfig,
    *,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    link_factory: LinkFactory | None = None,
    stop: asyncio.Event | None = None,
    gen3: Sequence[str] = (),
) -> int:
    """Run until ``stop`` is set or SIGINT/SIGTERM; return the exit code."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in STOP_SIGNALS:
        try:
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or not a Unix loop
    director = Director(port, config, link_factory=link_factory)
    if gen3:
        # Attribute access loads the monitor (and aiohttp) only when Gen 3 units are watched.
        director.attach_gen3(gen3_package.Gen3Monitor(gen3))
    JsonPrinter(director, out)
    try:
        try:
            await director.start()
        except LinkError as error:
            err.write(f"{PROG}: error: {error}\n")
            return EXIT_USAGE
        await stop.wait()
        return 0
    finally:
        await director.close()
        for signum in handled:
            loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    config = checked_config(parser, args, fail_safe=args.fail_safe)
    if args.verbose:
        level = logging.INFO if args.verbose == 1 else logging.DEBUG
        logging.basicConfig(
            level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
        )
    return asyncio.run(run(args.port, config, gen3=args.gen3))


if __name__ == "__main__":
    sys.exit(main())
