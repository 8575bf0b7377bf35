"""``python3 -m twcdirector``: the director without a screen, one JSON line per event.

Each line has ``time`` (UTC, ISO 8601), ``event``, ``device`` (4-digit hex ID or null) and
``data`` (the payload's fields). Decoded frames are reported under their command name
(``TWC_STATUS``, ``TWC_METER`` …). Ctrl-C or SIGTERM stop it gracefully (exit 0); a bad port
or option prints one line on stderr and exits with 2.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any, NoReturn

from . import events
from . import gen3 as gen3_package
from . import mqtt as mqtt_package
from .director import Director
from .emitter import SafeEmitter
from .exceptions import ConfigurationError, LinkError
from .gen3.events import UNIT_EVENTS
from .jsonlog import event_line
from .mqtt import settings as mqtt_settings
from .protocol.config import DirectorConfig
from .transport import LinkFactory

_LOGGER = logging.getLogger(__name__)

PROG = "python3 -m twcdirector"
EXIT_USAGE = 2

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


class _Parser(argparse.ArgumentParser):
    """Usage errors on one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _hex_id(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a hex ID: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = _Parser(prog=PROG, description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--port", required=True, help="serial port or pyserial URL (rfc2217://, socket://, loop://)"
    )
    parser.add_argument(
        "--listen-only", action="store_true", help="decode and report, never transmit a byte"
    )
    parser.add_argument(
        "--max-current",
        type=float,
        metavar="A",
        help="per-unit maximum current; without it only 0 A is ever sent",
    )
    parser.add_argument(
        "--controller-id", type=_hex_id, metavar="HEX", help="our ID on the bus (default F00D)"
    )
    parser.add_argument(
        "--shared-max",
        type=float,
        metavar="A",
        help="capacity sharing: the supply all units share, whole amperes (needs --max-current)",
    )
    parser.add_argument(
        "--fail-safe", action="store_true", help="on stop, set every unit's session current to 0 A"
    )
    parser.add_argument(
        "--gen3",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="also watch this Gen 3 Wall Connector over HTTP (read-only); repeatable",
    )
    parser.add_argument("--verbose", "-v", action="count", default=0, help="log to stderr")
    mqtt_settings.add_options(parser)
    return parser


def config_from(args: argparse.Namespace) -> DirectorConfig:
    """The options as a config; raises ConfigurationError."""
    options: dict[str, Any] = {"listen_only": args.listen_only, "fail_safe": args.fail_safe}
    if args.max_current is not None:
        options["max_current"] = args.max_current
    if args.controller_id is not None:
        options["controller_id"] = args.controller_id
    if args.shared_max is not None:
        options["shared_max"] = args.shared_max
    return DirectorConfig(**options)


class JsonPrinter:
    """Subscribes to every event of a director and its peripherals; prints JSON lines."""

    def __init__(self, director: Director, out: IO[str]) -> None:
        self._out = out
        for name in _DIRECTOR_EVENTS:
            director.on(name, self._handler(name, None))
        director.on(events.NEW_DEVICE, self._watch)

    def _watch(self, new: events.NewDevice) -> None:
        device = new.device
        assert isinstance(device, SafeEmitter)
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
    mqtt: mqtt_settings.MqttSettings | None = None,
) -> int:
    """Run until ``stop`` is set or SIGINT/SIGTERM; return the exit code."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
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
    bridge = None
    if mqtt is not None:
        # Attribute access loads the bridge (and aiomqtt) only with --mqtt.
        bridge = mqtt_package.MqttBridge(director, mqtt)
    try:
        try:
            await director.start()
        except LinkError as error:
            err.write(f"{PROG}: error: {error}\n")
            return EXIT_USAGE
        if bridge is not None:
            await bridge.start()
        await stop.wait()
        return 0
    finally:
        if bridge is not None:
            await bridge.close()
        await director.close()
        for signum in handled:
            loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from(args)
        mqtt = mqtt_settings.settings_from(args, os.environ)
    except ConfigurationError as error:
        parser.error(str(error))
    if mqtt is not None and importlib.util.find_spec("aiomqtt") is None:
        parser.error("--mqtt needs aiomqtt: pip install 'twcdirector[mqtt]'")
    if args.verbose:
        level = logging.INFO if args.verbose == 1 else logging.DEBUG
        logging.basicConfig(
            level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
        )
    if args.gen3:
        try:
            for host in args.gen3:
                gen3_package.normalize_host(host)
        except ConfigurationError as error:
            parser.error(str(error))
    return asyncio.run(run(args.port, config, gen3=args.gen3, mqtt=mqtt))


if __name__ == "__main__":
    sys.exit(main())
