"""The MQTT topic contract (pure): names of state, command and discovery topics.

Base ``twcdirector/<controller id, 4 lower-case hex>`` (``twcdirector/gen3`` for Gen 3 units
alone) unless overridden. Per unit
``<base>/<unit>/<key>``; site values ``<base>/<key>``; commands end in ``/set``. A Gen 2 unit's
key is its bus ID in 4 lower-case hex digits, a Gen 3 unit's its serial number, lower-cased.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..exceptions import ConfigurationError

#: The first level of the default base topic.
DEFAULT_ROOT = "twcdirector"
#: The default base topic of a bridge watching Gen 3 units alone (no controller ID to name it).
GEN3_BASE = f"{DEFAULT_ROOT}/gen3"
#: Home Assistant's default discovery prefix.
DEFAULT_DISCOVERY_PREFIX = "homeassistant"

#: Retained per-unit state keys, in publishing order.
UNIT_KEYS = (
    "state",
    "status",
    "actual_current",
    "allowed_current",
    "car_connected",
    "vin",
    "lifetime_energy",
    "voltage_a",
    "voltage_b",
    "voltage_c",
    "firmware",
    "serial",
    "online",
)
#: Retained site keys.
SITE_KEYS = ("total_current", "available_current", "available_current_source")

#: Command names (the level before ``/set``).
SESSION_CURRENT = "session_current"
AVAILABLE_CURRENT = "available_current"
CONTACTORS = "contactors"

#: What a unit key may look like: 4 hex digits (Gen 2) or a serial number (Gen 3).
_UNIT = re.compile(r"^[a-z0-9]{4,32}$")
#: Home Assistant allows only these characters in a discovery node or object ID.
_DISCOVERY_ID = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True, slots=True)
class Command:
    """A command topic taken apart: ``unit`` is ``None`` for a site command."""

    unit: str | None
    name: str


def check_topic_prefix(prefix: str, what: str) -> str:
    """``prefix`` if it can start topics (no wildcard, no empty level, not ``$``), else
    ConfigurationError."""
    if prefix.startswith("$"):
        # Topics starting with $ are the broker's own ($SYS): a "#" subscription, such as
        # Home Assistant's or a watcher's, never sees them (MQTT 3.1.1 §4.7.2).
        raise ConfigurationError(
            f"{what} {prefix!r} must not start with '$' (reserved for the broker, e.g. $SYS)"
        )
    if (
        not prefix
        or prefix.startswith("/")
        or prefix.endswith("/")
        or "//" in prefix
        or any(char in prefix for char in "+#\0")
    ):
        raise ConfigurationError(
            f"{what} {prefix!r} must be topic levels without wildcards, e.g. 'home/twc'"
        )
    return prefix


def gen2_unit(device_id: int) -> str:
    """A Gen 2 unit's topic key: its bus ID in 4 lower-case hex digits."""
    return f"{device_id:04x}"


def gen3_unit(serial_number: str) -> str | None:
    """A Gen 3 unit's topic key, derived from its serial number (stable across addresses)."""
    key = "".join(char for char in serial_number.lower() if char.isascii() and char.isalnum())
    return key if _UNIT.match(key) and len(key) > 4 else None


class Topics:
    """Every topic of one director's bridge."""

    def __init__(self, base: str, discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX) -> None:
        self.base = check_topic_prefix(base, "MQTT prefix")
        self.discovery_prefix = check_topic_prefix(discovery_prefix, "discovery prefix")
        #: The node ID in discovery topics and the stem of every ``unique_id``.
        self.node = re.sub(r"[^A-Za-z0-9_-]", "_", self.base)
        assert _DISCOVERY_ID.match(self.node)

    @classmethod
    def for_controller(
        cls,
        controller_id: int,
        prefix: str | None = None,
        discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX,
    ) -> Topics:
        """``twcdirector/<controller id>`` unless ``prefix`` replaces it."""
        base = prefix if prefix is not None else f"{DEFAULT_ROOT}/{controller_id:04x}"
        return cls(base, discovery_prefix)

    @property
    def availability(self) -> str:
        """``online`` (retained) while the bridge runs; the last will says ``offline``."""
        return f"{self.base}/availability"

    @property
    def error(self) -> str:
        """Answers to refused site commands (not retained)."""
        return f"{self.base}/error"

    def site(self, key: str) -> str:
        """A site value, e.g. ``<base>/total_current``."""
        return f"{self.base}/{key}"

    def unit(self, unit: str, key: str) -> str:
        """A unit's value, e.g. ``<base>/1839/status``."""
        return f"{self.base}/{unit}/{key}"

    def unit_error(self, unit: str) -> str:
        """Answers to refused commands for one unit (not retained)."""
        return f"{self.base}/{unit}/error"

    def command(self, name: str, unit: str | None = None) -> str:
        """A command topic: ``<base>[/<unit>]/<name>/set``."""
        return f"{self.base}/{name}/set" if unit is None else f"{self.base}/{unit}/{name}/set"

    def subscriptions(self, *, contactors: bool, available: bool = True) -> list[str]:
        """The command topics to subscribe to (``available``: the site's available current,
        which needs a director)."""
        topics = [self.command(AVAILABLE_CURRENT)] if available else []
        topics.append(self.command(SESSION_CURRENT, "+"))
        if contactors:
            topics.append(self.command(CONTACTORS, "+"))
        return topics

    def parse_command(self, topic: str) -> Command | None:
        """The command a topic names, or ``None`` if it is not one of ours."""
        if not topic.startswith(self.base + "/") or not topic.endswith("/set"):
            return None
        levels = topic[len(self.base) + 1 : -len("/set")].split("/")
        if levels == [AVAILABLE_CURRENT]:
            return Command(None, AVAILABLE_CURRENT)
        if len(levels) == 2 and levels[1] in (SESSION_CURRENT, CONTACTORS):
            return Command(levels[0], levels[1])
        return None

    def discovery(self, component: str, unit: str | None, key: str) -> str:
        """``<prefix>/<component>/<node>[_<unit>]/<key>/config`` (Home Assistant discovery)."""
        node = self.node if unit is None else f"{self.node}_{unit}"
        return f"{self.discovery_prefix}/{component}/{node}/{key}/config"

    @property
    def discovery_filter(self) -> str:
        """A filter matching every discovery topic this bridge may have published."""
        return f"{self.discovery_prefix}/+/+/+/config"

    def owns_discovery(self, topic: str) -> str | None:
        """For one of our discovery topics, its unit key (``""`` for the site); else ``None``."""
        parts = topic.split("/")
        prefix_levels = self.discovery_prefix.count("/") + 1
        if len(parts) != prefix_levels + 4 or parts[-1] != "config":
            return None
        node = parts[prefix_levels + 1]
        if node == self.node:
            return ""
        if node.startswith(self.node + "_"):
            unit = node[len(self.node) + 1 :]
            return unit if _UNIT.match(unit) else None
        return None
