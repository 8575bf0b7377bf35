"""Capacity sharing inside the director's core: what the sequencer sees of each unit (pure).

The controller core calls :meth:`SharingBridge.step` from its poll; each
:class:`~twcdirector.sharing.WireChange` it returns becomes the unit's grant (its ceiling in
:class:`~twcdirector.protocol.limits.CurrentLimits`) and, for a current command, a queued
command the final transmit guard checks again.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..protocol.config import DirectorConfig
from ..protocol.device import PeripheralRecord
from .limits import InstallationLimits
from .sequencer import Observation, ShareSequencer, SharingSnapshot, WireChange

#: How often the shares are looked at when no report arrives (the sequencer's timers).
STEP_INTERVAL = 1.0
#: Heartbeat intervals without an answer after which a unit counts as not answering (its share
#: stays reserved) long before it is declared lost.
SILENT_AFTER = 3


class SharingBridge:
    """Feeds a :class:`ShareSequencer` the controller's records; steps it when it matters."""

    def __init__(self, config: DirectorConfig) -> None:
        assert config.shared_max is not None
        assert config.max_current is not None
        # DirectorConfig checked both are whole amperes.
        limits = InstallationLimits(
            total_max=int(config.shared_max), unit_max=int(config.max_current)
        )
        self.sequencer = ShareSequencer(limits, min_interval=config.sharing_min_interval)
        self._silent_after = SILENT_AFTER * config.heartbeat_interval
        self._last_step: float | None = None
        self._reported = False

    def reported(self) -> None:
        """A unit's status report arrived: step at the next poll."""
        self._reported = True

    def next_step(self) -> float:
        """When the next step is due without a report."""
        return -1.0 if self._last_step is None else self._last_step + STEP_INTERVAL

    def step(self, records: Iterable[PeripheralRecord], now: float) -> list[WireChange] | None:
        """The changes to send now, or ``None`` when no step was due."""
        if not self._reported and self._last_step is not None and now < self.next_step():
            return None
        self._reported = False
        self._last_step = now
        return self.sequencer.step(now, [self._observe(record, now) for record in records])

    def snapshot(self) -> SharingSnapshot:
        """Every unit's share, and the total used / available."""
        return self.sequencer.snapshot()

    def _observe(self, record: PeripheralRecord, now: float) -> Observation:
        reported = record.allowed_amps if record.reported_at is not None else None
        return Observation(
            unit_id=record.id_hex,
            protocol=record.protocol,
            advertised_max=record.advertised_max,
            reported_max=reported,
            report_time=record.reported_at if reported is not None else None,
            actual_amps=record.actual_amps or 0.0,
            state=record.state,
            car_connected=record.car_connected or record.plugged,
            online=record.online and now - record.last_heard < self._silent_after,
            lost=not record.online,
        )
