"""The command-line options the commands share, parsed one way.

The utility (``python3 -m twcdirector.utility``) and the headless command
(``python3 -m twcdirector``) both drive a director: :func:`add_bus_options` gives them the same
``--port``, ``--listen-only``, ``--controller-id``, ``--max-current``, ``--shared-max``,
``--gen3``, ``--log`` and ``-v``, and :func:`director_config` turns those into one
:class:`~twcdirector.gen2.config.DirectorConfig`. :class:`OneLineParser` (used by the simulator
too) reports a mistake as one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import signal
from typing import Any, NoReturn

from .events import parse_id
from .exceptions import ConfigurationError, InvalidValueError
from .gen2.config import DirectorConfig
from .gen3.config import normalize_host

#: The exit code of a command-line mistake (and of a port that cannot be opened).
EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """Usage errors on one line (``PROG: error: …``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


#: Signals after which both commands stop gracefully, the fail-safe included (SPEC §8.7):
#: Ctrl-C, a service manager's stop, and a terminal or SSH session that went away.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def hex_id(text: str) -> int:
    """An argparse ``type`` for a 16-bit hex ID (``F00D``)."""
    try:
        return parse_id(text)
    except InvalidValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_bus_options(
    parser: argparse.ArgumentParser,
    *,
    port_required: bool = False,
    log: bool = True,
    verbose_help: str = "more detail",
) -> None:
    """Add the options every command that runs a director takes."""
    parser.add_argument(
        "--port",
        metavar="URL",
        required=port_required,
        help="serial port: a device (/dev/ttyUSB0) or any pyserial URL (socket://, rfc2217://)",
    )
    parser.add_argument(
        "--listen-only",
        action="store_true",
        help="never transmit: watch a bus run by a controller Wall Connector",
    )
    parser.add_argument(
        "--controller-id",
        metavar="HEX",
        type=hex_id,
        help="our 4-digit hex ID on the bus, not 0000 or FFFF (default: F00D)",
    )
    parser.add_argument(
        "--max-current",
        metavar="A",
        type=float,
        help="per-unit maximum in amperes; without it only 0 A is ever sent",
    )
    parser.add_argument(
        "--shared-max",
        metavar="A",
        type=float,
        help=(
            "capacity sharing: the supply all units share (the breaker), whole amperes; needs "
            "--max-current (default: off, each unit may have --max-current)"
        ),
    )
    parser.add_argument(
        "--gen3",
        metavar="HOST[:PORT]",
        action="append",
        default=[],
        help="also watch this Gen 3 Wall Connector (read-only HTTP); repeatable",
    )
    if log:
        parser.add_argument(
            "--log",
            metavar="FILE",
            help="append one JSON line per frame seen or sent and per event (default: no log)",
        )
    parser.add_argument("-v", "--verbose", action="count", default=0, help=verbose_help)


def director_config(args: argparse.Namespace, **extra: Any) -> DirectorConfig:
    """The director's config from :func:`add_bus_options`' options (``extra`` fields and a
    given ``max_current`` win); raises :class:`~twcdirector.ConfigurationError`."""
    options: dict[str, Any] = {"listen_only": args.listen_only}
    for name in ("controller_id", "max_current", "shared_max"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    options.update({name: value for name, value in extra.items() if value is not None})
    return DirectorConfig(**options)


def gen3_hosts(args: argparse.Namespace) -> tuple[str, ...]:
    """The ``--gen3`` hosts, each checked; raises :class:`~twcdirector.ConfigurationError`."""
    for host in args.gen3:
        normalize_host(host)
    return tuple(args.gen3)


def checked_config(
    parser: argparse.ArgumentParser, args: argparse.Namespace, **extra: Any
) -> DirectorConfig:
    """:func:`director_config` after :func:`gen3_hosts`; a bad value ends as ``parser.error``
    (one line, exit code 2)."""
    try:
        gen3_hosts(args)
        return director_config(args, **extra)
    except ConfigurationError as error:
        parser.error(str(error))
