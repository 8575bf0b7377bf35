"""Share the supply among units: a pure function of what each unit wants and the limits.

Policy, in order:

1. A unit without a car, or whose cap (wiring, hardware rating, user cap) is below its minimum,
   gets 0 A.
2. ``reserved`` amps are taken off the total before anything else is shared: an offline unit
   keeps what it was last allowed (it may still be drawing it), and an online unit may hold
   current it cannot shed (a unit told 0 A that keeps reporting its minimum).
3. **Admission**: the remaining units are taken in allocation order (priority, highest first;
   then charging before idle; then the earliest car first; then the unit id) and each gets its
   minimum while the minimums fit. A unit that does not fit gets 0 A: it waits rather than take
   an unsafe share. A later unit with a smaller minimum may still fit.
4. **Sharing**: the amps left go to admitted *charging* units, highest priority first; within one
   priority by water-filling — equal shares in whole amps, a unit capped below its share
   releases the difference to the others, and the odd leftover amps go one each in allocation
   order. Idle units (a car connected but not drawing) keep their minimum only, so their car can
   resume.

The result never sums above the total, never exceeds a unit's cap and is never between 0 and a
unit's minimum.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from ..exceptions import ConfigurationError
from ..protocol import ProtocolVersion
from .limits import InstallationLimits

_LOGGER = logging.getLogger(__name__)


class Demand(IntEnum):
    """What a unit's car wants."""

    NONE = 0  #: no car: 0 A, so a car plugging in starts from nothing
    IDLE = 1  #: a car that is connected but not drawing (finished, asleep): its minimum only
    CHARGING = 2  #: a car that charges or is about to: a fair share


@dataclass(frozen=True, slots=True)
class UnitDemand:
    """One unit as the allocator sees it.

    ``advertised_max`` is the hardware rating from its link-ready frame (``None``: unknown);
    ``user_cap`` a user's session current request, a cap and never a way around the total;
    ``since`` when its car connected (earlier cars are admitted first); ``reserved`` what the
    unit holds whatever it is given, taken off the total (an offline unit is given just that).
    """

    unit_id: str
    protocol: ProtocolVersion = ProtocolVersion.V2
    demand: Demand = Demand.CHARGING
    advertised_max: float | None = None
    user_cap: int | None = None
    priority: int = 0
    since: float = 0.0
    online: bool = True
    reserved: int = 0


def unit_cap(unit: UnitDemand, limits: InstallationLimits) -> int:
    """The most ``unit`` may ever be given."""
    return limits.unit_cap(unit.advertised_max, unit.user_cap)


def allocation_key(unit: UnitDemand) -> tuple[int, int, float, str]:
    """Sort key of the allocation order (first = served first)."""
    return (-unit.priority, -int(unit.demand), unit.since, unit.unit_id)


def allocate(units: Iterable[UnitDemand], limits: InstallationLimits) -> dict[str, int]:
    """Whole amps for every unit, by the policy in this module's docstring."""
    units = list(units)
    allocation = {unit.unit_id: 0 for unit in units}
    if len(allocation) != len(units):
        raise ConfigurationError("duplicate unit ids in an allocation")
    budget = limits.total_max
    for unit in units:
        budget -= unit.reserved
        if not unit.online:
            allocation[unit.unit_id] = unit.reserved
    budget = max(0, budget)

    caps = {unit.unit_id: unit_cap(unit, limits) for unit in units}
    candidates = sorted(
        (
            unit
            for unit in units
            if unit.online
            and unit.demand != Demand.NONE
            and caps[unit.unit_id] >= limits.minimum(unit.protocol)
        ),
        key=allocation_key,
    )
    admitted: list[UnitDemand] = []
    for unit in candidates:
        minimum = limits.minimum(unit.protocol)
        if minimum <= budget:
            admitted.append(unit)
            allocation[unit.unit_id] = minimum
            budget -= minimum

    charging = [unit for unit in admitted if unit.demand == Demand.CHARGING]
    for priority in sorted({unit.priority for unit in charging}, reverse=True):
        group = [unit.unit_id for unit in charging if unit.priority == priority]
        budget = _water_fill(group, allocation, caps, budget)
    _LOGGER.debug("Allocation of %s A: %s", limits.total_max, allocation)
    return allocation


def _water_fill(
    group: list[str], allocation: dict[str, int], caps: dict[str, int], budget: int
) -> int:
    """Raise the lowest units of ``group`` (in order) level by level; return what is left."""
    while budget > 0:
        open_units = [unit for unit in group if allocation[unit] < caps[unit]]
        if not open_units:
            break
        low = min(allocation[unit] for unit in open_units)
        lowest = [unit for unit in open_units if allocation[unit] == low]
        # The next level is where a lowest unit hits its cap or meets a higher unit.
        ceilings = [caps[unit] for unit in lowest]
        ceilings += [allocation[unit] for unit in open_units if allocation[unit] > low]
        rise = min(ceilings) - low
        if rise * len(lowest) <= budget:
            for unit in lowest:
                allocation[unit] += rise
            budget -= rise * len(lowest)
        else:
            # Not enough for a full level: equal whole amps, leftovers in allocation order.
            each, extra = divmod(budget, len(lowest))
            for index, unit in enumerate(lowest):
                allocation[unit] += each + (1 if index < extra else 0)
            budget = 0
    return budget
