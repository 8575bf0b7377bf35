"""Home Assistant MQTT discovery configs (pure): one device per unit, via the controller's.

Each entity is one retained JSON config on ``<prefix>/<component>/<node>_<unit>/<key>/config``
with ``unique_id``, ``device`` (``identifiers``, ``model``, ``sw_version``, ``via_device``),
``availability`` (the bridge's and, for a unit's entities, the unit's own ``online``) and
``origin``. An empty retained payload on the same topic removes the entity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .topics import AVAILABLE_CURRENT, CONTACTORS, SESSION_CURRENT, Topics

#: Who published the configs (Home Assistant's ``origin`` mapping).
ORIGIN_NAME = "twcdirector"
MANUFACTURER = "Tesla"

#: (component, key, name, extra options) of each state entity a unit may have.
_CURRENT = {"device_class": "current", "state_class": "measurement", "unit_of_measurement": "A"}
_VOLTAGE = {"device_class": "voltage", "state_class": "measurement", "unit_of_measurement": "V"}
_DIAGNOSTIC = {"entity_category": "diagnostic"}
_BOOLEAN = {"payload_on": "true", "payload_off": "false"}
UNIT_ENTITIES: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("sensor", "state", "State", {}),
    ("sensor", "status", "IEC 61851 status", {}),
    ("sensor", "actual_current", "Actual current", _CURRENT),
    ("sensor", "allowed_current", "Allowed current", _CURRENT),
    ("binary_sensor", "car_connected", "Car connected", {"device_class": "plug", **_BOOLEAN}),
    ("sensor", "vin", "VIN", {}),
    (
        "sensor",
        "lifetime_energy",
        "Lifetime energy",
        {"device_class": "energy", "state_class": "total_increasing", "unit_of_measurement": "kWh"},
    ),
    ("sensor", "voltage_a", "Voltage phase A", _VOLTAGE),
    ("sensor", "voltage_b", "Voltage phase B", _VOLTAGE),
    ("sensor", "voltage_c", "Voltage phase C", _VOLTAGE),
    ("sensor", "firmware", "Firmware", _DIAGNOSTIC),
    ("sensor", "serial", "Serial number", _DIAGNOSTIC),
    (
        "binary_sensor",
        "online",
        "Online",
        {"device_class": "connectivity", **_BOOLEAN, **_DIAGNOSTIC},
    ),
)
#: Keys a Gen 3 unit has (read-only: no allowed current, no VIN, no commands).
GEN3_KEYS = frozenset(
    key for _, key, _, _ in UNIT_ENTITIES if key not in ("allowed_current", "vin")
)


@dataclass(frozen=True, slots=True)
class UnitInfo:
    """What a unit's device and entities need to say about it."""

    unit: str
    generation: int
    model: str
    firmware: str | None = None
    serial: str | None = None
    #: Session current range in whole amperes; ``None``: no session current entity.
    minimum: int | None = None
    ceiling: int | None = None


def controller_identifier(topics: Topics) -> str:
    """The controller device's identifier, which every unit names as ``via_device``."""
    return topics.node


def origin(version: str) -> dict[str, str]:
    """The ``origin`` mapping."""
    return {"name": ORIGIN_NAME, "sw_version": version}


def _availability(topics: Topics, unit: str | None) -> dict[str, Any]:
    entries = [
        {
            "topic": topics.availability,
            "payload_available": "online",
            "payload_not_available": "offline",
        }
    ]
    if unit is not None:
        entries.append(
            {
                "topic": topics.unit(unit, "online"),
                "payload_available": "true",
                "payload_not_available": "false",
            }
        )
    return {"availability": entries, "availability_mode": "all"}


def _dump(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def unit_configs(
    topics: Topics,
    info: UnitInfo,
    version: str,
    *,
    contactors: bool = False,
    via_controller: bool = True,
) -> dict[str, str]:
    """Every discovery config of one unit: topic -> JSON payload. ``via_controller``: the
    unit is linked to the controller's device (there is none when Gen 3 units are alone)."""
    unit = info.unit
    device: dict[str, Any] = {
        "identifiers": [f"{topics.node}_{unit}"],
        "name": f"Wall Connector {unit.upper() if info.generation == 2 else unit}",
        "manufacturer": MANUFACTURER,
        "model": info.model,
    }
    if via_controller:
        device["via_device"] = controller_identifier(topics)
    if info.firmware:
        device["sw_version"] = info.firmware
    if info.serial:
        device["serial_number"] = info.serial
    common = {"device": device, "origin": origin(version)}
    configs: dict[str, str] = {}

    def add(component: str, key: str, name: str, options: dict[str, Any]) -> None:
        # The online sensor must stay available when the unit is not: it says so.
        availability = _availability(topics, None if key == "online" else unit)
        config = {
            "name": name,
            "unique_id": f"{topics.node}_{unit}_{key}",
            **common,
            **availability,
            **options,
        }
        configs[topics.discovery(component, unit, key)] = _dump(config)

    for component, key, name, options in UNIT_ENTITIES:
        if info.generation == 3 and key not in GEN3_KEYS:
            continue
        add(component, key, name, {"state_topic": topics.unit(unit, key), **options})
    if info.generation == 2 and info.minimum is not None and info.ceiling is not None:
        if info.ceiling >= info.minimum:
            add(
                "number",
                SESSION_CURRENT,
                "Session current",
                {
                    "command_topic": topics.command(SESSION_CURRENT, unit),
                    "state_topic": topics.unit(unit, "allowed_current"),
                    "min": info.minimum,
                    "max": info.ceiling,
                    "step": 1,
                    "mode": "box",
                    "device_class": "current",
                    "unit_of_measurement": "A",
                },
            )
        if contactors:
            for action in ("open", "close"):
                add(
                    "button",
                    f"{action}_{CONTACTORS}",
                    f"{action.capitalize()} contactors",
                    {"command_topic": topics.command(CONTACTORS, unit), "payload_press": action},
                )
    return configs


def site_configs(
    topics: Topics, controller_id: int, version: str, *, shared_max: int | None
) -> dict[str, str]:
    """The controller device's configs: total current and, with sharing, available current."""
    device = {
        "identifiers": [controller_identifier(topics)],
        "name": f"twcdirector {controller_id:04X}",
        "manufacturer": ORIGIN_NAME,
        "model": "Gen 2 RS-485 controller",
        "sw_version": version,
    }
    common = {"device": device, "origin": origin(version), **_availability(topics, None)}
    entities: list[tuple[str, str, str, dict[str, Any]]] = [
        ("sensor", "total_current", "Total current", _CURRENT)
    ]
    if shared_max is not None:
        entities.append(
            (
                "number",
                AVAILABLE_CURRENT,
                "Available current",
                {
                    "command_topic": topics.command(AVAILABLE_CURRENT),
                    "min": 0,
                    "max": shared_max,
                    "step": 1,
                    "mode": "box",
                    "device_class": "current",
                    "unit_of_measurement": "A",
                },
            )
        )
        entities.append(
            ("sensor", "available_current_source", "Available current source", _DIAGNOSTIC)
        )
    configs: dict[str, str] = {}
    for component, key, name, options in entities:
        config = {
            "name": name,
            "unique_id": f"{topics.node}_{key}",
            "state_topic": topics.site(key),
            **common,
            **options,
        }
        configs[topics.discovery(component, None, key)] = _dump(config)
    return configs
