"""The available-current input (pure, time is ``now``): solar or load management over MQTT.

A value received lowers the total that capacity sharing shares out (never above the configured
``shared_max``: the ceiling). The input is armed by its first value; if none arrives for
``timeout`` seconds after that, the fallback applies (a fixed value, or by default the least
that keeps the charging units at their minimum) until a value arrives again.

Hysteresis: a change smaller than ``hysteresis`` amperes is not applied, and a raise waits
until ``min_interval`` (5 s, SPEC §5) has passed since the last change. A decrease applies at
once: a lower supply is a safety matter, and the sharing layer exempts it from its own 5 s
rule for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..sharing import InstallationLimits, whole_amps

#: Amperes: smaller changes are not applied.
HYSTERESIS = 1.0
#: Seconds between two raises of the total (SPEC §5).
MIN_INTERVAL = 5.0


class Source(StrEnum):
    """Where the total in force comes from (published as ``available_current_source``)."""

    CONFIGURED = "configured"  #: no value received yet: --shared-max
    MQTT = "mqtt"  #: the last value received
    FALLBACK = "fallback"  #: no value for the timeout


@dataclass(frozen=True, slots=True)
class Change:
    """What :meth:`AvailableCurrent.poll` decided: a new total (or ``None``) and a note."""

    total_max: int | None
    source: Source
    note: str | None = None


class AvailableCurrent:
    """Turns received values and silence into changes of the shared total."""

    def __init__(
        self,
        ceiling: InstallationLimits,
        *,
        timeout: float,
        fallback: int | None = None,
        hysteresis: float = HYSTERESIS,
        min_interval: float = MIN_INTERVAL,
    ) -> None:
        self._ceiling = ceiling
        self._timeout = timeout
        self._fallback = fallback
        self._hysteresis = hysteresis
        self._min_interval = min_interval
        self._requested: int | None = None
        self._requested_at: float | None = None
        self._applied: int = ceiling.total_max
        self._applied_at: float | None = None
        self._deferred_until: float | None = None
        #: Where the total in force comes from.
        self.source = Source.CONFIGURED

    @property
    def applied(self) -> int:
        """The total in force, whole amperes."""
        return self._applied

    def validate(self, amps: float) -> int:
        """The library's own check of a total (whole amps, within the ceiling); raises
        :class:`~twcdirector.exceptions.ConfigurationError`."""
        total = whole_amps(amps, "available current")
        limits = InstallationLimits(total_max=total, unit_max=self._ceiling.unit_max)
        limits.check_within(self._ceiling)
        return limits.total_max

    def receive(self, amps: float, now: float) -> int:
        """A value arrived: validate it and take it from the next :meth:`poll`."""
        total = self.validate(amps)
        self._requested = total
        self._requested_at = now
        return total

    def poll(self, now: float, charging_minimum: int) -> Change | None:
        """The change to apply now, if any. ``charging_minimum``: the least that keeps every
        charging unit at its minimum (the default fallback)."""
        if self._requested is None or self._requested_at is None:
            return None
        note = None
        if now - self._requested_at >= self._timeout:
            target = self._fallback if self._fallback is not None else charging_minimum
            source = Source.FALLBACK
            if self.source is not Source.FALLBACK:
                note = (
                    f"no available current for {self._timeout:g} s: falling back to "
                    f"{min(target, self._ceiling.total_max)} A"
                )
        else:
            target, source = self._requested, Source.MQTT
            if self.source is Source.FALLBACK:
                note = f"available current received again: {target} A"
        target = min(target, self._ceiling.total_max)
        self.source = source
        self._deferred_until = None
        if abs(target - self._applied) < self._hysteresis:
            return Change(None, source, note) if note else None
        if (
            target > self._applied
            and self._applied_at is not None
            and now < self._applied_at + self._min_interval
        ):
            self._deferred_until = self._applied_at + self._min_interval
            return Change(None, source, note) if note else None
        self._applied = target
        self._applied_at = now
        return Change(target, source, note)

    def next_deadline(self) -> float | None:
        """When :meth:`poll` must run again even if nothing arrives."""
        times = []
        if self._deferred_until is not None:
            times.append(self._deferred_until)
        if self._requested_at is not None and self.source is not Source.FALLBACK:
            times.append(self._requested_at + self._timeout)
        return min(times) if times else None
