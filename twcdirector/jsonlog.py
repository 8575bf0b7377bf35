"""JSON-lines records of events and frames, for the headless command and ``--log`` (pure)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from collections.abc import Mapping
from enum import Enum
from typing import Any

from .events import ALL_COMMANDS
from .protocol import Message


def jsonable(value: Any) -> Any:
    """A JSON-ready copy: dataclasses as dicts, enums by name, bytes as hex, NaN as null.

    A decoded message carries its class name as ``type``. Fields holding live objects (a
    device's emitter in :class:`~twcdirector.events.NewDevice`) are left out.
    """
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {
            field.name: jsonable(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if field.name not in _OPAQUE
        }
        return {"type": type(value).__name__, **data} if isinstance(value, Message) else data
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    return str(value)


#: Payload fields that hold live objects, not data.
_OPAQUE = frozenset({"device"})


def iso_now() -> str:
    """Wall-clock time as ISO 8601 UTC with milliseconds."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def event_line(event: str, device: str | None, payload: Any) -> str:
    """One event as a JSON line: ``time``, ``event``, ``device``, ``data``.

    A decoded message or Gen 3 reading seen through ``__ALL_COMMANDS__`` is named by its
    command (``TWC_STATUS``, ``GEN3_VITALS`` …); director-level events about one unit name
    that unit.
    """
    command_name = getattr(payload, "command_name", None)
    if event == ALL_COMMANDS and isinstance(command_name, str):
        event = command_name
    if device is None and isinstance(getattr(payload, "device_id", None), str):
        device = payload.device_id
    record = {"time": iso_now(), "event": event, "device": device, "data": jsonable(payload)}
    return json.dumps(record, separators=(",", ":"))


def frame_line(monotonic: float, direction: str, raw: bytes, message: Message | None) -> str:
    """One frame seen (``rx``) or sent (``tx``) as a JSON line, decoded where it decoded."""
    record: dict[str, Any] = {
        "time": iso_now(),
        "monotonic": round(monotonic, 6),
        "event": "FRAME",
        "direction": direction,
        "hex": raw.hex(),
        "data": None if message is None else jsonable(message),
    }
    return json.dumps(record, separators=(",", ":"))


def describe(message: Message) -> str:
    """A short human line for a decoded message, for the utility's log."""
    parts = [message.command_name]
    for field in dataclasses.fields(message):  # type: ignore[arg-type]
        if field.name in ("sender", "receiver", "length"):
            continue
        value = getattr(message, field.name)
        if isinstance(value, Enum):
            text = value.name
        elif isinstance(value, float):
            text = f"{value:.2f}"
        elif isinstance(value, bytes):
            if not any(value):
                continue
            text = value.hex()
        elif isinstance(value, tuple):
            text = "/".join(str(part) for part in value)
        else:
            text = str(value)
        parts.append(f"{field.name}={text}")
    return " ".join(parts)
