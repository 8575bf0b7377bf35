"""A simulated car: what it is and how its draw follows the offered current (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..exceptions import ConfigurationError

# VIN check digit (ISO 3779 / FMVSS 115): letters transliterated to digits, weighted sum mod 11.
_TRANSLITERATION = {
    **{str(digit): digit for digit in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
VIN_LENGTH = 17


def vin_check_digit(vin: str) -> str:
    """The check digit (position 9) a 17-character VIN must carry."""
    if len(vin) != VIN_LENGTH or any(char not in _TRANSLITERATION for char in vin.upper()):
        raise ConfigurationError(f"{vin!r} is not 17 VIN characters")
    total = sum(_TRANSLITERATION[char] * w for char, w in zip(vin.upper(), _WEIGHTS, strict=True))
    digit = total % 11
    return "X" if digit == 10 else str(digit)


def make_vin(number: int) -> str:
    """A made-up but well-formed Tesla-style VIN (valid check digit), unique per ``number``."""
    if not 0 <= number <= 999_999:
        raise ConfigurationError(f"VIN serial {number} is not 0-999999")
    draft = f"5YJ3E1EA0LF{number:06d}"
    return draft[:8] + vin_check_digit(draft) + draft[9:]


#: The VIN of the default car.
DEFAULT_VIN = make_vin(1)


@dataclass(frozen=True, slots=True)
class Car:
    """A car that can be plugged into a simulated unit.

    ``vin`` is ``None`` for a car that does not tell its VIN (non-Tesla, CAN disabled). A
    Tesla (``tesla=True``) treats open contactors (``FC B2``) as a fault it only clears when
    re-plugged (SPEC §5); another car resumes on ``FC B1``.
    """

    vin: str | None = DEFAULT_VIN
    #: The car's own on-board charger limit; it never draws more.
    max_amps: float = 32.0
    #: How fast the draw rises towards the offered current, A/s. A lower offer applies at once.
    ramp_rate: float = 4.0
    #: What the car draws while the unit reports state 08 (starting).
    start_amps: float = 1.3
    tesla: bool = True

    def __post_init__(self) -> None:
        if self.vin is not None:
            vin_check_digit(self.vin)  # validates the characters and length
        for name in ("max_amps", "ramp_rate", "start_amps"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigurationError(f"car {name} must be a finite value >= 0, not {value}")
        if self.ramp_rate == 0:
            raise ConfigurationError("car ramp_rate must be > 0")


def ramp(actual: float, target: float, rate: float, seconds: float) -> tuple[float, float]:
    """Move a draw towards ``target`` for ``seconds``: (new draw, amp-seconds drawn).

    Rising is limited to ``rate`` A/s; a lower target applies at once, as a car obeys a lower
    pilot signal within a fraction of a second. The integral is exact for this shape.
    """
    if seconds <= 0:
        return actual, 0.0
    if target <= actual:
        return target, target * seconds
    reach = (target - actual) / rate
    if reach >= seconds:
        new = actual + rate * seconds
        return new, (actual + new) / 2 * seconds
    return target, (actual + target) / 2 * reach + target * (seconds - reach)
