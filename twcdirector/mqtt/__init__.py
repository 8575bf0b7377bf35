"""The MQTT bridge and Home Assistant discovery (the optional ``twcdirector[mqtt]`` extra).

Pure parts (no I/O, time is ``now``): ``topics`` (the topic contract), ``settings`` (options,
broker URL), ``values`` (payloads), ``discovery`` (Home Assistant configs), ``outbox`` (latest
value per topic, rate limits, refresh) and ``available`` (the available-current input's
hysteresis and fallback). ``bridge`` is the asyncio adapter on aiomqtt, loaded on first use.
"""

import importlib
from typing import TYPE_CHECKING, Any

from .available import AvailableCurrent, Change, Source
from .discovery import UnitInfo, site_configs, unit_configs
from .outbox import Outbox, Outgoing
from .settings import PASSWORD_VARIABLE, MqttSettings, add_options, parse_broker_url, settings_from
from .topics import SITE_KEYS, UNIT_KEYS, Command, Topics, gen2_unit, gen3_unit
from .values import format_value, gen2_values, gen3_values, iec_status, parse_amps

if TYPE_CHECKING:
    from .bridge import MqttBridge

__all__ = [
    "PASSWORD_VARIABLE",
    "SITE_KEYS",
    "UNIT_KEYS",
    "AvailableCurrent",
    "Change",
    "Command",
    "MqttBridge",
    "MqttSettings",
    "Outbox",
    "Outgoing",
    "Source",
    "Topics",
    "UnitInfo",
    "add_options",
    "format_value",
    "gen2_unit",
    "gen2_values",
    "gen3_unit",
    "gen3_values",
    "iec_status",
    "parse_amps",
    "parse_broker_url",
    "settings_from",
    "site_configs",
    "unit_configs",
]


def __getattr__(name: str) -> Any:
    # The adapter imports aiomqtt, which only the twcdirector[mqtt] extra installs.
    if name == "MqttBridge":
        return importlib.import_module(".bridge", __name__).MqttBridge
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
