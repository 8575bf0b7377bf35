"""Installation limits: the supply all units share, each unit's wiring, the minimum per unit.

Every value is in whole amperes. The limits given at start-up are the **ceiling**: at run time
:class:`LimitController` lets a limit be lowered and raised again, never past that ceiling.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

from ..exceptions import ConfigurationError, UsageError
from ..protocol import ProtocolVersion
from ..protocol.codes import MINIMUM_AMPS

_LOGGER = logging.getLogger(__name__)

#: The lowest current a charging unit may be offered, per protocol: the codec's table.
PROTOCOL_MINIMUM: dict[ProtocolVersion, int] = MINIMUM_AMPS


def whole_amps(value: object, name: str, *, error: type[UsageError] = ConfigurationError) -> int:
    """``value`` as a non-negative whole number of amperes; else raise ``error``
    (:class:`ConfigurationError` unless told otherwise). The one check of "whole amperes"."""
    # bool is an int subclass; True amps is a bug in the caller, not 1 A.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise error(f"{name} must be a number of amperes, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise error(f"{name} {value!r} A is not a current (whole, non-negative amperes)")
    if value != int(value):
        raise error(f"{name} {value} A: only whole amperes are allowed")
    return int(value)


@dataclass(frozen=True, slots=True)
class InstallationLimits:
    """What the installation allows, in whole amperes.

    ``total_max`` is the supply every unit on the bus shares (the breaker); ``unit_max`` the
    wiring of each unit; ``min_v1`` / ``min_v2`` the least a charging unit is offered (at
    least 5 A for protocol 1 and 6 A for protocol 2). Integral floats are accepted and stored
    as ``int``; anything else raises :class:`ConfigurationError`.
    """

    total_max: int
    unit_max: int
    min_v1: int = PROTOCOL_MINIMUM[ProtocolVersion.V1]
    min_v2: int = PROTOCOL_MINIMUM[ProtocolVersion.V2]

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            # Frozen: normalising 40.0 to 40 has to go through object.__setattr__.
            object.__setattr__(self, field.name, whole_amps(getattr(self, field.name), field.name))
        for version, floor in PROTOCOL_MINIMUM.items():
            if self.minimum(version) < floor:
                raise ConfigurationError(
                    f"the minimum for protocol {int(version)} cannot be below {floor} A"
                )

    def minimum(self, protocol: int) -> int:
        """The least a charging unit of this protocol version may be offered."""
        return self.min_v1 if protocol == ProtocolVersion.V1 else self.min_v2

    def unit_cap(self, advertised_max: float | None = None, user_cap: int | None = None) -> int:
        """The most one unit may be allowed: its wiring, its hardware rating, a user's cap."""
        cap = self.unit_max
        if advertised_max is not None:
            cap = min(cap, max(0, math.floor(advertised_max)))
        if user_cap is not None:
            cap = min(cap, user_cap)
        return cap

    def with_changes(
        self, *, total_max: float | None = None, unit_max: float | None = None
    ) -> InstallationLimits:
        """A copy with these limits replaced; no ceiling check (see :class:`LimitController`)."""
        return dataclasses.replace(
            self,
            total_max=self.total_max if total_max is None else whole_amps(total_max, "total_max"),
            unit_max=self.unit_max if unit_max is None else whole_amps(unit_max, "unit_max"),
        )

    def check_within(self, ceiling: InstallationLimits) -> None:
        """Raise :class:`ConfigurationError` if any limit here exceeds ``ceiling``."""
        if self.total_max > ceiling.total_max:
            raise ConfigurationError(
                f"total maximum {self.total_max} A exceeds the configured {ceiling.total_max} A"
            )
        if self.unit_max > ceiling.unit_max:
            raise ConfigurationError(
                f"unit maximum {self.unit_max} A exceeds the configured {ceiling.unit_max} A"
            )


class LimitController:
    """The limits in force, changeable at run time only within the configured ceiling."""

    def __init__(self, ceiling: InstallationLimits) -> None:
        self._ceiling = ceiling
        self._current = ceiling

    @property
    def ceiling(self) -> InstallationLimits:
        """The limits configured at start-up; nothing can raise a limit above them."""
        return self._ceiling

    @property
    def current(self) -> InstallationLimits:
        """The limits in force."""
        return self._current

    def change(
        self, *, total_max: float | None = None, unit_max: float | None = None
    ) -> InstallationLimits:
        """Lower (or raise back, up to the ceiling) a limit; return the limits now in force."""
        limits = self._current.with_changes(total_max=total_max, unit_max=unit_max)
        limits.check_within(self._ceiling)
        if limits != self._current:
            _LOGGER.info(
                "Limits changed: total %s A, per unit %s A", limits.total_max, limits.unit_max
            )
        self._current = limits
        return limits

    def reset(self) -> InstallationLimits:
        """Restore the configured limits."""
        return self.change(total_max=self._ceiling.total_max, unit_max=self._ceiling.unit_max)
