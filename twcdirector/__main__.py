"""``python3 -m twcdirector``: the director without a screen, one JSON line per event.

It watches a Gen 2 bus (``--port``), Gen 3 units (``--gen3``), or both. Each line has
``time`` (UTC, ISO 8601), ``event``, ``device`` (4-digit hex ID, a Gen 3 unit's host[:port],
or null) and ``data`` (the payload's fields). Decoded frames are reported under their command name
(``TWC_STATUS``, ``TWC_METER`` …). ``--log FILE`` also records every raw frame and the library's
log records, as the utility's ``--log`` does. Ctrl-C or SIGTERM stop it gracefully (exit 0); a
reader that goes away (``| head``) stops it gracefully too (exit 1, the code Python's signal
documentation gives for a broken pipe); a bad port or option prints one line on stderr and exits
with 2.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import IO

from . import __version__
from . import gen3 as gen3_package
from . import mqtt as mqtt_package
from .cli import (
    EXIT_USAGE,
    STOP_SIGNALS,
    OneLineParser,
    add_bus_options,
    check_gen3_only,
    check_log_size,
    checked_config,
    open_log,
    program_name,
)
from .emitter import SafeEmitter
from .event_printer import JsonPrinter
from .exceptions import ConfigurationError, LinkError
from .gen2.config import DirectorConfig
from .gen2.director import Director
from .gen2.transport import LinkFactory
from .mqtt import settings as mqtt_settings
from .recorder import LogFile, Recorder

_LOGGER = logging.getLogger(__name__)

#: How it calls itself: ``twcdirector`` as a console script, else ``python3 -m twcdirector``.
PROG = program_name("twcdirector", "twcdirector")
#: The exit code once stdout's reader has gone (Python's own for a broken pipe).
EXIT_BROKEN_PIPE = 1


def build_parser() -> argparse.ArgumentParser:
    """The command line: the shared bus options (:mod:`twcdirector.cli`) and MQTT's."""
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_bus_options(parser, port_required=False, verbose_help="log to stderr (-vv: more)")
    mqtt_settings.add_options(parser)
    return parser


async def run(
    port: str | None,
    config: DirectorConfig,
    *,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    link_factory: LinkFactory | None = None,
    stop: asyncio.Event | None = None,
    gen3: Sequence[str] = (),
    mqtt: mqtt_settings.MqttSettings | None = None,
    log_file: LogFile | None = None,
) -> int:
    """Run until ``stop`` is set, SIGINT/SIGTERM or ``out``'s reader goes away; return the exit
    code.

    Without ``port`` only the ``gen3`` units are watched (no Gen 2 bus). ``log_file`` records
    frames, events and log records (closed on return)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    stop = stop if stop is not None else asyncio.Event()
    # Attribute access loads the monitor (and aiohttp) only when Gen 3 units are watched.
    monitor = gen3_package.Gen3Monitor(gen3) if gen3 else None
    source: SafeEmitter
    director: Director | None = None
    if port is not None:
        director = Director(port, config, link_factory=link_factory)
        if monitor is not None:
            director.attach_gen3(monitor)
        source, start, close = director, director.start, director.close
    elif monitor is not None:
        source, start, close = monitor, monitor.start, monitor.stop
    else:
        raise ConfigurationError("neither a Gen 2 port nor a Gen 3 unit to watch")
    printer = JsonPrinter(source, out, on_closed=stop.set)
    if monitor is not None:
        printer.watch_gen3(monitor)
    recorder = None if log_file is None else Recorder(log_file, source, monitor)
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in STOP_SIGNALS:
        try:
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or not a Unix loop
    bridge = None
    if mqtt is not None:
        # Attribute access loads the bridge (and aiomqtt) only with --mqtt. Without a Gen 2
        # bus it bridges the Gen 3 units alone.
        bridged = director if director is not None else monitor
        assert bridged is not None  # one of them, or ConfigurationError above
        bridge = mqtt_package.MqttBridge(bridged, mqtt)
    try:
        try:
            await start()
        except LinkError as error:
            err.write(f"{PROG}: error: {error}\n")
            return EXIT_USAGE
        if bridge is not None:
            await bridge.start()
        await stop.wait()
        return EXIT_BROKEN_PIPE if printer.closed else 0
    finally:
        if bridge is not None:
            await bridge.close()
        await close()
        if recorder is not None:
            recorder.close()
        for signum in handled:
            loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.port is None:
        check_gen3_only(parser, args)
    config = checked_config(parser, args)
    try:
        mqtt = mqtt_settings.settings_from(args, os.environ)
    except ConfigurationError as error:
        parser.error(str(error))
    if mqtt is not None and importlib.util.find_spec("aiomqtt") is None:
        parser.error("--mqtt needs aiomqtt: pip install 'twcdirector[mqtt]'")
    warning = None if mqtt is None else mqtt_settings.missing_password(mqtt)
    if warning is not None:
        sys.stderr.write(f"{PROG}: warning: {warning}\n")
    # Warnings always reach stderr (and --log), with -v the library's progress too.
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    check_log_size(parser, args)
    log_file = None
    if args.log is not None:
        try:
            log_file = open_log(args.log, args.log_max_mb)
        except ConfigurationError as error:
            parser.error(str(error))
        log_file.on_error = _log_failed
    code = asyncio.run(run(args.port, config, gen3=args.gen3, mqtt=mqtt, log_file=log_file))
    if code == EXIT_BROKEN_PIPE:
        _stdout_gone()
    return code


def _log_failed(message: str) -> None:
    sys.stderr.write(f"{PROG}: warning: {message}\n")


def _stdout_gone() -> None:
    """The reader of stdout went away: point stdout at /dev/null, so that the interpreter's
    last flush of what is still buffered cannot fail (Python's signal documentation, "Note on
    SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
