"""Capacity sharing inside the Gen 2 core: what the sequencer sees of each unit, and what its
shares become on this bus (pure).

The controller core calls :meth:`SharingBridge.share` from its poll; each
:class:`~twcdirector.sharing.WireChange` the sequencer returns becomes the unit's grant (its
ceiling in :class:`~twcdirector.gen2.limits.CurrentLimits`) and, for a current command, a
queued command the final transmit guard checks again. :mod:`twcdirector.sharing` knows nothing
of this package; this module is the only glue between the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..events import (
    ALLOCATION_CHANGED,
    COMMAND_CONFIRMED,
    SHARING_CHANGED,
    CommandOutcome,
    parse_id,
)
from ..exceptions import NotApplicableError
from ..protocol.codes import HeartbeatCommand
from ..sharing.sequencer import Observation, ShareSequencer, SharingSnapshot, WireChange
from .commands import CommandKind, PendingCommand
from .config import DirectorConfig
from .device import PeripheralRecord
from .limits import CurrentLimits
from .tickets import CommandQueues, Notify

#: How often the shares are looked at when no report arrives (the sequencer's timers).
STEP_INTERVAL = 1.0
#: Heartbeat intervals without an answer after which a unit counts as not answering (its share
#: stays reserved) long before it is declared lost.
SILENT_AFTER = 3


class SharingBridge:
    """Feeds a :class:`ShareSequencer` the controller's records; steps it when it matters."""

    def __init__(
        self,
        config: DirectorConfig,
        limits: CurrentLimits,
        commands: CommandQueues,
        notify: Notify,
    ) -> None:
        installation = config.sharing_limits()
        assert installation is not None
        self.sequencer = ShareSequencer(installation, min_interval=config.sharing_min_interval)
        self._silent_after = SILENT_AFTER * config.heartbeat_interval
        self._last_step: float | None = None
        self._reported = False
        self._limits = limits
        self._commands = commands
        self._notify = notify

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

    def submit(
        self, record: PeripheralRecord, kind: CommandKind, amps: float, link_up: bool
    ) -> int:
        """Under capacity sharing a session current caps the unit's share; the sharing layer
        alone sets currents, so default currents and relative commands are refused.

        Raises :class:`~twcdirector.CurrentLimitError` for a current outside the unit's limits
        and :class:`~twcdirector.NotApplicableError` for a command sharing would be bypassed by.
        """
        if kind is CommandKind.SET_SESSION_CURRENT:
            amps = self._limits.check(amps, record, with_grant=False)
            self.sequencer.set_user_cap(record.id_hex, amps)
            self.reported()  # re-share at the next poll
            ticket = self._commands.ticket()
            self._notify(
                COMMAND_CONFIRMED,
                CommandOutcome(
                    record.id_hex, kind.value, amps, 0, True, "a cap on the unit's shared current"
                ),
                record.device_id,
                ticket,
            )
            return ticket
        if kind.carries_amps or kind.relative:
            raise NotApplicableError(
                f"{kind}: capacity sharing sets {record.id_hex}'s current; "
                "a session current caps its share"
            )
        command = PendingCommand(self._commands.ticket(), kind, record.device_id, 0.0)
        return self._commands.put(command, link_up)

    def share(
        self,
        records: Sequence[PeripheralRecord],
        now: float,
        in_flight: PendingCommand | None,
        link_up: bool,
    ) -> None:
        """Step capacity sharing: grants follow its shares, its changes join the queues."""
        changes = self.step(records, now)
        if changes is None:
            return
        sequencer = self.sequencer
        by_id = {record.device_id: record for record in records}
        for record in records:
            # The sharing layer's word is every unit's ceiling, lowered at once.
            self._limits.set_grant(record.device_id, float(sequencer.allowed(record.id_hex)))
        for change in changes:
            device_id = parse_id(change.unit_id)
            queue = self._commands.get(device_id)
            if queue is None:
                continue
            for stale in [c for c in queue if c.from_sharing and c is not in_flight]:
                queue.remove(stale)
            kind = _SHARING_KINDS.get(HeartbeatCommand(change.command))
            kinds = [] if kind is None else [kind]  # 08 needs none: the next heartbeat answers
            if kind is CommandKind.SET_SESSION_CURRENT and by_id[device_id].protocol == 2:
                # The default is what the unit offers the next car (SPEC §5): a share lowered
                # by 09 alone would leave a higher default for the car after an unplug.
                kinds.append(CommandKind.SET_DEFAULT_CURRENT)
            for each in kinds:
                command = PendingCommand(
                    self._commands.ticket(), each, device_id, float(change.amps), from_sharing=True
                )
                self._commands.put(command, link_up)
        for event in sequencer.take_events():
            self._notify(ALLOCATION_CHANGED, event, parse_id(event.device_id), None)
        if changes:
            self._notify(SHARING_CHANGED, sequencer.snapshot(), None, None)

    def set_limits(self, *, total_max: float | None, unit_max: float | None) -> None:
        """Change the shared or per-unit maximum at run time, never past the configured one."""
        self.sequencer.set_limits(total_max=total_max, unit_max=unit_max)
        self.reported()  # re-share at the next poll

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


#: The heartbeat command a sharing change suggests -> the command that carries it.
_SHARING_KINDS = {
    HeartbeatCommand.SET_DEFAULT_CURRENT: CommandKind.SET_DEFAULT_CURRENT,
    HeartbeatCommand.SET_SESSION_CURRENT: CommandKind.SET_SESSION_CURRENT,
}
