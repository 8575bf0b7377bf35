"""The bridge's settings and the headless command's MQTT options (pure: argparse and urllib).

The password comes only from the ``TWCDIRECTOR_MQTT_PASSWORD`` environment variable: a
command line is visible to every user of the machine (``ps``), an environment is not.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..exceptions import ConfigurationError
from .topics import DEFAULT_DISCOVERY_PREFIX, check_topic_prefix

#: Where the broker password is read from.
PASSWORD_VARIABLE = "TWCDIRECTOR_MQTT_PASSWORD"
#: Default ports of ``mqtt://`` and ``mqtts://``.
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
#: Seconds without an available-current value before the fallback applies.
DEFAULT_AVAILABLE_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """How to reach the broker and what to publish. Times in seconds, currents in amperes."""

    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    #: Never shown in a repr or a log line.
    password: str | None = field(default=None, repr=False)
    #: Replaces ``twcdirector/<controller id>`` as the base of every topic.
    prefix: str | None = None
    discovery: bool = True
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX
    allow_contactors: bool = False
    available_timeout: float = DEFAULT_AVAILABLE_TIMEOUT
    #: ``None``: the least that keeps the charging units at their minimum.
    available_fallback: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigurationError(f"MQTT port {self.port} must be 1-65535")
        if self.prefix is not None:
            check_topic_prefix(self.prefix, "--mqtt-prefix")
        check_topic_prefix(self.discovery_prefix, "--mqtt-discovery-prefix")
        if not math.isfinite(self.available_timeout) or self.available_timeout <= 0:
            raise ConfigurationError(
                f"--available-timeout {self.available_timeout} must be a number of seconds > 0"
            )
        if self.available_fallback is not None and self.available_fallback < 0:
            raise ConfigurationError("--available-fallback must be whole amperes >= 0")


def parse_broker_url(url: str) -> tuple[str, int, bool]:
    """``mqtt://host[:port]`` or ``mqtts://host[:port]`` as (host, port, tls).

    Raises :class:`ConfigurationError` for another scheme, a missing host, a bad port, a path,
    or credentials in the URL (use ``--mqtt-user`` and ``TWCDIRECTOR_MQTT_PASSWORD``).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ConfigurationError(f"--mqtt {url!r}: {error}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise ConfigurationError(f"--mqtt {url!r} must start with mqtt:// or mqtts://")
    if parts.password is not None:
        raise ConfigurationError(
            f"--mqtt: no password in the URL; set the {PASSWORD_VARIABLE} environment variable"
        )
    if parts.username is not None:
        raise ConfigurationError("--mqtt: no user in the URL; give it with --mqtt-user")
    if not parts.hostname:
        raise ConfigurationError(f"--mqtt {url!r} names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigurationError(f"--mqtt {url!r}: only mqtt[s]://host[:port] is understood")
    return parts.hostname, port or DEFAULT_PORTS[parts.scheme], parts.scheme == "mqtts"


class _Once(argparse.Action):
    """An option given at most once: a second ``--mqtt`` is refused, not silently the one."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, self.dest, None) is not None:
            raise argparse.ArgumentError(self, "given twice: the bridge talks to one broker")
        setattr(namespace, self.dest, values)


def missing_password(settings: MqttSettings) -> str | None:
    """The warning for a user name without a password, or ``None``."""
    if settings.username is not None and settings.password is None:
        return f"no password: {PASSWORD_VARIABLE} is not set"
    return None


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add the MQTT bridge's options to the headless command."""
    group = parser.add_argument_group("MQTT bridge (needs the twcdirector[mqtt] extra)")
    group.add_argument(
        "--mqtt",
        action=_Once,
        metavar="URL",
        help=f"publish to this broker: mqtt://host[:port] or mqtts://host[:port] (TLS); "
        f"password from ${PASSWORD_VARIABLE}",
    )
    group.add_argument("--mqtt-user", metavar="USER", help="broker user name")
    group.add_argument(
        "--mqtt-prefix", metavar="TOPIC", help="base topic (twcdirector/<controller id>)"
    )
    group.add_argument(
        "--mqtt-discovery",
        choices=("on", "off"),
        default="on",
        help="Home Assistant discovery; off also removes what was published (on)",
    )
    group.add_argument(
        "--mqtt-discovery-prefix",
        metavar="TOPIC",
        default=DEFAULT_DISCOVERY_PREFIX,
        help=f"Home Assistant discovery prefix ({DEFAULT_DISCOVERY_PREFIX})",
    )
    group.add_argument(
        "--mqtt-allow-contactors",
        action="store_true",
        help="accept open/close contactor commands over MQTT",
    )
    group.add_argument(
        "--available-timeout",
        type=float,
        metavar="S",
        default=DEFAULT_AVAILABLE_TIMEOUT,
        help="seconds without an available current before the fallback (120)",
    )
    group.add_argument(
        "--available-fallback",
        type=float,
        metavar="A",
        help="available current after the timeout (the minimum of the charging units)",
    )


def settings_from(args: argparse.Namespace, environ: Mapping[str, str]) -> MqttSettings | None:
    """The bridge's settings from the options, or ``None`` without ``--mqtt``.

    Raises :class:`ConfigurationError` (the command turns it into one line and exit code 2).
    """
    if args.mqtt is None:
        for option, given in (
            ("--mqtt-user", args.mqtt_user is not None),
            ("--mqtt-prefix", args.mqtt_prefix is not None),
            ("--mqtt-allow-contactors", args.mqtt_allow_contactors),
            ("--available-fallback", args.available_fallback is not None),
        ):
            if given:
                raise ConfigurationError(f"{option} needs --mqtt")
        return None
    host, port, tls = parse_broker_url(args.mqtt)
    password = environ.get(PASSWORD_VARIABLE) or None
    if password is not None and args.mqtt_user is None:
        raise ConfigurationError(f"{PASSWORD_VARIABLE} is set but --mqtt-user is not")
    fallback = args.available_fallback
    if fallback is not None:
        if not math.isfinite(fallback) or fallback < 0 or fallback != int(fallback):
            raise ConfigurationError(f"--available-fallback {fallback} must be whole amperes >= 0")
        if args.shared_max is not None and fallback > args.shared_max:
            raise ConfigurationError(
                f"--available-fallback {fallback:g} A exceeds --shared-max {args.shared_max:g} A"
            )
        fallback = int(fallback)
    return MqttSettings(
        host=host,
        port=port,
        tls=tls,
        username=args.mqtt_user,
        password=password,
        prefix=args.mqtt_prefix,
        discovery=args.mqtt_discovery == "on",
        discovery_prefix=args.mqtt_discovery_prefix,
        allow_contactors=args.mqtt_allow_contactors,
        available_timeout=args.available_timeout,
        available_fallback=fallback,
    )
