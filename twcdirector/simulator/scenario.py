"""Scripted scenarios: timed actions on simulated units (pure).

A scenario is a list of :class:`Action` s. Times are seconds from the start of the bus. In
text, actions are separated by ``;`` or new lines, ``#`` starts a comment, and each reads
``TIME ACTION [UNIT] [key=value ...]``; ``TIME`` may be ``+N`` (N seconds after the previous
action). Examples::

    2 plug 0 vin=5YJ3E1EA7LF000001 amps=32; +60 unplug 0
    5 silent 1 for=40
    8 drop 0 count=3; 9 corrupt 0; 10 delay 0 seconds=0.3; 11 noise 2 data=00ff55
    12 collide 1 id=F00D; 30 reboot 1
    0 offer 0 amps=40; 0 plug 0     # charging at 40 A before any controller speaks

The same as JSON: a list (or ``{"actions": [...]}``) of objects with ``at``, ``action``,
``unit`` and the same keys, e.g. ``[{"at": 2, "action": "plug_in", "unit": 0, "amps": 16}]``.

Keys: ``vin`` (17 characters or ``none``), ``amps`` (the car's own maximum), ``rate`` (its
ramp in A/s), ``tesla`` (yes/no), ``seconds`` or ``for``, ``count``, ``data`` (hex bytes),
``id`` (hex unit ID). ``offer`` takes ``amps``: the current the unit offers from then on, as
if another controller had set it (its limit and its default).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ..exceptions import ConfigurationError
from .car import Car, make_vin


class ActionKind(StrEnum):
    """What an action does to its unit."""

    PLUG_IN = "plug_in"  #: plug a car in (``car``, or a default one)
    UNPLUG = "unplug"  #: unplug the car
    GO_SILENT = "go_silent"  #: transmit nothing for ``seconds``
    DROP = "drop"  #: drop the next ``count`` replies
    DELAY = "delay"  #: send the next ``count`` replies ``seconds`` late
    CORRUPT = "corrupt"  #: flip a bit in the next ``count`` replies
    NOISE = "noise"  #: put ``data`` (or ``count`` random bytes) on the bus
    COLLIDE = "collide"  #: announce ``device_id`` (default: the controller's own ID)
    REBOOT = "reboot"  #: power-cycle the unit
    OFFER = "offer"  #: offer ``amps`` from now on, as another controller could have set it


_ALIASES = {
    "plug": ActionKind.PLUG_IN,
    "silent": ActionKind.GO_SILENT,
    "silence": ActionKind.GO_SILENT,
    "mute": ActionKind.GO_SILENT,
    "late": ActionKind.DELAY,
    "corrupt_reply": ActionKind.CORRUPT,
    **{kind.value: kind for kind in ActionKind},
}
_CAR_KEYS = frozenset({"vin", "amps", "rate", "tesla"})
_KEYS = _CAR_KEYS | {"seconds", "for", "count", "data", "id"}
_TRUE = frozenset({"1", "yes", "true", "on"})
_FALSE = frozenset({"0", "no", "false", "off"})


@dataclass(frozen=True, slots=True)
class Action:
    """One scripted action on unit number ``unit`` (0-based) at ``at`` seconds."""

    at: float
    kind: ActionKind
    unit: int = 0
    #: ``plug_in``: the car; None plugs a default car with a VIN unique to the unit.
    car: Car | None = None
    seconds: float = 0.0
    count: int = 1
    data: bytes = b""
    device_id: int | None = None
    #: ``offer``: the current the unit offers.
    amps: float = 0.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.at) or self.at < 0:
            raise ConfigurationError(f"action time {self.at} must be >= 0")
        if self.unit < 0:
            raise ConfigurationError(f"unit number {self.unit} must be >= 0")
        if not math.isfinite(self.seconds) or self.seconds < 0:
            raise ConfigurationError(f"seconds {self.seconds} must be >= 0")
        if self.count < 0:
            raise ConfigurationError(f"count {self.count} must be >= 0")
        if self.device_id is not None and not 0 < self.device_id < 0xFFFF:
            raise ConfigurationError(f"id {self.device_id:#x} must be 0001-FFFE")


@dataclass(frozen=True, slots=True)
class Scenario:
    """Actions in time order."""

    actions: tuple[Action, ...] = field(default=())

    def __post_init__(self) -> None:
        # sorted() is stable: actions at the same time keep their written order.
        object.__setattr__(self, "actions", tuple(sorted(self.actions, key=lambda a: a.at)))

    @classmethod
    def parse(cls, text: str) -> Scenario:
        """Read the text or JSON form; raise :class:`ConfigurationError` on a mistake."""
        if text.lstrip()[:1] in ("[", "{"):
            return cls(tuple(_from_json(text)))
        return cls(tuple(_from_text(text)))

    def __add__(self, other: Scenario) -> Scenario:
        return Scenario(self.actions + other.actions)

    def __len__(self) -> int:
        return len(self.actions)


def demo_scenario(units: int) -> Scenario:
    """A short demo: a Tesla plugs into unit 0 at 3 s, a car without VIN into unit 1 at 8 s."""
    actions = []
    if units >= 1:
        actions.append(Action(3.0, ActionKind.PLUG_IN, 0, Car(vin=make_vin(1))))
    if units >= 2:
        actions.append(Action(8.0, ActionKind.PLUG_IN, 1, Car(vin=None, max_amps=16.0)))
    return Scenario(tuple(actions))


def build_action(at: float, kind: str, unit: int, params: Mapping[str, object]) -> Action:
    """An action from loosely typed values (strings or JSON values)."""
    try:
        action_kind = _ALIASES[kind.strip().lower()]
    except KeyError:
        names = ", ".join(sorted(kind.value for kind in ActionKind))
        raise ConfigurationError(f"unknown action {kind!r} (known: {names})") from None
    unknown = set(params) - _KEYS
    if unknown:
        raise ConfigurationError(f"unknown key(s) {', '.join(sorted(unknown))} for {kind}")
    car = None
    offered = 0.0
    if action_kind is ActionKind.OFFER:
        params = dict(params)
        offered = _number("amps", params.pop("amps", 0.0))
        if not 0 <= offered <= 655.35:
            raise ConfigurationError(f"offer amps {offered} must be 0-655.35")
    if _CAR_KEYS & set(params):
        if action_kind is not ActionKind.PLUG_IN:
            raise ConfigurationError(f"car keys only apply to plug_in, not {kind}")
        car = _car(params, unit)
    seconds = params.get("seconds", params.get("for", 0.0))
    device_id = params.get("id")
    return Action(
        at=at,
        kind=action_kind,
        unit=unit,
        car=car,
        seconds=_number("seconds", seconds),
        count=int(_number("count", params.get("count", 1))),
        data=_hex("data", params.get("data", "")),
        device_id=None if device_id is None else int(_hex_number("id", device_id)),
        amps=offered,
    )


def _car(params: Mapping[str, object], unit: int) -> Car:
    vin = params.get("vin", make_vin(unit + 1))
    if isinstance(vin, str) and vin.lower() in ("none", "null", ""):
        vin = None
    if vin is not None and not isinstance(vin, str):
        raise ConfigurationError(f"vin {vin!r} must be text")
    defaults = Car()
    return Car(
        vin=vin.upper() if vin else None,
        max_amps=_number("amps", params.get("amps", defaults.max_amps)),
        ramp_rate=_number("rate", params.get("rate", defaults.ramp_rate)),
        tesla=_flag("tesla", params.get("tesla", vin is not None)),
    )


def _from_text(text: str) -> Iterable[Action]:
    previous = 0.0
    for line in text.splitlines():
        for item in line.split("#", 1)[0].split(";"):
            words = item.split()
            if not words:
                continue
            if len(words) < 2:
                raise ConfigurationError(f"{item.strip()!r}: expected 'TIME ACTION [UNIT] ...'")
            at = _time(words[0], previous)
            rest = words[2:]
            unit = 0
            if rest and "=" not in rest[0]:
                unit = int(_number("unit", rest.pop(0)))
            params: dict[str, object] = {}
            for word in rest:
                key, sep, value = word.partition("=")
                if not sep:
                    raise ConfigurationError(f"{word!r} in {item.strip()!r} is not key=value")
                params[key.lower()] = value
            previous = at
            yield build_action(at, words[1], unit, params)


def _from_json(text: str) -> Iterable[Action]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"scenario JSON: {error}") from None
    if isinstance(data, dict):
        data = data.get("actions")
    if not isinstance(data, list):
        raise ConfigurationError("scenario JSON must be a list of actions or {'actions': [...]}")
    previous = 0.0
    for entry in data:
        if not isinstance(entry, dict) or "action" not in entry or "at" not in entry:
            raise ConfigurationError(f"scenario entry {entry!r} needs 'at' and 'action'")
        params = {k: v for k, v in entry.items() if k not in ("at", "action", "unit")}
        at = entry["at"]
        at = _time(at, previous) if isinstance(at, str) else _number("at", at)
        previous = at
        yield build_action(
            at, str(entry["action"]), int(_number("unit", entry.get("unit", 0))), params
        )


def _time(word: str, previous: float) -> float:
    word = word.strip().lower().removesuffix("s")
    if word.startswith("+"):
        return previous + _number("time", word[1:])
    return _number("time", word)


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigurationError(f"{name} {value!r} is not a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ConfigurationError(f"{name} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ConfigurationError(f"{name} {value!r} is not finite")
    return number


def _hex_number(name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value), 16)
    except ValueError:
        raise ConfigurationError(f"{name} {value!r} is not hexadecimal") from None


def _hex(name: str, value: object) -> bytes:
    try:
        return bytes.fromhex(str(value))
    except ValueError:
        raise ConfigurationError(f"{name} {value!r} is not hex bytes") from None


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"{name} {value!r} is not yes/no")
