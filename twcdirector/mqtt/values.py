"""State payloads (pure): plain values from snapshots, and command payloads parsed.

Numbers are plain decimals (``16``, ``15.5``), booleans ``true`` / ``false``, text as is.
A value not reported yet is left out rather than published as a guess; a value known to be
absent (no car, so no VIN) is :data:`PAYLOAD_NONE`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..exceptions import InvalidValueError
from ..gen2.snapshot import PeripheralSnapshot
from ..gen3.tracker import Gen3Snapshot
from ..protocol import PeripheralState
from ..protocol.codes import MINIMUM_AMPS

#: Gen 2 states in which the car draws current (IEC 61851 status C).
_CHARGING_STATES = frozenset(
    {
        PeripheralState.CHARGING,
        PeripheralState.RAISING,
        PeripheralState.LOWERING,
        PeripheralState.LIMIT_SET,
        PeripheralState.ADJUSTMENT_COMPLETE,
    }
)
#: Gen 3 ``evse_state`` codes while charging (11 charging, 10 charging at reduced power).
_GEN3_CHARGING = frozenset({10, 11})
#: Gen 3 ``evse_state`` for an error.
_GEN3_ERROR = 7
#: A unit drawing at least this much is charging whatever its state says.
_DRAWING_AMPS = 1.0

Value = str | float | int | bool | None

#: An absent value. Not the empty payload: a retained empty payload deletes the retained
#: message (MQTT 3.1.1 §3.3.1.3), so a late subscriber would see nothing at all. Home
#: Assistant's MQTT entities take the payload ``None`` as the state ``unknown`` (its
#: ``PAYLOAD_NONE``).
PAYLOAD_NONE = "None"


def format_value(value: Value) -> str:
    """A value as a plain payload: ``16``, ``15.5``, ``true``, text; ``None`` (or a number
    that is not finite) as :data:`PAYLOAD_NONE`."""
    if value is None:
        return PAYLOAD_NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return PAYLOAD_NONE
        if value == int(value):
            return str(int(value))
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return value


def iec_status(*, connected: bool, charging: bool, error: bool = False) -> str:
    """The IEC 61851 letter: ``A`` no car, ``B`` car connected, ``C`` charging, ``F`` fault."""
    if error:
        return "F"
    if charging:
        return "C"
    return "B" if connected else "A"


def gen2_charging(unit: PeripheralSnapshot) -> bool:
    """The unit reports a charging state or draws current."""
    return unit.state in _CHARGING_STATES or (unit.actual_amps or 0.0) >= _DRAWING_AMPS


def gen2_values(unit: PeripheralSnapshot) -> dict[str, str]:
    """A Gen 2 unit's state keys (see :data:`~twcdirector.mqtt.topics.UNIT_KEYS`)."""
    values: dict[str, Value] = {
        "online": unit.online,
        "car_connected": unit.car_connected or unit.plugged,
        "vin": unit.vin or PAYLOAD_NONE,
    }
    if unit.state is not None:
        values["state"] = unit.state_name
        values["status"] = iec_status(
            connected=unit.car_connected or unit.plugged,
            charging=gen2_charging(unit),
            error=unit.state == PeripheralState.ERROR,
        )
    values["actual_current"] = unit.actual_amps
    values["allowed_current"] = unit.allowed_amps
    values["lifetime_energy"] = unit.lifetime_kwh
    if unit.voltages is not None:
        values.update(zip(("voltage_a", "voltage_b", "voltage_c"), unit.voltages, strict=True))
    values["firmware"] = unit.firmware
    values["serial"] = unit.serial
    return {key: format_value(value) for key, value in values.items() if value is not None}


def gen3_values(unit: Gen3Snapshot) -> dict[str, str]:
    """A Gen 3 unit's keys where it has them (no allowed current, no VIN)."""
    values: dict[str, Value] = {"online": unit.reachable}
    if unit.vehicle_connected is not None:
        values["car_connected"] = unit.vehicle_connected
    if unit.state is not None:
        values["state"] = unit.state_label
        values["status"] = iec_status(
            connected=bool(unit.vehicle_connected),
            charging=unit.state in _GEN3_CHARGING,
            error=unit.state == _GEN3_ERROR,
        )
    if unit.vitals is not None:
        values["actual_current"] = unit.vitals.vehicle_current_a
    if unit.lifetime_energy_wh is not None:
        values["lifetime_energy"] = round(unit.lifetime_energy_wh / 1000, 3)
    if unit.voltages is not None:
        voltages = (unit.voltages.a, unit.voltages.b, unit.voltages.c)
        values.update(zip(("voltage_a", "voltage_b", "voltage_c"), voltages, strict=True))
    values["firmware"] = unit.firmware_version
    values["serial"] = unit.serial_number
    return {key: format_value(value) for key, value in values.items() if value is not None}


def total_current(units: Iterable[PeripheralSnapshot]) -> float:
    """What the online Gen 2 units draw together, amperes."""
    return round(sum(unit.actual_amps or 0.0 for unit in units if unit.online), 2)


def charging_minimum(units: Iterable[PeripheralSnapshot]) -> int:
    """The least supply that keeps every charging Gen 2 unit at its protocol minimum."""
    return sum(MINIMUM_AMPS[unit.protocol] for unit in units if unit.online and gen2_charging(unit))


def parse_amps(payload: bytes | str) -> float:
    """A command payload as amperes, for the library to validate; else InvalidValueError.

    Only the text of a number is taken here (``16``, ``16.0``); whether the value is legal
    (whole, within the limits) is decided by the library, exactly as for a Python caller.
    """
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    text = text.strip()
    if not text:
        raise InvalidValueError("empty payload: send a number of amperes")
    try:
        amps = float(text)
    except ValueError:
        raise InvalidValueError(f"{text[:40]!r} is not a number of amperes") from None
    if not math.isfinite(amps):
        raise InvalidValueError(f"{text[:40]!r} is not a current")
    return amps
