"""Current validation: the one gate every outgoing current passes (SPEC §8.4).

A current is legal when it is 0, or a whole number of amperes between the protocol minimum
(6 A v2, 5 A v1) and the lowest ceiling: the configured per-unit maximum, the unit's advertised
maximum (its ``FD E2``), and a capacity-sharing grant when one is set for the unit. With no
configured maximum only 0 A is legal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from ..events import format_id
from ..exceptions import CurrentLimitError
from ..protocol.codes import MINIMUM_AMPS, ProtocolVersion
from ..sharing.limits import whole_amps

#: What an increase command adds (SPEC §3.4, command 06).
INCREASE_STEP = 2.0


@dataclass(frozen=True, slots=True)
class WorstCase:
    """The most a unit may allow right now, whatever its lagging reports show (SPEC §8.7).

    ``reported``: its last reported max (A; ``None`` before any report). ``granted``: the
    highest of the last current sent to it and every current queued or sent but not yet
    confirmed (A). ``increases``: increases (06) queued, or sent and not yet shown by a
    report; each may add :data:`INCREASE_STEP`. ``owed``: what decreases (07) sent may still
    give back by themselves (A). A decrease never lowers the worst case: it may not have
    applied yet, and it gives its 2 A back on its own.
    """

    reported: float | None
    granted: float
    increases: int
    owed: float

    @property
    def amps(self) -> float:
        """max(reported, granted) + 2 A per increase + what decreases give back (A)."""
        base = max(self.reported or 0.0, self.granted)
        return base + INCREASE_STEP * self.increases + self.owed

    def why(self) -> str:
        """What the worst case counts beyond the last report, for a refusal ("" if nothing)."""
        parts = []
        if self.granted > (self.reported or 0.0):
            parts.append(f"{self.granted:g} A granted, reported {self.reported or 0.0:g} A")
        if self.increases:
            parts.append(f"{self.increases} increase(s) pending")
        if self.owed:
            parts.append(f"{self.owed:g} A a decrease gives back")
        return f"; {', '.join(parts)}" if parts else ""


class LimitSubject(Protocol):
    """What the limits need to know about a unit."""

    @property
    def device_id(self) -> int: ...

    @property
    def protocol(self) -> ProtocolVersion: ...

    @property
    def advertised_max(self) -> float | None: ...


@dataclass(slots=True)
class CurrentLimits:
    """Ceilings on the current a unit may be given.

    ``grants`` is the capacity-sharing hook: a per-unit ceiling set with :meth:`set_grant`
    that joins the other two.
    """

    max_current: float | None = None
    grants: dict[int, float] = field(default_factory=dict)
    #: Capacity sharing is on: a unit without a grant may be given nothing.
    sharing: bool = False

    def set_grant(self, device_id: int, amps: float | None) -> None:
        """Set (or with ``None`` remove) a capacity-sharing ceiling for one unit."""
        if amps is None:
            self.grants.pop(device_id, None)
            return
        if not math.isfinite(amps) or amps < 0:
            raise CurrentLimitError(f"grant {amps!r} A must be a finite current >= 0")
        self.grants[device_id] = float(amps)

    def ceiling(self, device: LimitSubject, *, with_grant: bool = True) -> float:
        """The highest current the unit may be given; 0 without a configured maximum.

        ``with_grant=False``: the installation's ceiling alone (what a user's cap may ask).
        """
        if self.max_current is None:
            return 0.0
        ceiling = self.max_current
        if device.advertised_max is not None:
            ceiling = min(ceiling, device.advertised_max)
        grant = self.grants.get(device.device_id, 0.0 if self.sharing else None)
        if grant is not None and with_grant:
            ceiling = min(ceiling, grant)
        return ceiling

    def enforced(self, device: LimitSubject) -> float | None:
        """The ceiling a unit's *reported* offer is held to (SPEC §8.7); ``None``: none known.

        The lowest of the configured maximum, the unit's rating and any sharing grant. Without
        a configured maximum only the rating and a grant count: a bus whose owner set no
        limit is not forced to 0 A, but a unit offering more than its own rating is lowered.
        """
        ceilings = [
            amps
            for amps in (
                self.max_current,
                device.advertised_max,
                self.grants.get(device.device_id, 0.0 if self.sharing else None),
            )
            if amps is not None
        ]
        return min(ceilings) if ceilings else None

    def minimum(self, device: LimitSubject) -> float:
        """The lowest non-zero current for the unit's protocol version."""
        return float(MINIMUM_AMPS[device.protocol])

    def check(
        self, amps: float, device: LimitSubject, *, owed: float = 0.0, with_grant: bool = True
    ) -> float:
        """Return ``amps`` as a float if it may be sent to ``device``; else raise.

        ``owed`` is what the unit may still add by itself: after a decrease (07) it raises
        its limit back by 2 A on its own (SPEC §3.4), whatever was sent in between.
        """
        whole_amps(amps, "amps", error=CurrentLimitError)
        if amps == 0:
            return 0.0
        if self.max_current is None:
            raise CurrentLimitError(
                f"{amps} A refused: no maximum current is configured, so only 0 A may be sent"
            )
        minimum = self.minimum(device)
        if amps < minimum:
            raise CurrentLimitError(
                f"{amps} A is below the protocol-{int(device.protocol)} minimum of {minimum} A"
            )
        ceiling = self.ceiling(device, with_grant=with_grant)
        if amps > ceiling:
            raise CurrentLimitError(f"{amps} A is above this unit's limit of {ceiling} A")
        if amps + owed > ceiling:
            raise CurrentLimitError(
                f"{amps} A refused for now: a recent decrease may still give back {owed} A, "
                f"which would pass this unit's limit of {ceiling} A"
            )
        return float(amps)

    def check_increase(self, worst: WorstCase, device: LimitSubject) -> None:
        """An increase adds 2 A to what the unit may already allow at worst; refuse it past
        the ceiling (SPEC §8.7). Used at submit time and by the final guard before the wire.

        Raises :class:`~twcdirector.CurrentLimitError` with the reason in plain words.
        """
        target = f"increase current to {format_id(device.device_id)}"
        if self.max_current is None:
            raise CurrentLimitError(f"refusing to {target}: no maximum current is configured")
        if worst.reported is None:
            raise CurrentLimitError(
                f"refusing to {target}: the unit has not reported its current yet"
            )
        ceiling = self.ceiling(device)
        if worst.amps + INCREASE_STEP > ceiling:
            raise CurrentLimitError(
                f"refusing to {target}: would exceed its {ceiling:g} A ceiling "
                f"(worst case {worst.amps:g} A + {INCREASE_STEP:g} A{worst.why()})"
            )

    def allocation(
        self, device: LimitSubject, wanted: float | None = None, *, owed: float = 0.0
    ) -> float:
        """The current to grant a unit that asks for one: whole amps, 0 if below the minimum."""
        amps = float(math.floor(self.ceiling(device) - owed))
        if wanted is not None:
            amps = min(amps, float(math.floor(wanted)))
        return amps if amps >= self.minimum(device) else 0.0
