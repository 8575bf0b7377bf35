"""The command-line options the commands share, parsed one way.

The utility (``python3 -m twcdirector.utility``) and the headless command
(``python3 -m twcdirector``) both drive a director: :func:`add_bus_options` gives them the same
``--port``, ``--listen-only``, ``--controller-id``, ``--max-current``, ``--shared-max``,
``--fail-safe``, ``--gen3``, ``--log`` and ``-v``, and :func:`director_config` turns those into one
:class:`~twcdirector.gen2.config.DirectorConfig`. :class:`OneLineParser` (used by the simulator
too) reports a mistake as one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from typing import Any, NoReturn
from urllib.parse import urlsplit

from .events import parse_id
from .exceptions import ConfigurationError, InvalidValueError
from .gen2.config import DirectorConfig
from .gen3.config import normalize_host
from .protocol.codes import MINIMUM_AMPS, ProtocolVersion
from .recorder import DEFAULT_MAX_MB, LogFile

#: The exit code of a command-line mistake (and of a port that cannot be opened).
EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """Usage errors on one line (``PROG: error: …``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def program_name(script: str, module: str, argv0: str | None = None) -> str:
    """The name a command calls itself (``--version``, usage, errors): its console script's
    name when started as one (``.venv/bin/twcdirector`` → ``twcdirector``), else the
    ``python3 -m twcdirector`` form. ``argv0`` defaults to ``sys.argv[0]``."""
    started = os.path.basename(sys.argv[0] if argv0 is None else argv0)
    return script if started.removesuffix(".exe") == script else f"python3 -m {module}"


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
        help=(
            "the Gen 2 bus: a serial device (/dev/ttyUSB0) or any pyserial URL (socket://, "
            "rfc2217://); leave it out to watch Gen 3 units only"
        ),
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
        "--fail-safe",
        action="store_true",
        help=(
            "on every way out (q in the utility, Ctrl-C, SIGTERM, SIGHUP) send every online "
            "unit 0 A, capacity sharing or not, and report each outcome (real units then "
            "report their minimum, 6 A / 5 A, while drawing nothing)"
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
        parser.add_argument(
            "--log-max-mb",
            metavar="MB",
            type=float,
            default=DEFAULT_MAX_MB,
            help=(
                f"rotate --log at this size, keeping two older files; 0: never "
                f"(default: {DEFAULT_MAX_MB:g}, at most 60 MB on an SD card)"
            ),
        )
    parser.add_argument("-v", "--verbose", action="count", default=0, help=verbose_help)


def director_config(args: argparse.Namespace, **extra: Any) -> DirectorConfig:
    """The director's config from :func:`add_bus_options`' options (``extra`` fields and a
    given ``max_current`` win); raises :class:`~twcdirector.ConfigurationError`."""
    options: dict[str, Any] = {"listen_only": args.listen_only, "fail_safe": args.fail_safe}
    for name in ("controller_id", "max_current", "shared_max"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    options.update({name: value for name, value in extra.items() if value is not None})
    return DirectorConfig(**options)


def gen3_hosts(args: argparse.Namespace) -> tuple[str, ...]:
    """The ``--gen3`` hosts, each checked and normalised (``host`` or ``host:port``); raises
    :class:`~twcdirector.ConfigurationError` for a bad one or one given twice.

    Twice means the same unit once normalised (``http://h:80/``, ``H`` and ``h`` alike): the
    monitor would refuse the second one only after start, with a traceback.
    """
    seen: dict[tuple[str, int], str] = {}
    hosts = []
    for given in args.gen3:
        host = normalize_host(given)
        parts = urlsplit(f"http://{host}")
        key = ((parts.hostname or "").lower(), parts.port or 80)
        if key in seen:
            raise ConfigurationError(
                f"--gen3 {given} names the same unit as --gen3 {seen[key]}: give each unit once"
            )
        seen[key] = given
        hosts.append(host)
    return tuple(hosts)


#: The least any unit charges at (protocol 1: 5 A, protocol 2: 6 A; SPEC §8.4).
_LOWEST_MINIMUM = min(MINIMUM_AMPS.values())
_MINIMA = (
    f"{MINIMUM_AMPS[ProtocolVersion.V1]} A on protocol 1, {MINIMUM_AMPS[ProtocolVersion.V2]} A "
    "on protocol 2"
)


def check_limits(args: argparse.Namespace) -> None:
    """Refuse limits that can never work, before anything starts: a ``--max-current`` that
    is not whole or is below every unit's minimum (0 stays allowed: nothing but 0 A), a
    ``--shared-max`` below one unit's minimum. Raises
    :class:`~twcdirector.ConfigurationError`."""
    limit = getattr(args, "max_current", None)
    if limit is not None and math.isfinite(limit) and limit >= 0:
        if not limit.is_integer():
            raise ConfigurationError(f"--max-current {limit:g}: currents are whole amperes")
        if 0 < limit < _LOWEST_MINIMUM:
            raise ConfigurationError(
                f"--max-current {limit:g} A is below the protocol minimum ({_MINIMA}): "
                "no unit could ever charge"
            )
    shared = getattr(args, "shared_max", None)
    if shared is not None and math.isfinite(shared) and shared < _LOWEST_MINIMUM:
        raise ConfigurationError(
            f"--shared-max {shared:g} A is below one unit's minimum ({_MINIMA}): "
            "no unit could ever charge"
        )


def checked_config(
    parser: argparse.ArgumentParser, args: argparse.Namespace, **extra: Any
) -> DirectorConfig:
    """:func:`director_config` after :func:`gen3_hosts` and :func:`check_limits`; a bad value
    ends as ``parser.error`` (one line, exit code 2)."""
    try:
        gen3_hosts(args)
        check_limits(args)
        return director_config(args, **extra)
    except ConfigurationError as error:
        parser.error(str(error))


def check_log_size(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (one line, exit 2) a ``--log-max-mb`` that is negative or not a number."""
    if not math.isfinite(args.log_max_mb) or args.log_max_mb < 0:
        parser.error(f"--log-max-mb must be 0 (never rotate) or more, not {args.log_max_mb:g}")


def open_log(path: str, max_mb: float) -> LogFile:
    """The ``--log`` file, opened now so that a path that cannot be written is said before
    anything starts; raises :class:`~twcdirector.ConfigurationError` (one line)."""
    try:
        return LogFile(path, max_mb)
    except OSError as error:
        raise ConfigurationError(f"cannot write --log {path}: {error.strerror or error}") from None


#: Options that only mean something on a Gen 2 bus: (argparse dest, flag).
GEN2_OPTIONS = (
    ("listen_only", "--listen-only"),
    ("max_current", "--max-current"),
    ("shared_max", "--shared-max"),
    ("controller_id", "--controller-id"),
    ("fail_safe", "--fail-safe"),
)


def check_gen3_only(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (one line, exit 2) a command line with no Gen 2 bus that still sets an option
    about one, or that watches nothing at all."""
    if not (args.gen3 or getattr(args, "simulate_gen3", 0)):
        if "simulate" in vars(args):  # the utility can simulate either generation
            parser.error(
                "give --port URL or --simulate N (Gen 2), "
                "--gen3 HOST or --simulate-gen3 N (Gen 3), or both"
            )
        parser.error("give --port URL (a Gen 2 bus), --gen3 HOST[:PORT] (Gen 3 units), or both")
    for dest, flag in GEN2_OPTIONS:
        if dest in vars(args) and getattr(args, dest) != parser.get_default(dest):
            parser.error(f"{flag} is about a Gen 2 bus: give --port too, or leave it out")
